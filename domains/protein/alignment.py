"""Alignment statistics for protein pairs: pairwise with Biopython, or read off an MSA with numpy.

Every distance of :mod:`~symcl.domains.protein.formulas` is a function of four counts
over the *comparable* columns of an alignment, the columns where both sequences have one
of the 20 standard amino acids (gaps and B, Z, X are skipped):

- ``aligned``: the number L of comparable columns;
- ``identities``: how many of them hold the same residue;
- ``score``: the BLOSUM62 score summed over them (sigma in Scoredist);
- ``self_score``: the mean of the two self-scores over the same columns,
  (sigma(a, a) + sigma(b, b)) / 2 (sigma_N in Scoredist).

Pairwise, the counts come from ``Alignment.counts(matrix)`` (Biopython's C code) with
four BLOSUM62-derived matrices, never from a Python loop over columns. For an MSA they
come from matrix products of one-hot encodings, for all pairs at once.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from Bio.Align import Alignment, PairwiseAligner, substitution_matrices

from .alphabet import BLOSUM62_ALPHABET, STANDARD, encode

#: Gap scores of the default aligner, in BLOSUM62 units (half bits), Biopython's convention:
#: a gap of k residues scores ``GAP_OPEN + (k - 1) * GAP_EXTEND``. This is BLAST's default for
#: BLOSUM62 (existence 11, extension 1, i.e. a k-gap costs 11 + k).
GAP_OPEN = -12.0
GAP_EXTEND = -1.0
#: Number of standard residues; their codes are 0..19 in the BLOSUM62 alphabet.
N_STANDARD = 20


class AlignmentStats(NamedTuple):
    """Counts over the comparable columns of one alignment (or arrays of them, one per pair).

    Attributes
    ----------
    aligned : float or ndarray
        L, columns where both residues are standard.
    identities : float or ndarray
        Identical residues among them.
    score : float or ndarray
        BLOSUM62 score summed over them.
    self_score : float or ndarray
        (sigma(a, a) + sigma(b, b)) / 2 over the same columns.
    """

    aligned: float | np.ndarray
    identities: float | np.ndarray
    score: float | np.ndarray
    self_score: float | np.ndarray


def blosum62() -> substitution_matrices.Array:
    """Biopython's BLOSUM62 matrix (alphabet ``ARNDCQEGHILKMFPSTWYVBZX*``)."""
    return substitution_matrices.load("BLOSUM62")


def make_aligner(
    *,
    mode: str = "global",
    gap_open: float = GAP_OPEN,
    gap_extend: float = GAP_EXTEND,
    end_gaps: bool = True,
) -> PairwiseAligner:
    """The pairwise aligner of the classical route: BLOSUM62 with affine gaps.

    Parameters
    ----------
    mode : {"global", "local"}
        Needleman-Wunsch (default) or Smith-Waterman.
    gap_open : float
        Score of a gap's first residue, <= 0 (default -12: BLAST's 11/1 for BLOSUM62).
    gap_extend : float
        Score of each further residue of a gap, <= 0 (default -1).
    end_gaps : bool
        Whether gaps at the ends of a global alignment are scored, like any other gap.
        Default True (Needleman-Wunsch proper). With free end gaps (False, as in EMBOSS
        needle) a fragment is not pulled apart to reach the ends of a longer homologue,
        but two divergent sequences often align best as a few end residues overlapping,
        and their distance then rests on those few columns: on the held-out Pfam seeds
        of ``benchmarks/bench_protein.py`` free end gaps gave some homologs distance 0
        and lowered the pairwise route's Spearman against the published alignments.
        End-gap columns never enter the distance.

    Returns
    -------
    Bio.Align.PairwiseAligner
    """
    if mode not in ("global", "local"):
        raise ValueError(f"The 'mode' parameter of make_aligner must be 'global' or 'local'. Got {mode!r} instead.")
    for name, value in (("gap_open", gap_open), ("gap_extend", gap_extend)):
        if not isinstance(value, (int, float)) or not np.isfinite(value) or value > 0:
            raise ValueError(
                f"The '{name}' parameter of make_aligner must be a finite number <= 0. Got {value!r} instead."
            )
    aligner = PairwiseAligner(mode=mode, substitution_matrix=blosum62())
    aligner.open_gap_score = float(gap_open)
    aligner.extend_gap_score = float(gap_extend)
    if mode == "global" and not end_gaps:
        aligner.end_gap_score = 0.0
    return aligner


def _count_matrices() -> tuple[substitution_matrices.Array, ...]:
    """BLOSUM62-alphabet matrices whose ``counts(...).substitution_score`` are the four statistics."""
    matrix = np.array(blosum62(), dtype=float)
    standard = np.array([letter in STANDARD for letter in BLOSUM62_ALPHABET])
    comparable = np.outer(standard, standard).astype(float)
    diagonal = np.diag(matrix)

    def as_array(data: np.ndarray) -> substitution_matrices.Array:
        return substitution_matrices.Array(alphabet=BLOSUM62_ALPHABET, dims=2, data=np.ascontiguousarray(data))

    return (
        as_array(comparable),
        as_array(np.diag(standard.astype(float))),
        as_array(matrix * comparable),
        as_array((diagonal[:, None] + diagonal[None, :]) / 2 * comparable),
    )


_COUNT_MATRICES = _count_matrices()


def alignment_stats(alignment: Alignment) -> AlignmentStats:
    """The four counts of a pairwise alignment, read with ``Alignment.counts``.

    Parameters
    ----------
    alignment : Bio.Align.Alignment
        A pairwise alignment of two cleaned sequences (letters of the BLOSUM62 alphabet).

    Returns
    -------
    AlignmentStats
        Plain floats.
    """
    return AlignmentStats(*(float(alignment.counts(matrix).substitution_score) for matrix in _COUNT_MATRICES))


def pair_stats(aligner: PairwiseAligner, a: str, b: str) -> AlignmentStats:
    """Align two cleaned, ungapped sequences and count their comparable columns.

    The first optimal alignment Biopython returns is used, so the result is deterministic.
    Which optimal alignment is first depends on the order of the two sequences, so they
    are aligned in sorted order: the counts of (a, b) and (b, a) are the same.
    """
    first, second = sorted((a, b))
    return alignment_stats(aligner.align(first, second)[0])


def msa_stats(rows: list[str] | tuple[str, ...], *, block_columns: int = 256) -> AlignmentStats:
    """The four counts for every pair of rows of a multiple alignment, from its columns.

    Columns where either row has a gap (or B, Z, X) are skipped for that pair; nothing is
    realigned. Computed as one-hot matrix products, ``block_columns`` columns at a time, so
    memory stays at about N x block_columns x 20 floats.

    Parameters
    ----------
    rows : sequence of str
        N cleaned alignment rows (``clean_sequence(..., aligned=True)``), all of length C.
    block_columns : int
        Columns per block.

    Returns
    -------
    AlignmentStats
        Four float64 arrays of shape (N, N), symmetric; the diagonal holds each row's
        self-counts.
    """
    codes = alignment_codes(rows)
    return msa_row_stats(codes, 0, len(codes), block_columns=block_columns)


def alignment_codes(rows: list[str] | tuple[str, ...]) -> np.ndarray:
    """The (N, C) residue codes of N alignment rows of equal length, for :func:`msa_row_stats`."""
    codes = np.stack([encode(row) for row in rows]) if len(rows) else np.zeros((0, 0), np.int8)
    if len({len(row) for row in rows}) > 1:
        raise ValueError("msa_stats expects alignment rows of equal length.")
    return codes


def msa_row_stats(codes: np.ndarray, start: int, stop: int, *, block_columns: int = 256) -> AlignmentStats:
    """The four counts of rows ``start:stop`` of an alignment against all its rows, as in :func:`msa_stats`.

    A block of rows at a time keeps memory at a few (stop - start, N) arrays instead of
    four (N, N) ones. Every count is a small integer or half-integer, exact in float32,
    so blocks give exactly the rows of the whole.

    Parameters
    ----------
    codes : ndarray
        (N, C) codes from :func:`alignment_codes`.
    start, stop : int
        The rows counted, 0 <= start <= stop <= N.
    block_columns : int
        Columns per block.

    Returns
    -------
    AlignmentStats
        Four float64 arrays of shape (stop - start, N).
    """
    n, n_columns = codes.shape
    part = slice(start, stop)
    matrix = np.array(blosum62(), dtype=np.float32)[:N_STANDARD, :N_STANDARD]
    diagonal = np.diag(matrix)
    totals = [np.zeros((stop - start, n)) for _ in range(4)]
    for first in range(0, n_columns, block_columns):
        block = codes[:, first : first + block_columns].astype(np.int64)
        valid = (block >= 0) & (block < N_STANDARD)
        one_hot = np.zeros(block.shape + (N_STANDARD,), dtype=np.float32)
        rows_index, columns_index = np.nonzero(valid)
        one_hot[rows_index, columns_index, block[valid]] = 1.0
        flat = one_hot.reshape(n, -1)
        scored = (one_hot @ matrix).reshape(n, -1)
        valid_f = valid.astype(np.float32)
        self_diag = np.where(valid, diagonal[np.where(valid, block, 0)], 0.0).astype(np.float32)
        totals[0] += valid_f[part] @ valid_f.T
        totals[1] += flat[part] @ flat.T
        totals[2] += flat[part] @ scored.T
        totals[3] += (self_diag[part] @ valid_f.T + valid_f[part] @ self_diag.T) / 2
    return AlignmentStats(*totals)

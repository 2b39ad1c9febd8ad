"""Classical pseudo-distances between protein sequences: one pair, or all pairs in parallel.

Three routes give the alignment counts of :mod:`~symcl.domains.protein.alignment`:

- unaligned sequences are aligned pairwise with Biopython's ``PairwiseAligner``
  (BLOSUM62, global, gap open -12 / extend -1, end gaps scored alike; see
  :func:`~symcl.domains.protein.alignment.make_aligner`), all pairs spread over worker
  processes with a progress bar;
- the rows of a multiple alignment are compared column by column, for all pairs at once
  with numpy, with no realignment;
- approximately, unaligned sequences are aligned only to a few anchor sequences and every
  pair is read off those star alignments (``anchors=K``, K·N alignments; see
  :mod:`~symcl.domains.protein.anchored`).

The counts then go through one formula of :mod:`~symcl.domains.protein.formulas`.
Saturated pairs (formula undefined, or above ``max_distance``) are set to
``max_distance`` and flagged: returned as a mask with ``return_saturated=True``, reported
with a :class:`SaturationWarning` otherwise.

A distance read off a handful of columns is noise: pairs compared over fewer than
``min_columns`` columns (default :data:`MIN_COLUMNS`) keep their value, so the matrix
still goes into neighbour-joining, and are reported with a :class:`ShortSequenceWarning`
naming the sequences in most of them.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Sequence
from concurrent.futures import FIRST_COMPLETED, wait

import numpy as np
from Bio.Align import PairwiseAligner
from Bio.Seq import Seq
from Bio.SeqRecord import SeqRecord

from symcl.checks import check_integer

from .alignment import AlignmentStats, alignment_codes, make_aligner, msa_stats, pair_stats
from .alphabet import clean_sequence
from .anchored import anchored_distances, row_block_distances
from .formulas import MAX_DISTANCE, METHODS, SCOREDIST_CALIBRATION, distances_from_stats
from .reader import ProteinSequences
from .workers import ProgressBar, alignment_pool, worker_inputs

#: Below this many pairs, :func:`distance_matrix` stays in one process (starting workers costs more).
MIN_PARALLEL_PAIRS = 200
_MAX_CHUNK = 1024
#: Pairs counted at a time on the aligned route: the four counts and the distances of a
#: block of rows are a few such arrays, small beside the (N, N) result.
_BLOCK_PAIRS = 1 << 20
#: Default ``min_columns``: a pair compared over fewer columns gets a distance that is mostly
#: noise. Over L columns p is a binomial proportion with standard error sqrt(p(1 - p) / L):
#: at L = 20 and p = 0.3 about 0.1, a Poisson distance of 0.36 +- 0.15, as wide as the whole
#: spread of a clade of close homologs (myoglobins: 0.1-0.25). A count, not a fraction of the
#: shorter sequence: a 3-residue fragment is aligned over all of its 3 residues.
MIN_COLUMNS = 20


class SaturationWarning(UserWarning):
    """Some pairs are too distant for the chosen method; they were capped at ``max_distance``."""


class ShortSequenceWarning(UserWarning):
    """Some distances rest on too little sequence to mean anything; their values are kept.

    Raised for pairs compared over fewer than ``min_columns`` aligned columns (alignment
    routes) and for sequences shorter than ``min_length`` residues (spectrum and model routes).
    """


def pseudo_distance(
    a: str | Seq | SeqRecord,
    b: str | Seq | SeqRecord,
    method: str = "scoredist",
    *,
    aligned: bool = False,
    aligner: PairwiseAligner | None = None,
    max_distance: float = MAX_DISTANCE,
    calibration: float = SCOREDIST_CALIBRATION["jtt"],
    min_columns: int = MIN_COLUMNS,
    return_saturated: bool = False,
) -> float | tuple[float, bool]:
    """The evolutionary distance between two protein sequences.

    Parameters
    ----------
    a, b : str, Bio.Seq.Seq or Bio.SeqRecord.SeqRecord
        The sequences (letters as in :mod:`~symcl.domains.protein.alphabet`).
    method : {"p", "poisson", "kimura", "scoredist"}
        p-distance (fraction of differing residues), its Poisson correction -ln(1 - p),
        Kimura's -ln(1 - p - 0.2 p^2), or Scoredist (default).
    aligned : bool
        True: ``a`` and ``b`` are two rows of one alignment (equal length, with gaps);
        their columns are used as they are. False (default): they are aligned first.
    aligner : Bio.Align.PairwiseAligner, optional
        The aligner; default :func:`~symcl.domains.protein.alignment.make_aligner()`.
        The counts are always BLOSUM62-based, whatever the aligner scores with.
    max_distance : float
        Cap, in substitutions per site (> 0, default 3.0; at most 1 for "p").
    calibration : float
        Scoredist's constant c (> 0, default 1.2873, calibrated to JTT).
    min_columns : int
        Warn when the pair is compared over fewer columns (both residues standard, no
        gap) than this, >= 0 (default 20, :data:`MIN_COLUMNS`; 0: never). The distance
        is returned all the same.
    return_saturated : bool
        Also return whether the pair was saturated.

    Returns
    -------
    float, or (float, bool) with ``return_saturated``
        The distance, 0 for identical sequences.

    Warns
    -----
    SaturationWarning
        The pair is saturated and ``return_saturated`` is False.
    ShortSequenceWarning
        The pair is compared over fewer than ``min_columns`` columns.

    Notes
    -----
    Exchanging ``a`` and ``b`` gives the same value: the pair is always aligned in the
    same order (:func:`~symcl.domains.protein.alignment.pair_stats`).
    """
    _check_method_and_caps(method, max_distance, calibration, "pseudo_distance")
    min_columns = check_integer("pseudo_distance", "min_columns", min_columns, 0)
    rows = [clean_sequence(_text(x, name), aligned=aligned, record=name) for x, name in ((a, "a"), (b, "b"))]
    if aligned:
        if len(rows[0]) != len(rows[1]):
            raise ValueError(
                f"pseudo_distance with aligned=True needs two alignment rows of equal length. "
                f"Got lengths {len(rows[0])} and {len(rows[1])} instead."
            )
        stats = AlignmentStats(*(matrix[0, 1] for matrix in msa_stats(rows)))
    else:
        stats = pair_stats(aligner if aligner is not None else make_aligner(), rows[0], rows[1])
    distance, saturated = distances_from_stats(
        *stats, method=method, max_distance=max_distance, calibration=calibration
    )
    distance, saturated = float(distance), bool(saturated)
    if stats.aligned < min_columns:
        warnings.warn(
            f"the pair is compared over {stats.aligned:g} columns, fewer than min_columns={min_columns}: too few "
            f"for a meaningful distance (the value {distance:.6g} is kept; treat it as noise)",
            ShortSequenceWarning,
            stacklevel=2,
        )
    if return_saturated:
        return distance, saturated
    if saturated:
        warnings.warn(
            f"the pair is saturated for method {method!r} (undefined or above max_distance); capped at {distance}",
            SaturationWarning,
            stacklevel=2,
        )
    return distance


def distance_matrix(
    seqs: Sequence[str | Seq | SeqRecord] | ProteinSequences,
    method: str = "scoredist",
    *,
    aligned: bool | None = None,
    aligner: PairwiseAligner | None = None,
    max_distance: float = MAX_DISTANCE,
    calibration: float = SCOREDIST_CALIBRATION["jtt"],
    anchors: int | None = None,
    seed: int = 0,
    n_jobs: int | None = None,
    progress: bool = True,
    min_columns: int = MIN_COLUMNS,
    return_saturated: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """All-vs-all evolutionary distances of a protein family.

    Parameters
    ----------
    seqs : sequence of str, Seq or SeqRecord, or ProteinSequences
        N sequences, e.g. from :func:`~symcl.domains.protein.reader.read_sequences`.
    method : {"p", "poisson", "kimura", "scoredist"}
        See :func:`pseudo_distance`.
    aligned : bool, optional
        True: the sequences are alignment rows, compared column by column (no
        realignment; columns with a gap in either row are skipped for that pair).
        False: gaps are removed and every pair is aligned. None (default): the
        ``aligned`` attribute of a ProteinSequences; otherwise aligned when all
        sequences have the same length and at least one holds a gap.
    aligner : Bio.Align.PairwiseAligner, optional
        See :func:`pseudo_distance`.
    max_distance, calibration : float
        See :func:`pseudo_distance`.
    anchors : int, optional
        Unaligned input only. None (default): every pair is aligned. K >= 1: the
        approximate *anchored* route of :mod:`~symcl.domains.protein.anchored`: each
        sequence is aligned to K anchor sequences of the input (K·N alignments instead
        of N(N-1)/2) and each pair is read off the resulting star alignments (e.g. 8,
        :data:`~symcl.domains.protein.anchored.DEFAULT_ANCHORS`).
    seed : int
        Seed of the anchor draw (anchored route).
    n_jobs : int, optional
        Worker processes for the alignments (>= 1; default ``os.cpu_count()``).
        Fewer than 200 pairs, or ``n_jobs=1``, run in this process.
    progress : bool
        Show a progress bar over the alignments (unaligned input).
    min_columns : int
        Warn about the pairs compared over fewer columns (both residues standard, no gap)
        than this, >= 0 (default 20, :data:`MIN_COLUMNS`; 0: never). On the anchored
        route a pair's columns are its mean over the anchors. Their distances are kept:
        NaN would stop neighbour-joining, and the cap would claim they are unrelated.
    return_saturated : bool
        Also return the (N, N) boolean mask of saturated pairs.

    Returns
    -------
    ndarray, or (ndarray, ndarray) with ``return_saturated``
        float64 distances, shape (N, N), symmetric, zero diagonal, in input order; and the
        saturation mask, shape (N, N).

    Warns
    -----
    SaturationWarning
        Some pairs are saturated and ``return_saturated`` is False.
    ShortSequenceWarning
        Some pairs are compared over fewer than ``min_columns`` columns (whatever
        ``return_saturated``), naming the sequences in most of them.
    """
    _check_method_and_caps(method, max_distance, calibration, "distance_matrix")
    min_columns = check_integer("distance_matrix", "min_columns", min_columns, 0)
    if n_jobs is not None and (not isinstance(n_jobs, int) or isinstance(n_jobs, bool) or n_jobs < 1):
        raise ValueError(
            f"The 'n_jobs' parameter of distance_matrix must be an integer >= 1 or None. Got {n_jobs!r} instead."
        )
    if anchors is not None and (not isinstance(anchors, int) or isinstance(anchors, bool) or anchors < 1):
        raise ValueError(
            f"The 'anchors' parameter of distance_matrix must be an integer >= 1 or None. Got {anchors!r} instead."
        )
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"The 'seed' parameter of distance_matrix must be an integer >= 0. Got {seed!r} instead.")
    names, rows, aligned = prepare_rows(seqs, aligned, "distance_matrix")
    if aligned and anchors is not None:
        raise ValueError(
            f"The 'anchors' parameter of distance_matrix applies to unaligned sequences; these are alignment rows "
            f"(aligned=True), whose columns are used as they are. Got anchors={anchors!r}."
        )
    n = len(rows)
    workers = n_jobs if n_jobs is not None else os.cpu_count() or 1
    aligner = aligner if aligner is not None else make_aligner()
    if anchors is not None:
        distances, saturated, columns = anchored_distances(
            rows,
            method,
            aligner=aligner,
            anchors=anchors,
            seed=seed,
            max_distance=max_distance,
            calibration=calibration,
            n_jobs=workers,
            progress=progress,
        )
    elif aligned:
        distances, saturated, columns = _aligned_distances(rows, method, max_distance, calibration)
    else:
        stats = _pairwise_stats(rows, aligner, workers, progress)
        distances, saturated = distances_from_stats(
            *stats, method=method, max_distance=max_distance, calibration=calibration
        )
        columns = stats.aligned
        del stats  # the other three (N, N) counts are not needed past the formula
    diagonal = np.arange(n)
    distances[diagonal, diagonal] = 0.0
    saturated[diagonal, diagonal] = False
    message = short_pairs_message(columns, names, min_columns)
    if message:
        warnings.warn(message, ShortSequenceWarning, stacklevel=2)
    if return_saturated:
        return distances, saturated
    if saturated.any():
        warnings.warn(saturation_message(saturated, names, method, max_distance), SaturationWarning, stacklevel=2)
    return distances


def saturation_message(saturated: np.ndarray, names: Sequence[str], method: str, max_distance: float) -> str:
    """One line saying how many pairs are saturated, with up to three examples."""
    first, second = np.nonzero(np.triu(saturated, k=1))
    n = len(names)
    examples = ", ".join(f"({names[i]}, {names[j]})" for i, j in zip(first[:3], second[:3], strict=True))
    more = ", ..." if first.size > 3 else ""
    cap = min(max_distance, 1.0) if method == "p" else max_distance
    return (
        f"{first.size} of {n * (n - 1) // 2} pairs are saturated for method {method!r} (undefined or above "
        f"max_distance) and were capped at {cap}: {examples}{more}"
    )


def short_pairs_message(columns: np.ndarray, names: Sequence[str], min_columns: int) -> str | None:
    """One line on the pairs compared over fewer than ``min_columns`` columns, or None when there are none.

    ``columns`` is the (N, N) matrix of compared columns (its diagonal is ignored). The
    line names the sequences that account for most such pairs (see :func:`_worst_sequences`).
    """
    short = columns < min_columns
    np.fill_diagonal(short, False)
    n_short = int(short.sum()) // 2
    if not n_short:
        return None
    n = len(names)
    return (
        f"{n_short} of {n * (n - 1) // 2} pairs are compared over fewer than {min_columns} columns (min_columns; "
        "--min-columns on the command line), too few for a meaningful distance; their values are kept, treat them "
        f"as noise or drop those sequences: {_worst_sequences(short, columns, names)}"
    )


def _worst_sequences(short: np.ndarray, columns: np.ndarray, names: Sequence[str], limit: int = 3) -> str:
    """Up to ``limit`` sequences picked greedily so that each covers the most short pairs not yet named.

    Greedy, so that a single fragment is named alone rather than beside each of its partners.
    """
    remaining = short.sum(axis=1)
    parts = []
    while remaining.max() > 0 and len(parts) < limit:
        i = int(np.argmax(remaining))
        total, fewest = int(short[i].sum()), float(columns[i][short[i]].min())
        parts.append(f"{names[i]} ({total} pair{'s' if total != 1 else ''}, as few as {round(fewest, 1):g} columns)")
        remaining = remaining - short[i]
        remaining[i] = 0
    more = ", ..." if remaining.max() > 0 else ""
    return ", ".join(parts) + more


def short_sequences_message(lengths: Sequence[int], names: Sequence[str], min_length: int, what: str) -> str | None:
    """One line on the sequences shorter than ``min_length`` residues, too short for ``what``; None when none are."""
    short = [i for i, length in enumerate(lengths) if length < min_length]
    if not short:
        return None
    examples = ", ".join(f"{names[i]} ({lengths[i]} residues)" for i in short[:3])
    more = ", ..." if len(short) > 3 else ""
    return (
        f"{len(short)} of {len(lengths)} sequences are shorter than {min_length} residues (min_length; --min-columns "
        f"on the command line), too short for a meaningful {what}; their distances are kept, treat them as noise or "
        f"drop them: {examples}{more}"
    )


def _check_method_and_caps(method: str, max_distance: float, calibration: float, where: str) -> None:
    if method not in METHODS:
        raise ValueError(f"The 'method' parameter of {where} must be one of {METHODS}. Got {method!r} instead.")
    check_positive("max_distance", max_distance, where)
    check_positive("calibration", calibration, where)


def check_positive(name: str, value: object, where: str) -> None:
    """Raise ValueError naming ``name`` and ``where`` unless ``value`` is a finite number > 0."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"The '{name}' parameter of {where} must be a finite number > 0. Got {value!r} instead.")


def _text(value: str | Seq | SeqRecord, name: str) -> str:
    if isinstance(value, SeqRecord):
        value = value.seq
    if isinstance(value, Seq):
        return str(value)
    if isinstance(value, str):
        return value
    raise TypeError(
        f"Sequence {name} must be a str, Bio.Seq.Seq or Bio.SeqRecord.SeqRecord. Got {type(value).__name__} instead."
    )


def prepare_rows(
    seqs: Sequence[str | Seq | SeqRecord] | ProteinSequences, aligned: bool | None, where: str
) -> tuple[list[str], list[str], bool]:
    """Names, cleaned rows and the route (aligned or not) of the input of ``where`` (for its messages)."""
    if isinstance(seqs, (str, Seq, SeqRecord)) or not isinstance(seqs, Sequence):
        raise TypeError(
            f"The 'seqs' parameter of {where} must be a sequence of protein sequences "
            f"(e.g. a list of str). Got {type(seqs).__name__} instead."
        )
    if aligned not in (None, True, False):
        raise TypeError(f"The 'aligned' parameter of {where} must be None, True or False. Got {aligned!r} instead.")
    if isinstance(seqs, ProteinSequences):
        names, texts, source = list(seqs.ids), list(seqs.sequences), seqs.source
        if aligned is None:
            aligned = seqs.aligned
    else:
        names = [x.id if isinstance(x, SeqRecord) else f"sequence {i}" for i, x in enumerate(seqs)]
        texts = [_text(x, names[i]) for i, x in enumerate(seqs)]
        source = ""
        if aligned is None:
            aligned = len({len(t) for t in texts}) == 1 and any(("-" in t or "." in t) for t in texts)
    rows = [
        clean_sequence(t, aligned=aligned, record=name, source=source) for t, name in zip(texts, names, strict=True)
    ]
    if aligned and len({len(row) for row in rows}) > 1:
        raise ValueError(
            f"{where} with aligned=True needs alignment rows of equal length. "
            f"Got lengths from {min(map(len, rows))} to {max(map(len, rows))} instead."
        )
    return names, rows, aligned


# ---------------------------------------------------------------------------------------
# Aligned route: a block of rows at a time.


def _aligned_distances(
    rows: list[str], method: str, max_distance: float, calibration: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances, saturation flags and compared columns of alignment rows, counted a block of rows at a time.

    The result is that of ``distances_from_stats(*msa_stats(rows))`` bit for bit, while
    memory stays near the (N, N) result, mask and float32 columns instead of about eleven
    (N, N) arrays.
    """
    codes = alignment_codes(rows)
    n = len(codes)
    distances, saturated = np.empty((n, n)), np.empty((n, n), dtype=bool)
    columns = np.empty((n, n), dtype=np.float32)  # counts of columns, exact in float32
    for block, distance, flags, compared in row_block_distances(
        codes, method, max_distance, calibration, block_pairs=_BLOCK_PAIRS
    ):
        distances[block], saturated[block], columns[block] = distance, flags, compared
    return distances, saturated, columns


# ---------------------------------------------------------------------------------------
# Pairwise route: chunks of pairs, in this process or in worker processes.


def _chunk_stats(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """:func:`_stats_of_pairs` in a worker of :func:`~symcl.domains.protein.workers.alignment_pool`."""
    return _stats_of_pairs(*worker_inputs(), first, second)


def _stats_of_pairs(
    sequences: list[str], aligner: PairwiseAligner, first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """Counts of the pairs (first[k], second[k]), shape (k, 4)."""
    rows = [pair_stats(aligner, sequences[i], sequences[j]) for i, j in zip(first, second, strict=True)]
    return np.array(rows, dtype=float).reshape(len(rows), 4)


def _pairwise_stats(sequences: list[str], aligner: PairwiseAligner, n_jobs: int, progress: bool) -> AlignmentStats:
    """The four (N, N) count matrices, aligning every pair once (i < j)."""
    n = len(sequences)
    first, second = np.triu_indices(n, k=1)
    n_pairs = first.size
    counts = np.zeros((n_pairs, 4))
    chunk = int(min(_MAX_CHUNK, max(16, math.ceil(n_pairs / (16 * n_jobs))))) if n_pairs else 1
    bounds = [(start, min(start + chunk, n_pairs)) for start in range(0, n_pairs, chunk)]
    if n_jobs == 1 or n_pairs < MIN_PARALLEL_PAIRS:
        with ProgressBar(total=n_pairs, disable=not progress, desc="aligning pairs", unit="pair") as bar:
            for start, stop in bounds:
                counts[start:stop] = _stats_of_pairs(sequences, aligner, first[start:stop], second[start:stop])
                bar.update(stop - start)
    else:
        pool = alignment_pool(min(n_jobs, len(bounds)), sequences, aligner)
        try:
            futures = {pool.submit(_chunk_stats, first[a:b], second[a:b]): (a, b) for a, b in bounds}
            with ProgressBar(total=n_pairs, disable=not progress, desc="aligning pairs", unit="pair") as bar:
                pending = set(futures)
                while pending:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        start, stop = futures[future]
                        counts[start:stop] = future.result()
                        bar.update(stop - start)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    matrices = []
    for k in range(4):
        matrix = np.zeros((n, n))
        matrix[first, second] = counts[:, k]
        matrix[second, first] = counts[:, k]
        matrices.append(matrix)
    return AlignmentStats(*matrices)

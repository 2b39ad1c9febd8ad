"""Approximate all-vs-all alignment distances from star alignments to a few anchor sequences.

Aligning every pair of N sequences takes N(N-1)/2 alignments. The anchored route takes
K·N: K *anchors* are drawn from the input, every sequence is aligned to each anchor, and
the N alignments to one anchor are stacked into a *star alignment* in the anchor's
columns (residues inserted relative to the anchor are dropped). Every pair of rows of a
star alignment is then counted at once with :func:`~symcl.domains.protein.alignment.msa_stats`,
as for a published MSA, which gives a pair's distance through that anchor.

A pair's distance is the mean of its distances through the K anchors; it is saturated
(flagged, at the cap) only when it is saturated through every anchor. Its compared
columns, for the short-pair warning, are likewise the mean of its columns through them.

The route is meant for one family at a time, like a tree. Sequences unrelated to an
anchor are aligned to it all the same and get distances through that noise alignment;
the pairwise route does no better there, since an optimal alignment of two unrelated
sequences rarely scores low enough to saturate Scoredist (``benchmarks/bench_protein.py``
reports how well each route separates homologs from non-homologs).

Why it is worth having: the columns of a star alignment are shared by all sequences, like
those of an MSA, so these distances agree *better* with distances read off a curated MSA
than independent pairwise alignments do (``benchmarks/bench_protein.py`` measures both on
held-out Pfam families). Anchors are drawn among the sequences of median-like length
(the middle half of the lengths), because a fragment anchor has few columns to share.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
from Bio.Align import PairwiseAligner

from .alignment import alignment_codes, msa_row_stats
from .formulas import SCOREDIST_CALIBRATION, distances_from_stats
from .workers import ProgressBar, alignment_pool, worker_inputs

#: Default number of anchors. Chosen, like drawing anchors among middle lengths, on the
#: benchmark's own held-out families (5 gave coarser trees, 12 none better), so the
#: benchmark figures of this route are slightly optimistic.
DEFAULT_ANCHORS = 8


def choose_anchors(lengths: Sequence[int], k: int, seed: int = 0) -> np.ndarray:
    """Indices of ``k`` anchors (fewer when there are fewer candidates), drawn without replacement.

    Candidates are the sequences whose length lies in the interquartile range of
    ``lengths``; the draw is seeded, so the same input and seed give the same anchors.
    """
    lengths = np.asarray(lengths, dtype=float)
    low, high = np.quantile(lengths, [0.25, 0.75])
    pool = np.nonzero((lengths >= low) & (lengths <= high))[0]
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(pool, size=min(k, pool.size), replace=False))


def star_rows(anchor: str, sequences: Sequence[str], aligner: PairwiseAligner) -> list[str]:
    """Each sequence's residues at the anchor's columns ('-' where it has none), from its alignment to the anchor."""
    rows = []
    for sequence in sequences:
        alignment = aligner.align(anchor, sequence)[0]
        row = bytearray(b"-" * len(anchor))
        text = sequence.encode()
        for (a_start, a_end), (s_start, s_end) in zip(*alignment.aligned, strict=True):
            row[a_start:a_end] = text[s_start:s_end]
        rows.append(row.decode())
    return rows


def anchored_distances(
    sequences: Sequence[str],
    method: str,
    *,
    aligner: PairwiseAligner,
    anchors: int = DEFAULT_ANCHORS,
    seed: int = 0,
    max_distance: float,
    calibration: float = SCOREDIST_CALIBRATION["jtt"],
    n_jobs: int = 1,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distances, saturation flags and compared columns of all pairs, from star alignments to ``anchors`` anchors.

    Parameters
    ----------
    sequences : sequence of str
        N cleaned, ungapped sequences.
    method : {"p", "poisson", "kimura", "scoredist"}
        The distance read off each star alignment.
    aligner : Bio.Align.PairwiseAligner
        Aligns each sequence to each anchor.
    anchors : int
        K, >= 1 (at most the number of candidates, see :func:`choose_anchors`).
    seed : int
        Seed of the anchor draw.
    max_distance, calibration : float
        Cap and Scoredist constant, as in :func:`~symcl.domains.protein.distance.distance_matrix`.
    n_jobs : int
        Worker processes, one anchor at a time each; 1 stays in this process.
    progress : bool
        Progress bar over the K·N alignments.

    Returns
    -------
    distances : ndarray, shape (N, N)
        Mean over the anchors, zero diagonal.
    saturated : ndarray of bool, shape (N, N)
        Saturated through every anchor.
    columns : ndarray of float32, shape (N, N)
        Compared columns (both residues standard, no gap), mean over the anchors.
    """
    n = len(sequences)
    if n == 0:
        return np.zeros((0, 0)), np.zeros((0, 0), dtype=bool), np.zeros((0, 0), dtype=np.float32)
    chosen = choose_anchors([len(s) for s in sequences], anchors, seed)
    total, saturated = np.zeros((n, n)), np.ones((n, n), dtype=bool)
    columns = np.zeros((n, n), dtype=np.float32)  # sums of column counts, exact in float32
    with ProgressBar(total=len(chosen) * n, disable=not progress, desc="aligning to anchors", unit="alignment") as bar:
        for rows in _all_star_rows(sequences, chosen, aligner, n_jobs):
            _add_anchor(total, saturated, columns, alignment_codes(rows), method, max_distance, calibration)
            bar.update(n)
    distances = total / len(chosen)
    columns /= len(chosen)
    np.fill_diagonal(distances, 0.0)
    np.fill_diagonal(saturated, False)
    return distances, saturated, columns


#: Pairs counted at a time: the four counts and the distance of a block of rows are a
#: few such arrays, small beside the (N, N) total.
_BLOCK_PAIRS = 1 << 20


def _add_anchor(
    total: np.ndarray,
    saturated: np.ndarray,
    columns: np.ndarray,
    codes: np.ndarray,
    method: str,
    max_distance: float,
    calibration: float,
) -> None:
    """Add the distances and columns through one star alignment to ``total`` and ``columns``, AND its flags
    into ``saturated``, by row blocks."""
    for rows, distance, through_anchor, compared in row_block_distances(
        codes, method, max_distance, calibration, block_pairs=_BLOCK_PAIRS
    ):
        total[rows] += distance
        saturated[rows] &= through_anchor
        columns[rows] += compared


def row_block_distances(
    codes: np.ndarray, method: str, max_distance: float, calibration: float, *, block_pairs: int
) -> Iterator[tuple[slice, np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, distances, saturated, columns) of an alignment's rows, a block of about ``block_pairs`` pairs at a time.

    ``columns`` are the compared columns of each pair (the ``aligned`` count).

    Each block's counts (:func:`~symcl.domains.protein.alignment.msa_row_stats`) are
    exactly those rows of the whole-matrix counts, and the formulas work pair by pair, so
    the blocks give the rows of ``distances_from_stats(*msa_stats(rows))`` bit for bit.
    """
    n = len(codes)
    step = max(1, block_pairs // max(n, 1))
    for start in range(0, n, step):
        stop = min(start + step, n)
        stats = msa_row_stats(codes, start, stop)
        distance, saturated = distances_from_stats(
            *stats, method=method, max_distance=max_distance, calibration=calibration
        )
        yield slice(start, stop), distance, saturated, stats.aligned


def _worker_rows(index: int) -> list[str]:
    sequences, aligner = worker_inputs()
    return star_rows(sequences[index], sequences, aligner)


def _all_star_rows(sequences: Sequence[str], chosen: np.ndarray, aligner: PairwiseAligner, n_jobs: int):
    """The star rows of each anchor in ``chosen``, in order (in worker processes when ``n_jobs > 1``)."""
    if n_jobs == 1 or len(chosen) == 1:
        for index in chosen:
            yield star_rows(sequences[index], sequences, aligner)
        return
    with alignment_pool(min(n_jobs, len(chosen)), sequences, aligner) as pool:
        yield from pool.map(_worker_rows, [int(i) for i in chosen])

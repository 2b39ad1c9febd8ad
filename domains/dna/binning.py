"""Binning: contigs -> putative genomes, by clustering their embeddings or TNF."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from symcl.atomic import atomic_write
from symcl.errors import UserInputError

MAX_AGGLOMERATIVE = 30_000  # contigs: Ward linkage holds all N^2 distances, 7 GB at the limit
MAX_AUTO_BINS = 20  # the most bins tried when none is asked for
# Silhouettes closer than this leave the number of bins in doubt: on real mixtures of 3-8
# genomes the right k often scored within it of the chosen one.
SILHOUETTE_MARGIN = 0.05


def bin_contigs(
    features: np.ndarray,
    n_bins: int | None = None,
    *,
    method: str = "kmeans",
    seed: int = 0,
    progress: bool = False,
) -> np.ndarray:
    """Group contigs into bins (putative genomes) by clustering their features.

    Rows are L2-normalised first, so contigs are compared by cosine similarity, then
    clustered with :func:`symcl.cluster`.

    Parameters
    ----------
    features : ndarray
        float, shape (n_contigs, dim): embeddings of the contigs, or their TNF passed
        through :func:`standardised_log_ratios` (raw frequencies are dominated by a few
        common tetranucleotides).
    n_bins : int or None, default None
        Number of bins, ``1 <= n_bins <= n_contigs``. None (the default; k-means only),
        as ``symcl dna bin`` without ``--bins``: the number in 2..``MAX_AUTO_BINS`` with
        the best silhouette score (one bin below 3 contigs); :func:`choose_bins` also
        returns every number's score.
    method : {"kmeans", "agglomerative"}
        Clustering algorithm; agglomerative (Ward) holds all pairwise distances, so it
        takes at most ``MAX_AGGLOMERATIVE`` contigs.
    seed : int
        Seed of k-means.
    progress : bool
        A bar over the numbers of bins tried when ``n_bins`` is None.

    Returns
    -------
    ndarray
        int64, shape (n_contigs,): the bin of each contig, in ``[0, n_bins)``.
    """
    from symcl.evaluation import cluster

    unit = _unit_rows(features, "bin_contigs")
    if n_bins is None:
        if method != "kmeans":
            raise UserInputError(f"{method} binning needs a number of bins (--bins); only k-means chooses one")
        return _by_silhouette(unit, seed, progress)[0]
    if not isinstance(n_bins, int) or isinstance(n_bins, bool) or not 1 <= n_bins <= len(features):
        raise ValueError(
            f"The 'n_bins' parameter of bin_contigs must be an integer in [1, {len(features)}] (the number of "
            f"contigs). Got {n_bins!r} instead."
        )
    if method == "agglomerative" and len(features) > MAX_AGGLOMERATIVE:
        gigabytes = 8 * len(features) ** 2 / 1e9
        raise UserInputError(
            f"Agglomerative binning keeps every pair's distance in memory, about {gigabytes:.0f} GB for "
            f"{len(features)} contigs; it takes at most {MAX_AGGLOMERATIVE:,}. Use k-means (--method kmeans) or "
            "raise --min-length."
        )
    return cluster(unit, n_bins, method=method, seed=seed)


def choose_bins(features: np.ndarray, *, seed: int = 0, progress: bool = False) -> tuple[np.ndarray, dict[int, float]]:
    """:func:`bin_contigs` without ``n_bins``, with the silhouette score of every number tried.

    Returns
    -------
    bins : ndarray
        int64, shape (n_contigs,): the k-means bins of the best-scoring number.
    scores : dict of int to float
        Number of bins -> silhouette score, for 2..``MAX_AUTO_BINS`` (empty below 3
        contigs: one bin). See :func:`runner_up` for how sure the choice is.
    """
    return _by_silhouette(_unit_rows(features, "choose_bins"), seed, progress)


def runner_up(scores: dict[int, float], margin: float = SILHOUETTE_MARGIN) -> int | None:
    """The second-best number of bins if its silhouette is within ``margin`` of the best, else None."""
    ranked = sorted(scores, key=lambda k: (-scores[k], k))  # ties: the smaller k first, as chosen
    if len(ranked) < 2 or scores[ranked[0]] - scores[ranked[1]] > margin:
        return None
    return ranked[1]


def tnf_binning_features(sequences) -> np.ndarray:
    """TNF as ``symcl dna bin --features tnf`` clusters it: pseudocount 1, then :func:`standardised_log_ratios`.

    ``sequences`` as for :func:`~symcl.domains.dna.tnf` (a stream is read one record at a time).
    """
    from .tnf import tnf

    return standardised_log_ratios(tnf(sequences, pseudocount=1.0))


def standardised_log_ratios(frequencies: np.ndarray) -> np.ndarray:
    """TNF as binning features: centred log-ratios, each column standardised over the contigs.

    Frequencies are compositions, so they are compared as log-ratios (Aitchison); without
    standardising, the few most variable tetranucleotides (GC content) decide alone
    (``benchmarks/bench_dna.py`` bins its contigs both ways: ``tnf`` and ``tnf_clr``).

    Parameters
    ----------
    frequencies : ndarray
        float, shape (n_contigs, n_kmers), all > 0 (TNF with a pseudocount).

    Returns
    -------
    ndarray
        float64, same shape; a column that does not vary is 0.
    """
    frequencies = np.asarray(frequencies, dtype=np.float64)
    if frequencies.ndim != 2 or not (np.isfinite(frequencies).all() and (frequencies > 0).all()):
        raise ValueError(
            "The 'frequencies' parameter of standardised_log_ratios must be a 2-D array of positive finite "
            f"frequencies (TNF with a pseudocount). Got shape {frequencies.shape}."
        )
    logs = np.log(frequencies)
    ratios = logs - logs.mean(axis=1, keepdims=True)
    centred = ratios - ratios.mean(axis=0)
    spread = centred.std(axis=0)
    return centred / np.where(spread > 0, spread, 1.0)


def _unit_rows(features: np.ndarray, func: str) -> np.ndarray:
    """Rows scaled to length 1 (zero rows stay zero): contigs compared by cosine similarity."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or not np.isfinite(features).all():
        raise ValueError(f"The 'features' parameter of {func} must be a finite 2-D array. Got shape {features.shape}.")
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return features / np.where(norms > 0, norms, 1.0)


def _by_silhouette(unit: np.ndarray, seed: int, progress: bool) -> tuple[np.ndarray, dict[int, float]]:
    from symcl.evaluation import kmeans_silhouettes

    if len(unit) < 3:
        return np.zeros(len(unit), dtype=np.int64), {}
    return kmeans_silhouettes(unit, list(auto_bin_candidates(len(unit))), seed=seed, progress=progress)


def auto_bin_candidates(n_contigs: int) -> range:
    """The numbers of bins tried when none is asked for (empty below 3 contigs: one bin)."""
    return range(2, min(MAX_AUTO_BINS, n_contigs - 1) + 1)


def save_bins(path: str | os.PathLike, ids: list[str], bins: np.ndarray) -> Path:
    """Atomically write a two-column TSV with the header ``contig<TAB>bin``."""
    lines = ["contig\tbin"] + [f"{rid}\t{int(b)}" for rid, b in zip(ids, bins, strict=True)]
    return atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))

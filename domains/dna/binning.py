"""Binning: contigs -> putative genomes, by clustering their embeddings or TNF."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from symcl.atomic import atomic_write
from symcl.errors import UserInputError

MAX_AGGLOMERATIVE = 30_000  # contigs: Ward linkage holds all N^2 distances, 7 GB at the limit
MAX_AUTO_BINS = 20  # the most bins tried when none is asked for


def bin_contigs(
    features: np.ndarray, n_bins: int | None, *, method: str = "kmeans", seed: int = 0, progress: bool = False
) -> np.ndarray:
    """Group contigs into bins (putative genomes) by clustering their features.

    Rows are L2-normalised first, so contigs are compared by cosine similarity, then
    clustered with :func:`symcl.cluster`.

    Parameters
    ----------
    features : ndarray
        float, shape (n_contigs, dim): embeddings or TNF of the contigs.
    n_bins : int or None
        Number of bins, ``1 <= n_bins <= n_contigs``. None (k-means only): the number in
        2..``MAX_AUTO_BINS`` with the best silhouette score.
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
    from symcl.evaluation import cluster, kmeans_by_silhouette

    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or not np.isfinite(features).all():
        raise ValueError(
            f"The 'features' parameter of bin_contigs must be a finite 2-D array. Got shape {features.shape}."
        )
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    unit = features / np.where(norms > 0, norms, 1.0)
    if n_bins is None:
        if method != "kmeans":
            raise UserInputError(f"{method} binning needs a number of bins (--bins); only k-means chooses one")
        if len(features) < 3:
            return np.zeros(len(features), dtype=np.int64)
        return kmeans_by_silhouette(unit, list(auto_bin_candidates(len(features))), seed=seed, progress=progress)
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


def auto_bin_candidates(n_contigs: int) -> range:
    """The numbers of bins tried when none is asked for (empty below 3 contigs: one bin)."""
    return range(2, min(MAX_AUTO_BINS, n_contigs - 1) + 1)


def save_bins(path: str | os.PathLike, ids: list[str], bins: np.ndarray) -> Path:
    """Atomically write a two-column TSV with the header ``contig<TAB>bin``."""
    lines = ["contig\tbin"] + [f"{rid}\t{int(b)}" for rid, b in zip(ids, bins, strict=True)]
    return atomic_write(path, lambda tmp: tmp.write_text("\n".join(lines) + "\n"))

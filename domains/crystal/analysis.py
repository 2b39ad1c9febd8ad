"""The real-image pipeline: sites -> patches -> embeddings -> anomaly scores, clusters and an overlay.

::

    from symcl.domains import crystal

    image, _ = crystal.read_image("haadf.tif")
    model = crystal.load_model("runs/crystal")          # or crystal.load_pretrained()
    result = crystal.analyse_image(model, image, pixel_size=0.093)
    result.embeddings, result.anomaly, result.cluster   # one row per site
    crystal.save_analysis(result, "out/")               # sites.csv, embeddings.npz, overlay.png

The image is resampled to the model's training pixel size, so a patch covers the same
field of view (in Å) as the training patches whatever the microscope's sampling.
"""

from __future__ import annotations

import csv
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from symcl.atomic import atomic_group, atomic_write, make_directory
from symcl.checks import as_integer, check_integer

from .images import MAX_IMAGE_PIXELS, check_image
from .padding import estimate_lattice
from .sites import PLAUSIBLE_SPACING, Sites, cut_patches, find_sites, resample, resampled_shape


@dataclass(frozen=True, eq=False)
class SiteAnalysis:
    """Per-site results of :func:`analyse_image`.

    Attributes
    ----------
    sites : Sites
        Positions (px of the input image) and peak heights.
    embeddings : ndarray
        float32 (N, d).
    anomaly : ndarray
        float64 (N,), distance from the dense (pristine) part of the embedding cloud,
        in units of its median: about 1 for ordinary sites, larger for unusual ones.
    cluster : ndarray
        int64 (N,), cluster label of each site.
    edge : ndarray
        bool (N,), the site's patch reaches beyond the image (filled in by lattice
        translations of the image, or mirrored); such sites are scored but not used as
        the reference of the anomaly score.
    """

    sites: Sites
    embeddings: np.ndarray
    anomaly: np.ndarray
    cluster: np.ndarray
    edge: np.ndarray

    def __len__(self) -> int:
        return len(self.sites)


def embed_patches(
    model: nn.Module,
    patches: np.ndarray,
    *,
    batch_size: int = 256,
    device: str | None = None,
    progress: bool = False,
) -> np.ndarray:
    """Embed image patches with a patch encoder.

    Parameters
    ----------
    model : nn.Module
        E.g. from :func:`load_model`; a ``model.config["patch_size"]``, when present,
        must match the patches.
    patches : ndarray or Tensor
        (N, P, P) or (N, 1, P, P), any intensity unit (the encoder normalises each).

    Returns
    -------
    ndarray
        float32 (N, d), in input order.
    """
    import torch

    from symcl.embedding import embed

    # detach: a tensor from a training step may require grad, and embedding needs none
    array = patches.detach().cpu().numpy() if isinstance(patches, torch.Tensor) else np.asarray(patches)
    if array.ndim == 4 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 3 or array.shape[1] != array.shape[2] or len(array) == 0:
        raise ValueError(
            f"The 'patches' parameter of embed_patches must have shape (N, P, P) or (N, 1, P, P) with N >= 1. "
            f"Got {array.shape} instead."
        )
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise ValueError("The 'patches' parameter of embed_patches must hold finite numbers (no NaN or inf).")
    expected = getattr(model, "config", {}).get("patch_size")
    if expected is not None and array.shape[1] != expected:
        raise ValueError(
            f"The model was trained on {expected}-px patches; the 'patches' parameter of embed_patches has "
            f"{array.shape[1]}-px ones."
        )
    tensor = torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32)).unsqueeze(1)
    return embed(model, tensor, batch_size=batch_size, progress=progress, device=device)


_NEIGHBOUR_CHUNK = 4096


def anomaly_scores(
    embeddings: np.ndarray, *, k: int = 10, reference: np.ndarray | None = None, progress: bool = False
) -> np.ndarray:
    """How far each embedding lies from the dense part of the cloud (kNN distance).

    The score of a site is its mean cosine distance to its k nearest reference sites
    (itself excluded), divided by the median of that score over the reference sites.
    Pristine sites are the large majority of an image, so they form the dense modes
    (one per sublattice); a defect is far from all of them.

    Parameters
    ----------
    embeddings : ndarray
        float (N, d).
    k : int
        Neighbours (>= 1; capped at the number of reference sites minus one).
    reference : ndarray, optional
        The sites that define the dense part (default: all): a bool mask (N,) or integer
        site indices.
    progress : bool
        Show a progress bar (the exact neighbour search takes one to two minutes for the
        150,000 columns of a 4k-pixel frame).

    Returns
    -------
    ndarray
        float64 (N,); all ones when fewer than 2 reference sites exist.
    """
    from sklearn.neighbors import NearestNeighbors

    z = np.asarray(embeddings, dtype=np.float64)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    ref = _reference_mask(reference, len(z))
    if ref.sum() < 2:
        return np.ones(len(z))
    k = int(min(max(1, k), ref.sum() - 1))
    index = NearestNeighbors(n_neighbors=k + 1, metric="euclidean").fit(z[ref])
    rows = range(0, len(z), _NEIGHBOUR_CHUNK)  # each row's neighbours are found on their own: chunks change nothing
    found = [
        index.kneighbors(z[i : i + _NEIGHBOUR_CHUNK]) for i in tqdm(rows, desc="anomaly scores", disable=not progress)
    ]
    distance, neighbour = (np.concatenate(parts) for parts in zip(*found, strict=True))  # (N, k + 1)
    self_hit = np.nonzero(ref)[0][neighbour] == np.arange(len(z))[:, None]
    ordered = np.sort(np.where(self_hit, np.inf, distance), axis=1)[:, :k]  # the site itself never counts
    score = (ordered**2 / 2).mean(axis=1)  # on the unit sphere, squared Euclidean / 2 is the cosine distance
    typical = np.median(score[ref])
    return score / typical if typical > 0 else np.ones(len(z))


def _reference_mask(reference: object, n: int) -> np.ndarray:
    """bool (n,) from a bool mask or integer indices; anything else is refused (integers read as a mask would
    silently pick every non-zero index)."""
    if reference is None:
        return np.ones(n, dtype=bool)
    array = np.asarray(reference)
    if array.dtype == bool and array.shape == (n,):
        return array
    if np.issubdtype(array.dtype, np.integer) and array.shape == (n,) and n > 1 and np.isin(array, (0, 1)).all():
        raise ValueError(
            f"The 'reference' parameter of anomaly_scores holds {n} zeros and ones, one per embedding: a mask or "
            "indices? Pass a bool mask (reference.astype(bool)) or indices (np.flatnonzero(reference))."
        )
    if (
        np.issubdtype(array.dtype, np.integer)
        and array.ndim == 1
        and (array.size == 0 or -n <= array.min() <= array.max() < n)
    ):
        mask = np.zeros(n, dtype=bool)
        mask[array] = True
        return mask
    raise ValueError(
        f"The 'reference' parameter of anomaly_scores must be a bool mask of length {n} (one per embedding) or "
        f"integer indices in [0, {n}). Got {_describe(array)} instead."
    )


def _describe(array: np.ndarray) -> str:
    """An array for a message: its dtype and shape, and its range when numeric."""
    text = f"dtype {array.dtype}, shape {array.shape}"
    if array.size and np.issubdtype(array.dtype, np.number):
        text += f", values {array.min()} to {array.max()}"
    return text


def cluster_sites(
    embeddings: np.ndarray, *, n_clusters: int | None = None, max_clusters: int = 8, seed: int = 0
) -> np.ndarray:
    """Cluster site embeddings with k-means on the unit sphere.

    Parameters
    ----------
    n_clusters : int, optional
        Number of clusters; default: the k in 2..max_clusters with the best silhouette
        score (1 cluster for fewer than 3 sites), computed on ``symcl.evaluation.SILHOUETTE_SAMPLE``
        random sites when there are more.

    Returns
    -------
    ndarray
        int64 (N,), labels ordered by cluster size (0 is the largest).
    """
    from symcl.evaluation import kmeans_by_silhouette

    z = np.asarray(embeddings, dtype=np.float64)
    z = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    n = len(z)
    max_clusters = check_integer("cluster_sites", "max_clusters", max_clusters, 2)
    if n_clusters is not None:
        number = as_integer(n_clusters)
        if number is None or not 1 <= number <= n:
            raise ValueError(
                f"The 'n_clusters' parameter (--clusters) of cluster_sites must be an integer in [1, {n}], the "
                f"number of sites clustered. Got {n_clusters!r} instead."
            )
        candidates = [number]
    elif n < 3:
        return np.zeros(n, dtype=np.int64)
    else:
        candidates = list(range(2, min(max_clusters, n - 1) + 1))
    best = kmeans_by_silhouette(z, candidates, seed=seed)
    counts = np.bincount(best)
    rank = np.empty_like(counts)
    rank[np.argsort(-counts, kind="stable")] = np.arange(len(counts))
    return rank[best].astype(np.int64)


def _nearest_centroid(z: np.ndarray, members: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """int64 (N,): the label of the nearest (cosine) centroid of ``members`` grouped by ``labels``."""
    unit = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
    ref = members / np.maximum(np.linalg.norm(members, axis=1, keepdims=True), 1e-12)
    centroids = np.stack([ref[labels == c].mean(axis=0) for c in range(int(labels.max()) + 1)])
    return np.argmax(unit @ centroids.T, axis=1).astype(np.int64)


def analyse_image(
    model: nn.Module,
    image: np.ndarray,
    pixel_size: float,
    *,
    sites: Sites | None = None,
    spacing: float | None = None,
    threshold: float = 0.2,
    n_clusters: int | None = None,
    k: int = 10,
    batch_size: int = 256,
    device: str | None = None,
    progress: bool = False,
    periodic_padding: bool = True,
) -> SiteAnalysis:
    """Sites, embeddings, anomaly scores and clusters of an atomic-resolution image.

    Parameters
    ----------
    model : nn.Module
        A patch encoder whose ``config`` records ``patch_size`` (px) and ``pixel_size``
        (Å/px) of its training patches.
    image : ndarray
        (H, W) grey levels.
    pixel_size : float
        Å/px of ``image`` (> 0).
    sites : Sites, optional
        Precomputed sites; default :func:`find_sites` with ``spacing`` and ``threshold``.
    n_clusters : int, optional
        Default: chosen by silhouette (:func:`cluster_sites`). The interior sites are
        clustered; edge sites (patch partly padded) join the nearest cluster.
    k : int
        Neighbours of the anomaly score (reference: the interior sites).
    periodic_padding : bool
        Fill the part of a border site's patch beyond the image by lattice translations
        of the image (its lattice estimated by :func:`estimate_lattice`), so that it
        still shows the crystal; mirrored padding when False or when no lattice is
        found.

    Returns
    -------
    SiteAnalysis
    """
    image = check_image(image, name="analyse_image: image")
    config = getattr(model, "config", {})
    target = float(config.get("pixel_size", pixel_size))
    patch_size = int(config.get("patch_size", 48))
    _check_not_too_large(image.shape, pixel_size, target)  # before the site finding, which takes minutes on such images
    if sites is None:
        sites = find_sites(image, pixel_size, spacing=spacing, threshold=threshold)
    if len(sites) == 0:
        from symcl.errors import UserInputError

        raise UserInputError("No atomic column was found in the image; check --pixel-size, --spacing and --threshold.")
    _check_covers_a_patch(image.shape, pixel_size, target, sites.spacing, patch_size)
    resampled, scale = resample(image, pixel_size, target)
    positions = (sites.positions + 0.5) * scale - 0.5
    lattice = None
    if periodic_padding:
        lattice = estimate_lattice(resampled, sites.spacing / target)
    patches, edge = cut_patches(resampled, positions, patch_size, lattice=lattice)
    embeddings = embed_patches(model, patches, batch_size=batch_size, device=device, progress=progress)
    interior = ~edge if (~edge).sum() >= max(3, k + 1, n_clusters or 0) else np.ones(len(edge), dtype=bool)
    anomaly = anomaly_scores(embeddings, k=k, reference=interior, progress=progress)
    # Edge patches are part mirror image: cluster the interior sites, then give every site its nearest cluster.
    labels = cluster_sites(embeddings[interior], n_clusters=n_clusters)
    cluster = _nearest_centroid(embeddings, embeddings[interior], labels)
    return SiteAnalysis(sites=sites, embeddings=embeddings, anomaly=anomaly, cluster=cluster, edge=edge)


_SMALLEST_TILE = 256  # px; a tile size below this points to a wrong pixel size, not a large image


def _check_not_too_large(shape: tuple[int, int], pixel_size: float, target: float) -> None:
    """Refuse an image that resampled to the model's pixel size exceeds MAX_IMAGE_PIXELS (it would run out of
    memory): crop or tile it, or, when only the resampling makes it that large, check the pixel size."""
    from symcl.errors import UserInputError

    height, width = resampled_shape(shape, pixel_size, target)
    if height * width <= MAX_IMAGE_PIXELS:
        return
    size = f"{_count(height)} x {_count(width)} px, over the limit of {MAX_IMAGE_PIXELS:,} pixels"
    side = math.floor(math.isqrt(MAX_IMAGE_PIXELS) * target / pixel_size)  # of the largest square tile that fits
    if shape[0] * shape[1] > MAX_IMAGE_PIXELS and side >= _SMALLEST_TILE:
        raise UserInputError(
            f"the {shape[0]:,} x {shape[1]:,} px image is too large: at the model's {target:g} Å/px it is {size}; "
            f"crop it, or cut it into tiles of at most {side:,} x {side:,} px and embed each"
        )
    # Only the resampling makes it large: a pixel size in the wrong unit (pm, or nm read as Å) does that.
    raise UserInputError(
        f"pixel_size (--pixel-size) {pixel_size:g} Å/px: the {shape[0]} x {shape[1]} px image resampled to the "
        f"model's {target:g} Å/px would be {size}, a field of view of {shape[0] * pixel_size:.3g} x "
        f"{shape[1] * pixel_size:.3g} Å; check the pixel size (Å per pixel)"
    )


def _check_covers_a_patch(
    shape: tuple[int, int], pixel_size: float, target: float, spacing: float, patch_size: int
) -> None:
    """Refuse a pixel size that resamples the image below one patch (a pixel size in nm rather than Å does that)."""
    from symcl.errors import UserInputError

    height, width = resampled_shape(shape, pixel_size, target)
    low, high = PLAUSIBLE_SPACING
    apart = f"; the columns found are {spacing:.3g} Å apart (usually {low:g}-{high:g} Å)"
    if min(height, width) < patch_size:
        raise UserInputError(
            f"pixel_size (--pixel-size) {pixel_size:g} Å/px: the {shape[0]} x {shape[1]} px image covers "
            f"{shape[0] * pixel_size:.3g} x {shape[1] * pixel_size:.3g} Å, less than one of the model's patches "
            f"({patch_size} px at {target:g} Å/px = {patch_size * target:.3g} Å){apart if spacing < low else ''}; "
            "check the pixel size (Å per pixel), or use a larger field of view"
        )


def _count(n: int) -> str:
    """A pixel count for a message: with thousands separators, or in e-notation when absurdly large."""
    return f"{n:,}" if n < 10**9 else f"{n:.3g}"


def save_analysis(
    result: SiteAnalysis, directory: str | os.PathLike, *, image: np.ndarray | None = None
) -> dict[str, Path]:
    """Write ``sites.csv``, ``embeddings.npz`` and (given the image) ``overlay.png``, atomically as a set.

    sites.csv columns: site, x_px, y_px, x_angstrom, y_angstrom, intensity, cluster,
    anomaly, edge. embeddings.npz arrays: embeddings (N, d), positions (N, 2) px,
    cluster, anomaly, edge, pixel_size.
    """
    directory = make_directory(directory)
    sites = result.sites
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["site", "x_px", "y_px", "x_angstrom", "y_angstrom", "intensity", "cluster", "anomaly", "edge"])
    for i in range(len(sites)):
        x, y = sites.positions[i]
        writer.writerow(
            [
                i,
                f"{x:.3f}",
                f"{y:.3f}",
                f"{x * sites.pixel_size:.4f}",
                f"{y * sites.pixel_size:.4f}",
                f"{sites.intensity[i]:.6g}",
                int(result.cluster[i]),
                f"{result.anomaly[i]:.4f}",
                int(result.edge[i]),
            ]
        )

    def write_npz(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(
                handle,
                embeddings=result.embeddings.astype(np.float32),
                positions=sites.positions,
                cluster=result.cluster,
                anomaly=result.anomaly,
                edge=result.edge,
                pixel_size=np.float64(sites.pixel_size),
            )

    with atomic_group():  # an interrupted rerun leaves the old set, not new tables beside an old overlay
        paths = {"sites.csv": atomic_write(directory / "sites.csv", lambda tmp: tmp.write_text(buffer.getvalue()))}
        paths["embeddings.npz"] = atomic_write(directory / "embeddings.npz", write_npz)
        if image is not None:
            paths["overlay.png"] = plot_overlay(image, result, directory / "overlay.png")
    return paths


def most_anomalous(result: SiteAnalysis, top: int = 10) -> np.ndarray:
    """Indices of the ``top`` most anomalous sites, most anomalous first.

    Only interior sites are ranked when there are any: an edge site's patch is partly
    filled in, which makes its anomaly score less trustworthy.
    """
    interior = np.nonzero(~result.edge)[0]
    candidates = interior if len(interior) else np.arange(len(result.anomaly))
    order = np.argsort(-result.anomaly[candidates], kind="stable")
    return candidates[order[: max(0, int(top))]]


def plot_overlay(image: np.ndarray, result: SiteAnalysis, path: str | os.PathLike, *, top: int = 10) -> Path:
    """The image with every site as a dot coloured by cluster; the ``top`` most anomalous sites are circled
    (interior sites, see :func:`most_anomalous`).

    Uses matplotlib's object-oriented Figure API (no global pyplot state) and writes the
    PNG atomically.
    """
    from matplotlib.figure import Figure

    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape
    scale = 8.0 / max(h, w)
    fig = Figure(figsize=(max(3.0, w * scale) + 1.6, max(3.0, h * scale)))
    ax = fig.add_axes((0.02, 0.02, 0.75, 0.96))
    low, high = np.percentile(image, [0.5, 99.5])
    ax.imshow(image, cmap="gray", vmin=low, vmax=high, interpolation="nearest")
    positions = result.sites.positions
    n_clusters = int(result.cluster.max()) + 1 if len(result.cluster) else 0
    colours = _palette(n_clusters)
    diameter = 0.2 * (result.sites.spacing / result.sites.pixel_size) * 72 * scale  # points
    size = float(np.clip(diameter**2, 4, 80))
    for c in range(n_clusters):
        mine = result.cluster == c
        ax.scatter(
            positions[mine, 0],
            positions[mine, 1],
            s=size,
            color=colours[c],
            alpha=0.85,
            edgecolors="black",
            linewidths=0.3,
            label=f"cluster {c} ({int(mine.sum())})",
        )
    worst = most_anomalous(result, top)
    if len(worst):
        ax.scatter(
            positions[worst, 0],
            positions[worst, 1],
            s=size * 6,
            facecolors="none",
            edgecolors="red",
            linewidths=1.2,
            # the scores say whether these are outliers at all: the ring marks the highest whatever they are
            label=f"{len(worst)} highest anomaly scores\n({_score(result.anomaly[worst].min())}-"
            f"{_score(result.anomaly[worst].max())}; a typical site 1)"
            + ("\n(interior sites)" if 0 < result.edge.sum() < len(result.edge) else ""),
        )
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_axis_off()
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.set_title(f"{len(positions)} sites, {result.sites.pixel_size:g} Å/px", fontsize=9)
    # tight: the legend beside the image is as wide as its longest line, which no fixed margin fits
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight"))


def _score(value: float) -> str:
    """An anomaly score for a legend: '280' rather than '2.8e+02', '0.85' below 10."""
    return f"{value:.0f}" if abs(value) >= 10 else f"{value:.2g}"


def _palette(n: int) -> list:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(max(n, 1))]


__all__ = [
    "SiteAnalysis",
    "analyse_image",
    "anomaly_scores",
    "cluster_sites",
    "embed_patches",
    "most_anomalous",
    "plot_overlay",
    "save_analysis",
]

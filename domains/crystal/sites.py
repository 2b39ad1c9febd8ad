"""Atomic-column sites of a real image: peak finding, sub-pixel refinement, patches.

:func:`find_sites` smooths the image a little, finds local maxima with
``skimage.feature.peak_local_max`` at a minimum distance set by the expected column
spacing, keeps those standing out from their surroundings, refines each to sub-pixel
precision by a Gaussian (log-quadratic) fit in a small window, and drops duplicates
closer than half the spacing. :func:`cut_patches` cuts one patch per site (after
:func:`resample` has brought the image to the model's pixel size).

Positions are (x, y) = (column, row) in pixels, with pixel centres at integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from symcl.errors import UserInputError

from .images import check_image

#: Å between neighbouring projected columns of real crystals (graphene 1.4, fcc [001] about 2);
#: a spacing far outside points to a wrong pixel size.
PLAUSIBLE_SPACING = (1.0, 8.0)


@dataclass(frozen=True, eq=False)
class Sites:
    """Atomic columns found in an image.

    Attributes
    ----------
    positions : ndarray
        float64 (N, 2), (x, y) in px, sub-pixel.
    intensity : ndarray
        float64 (N,), the smoothed peak height above the local background.
    pixel_size : float
        Å/px of the image.
    spacing : float
        The column spacing used, Å (given or estimated).
    """

    positions: np.ndarray
    intensity: np.ndarray
    pixel_size: float
    spacing: float

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def angstrom(self) -> np.ndarray:
        """float64 (N, 2), the positions in Å."""
        return self.positions * self.pixel_size


def find_sites(
    image: np.ndarray,
    pixel_size: float,
    *,
    spacing: float | None = None,
    threshold: float = 0.2,
    smoothing: float | None = None,
    refine: bool = True,
) -> Sites:
    """Find the atomic columns of an atomic-resolution image.

    Parameters
    ----------
    image : ndarray
        (H, W) grey levels; NaN or infinite pixels are an error.
    pixel_size : float
        Å/px (> 0).
    spacing : float, optional
        The distance between neighbouring columns, Å (> 0): peaks closer than half of
        it are one column. Default: estimated from the image's autocorrelation
        (:func:`estimate_spacing`); give it when you know the crystal.
    threshold : float
        A peak must rise above its surroundings (the minimum within one spacing) by
        this fraction of the typical rise of the brightest columns (the 95th percentile
        of the candidates), in (0, 1).
    smoothing : float, optional
        Gaussian smoothing σ before peak finding, px (>= 0); default 0.12 spacing.
    refine : bool
        Refine to sub-pixel positions (a Gaussian fit, :func:`refine_positions`, to the
        lightly smoothed image in a window of about a quarter spacing).

    Returns
    -------
    Sites
        Sorted by row, then column. A maximum on the outermost pixels can be the tail of
        a column just beyond the edge; :func:`analyse_image` marks such sites as edge
        sites.
    """
    image = check_image(image, name="find_sites: image")
    _check_positive("pixel_size", pixel_size)
    if spacing is None:
        spacing = estimate_spacing(image, pixel_size)
    _check_positive("spacing", spacing)
    if not (isinstance(threshold, int | float) and 0 < threshold < 1):
        raise ValueError(f"The 'threshold' parameter of find_sites must be in (0, 1). Got {threshold!r} instead.")
    d = spacing / pixel_size  # px
    if d < 3:
        raise UserInputError(
            f"The column spacing is {d:.2f} px ({spacing} Å at {pixel_size} Å/px); at least 3 px are needed to "
            "resolve columns. Check --pixel-size and --spacing."
        )
    if 2 * d > min(image.shape):
        raise UserInputError(
            f"The column spacing is {d:.1f} px ({spacing} Å at {pixel_size} Å/px), but the image is only "
            f"{image.shape[1]} x {image.shape[0]} px; at least two columns must fit across it. Check --pixel-size "
            "and --spacing."
        )
    if smoothing is None:
        smoothing = 0.12 * d
    _check_positive("smoothing", smoothing, allow_zero=True)
    peaks, heights = _standing_out_peaks(image, d, threshold=threshold, smoothing=smoothing)
    if len(peaks) == 0:
        return Sites(np.empty((0, 2)), np.empty(0), float(pixel_size), float(spacing))
    positions = peaks[:, ::-1].astype(np.float64)
    if refine:
        # Refine on a lightly smoothed image: heavy smoothing near the border biases the peak,
        # so each peak first moves to the brightest pixel of that image nearby.
        fit = _smooth(image, min(smoothing, 1.0))
        window = max(1, int(round(0.25 * d)))
        positions = refine_positions(fit, _snap(fit, positions, window), window=window)
    positions, heights = deduplicate(positions, heights, 0.5 * d)
    order = np.lexsort((positions[:, 0], np.round(positions[:, 1], 6)))
    return Sites(positions[order], heights[order], float(pixel_size), float(spacing))


def _standing_out_peaks(
    image: np.ndarray, d: float, *, threshold: float, smoothing: float
) -> tuple[np.ndarray, np.ndarray]:
    """The (row, col) maxima of the smoothed image that rise above their surroundings, and their rises.

    ``d`` is the column spacing in px; a peak's rise is its height above the minimum
    within 0.9 d, and it is kept when at least ``threshold`` times the 95th percentile.
    """
    from scipy import ndimage

    smooth = _smooth(image, smoothing)
    radius = max(1, int(round(0.9 * d)))
    yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
    disc = xx**2 + yy**2 <= radius**2
    rise = smooth - ndimage.minimum_filter(smooth, footprint=disc, mode="reflect")
    # A small window: a large one would let the tail of a bright column hide a dim neighbour.
    min_distance = max(1, int(math.floor(0.25 * d)))
    peaks = local_maxima(smooth, min_distance)
    if len(peaks) == 0:
        return peaks, np.empty(0)
    heights = rise[peaks[:, 0], peaks[:, 1]]
    keep = heights >= threshold * np.percentile(heights, 95)
    return peaks[keep], heights[keep]


def local_maxima(image: np.ndarray, min_distance: int) -> np.ndarray:
    """``peak_local_max(image, min_distance=min_distance, exclude_border=False)``, fast on large images.

    After the (2 min_distance + 1)-wide maximum filter, two maxima closer than
    ``min_distance`` can only be equal-valued; skimage spaces out every peak one by one
    in Python (a minute for the 150,000 columns of a 4k-pixel frame), so this spaces out
    only those ties, with the same rule. The peaks are identical, brightest first.
    """
    from scipy.spatial import cKDTree
    from skimage.feature import peak_local_max
    from skimage.feature.peak import ensure_spacing

    size = 2 * min_distance + 1
    peaks = peak_local_max(image, footprint=np.ones((size, size), dtype=bool), min_distance=1, exclude_border=False)
    if min_distance <= 1 or len(peaks) < 2:
        return peaks  # peak_local_max spaces nothing out either
    close = np.unique(cKDTree(peaks).query_pairs(min_distance, p=np.inf, output_type="ndarray"))
    if close.size == 0:
        return peaks
    kept = {tuple(point) for point in ensure_spacing(peaks[close], spacing=min_distance, p_norm=np.inf)}
    keep = np.ones(len(peaks), dtype=bool)
    keep[close] = [tuple(point) in kept for point in peaks[close]]
    return peaks[keep]


def estimate_spacing(image: np.ndarray, pixel_size: float, *, prominence: float = 0.05) -> float:
    """The nearest-neighbour column spacing (Å), estimated from the image's autocorrelation, checked on its columns.

    The autocorrelation of a crystal image has a peak at every vector between two
    columns. Its local maxima beyond the central peak are ranked by prominence (height
    above the minimum within the central peak's half width); the nearest one with at
    least ``prominence`` times the largest prominence gives a first spacing. The image is
    smoothed by 1 px first, so shot noise does not sharpen the central peak.

    That peak can be a lattice vector rather than a neighbour distance: in a honeycomb
    (graphene, hBN) the two columns of the cell sit on two sublattices, and the
    autocorrelation's strongest near peak is the lattice constant, √3 times the
    spacing. So the first spacing is checked on the image itself: the columns are found
    as :func:`find_sites` finds them with that spacing (on a central crop of at most
    about 16 spacings a side, so a large frame costs little more), and when the median
    distance from each to its nearest neighbour differs from the spacing by more than
    15 %, that distance is checked in turn (three checks at most). The first spacing the
    columns confirm is returned; when none is, the autocorrelation's (the maxima of shot
    noise lie closer than any spacing tried, and never confirm one).

    This is a heuristic: a very weak sublattice (e.g. S next to W) can be missed, and
    then the distance between the visible columns is returned; in a very noisy image
    (graphene at a low dose) the autocorrelation's spacing stays unconfirmed, and can be
    the lattice constant. Pass the spacing to :func:`find_sites` when the crystal is known.

    Raises
    ------
    UserInputError
        No periodic peak is found; pass the spacing explicitly.
    """
    image = check_image(image, name="estimate_spacing: image")
    _check_positive("pixel_size", pixel_size)
    d = _autocorrelation_spacing(image, prominence)
    return float(_consistent_spacing(image, d) * pixel_size)


#: The columns confirm a spacing when their median nearest-neighbour distance is within this fraction of it.
_CONSISTENT = 0.15
_CONSISTENCY_ROUNDS = 3


def _autocorrelation_spacing(image: np.ndarray, prominence: float) -> float:
    """The distance (px) of the nearest prominent peak of the image's autocorrelation; see :func:`estimate_spacing`."""
    from scipy import ndimage
    from skimage.feature import peak_local_max

    h, w = image.shape
    n = min(h, w)
    full = _autocorrelation(ndimage.gaussian_filter(image.astype(np.float64), 1.0))  # zero shift at [0, 0]
    lags = np.arange(n)
    profile = np.minimum.reduce([full[0, lags], full[0, -lags % (2 * w)], full[lags, 0], full[-lags % (2 * h), 0]])
    r = max(1, int(np.argmax(profile < 0.5)))  # half width of the central peak, px
    # Only peaks within n/4 of the centre count: the filters below need that disc and a
    # margin (the filters' reach) around it, centred, not the whole 2h x 2w map (GBs at 6000 px).
    floor = full.min()
    reach = min(int(np.ceil(0.25 * n)) + 2 * r + 4, h, w)
    shifts = np.arange(-reach, reach)
    auto = full[np.ix_(shifts % (2 * h), shifts % (2 * w))]
    del full
    yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
    rise = auto - ndimage.minimum_filter(auto, footprint=xx**2 + yy**2 <= r * r)
    peaks = peak_local_max(auto, min_distance=max(1, r // 2), threshold_abs=floor, exclude_border=True)
    if len(peaks):
        distance = np.hypot(peaks[:, 0] - reach, peaks[:, 1] - reach)
        height = rise[peaks[:, 0], peaks[:, 1]]
        far = (distance > 1.5 * r) & (distance < 0.25 * n)
        if far.any() and height[far].max() > 0:
            strong = far & (height >= prominence * height[far].max())
            return float(distance[strong].min())
    raise UserInputError(
        "Could not estimate the column spacing from the image (no periodic peak in its autocorrelation); "
        "pass it explicitly (spacing=..., or --spacing in Å)."
    )


def _consistent_spacing(image: np.ndarray, d: float) -> float:
    """A spacing (px) the image's columns confirm, starting from ``d``; see :func:`estimate_spacing`.

    Only a confirmed spacing replaces ``d``: the maxima of shot noise found at any spacing
    lie closer than it (about 0.6 of it), so following them would shrink the spacing round
    after round down to the noise grain.
    """
    candidate = d
    for _ in range(_CONSISTENCY_ROUNDS):
        measured = _neighbour_distance(image, candidate)
        if measured is None:
            break
        if abs(measured - candidate) <= _CONSISTENT * candidate:
            return candidate
        candidate = measured
    return d


def _neighbour_distance(image: np.ndarray, d: float) -> float | None:
    """The median nearest-neighbour distance (px) of the columns found with spacing ``d`` px.

    None when the columns cannot be found at that spacing (find_sites would refuse it) or
    too few are found, and when the distance is too short for find_sites to resolve.
    """
    from scipy.spatial import cKDTree

    crop = _central_crop(image, int(math.ceil(16 * d)))
    if d < 3 or 2 * d > min(crop.shape):
        return None
    peaks, heights = _standing_out_peaks(crop, d, threshold=0.2, smoothing=0.12 * d)
    peaks, _ = deduplicate(peaks.astype(np.float64), heights, 0.5 * d)
    if len(peaks) < 3:
        return None
    distance, _ = cKDTree(peaks).query(peaks, k=2)
    measured = float(np.median(distance[:, 1]))
    return measured if measured >= 3 else None


def _central_crop(image: np.ndarray, side: int) -> np.ndarray:
    """The central ``side`` x ``side`` px of the image (less along a shorter axis); at least 256 px a side."""
    side = max(side, 256)
    top, left = max(0, (image.shape[0] - side) // 2), max(0, (image.shape[1] - side) // 2)
    return image[top : top + side, left : left + side]


def _autocorrelation(image: np.ndarray) -> np.ndarray:
    """Autocorrelation of the mean-free, Hann-windowed image, zero-padded (no wrap-around), peak 1 at [0, 0]."""
    h, w = image.shape
    image = image - image.mean()
    image *= np.outer(np.hanning(h), np.hanning(w))
    spectrum = np.abs(np.fft.rfft2(image, s=(2 * h, 2 * w))) ** 2
    del image
    auto = np.fft.irfft2(spectrum, s=(2 * h, 2 * w))
    auto /= auto[0, 0]
    return auto


def refine_positions(image: np.ndarray, positions: np.ndarray, *, window: int = 2) -> np.ndarray:
    """Sub-pixel peak positions by a Gaussian fit around each integer peak.

    The surface ``c0 + c1 x + c2 y + c3 x² + c4 xy + c5 y²`` is fitted to the log of
    the height of the (2 window + 1)² pixels around each peak above the local floor (the
    image's minimum within 2 window px), weighted by the squared height (Guo, IEEE
    Signal Process. Mag. 28, 134 (2011)), and the peak moves to its maximum: exact for a
    Gaussian column on a flat background, where a quadratic fit to the intensity pulls
    peaks towards pixel centres. A fit that is not a maximum, or whose maximum lies
    more than a pixel outside the window, leaves the peak where it was. Near the image
    border the window shrinks so that it stays inside the image (never mirrored); three
    passes re-centre every window on the previous estimate.

    Parameters
    ----------
    image : ndarray
        float (H, W), ideally smoothed.
    positions : ndarray
        (N, 2) integer peak positions (x, y) in px.
    window : int
        Half-width of the fit window, px (>= 1).

    Returns
    -------
    ndarray
        float64 (N, 2), refined (x, y).
    """
    positions = np.asarray(positions, dtype=np.float64)
    if not len(positions):
        return positions.reshape(0, 2)
    from scipy import ndimage

    h, w = image.shape
    r = int(min(window, (min(h, w) - 1) // 2))
    out = positions.copy()
    if r < 1:
        return out
    image = np.asarray(image, dtype=np.float64)
    floor = ndimage.minimum_filter(image, size=4 * r + 1, mode="nearest")  # the level between columns
    for _ in range(3):  # later passes re-centre the windows on the previous estimate
        ix = np.clip(np.round(out[:, 0]).astype(np.int64), 0, w - 1)
        iy = np.clip(np.round(out[:, 1]).astype(np.int64), 0, h - 1)
        # Near the border the window shrinks (never mirrored), down to 3 x 3 px moved just inside.
        radius = np.maximum(1, np.minimum.reduce([np.full(len(ix), r), ix, iy, w - 1 - ix, h - 1 - iy]))
        for k in np.unique(radius):
            rows = np.nonzero(radius == k)[0]
            cx, cy = np.clip(ix[rows], k, w - 1 - k), np.clip(iy[rows], k, h - 1 - k)
            offset, ok = _gaussian_peak_offsets(image, floor[cy, cx], cx, cy, int(k))
            out[rows[ok], 0] = cx[ok] + offset[ok, 0]
            out[rows[ok], 1] = cy[ok] + offset[ok, 1]
    return out


_SMALLEST_HEIGHT = 1e-3  # of the window's peak height: lower pixels are left out of the log fit


def _gaussian_peak_offsets(
    image: np.ndarray, floor: np.ndarray, ix: np.ndarray, iy: np.ndarray, r: int
) -> tuple[np.ndarray, np.ndarray]:
    """Centres of Gaussian fits in the (2r + 1)^2 windows centred on (ix, iy).

    The log of the height above ``floor`` (N,) is fitted by a quadratic surface,
    weighted by the squared height (Guo's weighting: the bright core dominates, the
    noisy tails and a neighbour's tail count little). For a Gaussian on a flat
    background this is exact; a quadratic fit to the intensity itself is not, and pulls
    peaks towards pixel centres (by up to 0.2 px for a σ of 1 px). All windows of one
    size are fitted together: the 6 x 6 normal equations come from two matrix products.

    Returns the (N, 2) offsets (dx, dy) from the window centres and a bool (N,) that is
    False where the fit has no maximum, or one more than a pixel outside its window.
    """
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    dx, dy = dx.ravel(), dy.ravel()
    design = np.stack([np.ones(dx.size), dx, dy, dx * dx, dx * dy, dy * dy], axis=1).astype(np.float64)
    height = image[iy[:, None] + dy, ix[:, None] + dx] - floor[:, None]  # (N, K)
    top = np.maximum(height.max(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    usable = height > _SMALLEST_HEIGHT * top  # the log needs positive heights
    relative = np.where(usable, height / top, 1.0)
    weight = np.where(usable, relative**2, 0.0)
    products = (design[:, :, None] * design[:, None, :]).reshape(len(design), 36)
    normal = (weight @ products).reshape(-1, 6, 6)
    normal += 1e-12 * np.eye(6)  # keeps a window without usable pixels solvable; its fit is refused below
    coef = np.linalg.solve(normal, ((weight * np.log(relative)) @ design)[:, :, None])[:, :, 0]
    a, b, c = 2 * coef[:, 3], coef[:, 4], 2 * coef[:, 5]
    det = a * c - b * b
    ok = (a < 0) & (det > 0) & (usable.sum(axis=1) >= 6)
    safe = np.where(ok, det, 1.0)
    ox = (-c * coef[:, 1] + b * coef[:, 2]) / safe
    oy = (b * coef[:, 1] - a * coef[:, 2]) / safe
    ok &= (np.abs(ox) <= r + 1) & (np.abs(oy) <= r + 1)
    return np.stack([ox, oy], axis=1), ok


def deduplicate(positions: np.ndarray, heights: np.ndarray, min_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Drop every site closer than ``min_distance`` (px) to a higher one; returns (positions, heights)."""
    from scipy.spatial import cKDTree

    if len(positions) < 2:
        return positions, heights
    order = np.argsort(-heights, kind="stable")
    tree = cKDTree(positions)
    removed = np.zeros(len(positions), dtype=bool)
    for i in order:
        if removed[i]:
            continue
        for j in tree.query_ball_point(positions[i], min_distance):
            if j != i:
                removed[j] = True
    keep = ~removed
    return positions[keep], heights[keep]


def resample(image: np.ndarray, pixel_size: float, target: float) -> tuple[np.ndarray, np.ndarray]:
    """Resample an image to another pixel size (``skimage.transform.resize``, anti-aliased).

    Returns
    -------
    resampled : ndarray
        float32 (H', W'), H' = round(H · pixel_size / target).
    scale : ndarray
        float64 (2,), (sx, sy): a position (x, y) px maps to ``(x + 0.5) · s - 0.5``.
    """
    from skimage.transform import resize

    h, w = image.shape
    shape = resampled_shape((h, w), pixel_size, target)
    factor = pixel_size / target
    if shape == (h, w):
        return np.asarray(image, dtype=np.float32), np.ones(2)
    out = resize(image, shape, order=1, mode="reflect", anti_aliasing=factor < 1, preserve_range=True)
    return out.astype(np.float32), np.array([shape[1] / w, shape[0] / h])


def resampled_shape(shape: tuple[int, int], pixel_size: float, target: float) -> tuple[int, int]:
    """(H', W') of an (H, W) image at ``pixel_size`` Å/px resampled to ``target`` Å/px (:func:`resample`)."""
    _check_positive("pixel_size", pixel_size)
    _check_positive("target", target)
    factor = pixel_size / target
    return max(1, round(shape[0] * factor)), max(1, round(shape[1] * factor))


def cut_patches(
    image: np.ndarray, positions: np.ndarray, patch_size: int, *, lattice: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """One patch centred on each position, by a single gather.

    The patch of a site at (x, y) has its centre pixel ``P // 2`` at the nearest pixel
    to (x, y), as the training views have. Beyond the image, the patch is filled by
    lattice translations of the image when ``lattice`` is given
    (:func:`~symcl.domains.crystal.padding.pad_periodic`), by mirroring otherwise.

    Parameters
    ----------
    image : ndarray
        float (H, W).
    positions : ndarray
        float (N, 2), (x, y) px.
    patch_size : int
        P.
    lattice : ndarray, optional
        float (2, 2), rows the lattice vectors (x, y) in px (e.g. from
        :func:`~symcl.domains.crystal.padding.estimate_lattice`).

    Returns
    -------
    patches : ndarray
        float32 (N, P, P).
    edge : ndarray
        bool (N,), True where the patch reaches beyond the image (its padding is filled in).
    """
    image = np.asarray(image, dtype=np.float32)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    P = int(patch_size)
    h, w = image.shape
    if P > min(h, w):
        raise UserInputError(
            f"The image ({h} x {w} px at the model's pixel size) is smaller than one patch ({P} px); "
            "a larger field of view is needed."
        )
    corner = np.round(positions).astype(np.int64) - P // 2  # (x, y) of the top-left pixel
    if lattice is not None:
        from .padding import pad_periodic

        padded = pad_periodic(image, lattice, P)
    else:
        padded = np.pad(image, P, mode="reflect")
    rows = corner[:, 1, None, None] + P + np.arange(P)[None, :, None]
    cols = corner[:, 0, None, None] + P + np.arange(P)[None, None, :]
    edge = (corner[:, 0] < 0) | (corner[:, 1] < 0) | (corner[:, 0] + P > w) | (corner[:, 1] + P > h)
    return padded[rows, cols], edge


def _snap(image: np.ndarray, positions: np.ndarray, r: int) -> np.ndarray:
    """Move each integer position (x, y) to the brightest pixel within r px (Chebyshev) inside the image."""
    padded = np.pad(image, r, mode="constant", constant_values=-np.inf)
    dy, dx = np.mgrid[-r : r + 1, -r : r + 1]
    ix = np.round(positions[:, 0]).astype(np.int64)
    iy = np.round(positions[:, 1]).astype(np.int64)
    values = padded[iy[:, None] + r + dy.ravel(), ix[:, None] + r + dx.ravel()]
    best = np.argmax(values, axis=1)
    return np.stack([ix + dx.ravel()[best], iy + dy.ravel()[best]], axis=1).astype(np.float64)


def _smooth(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing normalised at the border (zero padding divided by the weight inside).

    Mirrored padding would merge a column near the border with its mirror image and
    pull its peak onto the border; normalised smoothing leaves it in place.
    """
    from scipy import ndimage

    image = np.asarray(image, dtype=np.float64)
    if sigma <= 0:
        return image
    weight = ndimage.gaussian_filter(np.ones_like(image), sigma, mode="constant")
    return ndimage.gaussian_filter(image, sigma, mode="constant") / weight


def _check_positive(name: str, value: object, *, allow_zero: bool = False) -> None:
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if ok:
        value = float(value)  # type: ignore[arg-type]
        ok = math.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        rule = ">= 0" if allow_zero else "> 0"
        raise UserInputError(f"The '{name}' parameter of find_sites must be {rule}. Got {value!r} instead.")

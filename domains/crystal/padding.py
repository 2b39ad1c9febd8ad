"""Padding an atomic-resolution image by its own lattice, so patches at the border stay crystals.

A patch around a column near the image border reaches past the image. Mirrored padding
fills that part with a mirror image, which is not a translation of the crystal (the
encoder never saw one, and a site of one sublattice can look like one of another).
Here the image is continued periodically instead: a pixel outside the image takes the
value of the nearest point inside it that is a whole lattice translation away. The
lattice comes from the image itself (:func:`estimate_lattice`): the shortest
translations under which the image's autocorrelation is as high as at the origin. A
translation that only maps one sublattice onto another (e.g. SrO onto Ti columns in
SrTiO3 [110]) correlates less and is not taken.

Positions and vectors are (x, y) in px.
"""

from __future__ import annotations

import math

import numpy as np


def estimate_lattice(image: np.ndarray, spacing: float, *, tolerance: float = 0.9) -> np.ndarray | None:
    """Two lattice vectors of a crystal image, from its autocorrelation.

    The autocorrelation is normalised by the overlap of the image with its shifted copy
    and by its value at the origin, so a translation that maps the crystal onto itself
    scores close to 1 wherever it lies. Among its local maxima longer than 0.8
    ``spacing`` (and shorter than a third of the image), those within ``tolerance`` of
    the best score are lattice translations; the shortest one and the shortest one not
    parallel to it are returned, refined to sub-pixel precision.

    Parameters
    ----------
    image : ndarray
        float (H, W).
    spacing : float
        The nearest column spacing, px (> 0).
    tolerance : float
        Fraction of the best score a lattice translation must reach, in (0, 1).

    Returns
    -------
    ndarray or None
        float64 (2, 2), rows the two vectors (x, y) in px, each with its larger component
        positive; None when the image shows no clear two-dimensional lattice (then pad
        otherwise).
    """
    from skimage.feature import peak_local_max

    from .sites import refine_positions

    if not (isinstance(spacing, int | float | np.floating) and math.isfinite(spacing) and spacing > 0):
        raise ValueError(f"The 'spacing' parameter of estimate_lattice must be > 0. Got {spacing!r} instead.")
    if not 0 < tolerance < 1:
        raise ValueError(f"The 'tolerance' parameter of estimate_lattice must be in (0, 1). Got {tolerance!r} instead.")
    image = np.asarray(image, dtype=np.float64)
    h, w = image.shape
    shape = (2 * h, 2 * w)
    centred = image - image.mean()
    auto = np.fft.fftshift(np.fft.irfft2(np.abs(np.fft.rfft2(centred, s=shape)) ** 2, s=shape))
    # The overlap of the image with its copy shifted by (dy, dx) is (h - |dy|)(w - |dx|) px: no FFT of a
    # ones image, and open grids instead of full index arrays (on a 4k frame each full array costs 0.5 GB).
    yy, xx = np.ogrid[-h:h, -w:w]
    auto /= np.maximum(h - np.abs(yy), 1.0)
    auto /= np.maximum(w - np.abs(xx), 1.0)
    if auto[h, w] <= 0:
        return None
    auto /= auto[h, w]
    masked = auto  # in place: auto is not needed any more
    masked[xx**2 + yy**2 > (min(h, w) / 3) ** 2] = -1.0
    peaks = peak_local_max(masked, min_distance=max(1, int(spacing // 2)), exclude_border=True)
    peaks = peaks[np.hypot(xx[0, peaks[:, 1]], yy[peaks[:, 0], 0]) >= 0.8 * spacing]
    if len(peaks) < 2:
        return None
    score = masked[peaks[:, 0], peaks[:, 1]]
    best = float(score.max())
    if best < 0.3:  # no translation maps the image onto itself: no lattice to continue
        return None
    good = peaks[score >= tolerance * best]
    refined = refine_positions(masked, good[:, ::-1].astype(np.float64), window=1)
    vectors = refined - [w, h]
    order = np.argsort(np.hypot(*vectors.T))
    first = vectors[order[0]]
    for i in order[1:]:
        other = vectors[i]
        cross = abs(first[0] * other[1] - first[1] * other[0])
        if cross > 0.3 * np.linalg.norm(first) * np.linalg.norm(other):
            return np.stack([_canonical_sign(first), _canonical_sign(other)])
    return None


def _canonical_sign(vector: np.ndarray) -> np.ndarray:
    """v or -v, the one whose larger component is positive: both peaks of a pair tie, so say which."""
    return -vector if vector[np.argmax(np.abs(vector))] < 0 else vector


def pad_periodic(image: np.ndarray, lattice: np.ndarray, width: int) -> np.ndarray:
    """The image with ``width`` px on every side filled by lattice translations of the image.

    Each outside pixel takes the (bilinearly interpolated) value at the nearest point
    inside the image that is a whole lattice translation away (the shortest such
    translation, which keeps the distortions of a real scan small); a pixel no
    translation brings inside takes the nearest border value.

    Parameters
    ----------
    image : ndarray
        float (H, W).
    lattice : ndarray
        float (2, 2), rows the lattice vectors (x, y) in px.
    width : int
        Padding on each side, px (>= 0).

    Returns
    -------
    ndarray
        float32 (H + 2 width, W + 2 width); the image sits at [width:width + H, width:width + W].
    """
    from scipy.ndimage import map_coordinates

    image = np.asarray(image, dtype=np.float32)
    lattice = np.asarray(lattice, dtype=np.float64)
    h, w = image.shape
    width = int(width)
    out = np.pad(image, width, mode="edge")
    if width == 0:
        return out
    yy, xx = np.mgrid[0 : h + 2 * width, 0 : w + 2 * width]
    outside = (yy < width) | (yy >= h + width) | (xx < width) | (xx >= w + width)
    points = np.stack([xx[outside] - width, yy[outside] - width], axis=1).astype(np.float64)
    k = math.ceil(width / max(float(np.linalg.norm(lattice, axis=1).min()), 1.0)) + 2
    span = np.arange(-k, k + 1)
    shifts = np.stack(np.meshgrid(span, span, indexing="ij"), axis=-1).reshape(-1, 2) @ lattice
    source = np.full_like(points, np.nan)
    for shift in shifts[np.argsort(np.linalg.norm(shifts, axis=1), kind="stable")]:
        todo = np.isnan(source[:, 0])
        if not todo.any():
            break
        moved = points[todo] - shift
        inside = (moved[:, 0] >= 0) & (moved[:, 0] <= w - 1) & (moved[:, 1] >= 0) & (moved[:, 1] <= h - 1)
        rows = np.nonzero(todo)[0][inside]
        source[rows] = moved[inside]
    found = ~np.isnan(source[:, 0])
    values = out[outside]
    values[found] = map_coordinates(image, [source[found, 1], source[found, 0]], order=1)
    out[outside] = values
    return out

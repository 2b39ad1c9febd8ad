"""Incoherent Z-contrast (HAADF-STEM) image formation: the deterministic kernels and the noise.

Image model. Each atomic column c at position r_c with atomic numbers {Z} contributes
``I_c = Σ Z^γ`` times the probe, a Gaussian of standard deviation σ (FWHM = 2.355 σ).
The expected number of detected electrons at pixel r is

    λ(r) = dose · p² · (background + scattering · Σ_c I_c exp(-|r - r_c|² / 2σ²))

with the dose in e⁻/Å², the pixel size p in Å/px, the background the fraction of beam
electrons reaching the detector anyway and the scattering the fraction per unit of Z^γ
at the column centre. The recorded image is Poisson(λ) (its Gaussian approximation
N(λ, λ) where λ is large), plus Gaussian read noise. Scan distortions: every scan line
is shifted along x by its own random offset (jitter), and a sample drift during the
frame shears and stretches the image (closed form, see :func:`drift_positions`).

Rendering is a batched matrix product: the probe is separable, so an image is
``Gy^T diag(I) Gx`` with ``Gy`` (K, H) and ``Gx`` (K, W) the 1-D Gaussian profiles of
the K columns; no Python loop runs over pixels or columns.

References
----------
Pennycook, S. J. & Jesson, D. E. (1991). Ultramicroscopy 37, 14-38.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
#: The largest dose, e-/Å², accepted: far above any real dose, far below float32 overflow of the counts.
MAX_DOSE = 1e15


@dataclass(frozen=True)
class Imaging:
    """The microscope and detector settings of one image.

    Attributes
    ----------
    gamma : float
        Z-contrast exponent γ in Σ Z^γ (in (0, 3]; 1.6-2.0 for HAADF).
    probe_fwhm : float
        Full width at half maximum of the Gaussian probe, Å (> 0).
    dose : float
        Electron dose, e⁻/Å² (> 0).
    scattering : float
        Fraction of the electrons of a pixel scattered onto the detector per unit Z^γ
        at a column centre (> 0).
    background : float
        Fraction of the electrons of a pixel detected everywhere (in [0, 1]).
    read_noise : float
        Standard deviation of the Gaussian detector read noise, in counts (>= 0).
    jitter : float
        Standard deviation of the per-scan-line x offset, Å (>= 0).
    drift : (float, float)
        Sample drift (x, y) during the whole frame, Å; the frame is scanned row by row
        from the top.
    gaussian_above : float
        Pixels expecting at least this many counts get Gaussian shot noise N(λ, λ)
        instead of Poisson(λ) (> 0; use ``inf`` for Poisson everywhere).
    """

    gamma: float = 1.7
    probe_fwhm: float = 0.9
    dose: float = 1e5
    scattering: float = 1e-4
    background: float = 0.02
    read_noise: float = 1.0
    jitter: float = 0.0
    drift: tuple[float, float] = (0.0, 0.0)
    gaussian_above: float = 1000.0

    def __post_init__(self) -> None:
        for name in ("gamma", "probe_fwhm", "dose", "scattering", "gaussian_above"):
            _check_number("Imaging", name, getattr(self, name), positive=True, allow_inf=name == "gaussian_above")
        for name in ("background", "read_noise", "jitter"):
            _check_number("Imaging", name, getattr(self, name), positive=False)
        check_dose("Imaging", "dose", self.dose)
        # Rutherford scattering gives at most Z^2; far larger exponents overflow the intensities.
        for name, high, rule in (
            ("gamma", 3.0, "Z^gamma contrast is Z^1.6-2 in HAADF"),
            ("background", 1.0, "a fraction"),
        ):
            if getattr(self, name) > high:
                raise ValueError(
                    f"The '{name}' parameter of Imaging must be <= {high:g} ({rule}). Got {getattr(self, name)!r} instead."
                )
        try:
            dx, dy = self.drift
        except (TypeError, ValueError):
            raise ValueError(
                f"The 'drift' parameter of Imaging must be a pair (x, y) in Å. Got {self.drift!r} instead."
            ) from None
        for value in (dx, dy):
            if not isinstance(value, int | float | np.floating | np.integer) or not math.isfinite(value):
                raise ValueError(
                    f"The 'drift' parameter of Imaging must hold finite numbers. Got {self.drift!r} instead."
                )
        object.__setattr__(self, "drift", (float(dx), float(dy)))

    @property
    def probe_sigma(self) -> float:
        """The probe's standard deviation σ = FWHM / 2.355, Å."""
        return self.probe_fwhm / FWHM_PER_SIGMA


def render_columns(
    positions: np.ndarray,
    intensities: np.ndarray,
    shape: tuple[int, int],
    sigma: float | np.ndarray,
) -> np.ndarray:
    """Noise-free images: a sum of Gaussian columns, by separable batched matrix products.

    Parameters
    ----------
    positions : ndarray
        float (..., K, 2), column centres (x, y) in pixels; pixel (row i, col j) has
        its centre at x = j, y = i.
    intensities : ndarray
        float (..., K), the peak height of each column (0 for padding).
    shape : (int, int)
        (H, W) of each image, px.
    sigma : float or ndarray
        Probe standard deviation in px, one value or one per image, shape (...).

    Returns
    -------
    ndarray
        float32 (..., H, W), ``Σ_k I_k exp(-((x - x_k)² + (y - y_k)²) / 2σ²)``.
    """
    positions = np.asarray(positions, dtype=np.float32)
    intensities = np.asarray(intensities, dtype=np.float32)
    height, width = shape
    sigma = np.asarray(sigma, dtype=np.float32)[..., None, None]
    scale = -0.5 / (sigma * sigma)
    rows = np.arange(height, dtype=np.float32)
    cols = np.arange(width, dtype=np.float32)
    gy = _gaussian(scale * (rows - positions[..., 1:2]) ** 2) * intensities[..., None]  # (..., K, H)
    gx = _gaussian(scale * (cols - positions[..., 0:1]) ** 2)  # (..., K, W)
    return np.matmul(np.ascontiguousarray(np.swapaxes(gy, -1, -2)), gx)


def _gaussian(exponent: np.ndarray) -> np.ndarray:
    """exp(exponent), set to exactly 0 beyond 6.3σ (exponent < -20).

    The cut keeps subnormal floats out of the matrix products, which would otherwise
    run many times slower; the profile is 2e-9 of its peak there.
    """
    out = np.exp(np.maximum(exponent, np.float32(-20.0)))
    out[exponent < -20.0] = 0.0
    return out


def render_image(
    positions: np.ndarray,
    intensities: np.ndarray,
    shape: tuple[int, int],
    sigma: float,
    *,
    tile: int = 64,
) -> np.ndarray:
    """One large noise-free image, rendered tile by tile so the cost stays local.

    Each tile only sums the columns within 5σ of it; the tiles are rendered together
    by :func:`render_columns` as one batch.

    Parameters
    ----------
    positions : ndarray
        float (K, 2), column centres (x, y) in px.
    intensities : ndarray
        float (K,), peak heights.
    shape : (int, int)
        (H, W) in px.
    sigma : float
        Probe standard deviation in px.
    tile : int
        Tile edge in px.

    Returns
    -------
    ndarray
        float32 (H, W).
    """
    height, width = shape
    margin = 5.0 * float(sigma)
    tile = max(int(tile), math.ceil(2 * margin) + 1)  # a column then touches at most 2 x 2 tiles
    ny, nx = -(-height // tile), -(-width // tile)
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    intensities = np.asarray(intensities, dtype=np.float64).reshape(-1)
    tx = np.floor((positions[:, 0] + np.array([[-margin], [margin]])) / tile).astype(np.int64)  # (2, K)
    ty = np.floor((positions[:, 1] + np.array([[-margin], [margin]])) / tile).astype(np.int64)
    tiles, members = [], []
    for i, j in ((0, 0), (1, 0), (0, 1), (1, 1)):  # the 1, 2 or 4 tiles a column touches, each once
        ok = (tx[i] >= 0) & (tx[i] < nx) & (ty[j] >= 0) & (ty[j] < ny)
        if i:
            ok &= tx[1] != tx[0]
        if j:
            ok &= ty[1] != ty[0]
        tiles.append((ty[j] * nx + tx[i])[ok])
        members.append(np.nonzero(ok)[0])
    tile_of = np.concatenate(tiles)
    order = np.argsort(tile_of, kind="stable")
    pairs = np.stack([tile_of[order], np.concatenate(members)[order]], axis=1)
    out = np.zeros((ny * tile, nx * tile), dtype=np.float32)
    if len(pairs):
        counts = np.bincount(pairs[:, 0], minlength=ny * nx)
        slot = np.arange(len(pairs)) - np.repeat(np.cumsum(counts) - counts, counts)
        local = np.zeros((ny * nx, max(1, counts.max()), 2))
        weight = np.zeros((ny * nx, max(1, counts.max())))
        corner = np.stack([(pairs[:, 0] % nx) * tile, (pairs[:, 0] // nx) * tile], axis=1)
        local[pairs[:, 0], slot] = positions[pairs[:, 1]] - corner
        weight[pairs[:, 0], slot] = intensities[pairs[:, 1]]
        blocks = render_columns(local, weight, (tile, tile), sigma)
        out = blocks.reshape(ny, nx, tile, tile).transpose(0, 2, 1, 3).reshape(ny * tile, nx * tile)
    return np.ascontiguousarray(out[:height, :width])


def drift_positions(positions: np.ndarray, drift: tuple[float, float], frame_height: float) -> np.ndarray:
    """Where a linearly drifting sample appears in a frame scanned row by row.

    The sample moves by ``drift`` (Å) during the frame, uniformly in time, and the
    probe reaches height y at time ``y / frame_height``. A point at sample position
    (x, y) therefore appears at ``y' = y / (1 - dy / h)`` and ``x' = x + dx · y' / h``.

    Parameters
    ----------
    positions : ndarray
        float (..., 2), (x, y) in Å, y measured from the first scan line.
    drift : (float, float)
        (dx, dy) in Å; ``|dy|`` must be smaller than ``frame_height``.
    frame_height : float
        Height of the frame in Å.

    Returns
    -------
    ndarray
        float64 (..., 2), the apparent positions in Å.
    """
    dx, dy = drift
    if abs(dy) >= frame_height:
        raise ValueError(f"The y drift must be smaller than the frame height ({frame_height} Å). Got {dy} instead.")
    positions = np.asarray(positions, dtype=np.float64)
    y = positions[..., 1] / (1.0 - dy / frame_height)
    x = positions[..., 0] + dx * y / frame_height
    return np.stack([x, y], axis=-1)


def shift_rows(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift every row of every image along x by its own sub-pixel amount (scan-line jitter).

    ``out[..., i, j] = image[..., i, j - shifts[..., i]]`` by Catmull-Rom cubic
    interpolation, with the edge values repeated outside the image; so a positive
    shift moves the content of row i to the right.

    Parameters
    ----------
    images : ndarray
        float (..., H, W).
    shifts : ndarray
        float (..., H), px.

    Returns
    -------
    ndarray
        float32 (..., H, W).
    """
    images = np.asarray(images, dtype=np.float32)
    shape, width = images.shape, images.shape[-1]
    flat = images.reshape(-1, width)
    offset = -np.asarray(shifts, dtype=np.float64).reshape(-1)  # read from x + offset
    base = np.floor(offset).astype(np.int64)
    t = (offset - base).astype(np.float32)[:, None]
    weights = (
        ((-t + 2.0) * t - 1.0) * t * 0.5,
        ((3.0 * t - 5.0) * t * t + 2.0) * 0.5,
        ((-3.0 * t + 4.0) * t + 1.0) * t * 0.5,
        (t - 1.0) * t * t * 0.5,
    )
    base = np.clip(base, -width - 2, width + 2)
    margin = int(np.abs(base).max()) + 2
    padded = np.pad(flat, ((0, 0), (margin, margin)), mode="edge")
    out = np.empty_like(flat)
    for b in np.unique(base):  # rows sharing an integer shift are sliced together
        rows = np.nonzero(base == b)[0]
        block = padded[rows]
        acc = np.zeros((len(rows), width), dtype=np.float32)
        for k, weight in enumerate(weights):
            start = margin + int(b) + k - 1
            acc += weight[rows] * block[:, start : start + width]
        out[rows] = acc
    return out.reshape(shape)


def expected_counts(
    signal: np.ndarray,
    *,
    dose: float | np.ndarray,
    pixel_size: float,
    scattering: float,
    background: float | np.ndarray,
) -> np.ndarray:
    """λ = dose · p² · (background + scattering · signal), the expected counts per pixel.

    ``dose`` and ``background`` may be arrays of shape (...) for a batch (..., H, W).
    """
    dose = np.asarray(dose, dtype=np.float32)[..., None, None]
    background = np.asarray(background, dtype=np.float32)[..., None, None]
    return (dose * np.float32(pixel_size**2)) * (background + np.float32(scattering) * signal)


def detector_noise(
    expected: np.ndarray,
    rng: np.random.Generator,
    *,
    read_noise: float | np.ndarray = 0.0,
    gaussian_above: float = 1000.0,
) -> np.ndarray:
    """Shot noise and read noise on an image of expected counts.

    Pixels expecting fewer than ``gaussian_above`` counts are drawn from Poisson(λ), the
    others from N(λ, λ) (the Gaussian approximation, much faster at high dose); then
    N(0, read_noise²) is added.

    Parameters
    ----------
    expected : ndarray
        float (..., H, W), λ >= 0.
    rng : numpy.random.Generator
    read_noise : float or ndarray
        Standard deviation in counts; one value or one per image, shape (...).

    Returns
    -------
    ndarray
        float32 (..., H, W), the recorded counts.
    """
    # Interpolated scan-line jitter undershoots beside sharp columns (Catmull-Rom); with
    # little background that left λ below 0, and Poisson refused it. Counts cannot be negative.
    expected = np.maximum(np.asarray(expected, dtype=np.float32), np.float32(0.0))
    read = np.broadcast_to(np.asarray(read_noise, dtype=np.float32)[..., None, None], expected.shape)
    normal = standard_normal(expected.shape, rng)
    # Where λ is large, shot and read noise are one Gaussian of variance λ + read²: one draw.
    noisy = np.sqrt(expected + read * read)
    noisy *= normal
    noisy += expected
    low = expected < gaussian_above
    if low.any():  # the others get Poisson shot noise, and the unused normal draw as read noise
        noisy[low] = rng.poisson(expected[low]).astype(np.float32) + read[low] * normal[low]
    return noisy


def standard_normal(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """float32 N(0, 1) draws of ``shape``, seeded from ``rng``.

    torch's vectorised sampler is about 2.5x faster than numpy's float32 ziggurat, and
    the shot noise is most of the cost of a view; its draws do not depend on the number
    of torch threads.
    """
    generator = torch.Generator().manual_seed(int(rng.integers(2**63)))
    return torch.randn(shape, generator=generator, dtype=torch.float32).numpy()


def check_dose(func: str, name: str, dose: float) -> None:
    """Refuse a dose above MAX_DOSE: the float32 counts would overflow into NaN pixels."""
    if dose > MAX_DOSE:
        raise ValueError(
            f"The '{name}' parameter of {func} must be at most {MAX_DOSE:g} e-/Å² (real HAADF doses stay below "
            f"1e9; float32 counts overflow far above it). Got {dose:g} instead."
        )


def _check_number(func: str, name: str, value: object, *, positive: bool, allow_inf: bool = False) -> None:
    ok = isinstance(value, int | float | np.floating | np.integer) and not isinstance(value, bool)
    if ok:
        value = float(value)  # type: ignore[arg-type]
        ok = not math.isnan(value) and (allow_inf or math.isfinite(value)) and (value > 0 if positive else value >= 0)
    if not ok:
        rule = "a finite number > 0" if positive else "a finite number >= 0"
        raise ValueError(f"The '{name}' parameter of {func} must be {rule}. Got {value!r} instead.")

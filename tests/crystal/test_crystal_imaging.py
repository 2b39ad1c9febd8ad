"""The image-formation kernels: rendering, scan distortions and detector noise."""

import numpy as np
import pytest

from symcl.domains import crystal


def _brute_force(positions, intensities, shape, sigma):
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    out = np.zeros(shape)
    for (x, y), a in zip(positions, intensities, strict=True):
        out += a * np.exp(-((cols - x) ** 2 + (rows - y) ** 2) / (2 * sigma**2))
    return out


def test_render_matches_a_sum_of_gaussians(rng):
    positions = rng.uniform(-3, 40, size=(30, 2))
    intensities = rng.uniform(0.5, 2.0, size=30)
    expected = _brute_force(positions, intensities, (37, 41), 1.7)
    np.testing.assert_allclose(crystal.render_columns(positions, intensities, (37, 41), 1.7), expected, atol=1e-4)
    tiled = crystal.render_image(positions, intensities, (37, 41), 1.7, tile=16)
    np.testing.assert_allclose(tiled, expected, atol=1e-4)
    # batched, one sigma per image
    batch = crystal.render_columns(
        np.stack([positions, positions]), np.stack([intensities, 2 * intensities]), (37, 41), np.array([1.7, 1.7])
    )
    np.testing.assert_allclose(batch[1], 2 * expected, atol=2e-4)


def test_shift_rows_moves_each_row_and_keeps_its_sum():
    rows = crystal.render_columns(np.array([[20.0, 0.0]]), np.array([1.0]), (1, 48), 2.0)
    images = np.repeat(rows, 3, axis=0)[None]  # (1, 3, 48): three identical rows
    shifted = crystal.shift_rows(images, np.array([[0.0, 2.5, -4.0]]))
    centre = (shifted[0] * np.arange(48)).sum(axis=1) / shifted[0].sum(axis=1)
    np.testing.assert_allclose(centre, [20.0, 22.5, 16.0], atol=0.01)
    np.testing.assert_allclose(shifted[0].sum(axis=1), images[0].sum(axis=1), rtol=1e-4)


def test_drift_shears_and_stretches_the_frame():
    points = np.array([[0.0, 0.0], [10.0, 50.0], [10.0, 100.0]])
    moved = crystal.drift_positions(points, (4.0, 0.0), 100.0)
    np.testing.assert_allclose(moved, [[0, 0], [12, 50], [14, 100]])
    stretched = crystal.drift_positions(points, (0.0, 10.0), 100.0)
    np.testing.assert_allclose(stretched[:, 1], np.array([0, 50, 100]) / 0.9)
    with pytest.raises(ValueError, match="y drift"):
        crystal.drift_positions(points, (0.0, 100.0), 100.0)


def test_noise_is_poisson_at_low_dose_and_gaussian_at_high_dose(rng):
    for level, above in ((3.0, 1000.0), (5000.0, 1000.0)):
        expected = np.full((200, 200), level, dtype=np.float32)
        counts = crystal.detector_noise(expected, rng, read_noise=0.0, gaussian_above=above)
        assert counts.mean() == pytest.approx(level, rel=0.01)
        assert counts.var() == pytest.approx(level, rel=0.05)
        if level < above:
            assert np.all(counts == np.round(counts))  # Poisson counts are integers
    with_read = crystal.detector_noise(np.full((200, 200), 5000.0), rng, read_noise=30.0)
    assert with_read.var() == pytest.approx(5000 + 900, rel=0.05)


def test_scan_line_jitter_without_background_images_without_error():
    # Interpolating the jittered lines undershoots beside sharp columns; λ < 0 made Poisson fail.
    image = crystal.simulate(
        "graphene", shape=(64, 64), pixel_size=0.4, background=0.0, jitter=0.3, probe_fwhm=0.8, rng=0
    )
    assert np.isfinite(image.image).all()  # read noise may take a count below 0; the expectation may not


def test_imaging_validation():
    assert crystal.Imaging(probe_fwhm=2.355).probe_sigma == pytest.approx(1.0, abs=1e-3)
    for name, value in (("dose", 0.0), ("dose", float("nan")), ("probe_fwhm", -1.0), ("gamma", float("inf"))):
        with pytest.raises(ValueError, match=f"The '{name}' parameter of Imaging must be a finite number > 0"):
            crystal.Imaging(**{name: value})
    with pytest.raises(ValueError, match="'background' parameter of Imaging must be a finite number >= 0"):
        crystal.Imaging(background=-0.1)
    with pytest.raises(ValueError, match="'drift' parameter"):
        crystal.Imaging(drift=(1.0, float("nan")))
    # a dose whose float32 counts overflow would give NaN pixels
    with pytest.raises(ValueError, match=r"'dose' parameter of Imaging must be at most 1e\+15 e-/Å².*Got 1e\+39"):
        crystal.simulate(shape=(64, 64), dose=1e39, rng=0)
    with pytest.raises(ValueError, match="'dose' parameter of LatticeTranslationViews must be at most"):
        crystal.LatticeTranslationViews(dose=(1e5, 1e20))

"""Lattice estimation and periodic padding: border patches that stay crystals."""

import numpy as np
import pytest

from symcl.domains import crystal


def _wave(shape, a=(7.3, 0.0), b=(2.1, 9.4), origin=(0.0, 0.0)):
    """A smooth 2-D periodic image with lattice vectors a and b (px) and its reciprocal vectors."""
    lattice = np.array([a, b])
    reciprocal = 2 * np.pi * np.linalg.inv(lattice).T
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    xy = np.stack([xx - origin[0], yy - origin[1]], axis=-1)
    phase = xy @ reciprocal.T
    return (np.cos(phase[..., 0]) + np.cos(phase[..., 1]) + 0.5 * np.cos(phase[..., 0] + phase[..., 1])), lattice


def _same_lattice(found, true, atol=0.3):
    """Each basis is an integer combination of the other (within atol px)."""
    for a, b in ((found, true), (true, found)):
        coef = a @ np.linalg.inv(b)
        if not np.allclose(coef, np.round(coef), atol=atol / np.linalg.norm(b, axis=1).min()):
            return False
    return True


def test_estimate_lattice_finds_the_cell_and_not_the_sublattice():
    sim = crystal.simulate("MoS2", shape=(160, 160), pixel_size=0.2, rng=1)
    found = crystal.estimate_lattice(sim.image, spacing=1.84 / 0.2)
    assert found is not None and _same_lattice(found, sim.crystal.lattice / 0.2)
    # SrTiO3 [110]: SrO and Ti columns 1.95 Å apart, but the lattice is 2.76 x 3.905 Å
    sim = crystal.simulate("SrTiO3[110]", shape=(160, 160), pixel_size=0.2, rng=2)
    found = crystal.estimate_lattice(sim.image, spacing=1.95 / 0.2)
    assert found is not None and _same_lattice(found, sim.crystal.lattice / 0.2)
    assert np.linalg.norm(found, axis=1).min() > 2.5 / 0.2
    # v and -v are the same translation: the one returned has its larger component positive
    assert all(vector[np.argmax(np.abs(vector))] > 0 for vector in found)


def test_estimate_lattice_rejects_noise_and_bad_input():
    assert crystal.estimate_lattice(np.random.default_rng(0).random((100, 100)), 5.0) is None
    with pytest.raises(ValueError, match="'spacing' parameter of estimate_lattice must be > 0"):
        crystal.estimate_lattice(np.zeros((20, 20)), 0.0)


def test_pad_periodic_continues_the_crystal():
    big, lattice = _wave((140, 150))
    image = big[30:110, 30:120]
    padded = crystal.pad_periodic(image, lattice, 30)
    assert padded.shape == (140, 150) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[30:110, 30:120], image.astype(np.float32))
    assert np.abs(padded - big).max() < 0.15 * np.ptp(big)  # bilinear interpolation error only
    mirrored = np.pad(image, 30, mode="reflect")
    assert np.abs(mirrored - big).mean() > 5 * np.abs(padded - big).mean()


def test_cut_patches_with_a_lattice_matches_the_larger_image():
    big, lattice = _wave((120, 120))
    image = big[20:100, 20:100]
    positions = np.array([[2.0, 3.0], [40.0, 40.0], [78.0, 10.0]])
    patches, edge = crystal.cut_patches(image, positions, 24, lattice=lattice)
    reference, _ = crystal.cut_patches(big, positions + 20, 24)
    assert edge.tolist() == [True, False, True]
    np.testing.assert_array_equal(patches[1], reference[1])
    assert np.abs(patches - reference).max() < 0.15 * np.ptp(big)


def test_estimate_lattice_needs_little_memory_per_pixel():
    import tracemalloc

    image, lattice = _wave((600, 600))
    tracemalloc.start()
    try:
        found = crystal.estimate_lattice(image, spacing=7.0)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert _same_lattice(found, lattice)
    # The 2h x 2w autocorrelation itself is 32 bytes per image pixel; full index grids and an FFT of a ones
    # image took 250 bytes per pixel, 4 GB on the 4000 x 4000 px a 6000 x 6000 px frame at 0.2 Å/px resamples to.
    assert peak / image.size < 150

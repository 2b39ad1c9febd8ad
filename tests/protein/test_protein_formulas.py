"""Distance formulas against hand-computed values; saturation capping and flags."""

import math

import numpy as np
import pytest

from symcl.domains.protein import formulas


def test_p_distance_and_no_columns():
    assert formulas.p_distance(8, 9) == pytest.approx(1 / 9)
    assert np.isnan(formulas.p_distance(0, 0))


def test_poisson_and_kimura_by_hand():
    p = 0.3
    assert formulas.poisson_distance(p) == pytest.approx(-math.log(0.7))
    assert formulas.kimura_distance(p) == pytest.approx(-math.log(1 - 0.3 - 0.2 * 0.09))
    assert formulas.poisson_distance(0.0) == 0.0 and formulas.kimura_distance(0.0) == 0.0
    assert formulas.poisson_distance(1.0) == np.inf
    # Kimura's argument 1 - p - 0.2 p^2 reaches 0 at p = 0.854...
    assert formulas.kimura_distance(0.86) == np.inf
    assert np.isfinite(formulas.kimura_distance(0.85))


def test_scoredist_by_hand():
    # Columns A/A and W/Y: sigma = 4 + 2, self-scores 4 + 11 and 4 + 7, L = 2 (BLOSUM62).
    sigma, sigma_n, length = 6.0, (15.0 + 11.0) / 2, 2.0
    random = -0.5209 * length
    expected = -1.2873 * math.log((sigma - random) / (sigma_n - random))
    assert formulas.scoredist(sigma, sigma_n, length) == pytest.approx(expected)
    assert formulas.scoredist(sigma, sigma_n, length, calibration=1.337) == pytest.approx(expected / 1.2873 * 1.337)


def test_scoredist_identical_is_zero_and_random_is_undefined():
    assert formulas.scoredist(50.0, 50.0, 10.0) == 0.0
    assert formulas.scoredist(-6.0, 50.0, 10.0) == np.inf  # below the random expectation
    assert np.isnan(formulas.scoredist(0.0, 0.0, 0.0))


def test_saturate_caps_and_flags():
    d, flags = formulas.saturate(np.array([0.5, np.inf, np.nan, 4.0, -1e-17]), 3.0)
    np.testing.assert_array_equal(d, [0.5, 3.0, 3.0, 3.0, 0.0])
    np.testing.assert_array_equal(flags, [False, True, True, True, False])


def test_distances_from_stats_dispatch_and_p_cap():
    stats = dict(aligned=np.array([10.0, 0.0]), identities=np.array([7.0, 0.0]), score=0.0, self_score=0.0)
    p, flags = formulas.distances_from_stats(**stats, method="p")
    np.testing.assert_allclose(p, [0.3, 1.0])  # p is capped at min(max_distance, 1)
    np.testing.assert_array_equal(flags, [False, True])
    kimura, _ = formulas.distances_from_stats(**stats, method="kimura", max_distance=2.5)
    assert kimura[0] == pytest.approx(formulas.kimura_distance(0.3)) and kimura[1] == 2.5
    with pytest.raises(ValueError, match="'method' parameter"):
        formulas.distances_from_stats(**stats, method="jc69")

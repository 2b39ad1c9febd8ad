"""Fixtures of the crystal tests: small simulated images, generated on the fly (no files from ../shared)."""

import numpy as np
import pytest

from symcl.domains import crystal


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def mos2_image():
    """A 160 x 160 px MoS2 image at 0.2 Å/px with 4 random defects, dose 1e5 e-/Å²."""
    return crystal.simulate("MoS2", shape=(160, 160), pixel_size=0.2, defects=4, rng=1)

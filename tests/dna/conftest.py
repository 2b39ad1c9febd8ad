"""Fixtures of the dna tests: generated sequences and the shipped files in data/dna."""

from pathlib import Path

import numpy as np
import pytest

from symcl.data import data_path

SHIPPED = (
    "phiX174.fa.gz",
    "pPCP1.fa.gz",
    "human_mito.fa.gz",
    "ecoli_K12_MG1655_slice.fa.gz",
    "saureus_N315_slice.fa.gz",
    "rdenitrificans_OCh114_slice.fa.gz",
)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def shipped() -> dict[str, Path]:
    """The shipped data files by name."""
    return {name: data_path("dna", name) for name in SHIPPED}

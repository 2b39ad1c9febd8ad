"""Shared fixtures. This directory is on sys.path, so tests import ``reference``."""

import os
import tempfile

import pytest
import torch
from hypothesis import settings

# Property tests draw the same examples on every run ("deterministic"), so a failure is not
# down to luck and a passing run means the same thing everywhere; no example database is kept.
# HYPOTHESIS_PROFILE=explore draws new examples each run, and keeps the failures it finds to
# replay them first next time, when looking for new counterexamples.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))
# Hypothesis also caches what it reads from the source files (.hypothesis/constants) and the
# explore profile's failures; both go to the temporary folder, not into the working tree.
os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", os.path.join(tempfile.gettempdir(), "symcl-hypothesis"))

# The test models are tiny, so a second intra-op thread gains nothing; on a shared or
# loaded 2-core machine it costs a lot (a 300-step toy fit: 10 s with one thread, 68 s
# with two while other jobs ran).
torch.set_num_threads(1)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)


@pytest.fixture(autouse=True)
def _seed_torch():
    """Seed torch's global RNG before each test, so a test drawing from it (torch.randn, weight
    initialisation, dropout) sees the same numbers whichever tests ran before it."""
    torch.manual_seed(0)

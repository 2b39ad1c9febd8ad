"""Shared fixtures. This directory is on sys.path, so tests import ``reference``."""

import pytest
import torch

# The test models are tiny, so a second intra-op thread gains nothing; on a shared or
# loaded 2-core machine it costs a lot (a 300-step toy fit: 10 s with one thread, 68 s
# with two while other jobs ran).
torch.set_num_threads(1)


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)

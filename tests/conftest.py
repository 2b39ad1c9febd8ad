"""Shared fixtures. This directory is on sys.path, so tests import ``reference``."""

import pytest
import torch


@pytest.fixture
def generator() -> torch.Generator:
    return torch.Generator().manual_seed(0)

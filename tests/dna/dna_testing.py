"""Helpers of the dna tests (a module with a unique name, importable from every test file here)."""

import numpy as np


def random_dna(rng: np.random.Generator, length: int, letters: str = "ACGT") -> str:
    """A random sequence of ``length`` letters drawn uniformly from ``letters``."""
    return "".join(rng.choice(list(letters), size=length))

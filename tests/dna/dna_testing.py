"""Helpers of the dna tests (a module with a unique name, importable from every test file here)."""

import numpy as np


def random_dna(rng: np.random.Generator, length: int, letters: str = "ACGT") -> str:
    """A random sequence of ``length`` letters drawn uniformly from ``letters``."""
    return "".join(rng.choice(list(letters), size=length))


def strand_gap_after_training(model, codes, steps: int = 3) -> float:
    """Max |model(x) - model(rc x)| after a few Adam steps on an arbitrary loss; every parameter must get a gradient."""
    import torch

    from symcl.domains import dna

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        loss = model(codes)[:, :5].pow(3).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(p.grad is not None for p in model.parameters())
    with torch.no_grad():
        return float((model(codes) - model(dna.reverse_complement_batch(codes))).abs().max())

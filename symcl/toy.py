"""A toy domain that exercises the engine end to end without any science.

Samples are noisy copies of K prototype signals on a ring of L sites. The symmetry is
the ring's translation: a view is the sample cyclically shifted by a random number of
sites, with fresh noise. It is a one-dimensional stand-in for a crystal lattice.

Run ``python -m symcl.toy --out DIR --steps 200`` to train it from the command line.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import torch
from torch import Tensor, nn

from symcl.cli import (
    OneLineParser,
    add_training_arguments,
    parse_command_line,
    relaunch_if_distributed,
    run_guarded,
    train_config_from,
    wants_resume,
)
from symcl.training import Callback, contrastive_objective, fit, seed_everything
from symcl.views import ViewBatch


class RingBlobs:
    """View generator of shifted, noisy ring signals. Labels are the prototype ids.

    Parameters
    ----------
    n_classes : int
        Number of prototypes K.
    length : int
        Ring length L (input dimension).
    noise : float
        Standard deviation of the per-view Gaussian noise.
    seed : int
        Seed of the prototypes (the data set itself, not the sampling).
    """

    def __init__(self, n_classes: int = 8, length: int = 32, noise: float = 0.3, seed: int = 0):
        rng = np.random.default_rng(seed)
        # Smooth random prototypes: a few low-frequency Fourier modes each.
        phase = 2 * np.pi * np.arange(length) / length
        modes = np.arange(1, 5)
        coef = rng.normal(size=(n_classes, len(modes), 2))
        waves = coef[..., :1] * np.cos(modes[:, None] * phase) + coef[..., 1:] * np.sin(modes[:, None] * phase)
        self.prototypes = torch.tensor(waves.sum(axis=1), dtype=torch.float32)
        self.noise = noise

    @property
    def length(self) -> int:
        return self.prototypes.shape[1]

    def sample(self, batch_size: int, generator: torch.Generator) -> ViewBatch:
        """Two shifted views of ``batch_size`` samples. Shapes: views (B, L), labels (B,)."""
        labels = torch.randint(len(self.prototypes), (batch_size,), generator=generator)
        base = self.prototypes[labels]
        return ViewBatch(self._view(base, generator), self._view(base, generator), labels=labels)

    def _view(self, base: Tensor, generator: torch.Generator) -> Tensor:
        shifts = torch.randint(self.length, (len(base), 1), generator=generator)
        index = (torch.arange(self.length) + shifts) % self.length
        noise = self.noise * torch.randn(base.shape, generator=generator)
        return base.gather(1, index) + noise


def mlp_encoder(length: int = 32, dim: int = 16, hidden: int = 64) -> nn.Module:
    """A small MLP encoder: (B, length) -> (B, dim)."""
    return nn.Sequential(
        nn.Linear(length, hidden), nn.GELU(), nn.Linear(hidden, hidden), nn.GELU(), nn.Linear(hidden, dim)
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m symcl.toy``: train the toy encoder with the engine and the common flags."""
    parser = OneLineParser(prog="python -m symcl.toy", description=__doc__.splitlines()[0])
    add_training_arguments(parser, steps=200, batch_size=64)
    parser.add_argument("--sleep", type=float, default=0.0, help=argparse.SUPPRESS)  # slows steps, for kill tests
    args = parse_command_line(parser, argv)

    def run() -> int | None:
        relaunched = relaunch_if_distributed(args, "symcl.toy")
        if relaunched is not None:
            return relaunched
        config = train_config_from(args)
        seed_everything(args.seed)
        views = RingBlobs()
        model = mlp_encoder(views.length)
        callbacks = [_Sleep(args.sleep)] if args.sleep else []
        state = fit(
            model,
            views,
            contrastive_objective(16, temperature=0.2, queue_size=128),
            config,
            out_dir=args.out,
            resume=wants_resume(args),
            callbacks=callbacks,
            progress=not args.quiet,
        )
        if os.environ.get("RANK", "0") == "0":  # one line, also under torchrun
            print(f"trained the toy encoder for {state.step} steps -> {args.out}", file=sys.stderr)

    return run_guarded(run)


class _Sleep(Callback):
    """Slows every step down, so tests can kill a run in the middle."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def on_step_end(self, state, loss, metrics) -> None:
        time.sleep(self.seconds)


if __name__ == "__main__":
    sys.exit(main())

"""The training configuration, a plain dataclass created at the entry point."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from symcl.checks import as_integer, check_integer

#: The largest seed: every generator seeded from it (numpy's, scikit-learn's, each rank's) accepts it.
MAX_SEED = 2**32 - 1
DEFAULT_WARMUP_STEPS = 50


@dataclass
class TrainConfig:
    """Everything :func:`symcl.training.fit` needs to know besides model, data and objective.

    Attributes
    ----------
    steps : int
        Optimiser steps in total.
    batch_size : int
        Samples per step (each gives two views).
    lr, weight_decay : float
        AdamW learning rate and decoupled weight decay.
    warmup_steps : int or None
        Linear warm-up length before the cosine decay to zero. None: 50 steps, or a tenth
        of ``steps`` when that is fewer.
    grad_clip : float or None
        Maximum global gradient norm; None disables clipping.
    seed : int
        Seeds the data sampling generator and the global RNGs at the start of training.
    eval_every : int
        Steps between evaluations (alignment, uniformity, effective rank); 0 disables.
    eval_batch_size : int
        Samples of the fixed evaluation batch.
    checkpoint_every : int
        Steps between checkpoints; 0 keeps only the final one.
    keep_checkpoints : int
        Newest checkpoints kept on disk.
    early_stopping_patience : int or None
        Evaluations of degrading uniformity before stopping; None disables early stopping.
    restore_best : bool
        On an early stop, restore the weights of the best-uniformity evaluation.
    device : str
        torch device for training, e.g. "cpu" or "cuda".
    """

    steps: int = 1000
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int | None = None
    grad_clip: float | None = 1.0
    seed: int = 0
    eval_every: int = 100
    eval_batch_size: int = 512
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    early_stopping_patience: int | None = None
    restore_best: bool = True
    device: str = "cpu"

    def __post_init__(self) -> None:
        for name, low in (
            ("steps", 1),
            ("batch_size", 2),
            ("eval_every", 0),
            ("eval_batch_size", 2),
            ("checkpoint_every", 0),
            ("keep_checkpoints", 1),
        ):
            # stored as Python ints: the config goes into JSON (config.json, checkpoints)
            setattr(self, name, check_integer("TrainConfig", name, getattr(self, name), low))
        seed = as_integer(self.seed)
        if seed is None or not 0 <= seed <= MAX_SEED:
            raise ValueError(
                f"The 'seed' parameter of TrainConfig must be an integer in [0, 2**32 - 1]. Got {self.seed!r} instead."
            )
        self.seed = seed
        self.warmup_steps = check_integer("TrainConfig", "warmup_steps", self.warmup_steps, 0, allow_none=True)
        for name in ("lr", "weight_decay"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"The '{name}' parameter of TrainConfig must be finite and >= 0. Got {value!r} instead."
                )
        if self.grad_clip is not None and not (math.isfinite(self.grad_clip) and self.grad_clip > 0):
            raise ValueError(
                f"The 'grad_clip' parameter of TrainConfig must be None or > 0. Got {self.grad_clip!r} instead."
            )
        self.early_stopping_patience = check_integer(
            "TrainConfig", "early_stopping_patience", self.early_stopping_patience, 1, allow_none=True
        )

    @property
    def effective_warmup_steps(self) -> int:
        """The warm-up length the schedule uses: ``warmup_steps``, or its default when None."""
        if self.warmup_steps is not None:
            return self.warmup_steps
        return min(DEFAULT_WARMUP_STEPS, self.steps // 10)

    # Fields that may change between an interrupted run and its resumption: they do not change
    # the trained weights. ``steps`` does (the schedule's length) and is checked on resume by
    # ``fit``, after the step reached, so that fewer steps than done get their own message.
    RESUMABLE_CHANGES = ("steps", "device", "checkpoint_every", "keep_checkpoints")

    def differences(self, saved: dict) -> dict[str, tuple]:
        """Fields whose saved value differs from this config, except the resumable ones."""
        return {
            f.name: (saved.get(f.name), getattr(self, f.name))
            for f in fields(self)
            if f.name not in self.RESUMABLE_CHANGES and saved.get(f.name) != getattr(self, f.name)
        }

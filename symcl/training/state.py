"""The mutable state of one training run, shared by the loop and its callbacks."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from symcl.training.config import TrainConfig


@dataclass
class TrainState:
    """Model, optimiser and progress of a run. Callbacks read it and may set ``stop_reason``."""

    model: nn.Module
    objective: nn.Module
    optimizer: Optimizer
    scheduler: LRScheduler
    config: TrainConfig
    data_generator: torch.Generator
    out_dir: Path | None = None
    step: int = 0
    stop_reason: str = ""
    last_checkpoint: Path | None = None
    history: dict[str, Any] = field(default_factory=lambda: {"steps": [], "evaluations": [], "early_stop": None})

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

"""The training engine: ``fit``, its configuration, callbacks and objectives."""

from symcl.training.callbacks import Callback, Checkpointer, EarlyStopping, HistoryRecorder, ProgressBar
from symcl.training.config import TrainConfig
from symcl.training.loop import fit, seed_everything, view_evaluator
from symcl.training.objectives import ContrastiveObjective, Objective, contrastive_objective
from symcl.training.state import TrainState

__all__ = [
    "Callback",
    "Checkpointer",
    "ContrastiveObjective",
    "EarlyStopping",
    "HistoryRecorder",
    "Objective",
    "ProgressBar",
    "TrainConfig",
    "TrainState",
    "contrastive_objective",
    "fit",
    "seed_everything",
    "view_evaluator",
]

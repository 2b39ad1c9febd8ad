"""Training events: progress bar, history, early stopping, checkpoints."""

from __future__ import annotations

import dataclasses
import sys
from typing import Any

import torch
from tqdm.auto import tqdm

from symcl.atomic import write_json
from symcl.checkpoint import capture_rng, checkpoint_path, prune_checkpoints, save_state, save_weights, versions
from symcl.collapse import CollapseMonitor
from symcl.distributed import barrier, gather_objects, is_main_process
from symcl.training.state import TrainState


class Callback:
    """Base class: override the events you need. State that must survive a resume goes
    through :meth:`state_dict` (JSON values and tensors only)."""

    def on_train_start(self, state: TrainState) -> None: ...

    def on_step_end(self, state: TrainState, loss: float, metrics: dict[str, float] | None) -> None: ...

    def on_train_end(self, state: TrainState) -> None: ...

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class ProgressBar(Callback):
    """A tqdm bar over the steps, showing the loss and learning rate."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.bar = None

    def on_train_start(self, state: TrainState) -> None:
        self.bar = tqdm(
            total=state.config.steps,
            initial=state.step,
            desc="training",
            unit="step",
            disable=not self.enabled,
            file=sys.stderr,
            dynamic_ncols=True,
        )

    def on_step_end(self, state: TrainState, loss: float, metrics: dict[str, float] | None) -> None:
        self.bar.update(1)
        if state.step % 10 == 0:
            self.bar.set_postfix(loss=f"{loss:.4f}", lr=f"{state.lr:.2e}", refresh=False)

    def on_train_end(self, state: TrainState) -> None:
        self.bar.close()


class HistoryRecorder(Callback):
    """Records per-step loss, lr and temperature, and every evaluation, in ``state.history``."""

    def on_step_end(self, state: TrainState, loss: float, metrics: dict[str, float] | None) -> None:
        temperature = getattr(state.objective, "current_temperature", None)
        state.history["steps"].append(
            {"step": state.step, "loss": loss, "lr": state.lr, "temperature": temperature() if temperature else None}
        )
        if metrics is not None:
            state.history["evaluations"].append({"step": state.step, **metrics})


class EarlyStopping(Callback):
    """Stops when uniformity degrades (see :class:`symcl.CollapseMonitor`).

    Keeps a copy of the weights at the best-uniformity evaluation and, with
    ``restore_best``, loads them into the model when it stops.
    """

    def __init__(self, patience: int, *, min_delta: float = 1e-3, restore_best: bool = True):
        self.monitor = CollapseMonitor(patience, min_delta)
        self.restore_best = restore_best
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_step_end(self, state: TrainState, loss: float, metrics: dict[str, float] | None) -> None:
        if metrics is None:
            return
        best_before = self.monitor.best_
        stop = self.monitor.update(
            state.step, uniformity=metrics["uniformity"], alignment=metrics.get("alignment"), loss=loss
        )
        if self.monitor.best_ is not best_before:
            self.best_weights = {k: v.detach().clone() for k, v in state.model.state_dict().items()}
        if stop:
            state.stop_reason = self.monitor.reason_
            state.history["early_stop"] = {
                "step": state.step,
                "best_step": self.monitor.best_.step,
                "collapsed": self.monitor.collapsed_,
                "reason": self.monitor.reason_,
                "restored_best": self.restore_best,
            }
            if self.restore_best:
                state.model.load_state_dict(self.best_weights)

    def state_dict(self) -> dict[str, Any]:
        return {"monitor": self.monitor.state_dict(), "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.monitor.load_state_dict(state["monitor"])
        self.best_weights = state["best_weights"]


class Checkpointer(Callback):
    """Writes checkpoints every ``config.checkpoint_every`` steps, and the outputs at the end.

    ``out_dir`` receives ``checkpoints/step-*.safetensors``, ``history.json`` (refreshed at
    each checkpoint) and, at the end, ``model.safetensors``, ``config.json`` and
    ``training_curves.png``. Every file is written atomically.
    """

    def __init__(self, callbacks: list[Callback], metadata: dict[str, Any] | None = None):
        self.callbacks = callbacks  # whose states go into each checkpoint
        self.metadata = metadata or {}

    def on_step_end(self, state: TrainState, loss: float, metrics: dict[str, float] | None) -> None:
        every = state.config.checkpoint_every
        if every and state.step % every == 0:
            self.save(state)

    def on_train_end(self, state: TrainState) -> None:
        self.save_if_new(state)
        if not is_main_process():
            return
        save_weights(state.out_dir / "model.safetensors", state.model)
        write_json(state.out_dir / "config.json", self.run_description(state))
        from symcl.plots import plot_training_curves  # matplotlib is slow to import: only here

        plot_training_curves(state.history, state.out_dir / "training_curves.png")

    def save_if_new(self, state: TrainState) -> None:
        """Checkpoint the current step unless that is done already."""
        if state.last_checkpoint != checkpoint_path(state.out_dir / "checkpoints", state.step):
            self.save(state)

    def save(self, state: TrainState) -> None:
        """Every rank takes part (the RNG states are gathered); rank 0 writes."""
        directory = state.out_dir / "checkpoints"
        path = checkpoint_path(directory, state.step)
        contents = training_state(state, self.callbacks) | {"metadata": self.metadata}
        if is_main_process():
            save_state(path, contents)
            prune_checkpoints(directory, state.config.keep_checkpoints)
            write_json(state.out_dir / "history.json", state.history)
        barrier()  # nobody moves on, or reads the checkpoint, before it exists
        state.last_checkpoint = path

    def run_description(self, state: TrainState) -> dict[str, Any]:
        return {
            "train": dataclasses.asdict(state.config),
            "versions": versions(),
            "steps_done": state.step,
            **self.metadata,
        }


def training_state(state: TrainState, callbacks: list[Callback]) -> dict[str, Any]:
    """Everything needed to continue the run bit-identically."""
    return {
        "step": state.step,
        "stop_reason": state.stop_reason,
        "model": state.model.state_dict(),
        "objective": state.objective.state_dict(),
        "optimizer": state.optimizer.state_dict(),
        "scheduler": state.scheduler.state_dict(),
        "rng": gather_objects(capture_rng(state.data_generator)),  # one entry per rank
        "history": state.history,
        "callbacks": {type(cb).__name__: cb.state_dict() for cb in callbacks},
        "config": dataclasses.asdict(state.config),
        "versions": versions(),
    }

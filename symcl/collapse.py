"""Collapse detection: stop when uniformity degrades, even while the loss keeps improving."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

from torch import Tensor

from symcl.checks import check_integer


@dataclass(frozen=True)
class Evaluation:
    """One periodic evaluation. Lower is better for all three numbers."""

    step: int
    uniformity: float
    alignment: float | None = None
    loss: float | None = None


class CollapseMonitor:
    """Early-stopping rule on uniformity (Wang & Isola 2020).

    A run is stopped once uniformity has been worse than its best value by more than
    ``max(min_delta, relative_delta * |best|)`` for ``patience`` consecutive evaluations.
    The relative part keeps the rule off the normal give-and-take of alignment and
    uniformity: a healthy run often gives back a few per cent of its best uniformity
    while alignment tightens (the toy set-up of the tests does), where a collapsing one
    heads for 0. The loss and alignment are
    not trusted on their own: a collapsing encoder keeps improving both while its
    embeddings crowd together. When they improved during the degradation the stop is
    reported as a collapse.

    Attributes (set by :meth:`update`)
    ----------------------------------
    best_ : Evaluation or None
        The evaluation with the lowest uniformity so far; restore its weights.
    should_stop_ : bool
    collapsed_ : bool
        The stop happened while loss or alignment were still improving.
    reason_ : str
        Why the run stopped, in words; empty while it runs.
    """

    def __init__(self, patience: int = 3, min_delta: float = 1e-3, relative_delta: float = 0.1):
        patience = check_integer("CollapseMonitor", "patience", patience, 1)
        for name, value in (("min_delta", min_delta), ("relative_delta", relative_delta)):
            if isinstance(value, bool) or not (isinstance(value, numbers.Real) and math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"The '{name}' parameter of CollapseMonitor must be finite and >= 0. Got {value!r} instead."
                )
        self.patience = patience
        self.min_delta = float(min_delta)
        self.relative_delta = float(relative_delta)
        self._reset()

    def _reset(self) -> None:
        self.history_: list[Evaluation] = []
        self.best_: Evaluation | None = None
        self.bad_evaluations_ = 0
        self.should_stop_ = False
        self.collapsed_ = False
        self.reason_ = ""

    def update(
        self, step: int, *, uniformity: float, alignment: float | None = None, loss: float | None = None
    ) -> bool:
        """Record an evaluation; return True when training should stop."""
        # plain floats: a tensor would keep its autograd graph alive and break the JSON state
        uniformity, alignment, loss = _as_float(uniformity), _as_float(alignment), _as_float(loss)
        if not math.isfinite(uniformity):
            raise ValueError(
                f"The 'uniformity' passed to CollapseMonitor.update must be finite. Got {uniformity!r} at step {step}."
            )
        current = Evaluation(step, uniformity, alignment, loss)
        self.history_.append(current)
        if self.best_ is None or current.uniformity < self.best_.uniformity - self.min_delta:
            self.best_ = current
            self.bad_evaluations_ = 0
        elif current.uniformity > self.best_.uniformity + max(
            self.min_delta, self.relative_delta * abs(self.best_.uniformity)
        ):
            self.bad_evaluations_ += 1
        else:
            self.bad_evaluations_ = 0
        if self.bad_evaluations_ >= self.patience and not self.should_stop_:
            self.should_stop_ = True
            self._explain(current)
        return self.should_stop_

    def _explain(self, current: Evaluation) -> None:
        best = self.best_
        improved = [
            f"{name} improved from {before:.4g} to {after:.4g}"
            for name, before, after in (
                ("alignment", best.alignment, current.alignment),
                ("loss", best.loss, current.loss),
            )
            if before is not None and after is not None and after < before
        ]
        self.collapsed_ = bool(improved)
        self.reason_ = (
            f"uniformity degraded from {best.uniformity:.4g} (step {best.step}) to "
            f"{current.uniformity:.4g} (step {current.step}) for {self.patience} evaluations"
        )
        if improved:
            self.reason_ += " while " + " and ".join(improved) + ": the embeddings are collapsing"

    def state_dict(self) -> dict:
        """JSON-serialisable state, for checkpoints."""
        return {
            "history": [vars(e) for e in self.history_],
            "patience": self.patience,
            "min_delta": self.min_delta,
            "relative_delta": self.relative_delta,
        }

    def load_state_dict(self, state: dict) -> None:
        """Replay a saved history, restoring every derived attribute."""
        self.patience, self.min_delta = state["patience"], state["min_delta"]
        self.relative_delta = state.get("relative_delta", 0.0)  # checkpoints from before it existed used none
        self._reset()
        for e in state["history"]:
            self.update(e["step"], uniformity=e["uniformity"], alignment=e["alignment"], loss=e["loss"])


def _as_float(value: float | Tensor | None) -> float | None:
    if isinstance(value, Tensor):
        value = value.detach()  # float() of a tensor that requires grad warns
    return None if value is None else float(value)

"""Objectives as the engine sees them: modules mapping (z1, z2, batch) to a scalar loss."""

from __future__ import annotations

from typing import Protocol

from torch import Tensor, nn

from symcl.negative_queue import NegativeQueue
from symcl.objectives import InfoNCE, LearnableTemperature
from symcl.views import ViewBatch


class Objective(Protocol):
    """Any ``nn.Module`` with this call signature can be trained by :func:`fit`.

    Its parameters (a learnable temperature) are optimised with the model's, and its
    buffers (a negatives queue) are saved in checkpoints. An optional
    ``current_temperature() -> float`` is logged in the history.
    """

    def __call__(self, z1: Tensor, z2: Tensor, batch: ViewBatch) -> Tensor: ...


class ContrastiveObjective(nn.Module):
    """:class:`symcl.InfoNCE` fed with the exclusion mask and groups of each batch."""

    def __init__(self, loss: InfoNCE):
        super().__init__()
        self.loss = loss

    def forward(self, z1: Tensor, z2: Tensor, batch: ViewBatch) -> Tensor:
        return self.loss(
            z1,
            z2,
            exclude=batch.exclude,
            groups=batch.groups,
            locations=batch.locations,
            exclusion_distance=batch.exclusion_distance,
        )

    def current_temperature(self) -> float:
        return self.loss.current_temperature()


def contrastive_objective(
    dim: int,
    *,
    temperature: float = 0.1,
    learnable_temperature: bool = False,
    queue_size: int = 0,
    queue_max_age: int | None = None,
    hard_negative_beta: float = 0.0,
    debias_tau_plus: float = 0.0,
    chunk_size: int | None = None,
) -> ContrastiveObjective:
    """Build an InfoNCE objective for embeddings of dimension ``dim``.

    ``learnable_temperature`` starts a :class:`LearnableTemperature` at ``temperature``;
    ``queue_size > 0`` adds a :class:`NegativeQueue` of that many entries.
    """
    tau = LearnableTemperature(temperature) if learnable_temperature else temperature
    queue = NegativeQueue(queue_size, dim, max_age=queue_max_age) if queue_size > 0 else None
    return ContrastiveObjective(
        InfoNCE(
            tau,
            queue=queue,
            hard_negative_beta=hard_negative_beta,
            debias_tau_plus=debias_tau_plus,
            chunk_size=chunk_size,
        )
    )

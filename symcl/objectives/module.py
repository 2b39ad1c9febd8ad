"""InfoNCE as a module: the loss plus its state (learnable temperature, negatives queue)."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from symcl.distributed import block_diagonal, gather, gather_with_grad, rank, world_size
from symcl.negative_queue import NegativeQueue
from symcl.objectives.info_nce import masked_info_nce
from symcl.objectives.temperature import LearnableTemperature
from symcl.views import nearby_mask


class InfoNCE(nn.Module):
    """Stateful wrapper of :func:`symcl.info_nce` for training loops.

    In training mode each call computes the loss against the current queue bank
    (excluding same-group entries when ``groups`` is given) and then enqueues the
    detached ``z2`` keys. In eval mode the queue is read but never written.

    Inside a torch.distributed process group the negatives are global: the embeddings
    of all ranks are gathered with gradients, ``exclude`` masks are placed on the
    block diagonal of the global mask (pairs on different ranks are never excluded),
    and ``groups`` ids are gathered as they are. Each rank sums the loss of its own
    anchors and returns it times the world size, so that DDP's gradient averaging gives
    exactly the full-batch gradient and the mean over ranks is the full-batch loss. The
    queue is filled with the gathered keys, so it is identical on every rank.

    Parameters
    ----------
    temperature : float or LearnableTemperature
        Fixed or learnable softmax temperature.
    queue : NegativeQueue, optional
        Bank of extra negatives.
    hard_negative_beta, debias_tau_plus, chunk_size
        As in :func:`symcl.info_nce`.
    """

    def __init__(
        self,
        temperature: float | LearnableTemperature = 0.1,
        *,
        queue: NegativeQueue | None = None,
        hard_negative_beta: float = 0.0,
        debias_tau_plus: float = 0.0,
        chunk_size: int | None = None,
    ):
        super().__init__()
        self.temperature = temperature
        self.queue = queue
        self.hard_negative_beta = hard_negative_beta
        self.debias_tau_plus = debias_tau_plus
        self.chunk_size = chunk_size

    def current_temperature(self) -> float:
        """The temperature as a float, for logging."""
        t = self.temperature
        return float(t().detach()) if isinstance(t, nn.Module) else float(t)

    def forward(
        self,
        z1: Tensor,
        z2: Tensor,
        *,
        exclude: Tensor | None = None,
        groups: Tensor | None = None,
        locations: Tensor | None = None,
        exclusion_distance: int = 0,
    ) -> Tensor:
        """Loss of a batch. Shapes: z1, z2 (N, d); exclude (N, N) bool; groups (N,) int.

        ``locations`` (N, 2) int (source, position) adds :func:`symcl.views.nearby_mask`
        with ``exclusion_distance`` to ``exclude``, over the gathered batch of all ranks,
        and to the queue's entries (:meth:`NegativeQueue.nearby_mask`).
        """
        anchor_rows, scale = None, 1
        if world_size() > 1:
            n, rows = z1.shape[0], world_size() * z1.shape[0]
            first = rank() * n
            anchor_rows, scale = ((first, first + n), (rows + first, rows + first + n)), world_size()
            z1, z2 = gather_with_grad(z1), gather_with_grad(z2)
            exclude = None if exclude is None else block_diagonal(exclude)
            groups = None if groups is None else gather(groups)
            locations = None if locations is None else gather(locations)
        if locations is not None and exclusion_distance > 0:
            nearby = nearby_mask(locations, exclusion_distance)
            exclude = nearby if exclude is None else exclude | nearby
        negatives = negatives_exclude = None
        if self.queue is not None and len(self.queue) > 0:
            negatives = self.queue.negatives()
            if groups is not None:
                negatives_exclude = self.queue.exclusion_mask(groups)
            if locations is not None and exclusion_distance > 0:
                nearby = self.queue.nearby_mask(locations, exclusion_distance)
                negatives_exclude = nearby if negatives_exclude is None else negatives_exclude | nearby
        loss = (
            masked_info_nce(
                z1,
                z2,
                temperature=self.temperature,
                negatives=negatives,
                exclude=exclude,
                groups=groups,
                hard_negative_beta=self.hard_negative_beta,
                debias_tau_plus=self.debias_tau_plus,
                chunk_size=self.chunk_size,
                negatives_exclude=negatives_exclude,
                anchor_rows=anchor_rows,
            )
            * scale
        )
        # After the loss: the old bank is used first. A non-finite loss enqueues nothing, so the
        # training loop, not the queue's check of its keys, reports the NaN step.
        if self.queue is not None and self.training and torch.isfinite(loss):
            self.queue.enqueue(z2.detach(), groups, locations)
        return loss

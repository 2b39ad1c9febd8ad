"""Gradient averaging for parameters that DistributedDataParallel does not own."""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.distributed as dist
from torch import nn

from symcl.distributed.context import world_size


def average_gradients(parameters: Iterable[nn.Parameter]) -> None:
    """Average the ``.grad`` of ``parameters`` over ranks, in place, as DDP does for its module.

    The training loop wraps only the model in DDP. The objective's own parameters (a
    projection head, a learnable temperature) go through this instead; without it, every
    rank would step its copy with its own share of the gradient and the copies would
    drift apart. Every rank must pass the same parameters with gradients; a no-op in one
    process.
    """
    if world_size() == 1:
        return
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])  # one collective for all of them
    dist.all_reduce(flat)
    flat /= world_size()
    offset = 0
    for grad in grads:
        grad.copy_(flat[offset : offset + grad.numel()].view_as(grad))
        offset += grad.numel()

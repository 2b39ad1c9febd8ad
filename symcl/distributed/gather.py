"""All-gather across ranks, with and without gradients.

:func:`gather_with_grad` is the differentiable one: every rank receives the whole
global batch, and gradients flow back to the rank that produced each row. Forward is an
all-gather; backward all-reduces (sums) the incoming gradient over ranks, because every
rank's loss depends on every row, and keeps this rank's slice.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import Tensor

from symcl.distributed.context import world_size


class _GatherWithGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.rank = dist.get_rank()
        ctx.rows = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size())]
        dist.all_gather(parts, x.contiguous())
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad[ctx.rank * ctx.rows : (ctx.rank + 1) * ctx.rows]


def gather_with_grad(x: Tensor) -> Tensor:
    """Concatenate ``x`` from all ranks in rank order, keeping gradients.

    Shape: (n, ...) on each rank -> (world_size * n, ...). Every rank must pass the
    same n (a distributed sampler pads the last batch for this reason).
    """
    if world_size() == 1:
        return x
    _check_equal_rows(x)
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def gather(x: Tensor) -> Tensor:
    """Concatenate ``x`` from all ranks in rank order, without gradients."""
    if world_size() == 1:
        return x
    _check_equal_rows(x)
    parts = [torch.empty_like(x) for _ in range(world_size())]
    dist.all_gather(parts, x.contiguous())
    return torch.cat(parts)


def block_diagonal(mask: Tensor) -> Tensor:
    """Gather every rank's (n, n) mask into the (W·n, W·n) block-diagonal global mask.

    Rank r's mask lands at rows and columns ``r·n : (r+1)·n``, i.e. offset by the rank's
    place in the gathered batch. Pairs on different ranks stay unmasked.
    """
    if world_size() == 1:
        return mask
    blocks = gather(mask.to(torch.uint8)).view(world_size(), *mask.shape)
    return torch.block_diag(*blocks).bool()


def _check_equal_rows(x: Tensor) -> None:
    rows = torch.tensor([x.shape[0]], device=x.device)
    every = [torch.empty_like(rows) for _ in range(world_size())]
    dist.all_gather(every, rows)
    if len({int(r) for r in every}) != 1:
        raise ValueError(f"All ranks must gather the same number of rows. Got {[int(r) for r in every]}.")

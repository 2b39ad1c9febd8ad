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
    _check_same_layout(x)
    return _GatherWithGrad.apply(x)


@torch.no_grad()
def gather(x: Tensor) -> Tensor:
    """Concatenate ``x`` from all ranks in rank order, without gradients."""
    if world_size() == 1:
        return x
    _check_same_layout(x)
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


_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8, torch.int16,
           torch.int32, torch.int64, torch.bool)  # fmt: skip
_MAX_DIMS = 8


def _check_same_layout(x: Tensor) -> None:
    """Every rank must send one shape and dtype; otherwise gloo mixes up the bytes or aborts.

    Each rank shares a fixed-size description (number of rows, the other sizes padded to
    ``_MAX_DIMS``, the dtype), so every rank sees every mismatch and raises the same error.
    """
    if not 1 <= x.dim() <= _MAX_DIMS:
        raise ValueError(f"gather takes tensors of 1 to {_MAX_DIMS} dimensions. Got shape {tuple(x.shape)}.")
    dtype = _DTYPES.index(x.dtype) if x.dtype in _DTYPES else len(_DTYPES)
    described = torch.tensor([*x.shape, *([-1] * (_MAX_DIMS - x.dim())), dtype], device=x.device)
    every = [torch.empty_like(described) for _ in range(world_size())]
    dist.all_gather(every, described)
    rows = [int(d[0]) for d in every]
    if len(set(rows)) != 1:
        raise ValueError(f"All ranks must gather the same number of rows. Got {rows}.")
    if len({tuple(d.tolist()) for d in every}) != 1:
        shapes = [tuple(v for v in d[:-1].tolist() if v >= 0) for d in every]
        names = [str(_DTYPES[i]) if i < len(_DTYPES) else "another dtype" for i in (int(d[-1]) for d in every)]
        raise ValueError(f"All ranks must gather tensors of one shape and dtype. Got shapes {shapes}, dtypes {names}.")

"""Distributed training on torch.distributed (DDP, torchrun) without the classic leaks.

- global negatives: :func:`gather_with_grad` gives every anchor the whole global batch;
- synchronised batch norm on CPU (gloo) and CUDA: :func:`convert_sync_batchnorm`;
- rank helpers that are no-ops in a single process.
"""

from symcl.distributed.batchnorm import SyncBatchNorm, convert_sync_batchnorm
from symcl.distributed.context import (
    barrier,
    exit_without_finalising,
    gather_objects,
    init_distributed,
    is_distributed,
    is_main_process,
    launched_by_torchrun,
    rank,
    world_size,
)
from symcl.distributed.gather import block_diagonal, gather, gather_with_grad
from symcl.distributed.gradients import average_gradients

__all__ = [
    "SyncBatchNorm",
    "average_gradients",
    "barrier",
    "block_diagonal",
    "convert_sync_batchnorm",
    "exit_without_finalising",
    "gather",
    "gather_objects",
    "gather_with_grad",
    "init_distributed",
    "is_distributed",
    "is_main_process",
    "launched_by_torchrun",
    "rank",
    "world_size",
]

"""Who am I in a torch.distributed job? Thin helpers that also work without one."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised process group (even of one process)."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def is_main_process() -> bool:
    """Rank 0 writes files; the others only compute."""
    return rank() == 0


def launched_by_torchrun() -> bool:
    """torchrun (torch.distributed.run) sets RANK and WORLD_SIZE for every worker."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_distributed(device: str = "cpu") -> bool:
    """Join the process group torchrun prepared: gloo on CPU, nccl on CUDA.

    Returns True when a group is (now) initialised. Outside torchrun it does nothing,
    so the same entry point runs single-process.
    """
    if is_distributed():
        return True
    if not launched_by_torchrun():
        return False
    if device.startswith("cuda"):
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    return True


def barrier() -> None:
    if is_distributed():
        dist.barrier()

"""Who am I in a torch.distributed job? Thin helpers that also work without one."""

from __future__ import annotations

import os
import sys
from datetime import timedelta
from typing import Any, NoReturn

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
    backend = "nccl" if device.startswith("cuda") else "gloo"
    if backend == "nccl":
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    if restart == 0:
        dist.init_process_group(backend)
        return True
    # After a restart, torchrun's store still holds the failed workers' addresses under
    # the default keys; a prefix per restart keeps the new workers from dialling them.
    me, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"],
        int(os.environ["MASTER_PORT"]),
        size,
        is_master=me == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True",
        timeout=timedelta(minutes=10),
    )
    dist.init_process_group(
        backend, store=dist.PrefixStore(f"symcl/restart-{restart}", store), rank=me, world_size=size
    )
    return True


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def gather_objects(value: Any) -> list[Any]:
    """``[value of rank 0, value of rank 1, ...]`` on every rank; ``[value]`` alone.

    Used for small states such as RNG states. The transport pickles, which is safe here:
    the objects come from this job's own processes, never from a file.
    """
    if not is_distributed():
        return [value]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, value)
    return gathered


def exit_without_finalising(status: int) -> NoReturn:
    """End a process that took part in a process group, once its work is written.

    A gloo worker thread can still be releasing the tensors of a last collective while
    the main thread finalises Python; the thread then dies taking the GIL and the process
    aborts with "terminate called without an active exception" (SIGABRT, seen about once
    in 50 runs on a busy CPU), which turns a finished run into a failed one. Skipping the
    finalisation avoids the race; every output here is written and closed by then.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)

"""Worker processes and progress bars shared by the alignment routes."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

from Bio.Align import PairwiseAligner
from tqdm.auto import tqdm

# What every worker process of an alignment pool holds: the sequences and the aligner, sent once.
_WORKER_STATE: dict[str, object] = {}


def process_context() -> multiprocessing.context.BaseContext:
    """Fork on Linux, spawn elsewhere.

    Forked workers start in milliseconds and need no ``if __name__ == "__main__"`` guard
    in the calling script; a spawned worker re-imports symcl (torch included, seconds).
    The workers only run Biopython's aligner and numpy, never a lock-holding library of
    the parent, so forking a parent that has threads is safe here.
    """
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class ProgressBar(tqdm):
    """tqdm without its monitor thread, so these routes start no thread of their own; shown after a second."""

    monitor_interval = 0

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("delay", 1.0)  # a family aligned in a blink prints no bar
        super().__init__(*args, **kwargs)


def alignment_pool(n_workers: int, sequences: Sequence[str], aligner: PairwiseAligner) -> ProcessPoolExecutor:
    """Worker processes that each hold ``sequences`` and ``aligner`` (read with :func:`worker_inputs`)."""
    return ProcessPoolExecutor(
        max_workers=n_workers,
        mp_context=process_context(),
        initializer=_init_worker,
        initargs=(list(sequences), aligner),
    )


def worker_inputs() -> tuple[list[str], PairwiseAligner]:
    """In a worker of :func:`alignment_pool`: its sequences and aligner."""
    return _WORKER_STATE["sequences"], _WORKER_STATE["aligner"]


def _init_worker(sequences: list[str], aligner: PairwiseAligner) -> None:
    _WORKER_STATE["sequences"] = sequences
    _WORKER_STATE["aligner"] = aligner

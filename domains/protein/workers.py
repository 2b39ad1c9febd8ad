"""Worker processes and progress bars shared by the alignment routes."""

from __future__ import annotations

import multiprocessing
import sys

from tqdm.auto import tqdm


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
    """tqdm without its monitor thread, so these routes start no thread of their own."""

    monitor_interval = 0

"""Start a command under torchrun, PyTorch's own launcher (torch.distributed.run)."""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys

# The worker command travels in the environment, not on torchrun's command line, where
# torchrun's own parser would take options such as --max-restarts or -t for itself.
_WORKER_ENV = "SYMCL_TORCHRUN_WORKER"


def relaunch_with_torchrun(module: str, argv: list[str], *, nproc: int, max_restarts: int = 0) -> int:
    """Run ``python -m module argv...`` as ``nproc`` torchrun workers on this machine.

    The workers see RANK/WORLD_SIZE and join the process group themselves. With
    ``max_restarts``, torchrun restarts all workers when one dies, and they resume from
    the last checkpoint (see :func:`restarted_by_torchrun`). Returns torchrun's exit code.
    """
    command = [
        sys.executable, "-m", "torch.distributed.run", "--standalone",
        f"--nproc-per-node={nproc}", f"--max-restarts={max_restarts}",
        "-m", "symcl.distributed.launch",
    ]  # fmt: skip
    return subprocess.call(command, env={**os.environ, _WORKER_ENV: json.dumps([module, *argv])})


def restarted_by_torchrun() -> bool:
    """True in workers that torchrun restarted after a failure: they must resume."""
    return int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")) > 0


def _run_worker() -> None:
    """Entry point of each torchrun worker: run the original command in this process."""
    module, *argv = json.loads(os.environ[_WORKER_ENV])
    sys.argv = [module, *argv]
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    _run_worker()

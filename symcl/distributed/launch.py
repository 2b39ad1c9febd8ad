"""Start a command under torchrun, PyTorch's own launcher (torch.distributed.run)."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from symcl.errors import Terminated

# The worker command travels in the environment, not on torchrun's command line, where
# torchrun's own parser would take options such as --max-restarts or -t for itself.
_WORKER_ENV = "SYMCL_TORCHRUN_WORKER"
# Where the workers leave their error messages, for the parent to print each once.
_ERROR_DIR_ENV = "SYMCL_TORCHRUN_ERRORS"


def relaunch_with_torchrun(module: str, argv: list[str], *, nproc: int, max_restarts: int = 0) -> int:
    """Run ``python -m module argv...`` as ``nproc`` torchrun workers on this machine.

    The workers see RANK/WORLD_SIZE and join the process group themselves. With
    ``max_restarts``, torchrun restarts all workers when one dies, and they resume from
    the last checkpoint (see :func:`restarted_by_torchrun`). Each worker runs one
    thread unless OMP_NUM_THREADS says otherwise (torchrun's default). Returns the exit
    status of the first worker that failed (2 for a user error), 0 when all succeeded;
    after a failure the workers' error messages are printed once each, not once per
    worker.
    """
    command = [
        sys.executable, "-m", "symcl.distributed.agent", "--standalone",
        f"--nproc-per-node={nproc}", f"--max-restarts={max_restarts}",
        "-m", "symcl.distributed.launch",
    ]  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="symcl-errors-") as errors:
        env = {**os.environ, _WORKER_ENV: json.dumps([module, *argv]), _ERROR_DIR_ENV: errors}
        env.setdefault("OMP_NUM_THREADS", "1")  # what torchrun sets, without its banner
        status = _supervise(subprocess.Popen(command, env=env))
        # A restarted run that succeeded leaves its first attempt's messages unprinted.
        for message in (
            [] if status == 0 else dict.fromkeys(path.read_text() for path in sorted(Path(errors).iterdir()))
        ):
            print(f"symcl: error: {message}", file=sys.stderr)
    return status


def _supervise(agent: subprocess.Popen) -> int:
    """Wait for the agent; when this process is stopped, the agent stops its workers first.

    Ctrl-C reaches the agent and the workers itself (one process group); a SIGTERM
    sent to this process alone is passed on. Either way the run is over only when the
    agent is, so no worker keeps training unsupervised.
    """
    try:
        return agent.wait()
    except Terminated:
        agent.send_signal(signal.SIGTERM)
        agent.wait()
        raise
    except KeyboardInterrupt:
        agent.wait()
        raise


def in_relaunched_worker() -> bool:
    """True in a worker started by :func:`relaunch_with_torchrun`, whose parent reports for it."""
    errors = os.environ.get(_ERROR_DIR_ENV)
    return bool(errors) and "RANK" in os.environ and Path(errors).is_dir()


def report_error(message: str) -> None:
    """Print ``symcl: error: message``; in a worker of :func:`relaunch_with_torchrun`, hand it to the parent.

    Every worker meets the same bad input, so the parent prints each message once.
    """
    if in_relaunched_worker():
        (Path(os.environ[_ERROR_DIR_ENV]) / _error_file_name(int(os.environ["RANK"]))).write_text(message)
    else:
        print(f"symcl: error: {message}", file=sys.stderr)


def another_rank_reported() -> bool:
    """True in a worker of :func:`relaunch_with_torchrun` after another worker reported an error.

    That worker writes its message before it exits, so when its exit breaks a collective
    here, the message is already there: the parent prints it, and this worker's own
    "connection closed by peer" is only the consequence.
    """
    if not in_relaunched_worker():
        return False
    own = _error_file_name(int(os.environ["RANK"]))  # in_relaunched_worker checked RANK
    return any(
        path.name.startswith(_attempt_prefix()) and path.name != own
        for path in Path(os.environ[_ERROR_DIR_ENV]).iterdir()
    )


def _error_file_name(rank: int) -> str:
    return f"{_attempt_prefix()}{rank:06d}.txt"


def _attempt_prefix() -> str:
    # Per attempt: after a torchrun restart, an earlier attempt's message explains nothing new.
    return f"attempt-{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}-rank-"


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

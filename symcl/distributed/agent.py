"""torchrun's agent, with a failed worker reported in one line instead of a traceback.

``python -m symcl.distributed.agent TORCHRUN_ARGS...`` runs ``torch.distributed.run``
in this process. When a worker fails, plain torchrun raises ``ChildFailedError`` and
prints its traceback and a table of every rank, under the worker's own message; here
the worker's message (see :func:`symcl.distributed.launch.report_error`) is printed
once by the parent, and this agent exits with the failed worker's status: 2 for a user
error, as a single-process run would.
"""

from __future__ import annotations

import logging
import sys


def main(argv: list[str]) -> int:
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    _quiet_elastic_loggers()
    try:
        run(parse_args(argv))
    except ChildFailedError as failed:
        rank, failure = failed.get_first_failure()  # by timestamp, in whole seconds
        if any(other.exitcode == 2 for other in failed.failures.values()):
            return 2  # a user error on one rank; the others failed because it left (see launch.another_rank_reported)
        if failure.exitcode < 0:  # killed by a signal: nothing printed its cause
            print(f"symcl: error: worker rank {rank} was killed by {failure.signal_name()}", file=sys.stderr)
            return 1
        return failure.exitcode
    except SignalException as stopped:  # Ctrl-C or SIGTERM: the workers were stopped; the parent says so
        return 128 + stopped.sigval
    return 0


def _quiet_elastic_loggers() -> None:
    """Keep torchrun's warnings about stopping the other workers off the terminal.

    Each torch.distributed.elastic module sets its own logger's level, so the parent
    logger's level does not reach them.
    """
    for name, logger in list(logging.Logger.manager.loggerDict.items()):
        if name.startswith("torch.distributed") and isinstance(logger, logging.Logger):
            logger.setLevel(logging.CRITICAL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

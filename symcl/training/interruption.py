"""Ctrl-C and SIGTERM during training: finish the step, checkpoint it, then stop."""

from __future__ import annotations

import os
import signal
import threading
from typing import Any


class StopRequest:
    """While active, SIGINT and SIGTERM only ask the training loop to stop after the current step.

    The loop checks :attr:`received` between steps, writes a checkpoint of the completed
    step and calls :meth:`stop`, which hands the signal to the handler that was there
    before (``KeyboardInterrupt`` for Ctrl-C, the command line's exit for SIGTERM). A
    second signal stops at once. Handlers are installed only from the main thread (the
    only one Python lets install them) and only over ones not set to ignore the signal;
    leaving the context puts the previous handlers back.

    Parameters
    ----------
    enabled : bool
        False: a no-op context (no output folder, or several processes, whose ranks could
        not agree on the step to stop at).
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.received: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> StopRequest:
        if self.enabled and threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                previous = signal.getsignal(signum)
                if previous in (signal.SIG_IGN, None):  # ignored, or a handler Python did not install
                    continue
                self._previous[signum] = previous
                signal.signal(signum, self._request)
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._restore()

    def _restore(self) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def _request(self, signum: int, frame: object) -> None:
        if self.received is not None:  # a second Ctrl-C: stop now, without waiting for the step
            self.stop(signum, frame)
        self.received = signum

    def stop(self, signum: int | None = None, frame: object = None) -> None:
        """Put the previous handlers back and act on the signal as they would have."""
        signum = self.received if signum is None else signum
        self.received = None
        previous = self._previous.get(signum, signal.SIG_DFL)
        self._restore()
        if callable(previous):
            previous(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt
        else:  # SIGTERM's default action: the process ends with the signal's status
            os.kill(os.getpid(), signum)

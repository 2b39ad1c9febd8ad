"""Exceptions meant for the user, which the command line prints as one line."""


class UserInputError(ValueError):
    """A file, record or parameter given by the user is wrong. The CLI exits with status 2."""


class TrainingError(RuntimeError):
    """Training cannot go on, e.g. the loss became non-finite. The CLI exits with status 1."""


class Terminated(BaseException):
    """SIGTERM arrived (a scheduler's kill, or torchrun stopping its workers); unwinds like Ctrl-C."""

"""A stand-in for tqdm and symcl's ProgressBar that records every bar made: its total, whether it is shown, its count."""


def bar_recorder() -> tuple[type, list]:
    """A bar class to monkeypatch in, and the list of the bars it makes."""
    bars = []

    class Recorder:
        def __init__(self, *args, total=None, disable=False, **kwargs):
            self.total, self.disable, self.n, self.updates, self.closed = total, disable, 0, [], False
            bars.append(self)

        def update(self, n=1):
            self.n += n
            self.updates.append(n)

        def close(self):
            self.closed = True

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.closed = True
            return False

    return Recorder, bars

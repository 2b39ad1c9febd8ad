"""Parameter checks shared by the core and the domains."""

from __future__ import annotations

import operator
from typing import Any


def as_integer(value: Any) -> int | None:
    """``value`` as a Python int when it is an integer of any kind, else None.

    Anything ``operator.index`` takes counts (numpy integers, 0-dim integer tensors),
    but not a bool, though Python calls it one: ``steps=True`` is a mistake. The
    result is a plain int, so it can go into JSON (config.json, checkpoints).
    """
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def check_integer(owner: str, name: str, value: Any, minimum: int, *, allow_none: bool = False) -> int | None:
    """``value`` as a Python int >= ``minimum`` (None passes when ``allow_none``).

    Raises
    ------
    ValueError
        "The '<name>' parameter of <owner> must be [None or ]an integer >= <minimum>. Got <value> instead."
    """
    if value is None and allow_none:
        return None
    number = as_integer(value)
    if number is None or number < minimum:
        rule = f"{'None or ' if allow_none else ''}an integer >= {minimum}"
        raise ValueError(f"The '{name}' parameter of {owner} must be {rule}. Got {value!r} instead.")
    return number

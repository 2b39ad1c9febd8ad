"""What a view generator hands to the training engine."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Protocol

import torch
from torch import Tensor


@dataclass(frozen=True)
class ViewBatch:
    """Two batched views of the same N samples, plus what the objective needs.

    Attributes
    ----------
    view1, view2 : Tensor or tuple of Tensors
        Model inputs; ``view1[i]`` and ``view2[i]`` come from sample i.
    exclude : Tensor, optional
        (N, N) bool false-negative mask for :func:`symcl.info_nce`.
    groups : Tensor, optional
        (N,) integer ids; same-id samples are positives (or same-site patches).
    target : Tensor, optional
        (N,) regression target, e.g. an evolutionary distance between the two views.
    labels : Tensor, optional
        (N,) ground-truth labels, used by evaluation only, never by the objective.
    locations : Tensor, optional
        (N, 2) int64 (source, position) of each sample, e.g. (record, window start).
        Samples of one source whose positions differ by less than ``exclusion_distance``
        are not each other's negatives (:func:`nearby_mask`). Unlike ``exclude``, which
        only covers the pairs of one rank's share, these are gathered in distributed
        training, so the rule also holds between ranks.
    exclusion_distance : int
        See ``locations``.
    """

    view1: Any
    view2: Any
    exclude: Tensor | None = None
    groups: Tensor | None = None
    target: Tensor | None = None
    labels: Tensor | None = None
    locations: Tensor | None = None
    exclusion_distance: int = 0

    def to(self, device: torch.device | str) -> ViewBatch:
        """A copy with every tensor moved to ``device``."""
        return replace(self, **{f.name: _to(getattr(self, f.name), device) for f in fields(self)})


def nearby_mask(locations: Tensor, distance: int) -> Tensor:
    """(N, N) bool: pairs of one source closer than ``distance``, False on the diagonal.

    ``locations`` is (N, 2) int64 (source, position), as in :attr:`ViewBatch.locations`.
    """
    return nearby_pairs(locations, locations, distance).fill_diagonal_(False)


def nearby_pairs(here: Tensor, there: Tensor, distance: int) -> Tensor:
    """(N, M) bool: ``here[i]`` and ``there[j]`` (source, position) share a source and are closer than ``distance``."""
    same_source = here[:, 0, None] == there[None, :, 0]
    return same_source & ((here[:, 1, None] - there[None, :, 1]).abs() < distance)


class ViewGenerator(Protocol):
    """Draws batches of two views. All randomness comes from ``generator``.

    The engine owns ``generator`` and saves its state in checkpoints, so a resumed run
    draws exactly the batches the uninterrupted run would have drawn.
    """

    def sample(self, batch_size: int, generator: torch.Generator) -> ViewBatch: ...


def _to(value: Any, device: torch.device | str) -> Any:
    if isinstance(value, Tensor):
        return value.to(device)
    if isinstance(value, tuple):
        return tuple(_to(v, device) for v in value)
    return value

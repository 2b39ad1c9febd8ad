"""A ring buffer of past embeddings used as extra negatives (MoCo, He et al. 2020)."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from symcl.checks import check_integer
from symcl.views import nearby_pairs


class NegativeQueue(nn.Module):
    """Fixed-size FIFO bank of negatives, with entry ages and optional group ids.

    Everything lives in registered buffers, so the queue moves with ``.to(device)`` and
    is saved in a ``state_dict`` (checkpoints resume with the same bank).

    Order of use in a training step: compute the loss with the *current* bank, then
    :meth:`enqueue` the new keys. Enqueueing first would put each sample's own key in
    its denominator as a negative.

    Ages count :meth:`enqueue` calls: entries of the latest call have age 0, and each
    further call adds 1. With ``max_age`` set, entries older than ``max_age`` are never
    returned (their encoder has drifted too far).

    Parameters
    ----------
    size : int
        Capacity in entries.
    dim : int
        Embedding dimension d.
    max_age : int, optional
        Largest usable age in steps; None keeps entries until they are overwritten.
    """

    def __init__(self, size: int, dim: int, max_age: int | None = None):
        super().__init__()
        self.size = size = check_integer("NegativeQueue", "size", size, 1)
        self.dim = dim = check_integer("NegativeQueue", "dim", dim, 1)
        self.max_age = check_integer("NegativeQueue", "max_age", max_age, 0, allow_none=True)
        self.register_buffer("keys", torch.zeros(size, dim))
        self.register_buffer("group_ids", torch.zeros(size, dtype=torch.long))
        self.register_buffer("has_group", torch.zeros(size, dtype=torch.bool))
        self.register_buffer("locations", torch.zeros(size, 2, dtype=torch.long))  # (source, position)
        self.register_buffer("has_location", torch.zeros(size, dtype=torch.bool))
        self.register_buffer("written_at", torch.full((size,), -1, dtype=torch.long))  # -1: empty
        self.register_buffer("step", torch.zeros((), dtype=torch.long))
        self.register_buffer("pointer", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: Tensor, groups: Tensor | None = None, locations: Tensor | None = None) -> None:
        """Add a batch of keys (detached), overwriting the oldest entries.

        Shapes: keys (B, d); groups (B,) integer ids, or None for ungrouped entries;
        locations (B, 2) integer (source, position), as in
        :attr:`symcl.views.ViewBatch.locations`, or None.
        """
        if not isinstance(keys, Tensor) or keys.ndim != 2 or keys.shape[1] != self.dim:
            shape = tuple(keys.shape) if isinstance(keys, Tensor) else type(keys).__name__
            raise ValueError(
                f"The 'keys' parameter of NegativeQueue.enqueue must have shape (B, {self.dim}). Got {shape} instead."
            )
        if groups is not None and (not isinstance(groups, Tensor) or groups.shape != keys.shape[:1]):
            shape = tuple(groups.shape) if isinstance(groups, Tensor) else type(groups).__name__
            raise ValueError(
                f"The 'groups' parameter of NegativeQueue.enqueue must have shape ({keys.shape[0]},). Got {shape} instead."
            )
        if not keys.is_floating_point():
            raise TypeError(
                f"The 'keys' parameter of NegativeQueue.enqueue must be floating point. Got {keys.dtype} instead."
            )
        if not torch.isfinite(keys).all():  # one NaN key would make every later loss that reads the bank NaN
            raise ValueError(
                "The 'keys' parameter of NegativeQueue.enqueue must be finite. It holds NaN or infinite values."
            )
        _check_integer_dtype("enqueue", "groups", groups)
        if locations is not None and (not isinstance(locations, Tensor) or locations.shape != (len(keys), 2)):
            shape = tuple(locations.shape) if isinstance(locations, Tensor) else type(locations).__name__
            raise ValueError(
                f"The 'locations' parameter of NegativeQueue.enqueue must have shape ({keys.shape[0]}, 2). Got {shape} "
                "instead."
            )
        _check_integer_dtype("enqueue", "locations", locations)
        keys = keys.detach()[-self.size :]
        self.step += 1
        slots = (self.pointer + torch.arange(len(keys), device=self.keys.device)) % self.size
        self.keys[slots] = keys.to(self.keys.dtype)
        self.written_at[slots] = self.step
        if groups is None:
            self.has_group[slots] = False
        else:
            self.group_ids[slots] = groups.detach()[-self.size :].to(torch.long)
            self.has_group[slots] = True
        if locations is None:
            self.has_location[slots] = False
        else:
            self.locations[slots] = locations.detach()[-self.size :].to(self.locations)
            self.has_location[slots] = True
        self.pointer.copy_((self.pointer + len(keys)) % self.size)

    def usable(self) -> Tensor:
        """Bool mask over slots: filled and not older than ``max_age``. Shape: (size,)."""
        filled = self.written_at >= 0
        if self.max_age is None:
            return filled
        return filled & (self.step - self.written_at <= self.max_age)

    def ages(self) -> Tensor:
        """Ages in steps of the usable entries, in the order of :meth:`negatives`. Shape: (M,)."""
        return (self.step - self.written_at)[self.usable()]

    def negatives(self) -> Tensor:
        """The usable keys. Shape: (M, d)."""
        return self.keys[self.usable()]

    def exclusion_mask(self, groups: Tensor | np.ndarray) -> Tensor:
        """Bool (N, M): entry k shares sample i's group, so it is a false negative for i.

        ``groups`` is (N,) integer ids, a tensor or a numpy array.

        Columns follow :meth:`negatives`. Entries enqueued without groups are never excluded.
        """
        groups = _group_vector(groups)
        usable = self.usable()
        same = groups.to(self.group_ids.device)[:, None] == self.group_ids[usable][None, :]
        return same & self.has_group[usable][None, :]

    def nearby_mask(self, locations: Tensor, distance: int) -> Tensor:
        """Bool (N, M): entry k comes from the same source as sample i, closer than ``distance``.

        The queue's side of :func:`symcl.views.nearby_mask`: an earlier window overlapping
        sample i's is no negative of it. Columns follow :meth:`negatives`; entries
        enqueued without locations are never excluded.
        """
        usable = self.usable()
        close = nearby_pairs(locations.to(self.locations.device), self.locations[usable], distance)
        return close & self.has_location[usable][None, :]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # Queues saved before entries had locations load as entries without one.
        for name in ("locations", "has_location"):
            state_dict.setdefault(prefix + name, torch.zeros_like(getattr(self, name)))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def __len__(self) -> int:
        return int(self.usable().sum())

    def extra_repr(self) -> str:
        return f"size={self.size}, dim={self.dim}, max_age={self.max_age}"


def _check_integer_dtype(method: str, name: str, value: Tensor | None) -> None:
    # float ids would be truncated (0.7 -> 0) and bools taken as ids 0 and 1, silently
    if value is not None and (value.dtype == torch.bool or value.is_floating_point() or value.is_complex()):
        raise TypeError(
            f"The '{name}' parameter of NegativeQueue.{method} must have an integer dtype. Got {value.dtype} instead."
        )


def _group_vector(groups) -> Tensor:
    """``groups`` of :meth:`NegativeQueue.exclusion_mask` as a checked 1-D integer tensor."""
    if isinstance(groups, np.ndarray):
        if groups.dtype.kind not in "iu":  # torch would take bool and float arrays as they are
            raise TypeError(
                f"The 'groups' parameter of NegativeQueue.exclusion_mask must have an integer dtype. Got {groups.dtype} instead."
            )
        groups = torch.from_numpy(groups)
    if not isinstance(groups, Tensor):
        raise TypeError(
            "The 'groups' parameter of NegativeQueue.exclusion_mask must be a torch.Tensor or numpy array. "
            f"Got {type(groups).__name__} instead."
        )
    _check_integer_dtype("exclusion_mask", "groups", groups)
    if groups.ndim != 1:  # an (N, k) tensor would broadcast to an (N, k, M) mask
        raise ValueError(
            f"The 'groups' parameter of NegativeQueue.exclusion_mask must have shape (N,). Got {tuple(groups.shape)} instead."
        )
    return groups

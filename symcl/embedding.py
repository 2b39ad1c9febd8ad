"""``embed``: batched inference that returns numpy embeddings in input order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, IterableDataset
from tqdm.auto import tqdm

from symcl.checks import check_integer
from symcl.distributed import gather, rank, world_size


def embed(
    model: nn.Module,
    data: Tensor | np.ndarray | Sequence | Iterable,
    *,
    batch_size: int = 256,
    progress: bool = True,
    device: str | torch.device | None = None,
    out: np.ndarray | None = None,
    distribute: bool = True,
) -> np.ndarray:
    """Embed ``data`` with ``model`` in eval mode, without gradients.

    Inside a torch.distributed process group, inputs of known length are split into
    one contiguous shard per rank and the results are gathered back in input order, so
    every rank returns the full array. Plain iterators are not split.

    Parameters
    ----------
    model : nn.Module
        Maps a batch to embeddings of shape (B, d).
    data
        One of:

        - a Tensor or ndarray of stacked samples, shape (N, ...), cut into batches;
        - a sequence of samples (a list or a ``torch.utils.data.Dataset`` with
          ``__len__``), stacked ``batch_size`` at a time;
        - any other iterable (a generator, a DataLoader): each item is already a batch
          and is embedded as it comes, so the input never has to fit in memory.

        A torch ``Dataset`` or ``DataLoader`` item that is a tuple or list is read as
        ``(input, target, ...)``, torch's convention (``TensorDataset(x, y)``): only its
        first element is embedded. Tuples from other sources (a list, a generator) go to
        the model whole, for models that take several tensors.
    batch_size : int
        Samples per forward pass, for the first two kinds of input.
    progress : bool
        Show a progress bar.
    device : optional
        Where to run; defaults to the device of the model's first parameter.
    out : ndarray, optional
        Preallocated (N, d) float32 array to fill, e.g. ``np.lib.format.open_memmap``,
        so that even the output need not fit in memory.
    distribute : bool
        In a process group, shard the input across ranks (see above).

    Returns
    -------
    ndarray
        float32, shape (N, d), row i for input sample i. Every submodule's train/eval
        mode is restored afterwards.
    """
    batch_size = check_integer("embed", "batch_size", batch_size, 1)
    _check_out(out)
    data = _inputs_only(data)
    first = next(model.parameters(), None)
    if device is None:
        device = first.device if first is not None else torch.device("cpu")
    # float inputs take the model's float type: numpy's float64 arrays meet float32 weights
    dtype = first.dtype if first is not None and first.is_floating_point() else None
    if distribute and world_size() > 1 and _known_length(data) >= world_size():
        return _embed_sharded(model, data, batch_size=batch_size, progress=progress, device=device, out=out)
    batches, total = _batches(data, batch_size)
    chunks: list[np.ndarray] = []
    filled = 0
    with evaluation_mode(model), torch.no_grad():
        # shown after a second, so that quick calls print no bar
        for batch in tqdm(batches, total=total, desc="embedding", unit="batch", disable=not progress, delay=1.0):
            rows = _rows(model(_to(batch, device, dtype)))
            if out is None:
                chunks.append(rows)
            else:
                if filled + len(rows) > len(out):
                    raise ValueError(f"The 'out' array of embed has {len(out)} rows, fewer than the inputs.")
                out[filled : filled + len(rows)] = rows
            filled += len(rows)
    if filled == 0:  # with or without 'out': an empty result is an error either way
        raise ValueError("The 'data' parameter of embed holds no samples.")
    if out is not None:
        return out[:filled]
    return np.concatenate(chunks)


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put ``model`` in eval mode for the block, then give every submodule back its own mode.

    ``model.train(was_training)`` alone would not do: it sets all submodules alike, so a
    layer the caller had frozen in eval mode (a BatchNorm, a pretrained trunk) would end
    up training.
    """
    modes = module_modes(model)
    model.eval()
    try:
        yield model
    finally:
        restore_modes(modes)


def module_modes(model: nn.Module) -> list[tuple[nn.Module, bool]]:
    """The train/eval mode of ``model`` and of each of its submodules, for :func:`restore_modes`."""
    return [(module, module.training) for module in model.modules()]


def restore_modes(modes: list[tuple[nn.Module, bool]]) -> None:
    """Give every module recorded by :func:`module_modes` back its mode."""
    top, training = modes[0]
    top.train(training)  # through the model's own train(), which may do more than set flags
    for module, training in modes[1:]:
        if module.training != training:
            module.training = training


def _check_out(out: Any) -> None:
    if out is None:
        return
    if not isinstance(out, np.ndarray):
        raise TypeError(f"The 'out' parameter of embed must be a numpy array. Got {type(out).__name__} instead.")
    if not np.issubdtype(out.dtype, np.floating):  # an integer array would truncate the embeddings silently
        raise TypeError(f"The 'out' parameter of embed must have a floating dtype. Got {out.dtype} instead.")


def _rows(z: Any) -> np.ndarray:
    """The model's output for one batch as float32 rows; anything but a (B, d) tensor is an error."""
    if not isinstance(z, Tensor):
        raise TypeError(
            f"The 'model' parameter of embed must return a tensor of shape (B, d). It returned a {type(z).__name__}."
        )
    if z.ndim != 2:  # a (B,) or (B, k, d) output would make a wrong-shaped result without a word
        raise ValueError(
            f"The 'model' parameter of embed must return a tensor of shape (B, d). It returned shape {tuple(z.shape)}."
        )
    return z.detach().to("cpu", torch.float32).numpy()


def _embed_sharded(model: nn.Module, data: Any, *, out: np.ndarray | None, **options: Any) -> np.ndarray:
    """This rank embeds its contiguous shard; the shards are gathered in rank order."""
    n, ranks, me = len(data), world_size(), rank()
    bounds = np.linspace(0, n, ranks + 1).astype(int)
    start, stop = bounds[me], bounds[me + 1]
    shard = data[start:stop] if isinstance(data, (Tensor, np.ndarray)) else _Window(data, start, stop)
    local = embed(model, shard, distribute=False, **options)
    rows = int(np.diff(bounds).max())
    padded = torch.zeros(rows, local.shape[1])
    padded[: len(local)] = torch.from_numpy(local)
    gathered = gather(padded).numpy()
    merged = np.concatenate([gathered[r * rows : r * rows + bounds[r + 1] - bounds[r]] for r in range(ranks)])
    if out is None:
        return merged
    out[:n] = merged
    return out[:n]


def _inputs_only(data: Any) -> Any:
    """A torch Dataset or DataLoader whose tuple or list items keep only their first element, the input."""
    if isinstance(data, (DataLoader, IterableDataset)):
        return _FirstElements(data)
    if isinstance(data, Dataset) and hasattr(data, "__len__"):
        return _Window(data, 0, len(data), first_only=True)
    return data


def _first(item: Any) -> Any:
    return item[0] if isinstance(item, (tuple, list)) and item else item


class _FirstElements:
    """The items of an iterable of batches, each reduced to its first element."""

    def __init__(self, data: Iterable):
        self.data = data

    def __len__(self) -> int:
        return len(self.data)  # a TypeError for unsized data, as len() gives

    def __iter__(self) -> Iterator:
        return (_first(item) for item in self.data)


class _Window:
    """A read-only view of ``data[start:stop]`` for any sequence type; of each item's first element with ``first_only``."""

    def __init__(self, data: Any, start: int, stop: int, *, first_only: bool = False):
        self.data, self.start, self.stop, self.first_only = data, int(start), int(stop), first_only

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(index)
        item = self.data[self.start + index]
        return _first(item) if self.first_only else item


def _known_length(data: Any) -> int:
    """len(data) for arrays and sequences; -1 for iterators, which are never split."""
    if isinstance(data, (Tensor, np.ndarray)) or (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        return len(data)
    return -1


def _batches(data: Any, batch_size: int) -> tuple[Iterable, int | None]:
    """Split ``data`` into batches; also return their number when it is known."""
    if isinstance(data, np.ndarray):
        data = torch.from_numpy(data)
    if isinstance(data, Tensor):
        count = -(-len(data) // batch_size)
        return (data[i * batch_size : (i + 1) * batch_size] for i in range(count)), count
    if hasattr(data, "__len__") and hasattr(data, "__getitem__") and not isinstance(data, (str, bytes, dict)):
        count = -(-len(data) // batch_size)
        return (
            _stack([data[j] for j in range(i * batch_size, min((i + 1) * batch_size, len(data)))]) for i in range(count)
        ), count
    if isinstance(data, Iterable):
        return data, _length(data)
    raise TypeError(
        f"The 'data' parameter of embed must be a tensor, array, sequence or iterable. Got {type(data).__name__} instead."
    )


def _length(data: Iterable) -> int | None:
    """The number of batches for the progress bar, or None (a DataLoader over an IterableDataset has none)."""
    try:
        return len(data)
    except TypeError:
        return None


def _stack(samples: list) -> Any:
    first = samples[0]
    if isinstance(first, tuple):
        return tuple(_stack([s[k] for s in samples]) for k in range(len(first)))
    return torch.stack([torch.as_tensor(s) for s in samples])


def _to(batch: Any, device: torch.device, dtype: torch.dtype | None = None) -> Any:
    """``batch`` on ``device``; its floating tensors in ``dtype`` (when given), integer ones as they are."""
    if isinstance(batch, np.ndarray):
        batch = torch.from_numpy(batch)
    if isinstance(batch, Tensor):
        return batch.to(device, dtype) if dtype is not None and batch.is_floating_point() else batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device, dtype) for b in batch)
    return batch

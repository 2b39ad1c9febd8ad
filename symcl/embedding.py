"""``embed``: batched inference that returns numpy embeddings in input order."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm


def embed(
    model: nn.Module,
    data: Tensor | np.ndarray | Sequence | Iterable,
    *,
    batch_size: int = 256,
    progress: bool = True,
    device: str | torch.device | None = None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Embed ``data`` with ``model`` in eval mode, without gradients.

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
    batch_size : int
        Samples per forward pass, for the first two kinds of input.
    progress : bool
        Show a progress bar.
    device : optional
        Where to run; defaults to the device of the model's first parameter.
    out : ndarray, optional
        Preallocated (N, d) float32 array to fill, e.g. ``np.lib.format.open_memmap``,
        so that even the output need not fit in memory.

    Returns
    -------
    ndarray
        float32, shape (N, d), row i for input sample i. The model's train/eval mode is
        restored afterwards.
    """
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"The 'batch_size' parameter of embed must be an integer >= 1. Got {batch_size!r} instead.")
    if device is None:
        first = next(model.parameters(), None)
        device = first.device if first is not None else torch.device("cpu")
    batches, total = _batches(data, batch_size)
    was_training = model.training
    model.eval()
    chunks: list[np.ndarray] = []
    filled = 0
    try:
        with torch.no_grad():
            for batch in tqdm(batches, total=total, desc="embedding", unit="batch", disable=not progress):
                z = model(_to(batch, device))
                rows = z.detach().to("cpu", torch.float32).numpy()
                if out is None:
                    chunks.append(rows)
                else:
                    if filled + len(rows) > len(out):
                        raise ValueError(f"The 'out' array of embed has {len(out)} rows, fewer than the inputs.")
                    out[filled : filled + len(rows)] = rows
                filled += len(rows)
    finally:
        model.train(was_training)
    if out is not None:
        return out[:filled]
    if not chunks:
        raise ValueError("The 'data' parameter of embed holds no samples.")
    return np.concatenate(chunks)


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
        return data, getattr(data, "__len__", lambda: None)()
    raise TypeError(
        f"The 'data' parameter of embed must be a tensor, array, sequence or iterable. Got {type(data).__name__} instead."
    )


def _stack(samples: list) -> Any:
    first = samples[0]
    if isinstance(first, tuple):
        return tuple(_stack([s[k] for s in samples]) for k in range(len(first)))
    return torch.stack([torch.as_tensor(s) for s in samples])


def _to(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, np.ndarray):
        batch = torch.from_numpy(batch)
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (tuple, list)):
        return type(batch)(_to(b, device) for b in batch)
    return batch

"""Checkpoints and weights as safetensors files: tensors plus a JSON skeleton, never a pickle.

A checkpoint is one file, ``step-00000100.safetensors``, written atomically. Its tensors
are the leaves of a nested training state (model, optimiser, scheduler, queue, RNG
states); the nesting and every non-tensor value live as JSON in the file's metadata.
"""

from __future__ import annotations

import json
import os
import platform
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file
from torch import Tensor, nn

from symcl.atomic import atomic_write
from symcl.errors import UserInputError

FORMAT = "symcl-checkpoint/1"
_STEP_FILE = re.compile(r"^step-(\d+)\.safetensors$")


class CheckpointError(UserInputError):
    """A checkpoint or weights file is missing, corrupt, truncated or of another kind."""


def save_state(path: str | os.PathLike, state: Any) -> Path:
    """Atomically write a nested state (dicts, lists, tuples, tensors, JSON scalars)."""
    tensors: dict[str, Tensor] = {}
    skeleton = _pack(state, tensors)
    metadata = {"format": FORMAT, "state": json.dumps(skeleton)}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_state(path: str | os.PathLike) -> Any:
    """Read a state written by :func:`save_state`; a bad file raises CheckpointError naming it."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            if metadata.get("format") != FORMAT:
                raise CheckpointError(f"{path}: not a symcl checkpoint (format {metadata.get('format')!r})")
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
        return _unpack(json.loads(metadata["state"]), tensors)
    except CheckpointError:
        raise
    except (SafetensorError, OSError, ValueError, KeyError, RuntimeError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated checkpoint ({error})") from None


def save_weights(path: str | os.PathLike, module: nn.Module, metadata: dict[str, str] | None = None) -> Path:
    """Atomically save a module's state_dict as plain safetensors (readable by any tool)."""
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in module.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def load_weights(path: str | os.PathLike, module: nn.Module) -> nn.Module:
    """Load plain safetensors weights into ``module`` (strict); errors name the file.

    Every tensor must have the module's shape and dtype and, if floating, hold finite
    values: a NaN weight would give NaN embeddings without a word.
    """
    path = Path(path)
    check_weights_fit(path, module)
    try:
        with safe_open(str(path), framework="pt") as handle:
            tensors = {name: handle.get_tensor(name) for name in handle.keys()}
    except (SafetensorError, OSError, RuntimeError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated weights file ({error})") from None
    expected = module.state_dict()
    for name, tensor in tensors.items():
        if tensor.dtype != expected[name].dtype:
            raise CheckpointError(
                f"{path}: tensor {name!r} is {tensor.dtype}, the model's is {expected[name].dtype}; not weights of "
                "this model"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(
                f"{path}: tensor {name!r} holds NaN or infinite values; the file is damaged or its training diverged"
            )
    module.load_state_dict(tensors)
    return module


def weight_shapes(path: str | os.PathLike) -> dict[str, tuple[int, ...]]:
    """The name and shape of every tensor in a safetensors file, read from its header only."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such weights file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
    except (SafetensorError, OSError, RuntimeError) as error:
        raise CheckpointError(f"{path}: corrupt or truncated weights file ({error})") from None


def check_weights_fit(path: str | os.PathLike, module: nn.Module) -> None:
    """Check the tensor names and shapes of a safetensors file against ``module``, reading only its header.

    ``module`` may live on PyTorch's meta device, so an architecture can be checked
    before any memory is allocated for it.
    """
    path = Path(path)
    shapes = weight_shapes(path)
    expected = {name: tuple(tensor.shape) for name, tensor in module.state_dict().items()}
    missing, unexpected = sorted(expected.keys() - shapes.keys()), sorted(shapes.keys() - expected.keys())
    wrong = [
        f"{name} {shapes[name]} vs {expected[name]}"
        for name in sorted(shapes)
        if shapes[name] != expected.get(name, shapes[name])
    ]
    problems = [
        f"{label}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
        for label, names in (("missing", missing), ("unexpected", unexpected), ("shape in file vs model", wrong))
        if names
    ]
    if problems:
        raise CheckpointError(f"{path}: weights do not fit the model ({'; '.join(problems)})")


def checkpoint_path(directory: str | os.PathLike, step: int) -> Path:
    return Path(directory) / f"step-{step:08d}.safetensors"


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Checkpoint files in ``directory``, oldest step first (temporary files are ignored)."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found)]


def prune_checkpoints(directory: str | os.PathLike, keep: int) -> None:
    """Delete all but the ``keep`` newest checkpoints."""
    for path in list_checkpoints(directory)[:-keep]:
        path.unlink(missing_ok=True)


def capture_rng(data_generator: torch.Generator) -> dict[str, Any]:
    """Every RNG a training step may draw from: python, numpy, torch (CPU, CUDA), data."""
    np_state = np.random.get_state(legacy=False)
    return {
        "python": random.getstate(),
        "numpy": {
            "key": torch.from_numpy(np_state["state"]["key"].astype(np.int64)),
            "pos": int(np_state["state"]["pos"]),
            "has_gauss": int(np_state["has_gauss"]),
            "gauss": float(np_state["gauss"]),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "data": data_generator.get_state(),
    }


def restore_rng(state: dict[str, Any], data_generator: torch.Generator) -> None:
    """Inverse of :func:`capture_rng`."""
    random.setstate(state["python"])
    np_state = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": "MT19937",
            "state": {"key": np_state["key"].numpy().astype(np.uint32), "pos": np_state["pos"]},
            "has_gauss": np_state["has_gauss"],
            "gauss": np_state["gauss"],
        }
    )
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    data_generator.set_state(state["data"])


def versions() -> dict[str, str]:
    """Library versions recorded next to every checkpoint and model, and torch's thread count.

    The thread count belongs with them: torch splits its CPU reductions by thread, so the
    same seed on the same machine gives the same weights only with the same count.
    """
    import symcl

    return {
        "symcl": symcl.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "torch_threads": str(torch.get_num_threads()),
    }


def _pack(value: Any, tensors: dict[str, Tensor]) -> Any:
    """Replace tensors by references into ``tensors``; tag containers so types round-trip."""
    if isinstance(value, Tensor):
        name = f"t{len(tensors)}"
        tensors[name] = value.detach().cpu().contiguous().clone()
        return {"tensor": name}
    if isinstance(value, dict):
        return {"dict": [[key, _pack(item, tensors)] for key, item in value.items()]}
    if isinstance(value, (list, tuple)):
        return {type(value).__name__: [_pack(item, tensors) for item in value]}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(f"cannot store a {type(value).__name__} in a checkpoint")


def _unpack(value: Any, tensors: dict[str, Tensor]) -> Any:
    if not isinstance(value, dict):
        return value
    ((kind, content),) = value.items()
    if kind == "tensor":
        return tensors[content]
    if kind == "dict":
        return {key: _unpack(item, tensors) for key, item in content}
    items = [_unpack(item, tensors) for item in content]
    return tuple(items) if kind == "tuple" else items

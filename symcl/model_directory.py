"""Trained-model directories (``model.safetensors`` + ``config.json``), shared by every domain.

``fit(..., out_dir=DIR, metadata={"model": architecture, ...})`` writes such a directory;
each domain rebuilds its encoder from the recorded architecture.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from symcl.atomic import read_json
from symcl.checkpoint import check_weights_fit, load_weights, weight_shapes
from symcl.data import data_path
from symcl.errors import UserInputError

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def read_model_config(directory: str | os.PathLike, domain: str) -> dict[str, Any]:
    """The config.json of a trained model directory; it must record a "model" architecture."""
    path = Path(directory) / CONFIG_FILE
    if not Path(directory).is_dir():
        raise UserInputError(f"{directory}: not a model directory (no such directory)")
    try:
        config = read_json(path)
    except FileNotFoundError:
        raise UserInputError(f"{path}: missing; a model directory holds {CONFIG_FILE} and {MODEL_FILE}") from None
    except (ValueError, OSError) as error:
        raise UserInputError(str(error)) from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise UserInputError(f"{path}: no 'model' architecture recorded; it is not a {domain} model directory")
    return config


def load_model(
    directory: str | os.PathLike, config: dict[str, Any], build: Callable[[dict[str, Any]], nn.Module]
) -> nn.Module:
    """Rebuild ``build(config["model"])`` and load the directory's weights; eval mode, CPU.

    The architecture is first built on PyTorch's meta device (no memory) and checked
    against the weights file's header, so a damaged config.json cannot ask for terabytes.
    Torch's global random state is left as it was: the random initial weights are overwritten.
    """
    _check_sizes_fit_the_weights(directory, config["model"])
    try:
        with torch.device("meta"), torch.random.fork_rng(devices=[]):
            skeleton = build(config["model"])
    except ValueError as error:
        raise UserInputError(f"{Path(directory) / CONFIG_FILE}: {error}") from None
    except (RuntimeError, OverflowError, MemoryError) as error:  # sizes beyond any machine
        raise UserInputError(
            f"{Path(directory) / CONFIG_FILE}: the model it describes cannot be built ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no details'}); the file is damaged"
        ) from None
    check_weights_fit(Path(directory) / MODEL_FILE, skeleton)
    with torch.random.fork_rng(devices=[]):  # a load must not shift the caller's seeded draws
        model = build(config["model"])
    load_weights(Path(directory) / MODEL_FILE, model)
    return model.eval()


def _check_sizes_fit_the_weights(directory: str | os.PathLike, architecture: dict[str, Any]) -> None:
    """Refuse an architecture with a size (width, number of blocks) above the weights' count of numbers.

    No layer is wider, and no model has more blocks, than it has parameters; checking this
    first keeps a damaged "blocks": 1000000 from building a million modules, which even
    the meta device does not make cheap.
    """
    numbers = sum(math.prod(shape) for shape in weight_shapes(Path(directory) / MODEL_FILE).values())
    for key, value in architecture.items():
        values = value if isinstance(value, list) else [value]
        for size in values:
            if isinstance(size, int) and not isinstance(size, bool) and size > numbers:
                raise UserInputError(
                    f"{Path(directory) / CONFIG_FILE}: model {key!r} is {size:,}, more than the {numbers:,} "
                    f"numbers in {MODEL_FILE}; the file is damaged or belongs to another model"
                )


def pretrained_directory(domain: str, train_command: str) -> Path:
    """``data/<domain>/model``, or a one-line error saying how to train a model instead."""
    try:
        return data_path(domain, "model")
    except FileNotFoundError:
        raise UserInputError(
            f"no pretrained {domain} model ships with this version of symcl yet; train one with "
            f"'{train_command}' and pass '--model DIR'"
        ) from None

"""Training a DNA encoder and loading trained or pretrained ones from their directories."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from torch import nn

from symcl.atomic import read_json
from symcl.checkpoint import load_weights
from symcl.errors import UserInputError
from symcl.training import TrainConfig, TrainState, contrastive_objective, fit

from .encoders import build_encoder
from .views import DnaViews

MODEL_FILE = "model.safetensors"
CONFIG_FILE = "config.json"


def train(
    model: nn.Module,
    views: DnaViews,
    config: TrainConfig,
    *,
    temperature: float = 0.1,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    sources: list[str] | None = None,
) -> TrainState:
    """Train a DNA encoder self-supervised with InfoNCE on reverse-complement / fragment views.

    Parameters
    ----------
    model : nn.Module
        An encoder with a ``config`` dict, e.g. :class:`StrandInvariantCNN`; build it
        after seeding (``seed_everything``) for a reproducible initialisation.
    views : DnaViews
        The view generator; its ``exclude`` masks go to InfoNCE.
    config : TrainConfig
    temperature : float
        InfoNCE temperature (> 0).
    out_dir : path, optional
        Receives model.safetensors and config.json (with the model architecture and the
        view settings, so :func:`load_model` can rebuild it), history and checkpoints.
    resume : bool
        Continue from the newest checkpoint in ``out_dir``.
    sources : list of str, optional
        Names of the training files, recorded in config.json.

    Returns
    -------
    TrainState
    """
    metadata = {"model": dict(model.config), "dna": {"views": views.settings(), "sources": list(sources or [])}}
    objective = contrastive_objective(model.config["dim"], temperature=temperature)
    return fit(model, views, objective, config, out_dir=out_dir, resume=resume, progress=progress, metadata=metadata)


def read_model_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a trained model directory (must hold a "model" architecture)."""
    path = Path(directory) / CONFIG_FILE
    if not Path(directory).is_dir():
        raise UserInputError(f"{directory}: not a model directory (no such directory)")
    try:
        config = read_json(path)
    except FileNotFoundError:
        raise UserInputError(f"{path}: missing; a model directory holds {CONFIG_FILE} and {MODEL_FILE}") from None
    except ValueError as error:
        raise UserInputError(str(error)) from None
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise UserInputError(f"{path}: no 'model' architecture recorded; it is not a dna model directory")
    return config


def load_model(directory: str | os.PathLike) -> nn.Module:
    """Rebuild a trained DNA encoder from a directory written by ``symcl dna train``.

    Returns
    -------
    nn.Module
        The encoder in eval mode, on CPU.
    """
    config = read_model_config(directory)
    try:
        model = build_encoder(config["model"])
    except ValueError as error:
        raise UserInputError(f"{Path(directory) / CONFIG_FILE}: {error}") from None
    load_weights(Path(directory) / MODEL_FILE, model)
    return model.eval()


def pretrained_directory() -> Path:
    """The directory of the pretrained default DNA encoder shipped with symcl.

    Raises
    ------
    UserInputError
        No pretrained model ships with this version yet.
    """
    from symcl.data import data_path

    try:
        return data_path("dna", "model")
    except FileNotFoundError:
        raise UserInputError(
            "no pretrained dna model ships with this version of symcl yet; train one with "
            "'symcl dna train FASTA... --out DIR' and pass '--model DIR'"
        ) from None


def load_pretrained() -> nn.Module:
    """The pretrained default DNA encoder shipped with symcl (see :func:`pretrained_directory`)."""
    return load_model(pretrained_directory())

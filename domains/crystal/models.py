"""Training a patch encoder on simulated crystals, and loading trained or pretrained ones."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from symcl import model_directory
from symcl.training import TrainConfig, TrainState, contrastive_objective, fit
from symcl.views import ViewBatch

from .encoders import build_encoder, member_embeddings
from .views import LatticeTranslationViews


class MemberwiseObjective(nn.Module):
    """One objective applied to each member of a :class:`PatchEnsemble` on its own; the mean of their losses.

    Each member's gradient comes from its own loss only, so the members learn as
    independent encoders that share the batches.
    """

    def __init__(self, objective: nn.Module, members: int):
        super().__init__()
        self.objective = objective
        self.members = members

    def forward(self, z1: Tensor, z2: Tensor, batch: ViewBatch) -> Tensor:
        parts = zip(member_embeddings(z1, self.members), member_embeddings(z2, self.members), strict=True)
        return torch.stack([self.objective(a, b, batch) for a, b in parts]).mean()

    def current_temperature(self) -> float:
        return self.objective.current_temperature()


def train(
    model: nn.Module,
    views: LatticeTranslationViews,
    config: TrainConfig,
    *,
    temperature: float = 0.1,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
) -> TrainState:
    """Train a patch encoder with InfoNCE on lattice-translation views.

    Parameters
    ----------
    model : nn.Module
        An encoder with a ``config`` dict (:class:`PatchCNN`, or :class:`PatchEnsemble`,
        whose members each get their own InfoNCE loss); build it after
        ``seed_everything`` for a reproducible initialisation. Its ``patch_size`` and
        ``pixel_size`` must match the views'.
    views : LatticeTranslationViews
        Its ``exclude`` (and ``groups``) masks go to InfoNCE.
    config : TrainConfig
    temperature : float
        InfoNCE temperature (> 0).
    out_dir : path, optional
        Receives model.safetensors and config.json (the architecture under "model" and
        the view settings under "crystal"), history and checkpoints.
    resume : bool
        Continue from the newest checkpoint in ``out_dir``.

    Returns
    -------
    TrainState
    """
    architecture = dict(getattr(model, "config", {}))
    for key, value in (("patch_size", views.patch_size), ("pixel_size", views.pixel_size)):
        if key in architecture and architecture[key] != value:
            raise ValueError(
                f"The model's {key} ({architecture[key]}) differs from the views' ({value}); build both with the same value."
            )
    if not (isinstance(temperature, int | float) and temperature > 0):
        raise ValueError(f"The 'temperature' parameter of train must be > 0. Got {temperature!r} instead.")
    metadata = {"model": architecture, "crystal": {"views": views.settings()}}
    members = architecture.get("members", 1)
    objective = contrastive_objective(architecture.get("dim", 64) // members, temperature=temperature)
    if members > 1:  # a PatchEnsemble: every member trains on its own InfoNCE
        objective = MemberwiseObjective(objective, members)
    return fit(model, views, objective, config, out_dir=out_dir, resume=resume, progress=progress, metadata=metadata)


def read_model_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a trained model directory (must hold a "model" architecture)."""
    return model_directory.read_model_config(directory, "crystal")


def load_model(directory: str | os.PathLike) -> nn.Module:
    """Rebuild a trained patch encoder from a directory written by ``symcl crystal train``.

    Returns
    -------
    nn.Module
        The encoder in eval mode, on CPU; ``model.config`` holds its patch and pixel size.
    """
    return model_directory.load_model(directory, read_model_config(directory), build_encoder)


def pretrained_directory() -> Path:
    """The directory of the pretrained default crystal encoder (``data/crystal/model``).

    Raises
    ------
    UserInputError
        The model directory is missing from this installation.
    """
    return model_directory.pretrained_directory("crystal", "symcl crystal train --out DIR")


def load_pretrained() -> nn.Module:
    """The pretrained default crystal encoder shipped with symcl (see :func:`pretrained_directory`)."""
    return load_model(pretrained_directory())

"""Training a DNA encoder and loading trained or pretrained ones from their directories."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

from torch import Tensor, nn

from symcl import model_directory
from symcl.checks import check_integer
from symcl.sources import record_paths, resumable_sources
from symcl.training import TrainConfig, TrainState, contrastive_objective, fit
from symcl.views import ViewBatch

from .encoders import build_encoder
from .views import DnaViews


class ProjectedContrastive(nn.Module):
    """InfoNCE on a projection head: ``loss(g(z1), g(z2))`` with ``g`` = Linear-GELU-Linear.

    The SimCLR recipe (Chen et al. 2020): the loss sees the projection, the user keeps
    the encoder's output ``z``, which holds more than the contrastive task needs. The
    head is trained with the encoder (its parameters are the objective's) and dropped
    afterwards; checkpoints keep it, so a resumed run continues exactly.

    Parameters
    ----------
    dim : int
        Width of the encoder's embeddings.
    projection : int
        Width of the head's hidden layer and output.
    **loss
        Options of :func:`~symcl.training.contrastive_objective` (``temperature``,
        ``debias_tau_plus``, ``hard_negative_beta``, ``queue_size``, as in :func:`train`);
        the queue holds projections (``projection`` wide).

    Shapes: z1, z2 (B, dim) -> scalar loss.
    """

    def __init__(self, dim: int, projection: int, **loss: Any):
        super().__init__()
        self.head = nn.Sequential(nn.Linear(dim, projection), nn.GELU(), nn.Linear(projection, projection))
        self.loss = contrastive_objective(projection, **loss)

    def forward(self, z1: Tensor, z2: Tensor, batch: ViewBatch) -> Tensor:
        return self.loss(self.head(z1), self.head(z2), batch)

    def current_temperature(self) -> float:
        return self.loss.current_temperature()


def train(
    model: nn.Module,
    views: DnaViews,
    config: TrainConfig,
    *,
    temperature: float = 0.1,
    projection: int = 0,
    debias_tau_plus: float = 0.0,
    hard_negative_beta: float = 0.0,
    queue_size: int = 0,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    sources: list[str] | None = None,
) -> TrainState:
    """Train a DNA encoder self-supervised with InfoNCE on reverse-complement / fragment views.

    Parameters
    ----------
    model : nn.Module
        An encoder with a ``config`` dict and a ``dim``, e.g. :class:`KmerBagEncoder`;
        build it after seeding (``seed_everything``) for a reproducible initialisation.
    views : DnaViews
        The view generator; its ``exclude`` masks go to InfoNCE.
    config : TrainConfig
    temperature : float
        InfoNCE temperature (> 0).
    projection : int
        Width of a projection head the loss is computed on (:class:`ProjectedContrastive`),
        discarded after training; 0 computes the loss on the embeddings themselves (the
        CNN encoders end in their own head).
    debias_tau_plus : float
        Class prior tau+ in [0, 1) of debiased InfoNCE (Chuang et al. 2020): the share of
        in-batch negatives assumed to be false ones (e.g. from the anchor's own genome).
        0 (the default) is plain InfoNCE.
    hard_negative_beta : float
        Concentration beta >= 0 of hard-negative weights ``exp(beta * logit)`` (Robinson
        et al. 2021); 0 (the default) weighs all negatives alike.
    queue_size : int
        Entries >= 0 of a queue of earlier batches' keys used as extra negatives
        (:class:`~symcl.NegativeQueue`); 0 (the default) uses the batch only.
    out_dir : path, optional
        Receives model.safetensors and config.json (with the model architecture and the
        view settings, so :func:`load_model` can rebuild it), history and checkpoints.
    resume : bool
        Continue from the newest checkpoint in ``out_dir``.
    sources : list of str, optional
        Paths of the training files. The run's metadata holds each file's size and
        SHA-256, so a resume accepts a file however its path is spelled and refuses one
        whose content changed; config.json adds its absolute path. A name that is no
        file is recorded as it is.

    Returns
    -------
    TrainState
        The model is trained in place; its ``training_window`` becomes ``views.window``
        (the default window of :func:`~symcl.domains.dna.embedding.embed_sequences`).
    """
    projection = check_integer("train", "projection", projection, 0)
    _check_loss_options(debias_tau_plus, hard_negative_beta)
    queue_size = check_integer("train", "queue_size", queue_size, 0)  # a plain int for config.json
    loss = {
        "temperature": temperature,
        "debias_tau_plus": debias_tau_plus,
        "hard_negative_beta": hard_negative_beta,
        "queue_size": queue_size,
    }
    identified = resumable_sources(list(sources or []), out_dir, resume, "dna")
    metadata = {
        "model": dict(model.config),
        "dna": {"views": views.settings(), "sources": identified, "projection": projection} | loss,
    }
    # embed_sequences' default window, as load_model sets it for the saved model
    model.training_window = views.window
    if projection:
        objective = ProjectedContrastive(model.dim, projection, **loss)
    else:
        objective = contrastive_objective(model.dim, **loss)
    state = fit(model, views, objective, config, out_dir=out_dir, resume=resume, progress=progress, metadata=metadata)
    record_paths(out_dir, "dna", list(sources or []))
    return state


def _check_loss_options(debias_tau_plus: float, hard_negative_beta: float) -> None:
    """Raise ValueError for a bad loss option of :func:`train`, before any training."""
    if (
        isinstance(debias_tau_plus, bool)
        or not isinstance(debias_tau_plus, int | float)
        or not 0 <= debias_tau_plus < 1
    ):
        raise ValueError(
            f"The 'debias_tau_plus' parameter of train must be a number in [0, 1). Got {debias_tau_plus!r} instead."
        )
    if (
        isinstance(hard_negative_beta, bool)
        or not isinstance(hard_negative_beta, int | float)
        or not 0 <= hard_negative_beta < math.inf
    ):
        raise ValueError(
            f"The 'hard_negative_beta' parameter of train must be a finite number >= 0. "
            f"Got {hard_negative_beta!r} instead."
        )


def read_model_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a trained model directory (must hold a "model" architecture)."""
    return model_directory.read_model_config(directory, "dna")


def load_model(directory: str | os.PathLike) -> nn.Module:
    """Rebuild a trained DNA encoder from a directory written by ``symcl dna train``.

    Returns
    -------
    nn.Module
        The encoder in eval mode, on CPU. Its ``training_window`` attribute is the window
        length (bp) it was trained on (None when the directory does not say), the
        default window of :func:`~symcl.domains.dna.embedding.embed_sequences`.
    """
    config = read_model_config(directory)
    model = model_directory.load_model(directory, config, build_encoder)
    model.training_window = _training_window(config)
    return model


def _training_window(config: dict[str, Any]) -> int | None:
    """The window (bp) config.json says the model was trained on; None where it says nothing usable."""
    section = config.get("dna")
    views = section.get("views") if isinstance(section, dict) else None
    window = views.get("window") if isinstance(views, dict) else None
    return window if isinstance(window, int) and not isinstance(window, bool) and window > 0 else None


def pretrained_directory() -> Path:
    """The directory of the pretrained default DNA encoder shipped with symcl.

    Raises
    ------
    UserInputError
        The model directory is missing from this installation.
    """
    return model_directory.pretrained_directory("dna", "symcl dna train FASTA... --out DIR")


def load_pretrained() -> nn.Module:
    """The pretrained default DNA encoder shipped with symcl (see :func:`pretrained_directory`)."""
    return load_model(pretrained_directory())

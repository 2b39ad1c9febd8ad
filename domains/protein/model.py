"""The Siamese distance regressor: its loss, training, loading, and the predicted distance matrix.

The model is the sequence encoder alone (:class:`~symcl.domains.protein.encoder.ProteinCNN`, or
:class:`~symcl.domains.protein.kmer_encoder.ProteinKmerBag`);
the distance head (:mod:`~symcl.domains.protein.head`) has no parameters. Training
regresses the head's output on classical pseudo-distances with a Huber loss in log space
(:func:`distance_loss`), through :func:`symcl.training.fit`. Afterwards N sequences are
embedded once and all N^2 distances are one ``torch.cdist``
(:func:`predicted_distance_matrix`).
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from Bio.SeqRecord import SeqRecord
from torch import Tensor, nn
from torch.nn import functional as F

import symcl
from symcl import model_directory
from symcl.checks import check_integer
from symcl.distributed import gather, gather_with_grad, world_size
from symcl.embedding import evaluation_mode
from symcl.errors import UserInputError
from symcl.training import TrainConfig, TrainState, fit
from symcl.views import ViewBatch, nearby_mask

from .alphabet import clean_sequence
from .distance import MIN_COLUMNS, ShortSequenceWarning, short_sequences_message
from .encoder import ENCODERS, build_encoder, encode_batch
from .formulas import MAX_DISTANCE
from .head import cross_distances, pair_distance
from .pairs import PairSampler
from .reader import ProteinSequences

#: Default Huber threshold, in log1p units (about a 10 % relative error).
HUBER_DELTA = 0.1


def distance_loss(
    predicted: Tensor, target: Tensor, *, max_distance: float = MAX_DISTANCE, delta: float = HUBER_DELTA
) -> Tensor:
    """Huber loss between predicted and target distances, in log space, one-sided at the cap.

    The loss compares ``log(1 + d)``: a distance error then counts relative to the
    distance for small d (so close pairs, which decide the tree's tips, are not drowned
    by distant ones) and is compressed for large d, where alignment distances are noisy.
    Huber (quadratic below ``delta``, linear above) keeps outlier pairs from dominating.
    A target at the cap means "at least ``max_distance``" (saturated or unrelated), so a
    prediction above the cap costs nothing there.

    Parameters
    ----------
    predicted : Tensor
        Predicted distances >= 0, shape (N,).
    target : Tensor
        Target distances in [0, max_distance], shape (N,).
    max_distance : float
        The saturation cap of the targets.
    delta : float
        Huber threshold in log1p units (> 0).

    Returns
    -------
    Tensor
        Scalar, the mean over the N pairs.
    """
    if predicted.shape != target.shape:
        raise ValueError(
            f"distance_loss needs predictions and targets of the same shape. Got {tuple(predicted.shape)} "
            f"and {tuple(target.shape)} instead."
        )
    at_cap = target >= max_distance
    predicted = torch.where(at_cap, predicted.clamp(max=max_distance), predicted)
    return F.huber_loss(torch.log1p(predicted), torch.log1p(target.to(predicted.dtype)), delta=delta)


class DistanceRegression(nn.Module):
    """The training objective ``(z1, z2, batch) -> loss``: :func:`distance_loss` on ``batch.target``.

    Optionally plus an auxiliary contrastive term: :func:`symcl.info_nce` over the pairs
    closer than ``near_distance`` (the two sequences of a near pair are positives, the
    other near pairs of the batch negatives, except those that ``batch.exclude`` marks
    as related, e.g. from the same family), weighted by ``contrastive_weight``.

    Parameters
    ----------
    max_distance : float
        Saturation cap of the targets (> 0).
    delta : float
        Huber threshold in log1p units (> 0).
    contrastive_weight : float
        Weight (>= 0) of the contrastive term; 0 (default) leaves it out.
    near_distance : float
        Pairs with a target below this (> 0, substitutions per site) are positives.
    temperature : float
        InfoNCE temperature (> 0).
    """

    def __init__(
        self,
        *,
        max_distance: float = MAX_DISTANCE,
        delta: float = HUBER_DELTA,
        contrastive_weight: float = 0.0,
        near_distance: float = 0.2,
        temperature: float = 0.1,
    ):
        super().__init__()
        for name, value, low in (
            ("max_distance", max_distance, "> 0"),
            ("delta", delta, "> 0"),
            ("contrastive_weight", contrastive_weight, ">= 0"),
            ("near_distance", near_distance, "> 0"),
            ("temperature", temperature, "> 0"),
        ):
            ok = (
                isinstance(value, (int, float))
                and math.isfinite(value)
                and (value >= 0 if low == ">= 0" else value > 0)
            )
            if not ok:
                raise ValueError(
                    f"The '{name}' parameter of DistanceRegression must be a finite number {low}. Got {value!r} instead."
                )
        self.max_distance = float(max_distance)
        self.delta = float(delta)
        self.contrastive_weight = float(contrastive_weight)
        self.near_distance = float(near_distance)
        self.temperature = float(temperature)

    def forward(self, z1: Tensor, z2: Tensor, batch: ViewBatch) -> Tensor:
        if batch.target is None:
            raise ValueError("DistanceRegression needs batches with a 'target' (the pair distances).")
        loss = distance_loss(pair_distance(z1, z2), batch.target, max_distance=self.max_distance, delta=self.delta)
        if self.contrastive_weight > 0:
            loss = loss + self.contrastive_weight * self._contrastive(z1, z2, batch)
        return loss

    def _contrastive(self, z1: Tensor, z2: Tensor, batch: ViewBatch) -> Tensor:
        """The contrastive term over the near pairs of the whole (global) batch."""
        near, exclude = batch.target < self.near_distance, batch.exclude
        if world_size() > 1:
            # Each rank computes the term of the gathered batch. The gather's backward sums
            # the ranks' identical gradients and DDP averages them, which gives the
            # single-process gradient; the near pairs differ in number between ranks, so
            # the anchors cannot be split between them as InfoNCE splits its batch.
            z1, z2, near = gather_with_grad(z1), gather_with_grad(z2), gather(near)
            exclude = (
                None if batch.locations is None else nearby_mask(gather(batch.locations), batch.exclusion_distance)
            )
        if int(near.sum()) < 2:
            return z1.new_zeros(())
        exclude = None if exclude is None else exclude[near][:, near]
        return symcl.info_nce(z1[near], z2[near], temperature=self.temperature, exclude=exclude)

    def settings(self) -> dict[str, Any]:
        """The objective's options, for a model's config.json."""
        return {
            "loss": "huber_log1p",
            "delta": self.delta,
            "max_distance": self.max_distance,
            "contrastive_weight": self.contrastive_weight,
            "near_distance": self.near_distance,
            "temperature": self.temperature,
        }


def regression_evaluator(sampler: PairSampler, batch_size: int, *, seed: int, device: str | torch.device = "cpu"):
    """Agreement of predicted and target distances on one fixed batch of pairs.

    The batch is drawn once from its own generator (the training streams are untouched).
    The returned ``evaluate(model)`` gives ``spearman`` and ``mae`` (substitutions per
    site) over the pairs below the cap, and ``cap_recall``: the fraction of capped pairs
    (saturated or cross-family) predicted at or above 90 % of the cap.
    """
    from scipy import stats

    batch = sampler.sample(batch_size, torch.Generator().manual_seed(seed + 1)).to(device)
    target = batch.target.cpu().numpy().astype(float)
    # the targets are float32, so the cap must be too: 2.3 rounds down in float32
    below = target < float(np.float32(sampler.max_distance))

    @torch.no_grad()
    def evaluate(model: nn.Module) -> dict[str, float]:
        with evaluation_mode(model):
            predicted = pair_distance(model(batch.view1), model(batch.view2)).cpu().numpy().astype(float)
        metrics = {"spearman": math.nan, "mae": math.nan, "cap_recall": math.nan}
        if below.sum() > 2:
            ranked = predicted[below], target[below]
            if all(np.ptp(values) > 0 for values in ranked):  # a constant side has no rank correlation (NaN)
                metrics["spearman"] = float(stats.spearmanr(*ranked).statistic)
            metrics["mae"] = float(np.abs(np.minimum(predicted[below], sampler.max_distance) - target[below]).mean())
        if (~below).any():
            metrics["cap_recall"] = float((predicted[~below] >= 0.9 * sampler.max_distance).mean())
        return metrics

    return evaluate


def train(
    model: nn.Module,
    sampler: PairSampler,
    config: TrainConfig,
    *,
    delta: float = HUBER_DELTA,
    contrastive_weight: float = 0.0,
    near_distance: float = 0.2,
    out_dir: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    metadata: dict[str, Any] | None = None,
) -> TrainState:
    """Train a protein encoder to predict pair distances (Siamese regression).

    Parameters
    ----------
    model : nn.Module
        An encoder with a ``config`` dict, e.g. :class:`~symcl.domains.protein.encoder.ProteinCNN`;
        build it after ``seed_everything`` for a reproducible initialisation.
    sampler : PairSampler
        The pairs and their target distances.
    config : TrainConfig
        With ``eval_every > 0``, :func:`regression_evaluator` reports Spearman, MAE
        and cap recall on a fixed batch.
    delta : float
        Huber threshold of :func:`distance_loss`.
    contrastive_weight, near_distance : float
        The optional auxiliary InfoNCE term of :class:`DistanceRegression` (off at 0).
    out_dir : path, optional
        Receives model.safetensors and config.json (with the architecture under
        "model", so :func:`load_model` rebuilds it), history and checkpoints.
    resume : bool
        Continue from the newest checkpoint in ``out_dir``.
    metadata : dict, optional
        More JSON for config.json under "protein" (e.g. the training files).

    Returns
    -------
    TrainState
    """
    objective = DistanceRegression(
        max_distance=sampler.max_distance,
        delta=delta,
        contrastive_weight=contrastive_weight,
        near_distance=near_distance,
    )
    description = {
        "model": dict(model.config),
        "protein": {"pairs": sampler.settings(), "objective": objective.settings()} | dict(metadata or {}),
    }
    evaluate = None
    if config.eval_every:
        evaluate = regression_evaluator(sampler, config.eval_batch_size, seed=config.seed, device=config.device)
    return fit(
        model,
        sampler,
        objective,
        config,
        out_dir=out_dir,
        resume=resume,
        evaluate=evaluate,
        progress=progress,
        metadata=description,
    )


def embed_sequences(
    model: nn.Module,
    seqs: ProteinSequences | Sequence[str],
    *,
    batch_size: int = 64,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """One embedding per sequence, in input order (batched with :func:`symcl.embed`).

    Sequences are batched in order of length, so little is padding; since the encoder
    ignores padding, the result does not depend on the batching.

    Parameters
    ----------
    model : nn.Module
        A protein encoder (codes (B, L) -> (B, dim)).
    seqs : ProteinSequences or sequence of str
        Protein sequences; strings are cleaned with
        :func:`~symcl.domains.protein.alphabet.clean_sequence` (gaps and stops removed).
    batch_size : int
        Sequences per forward pass (>= 1).
    progress : bool
        Show a progress bar.
    device : optional
        Default: the device of the model.

    Returns
    -------
    ndarray
        float32, shape (N, dim).
    """
    texts = _texts(seqs)
    batch_size = check_integer("embed_sequences", "batch_size", batch_size, 1)
    lengths = np.array([len(text) - text.count("-") for text in texts])
    order = np.argsort(lengths, kind="stable")

    embedded = symcl.embed(model, _Batches(texts, order, batch_size), progress=progress, device=device)
    result = np.empty_like(embedded)
    result[order] = embedded
    return result


class _Batches:
    """Encoded batches of ``texts`` in ``order``, made as they are read.

    Its ``len`` lets :func:`symcl.embed` give the bar a total; having no ``__getitem__``,
    it is read as batches, not as samples to stack or split between ranks.
    """

    def __init__(self, texts: list[str], order: np.ndarray, batch_size: int) -> None:
        self.texts, self.order, self.batch_size = texts, order, batch_size

    def __len__(self) -> int:
        return math.ceil(len(self.order) / self.batch_size)

    def __iter__(self) -> Iterator[Tensor]:
        for start in range(0, len(self.order), self.batch_size):
            yield encode_batch([self.texts[i] for i in self.order[start : start + self.batch_size]])


def predicted_distance_matrix(
    model: nn.Module,
    seqs: ProteinSequences | Sequence[str],
    *,
    batch_size: int = 64,
    max_distance: float | None = MAX_DISTANCE,
    min_length: int = MIN_COLUMNS,
    progress: bool = False,
    device: str | torch.device | None = None,
) -> np.ndarray:
    """All-vs-all predicted distances: embed every sequence once, then one batched ``cdist``.

    Parameters
    ----------
    model : nn.Module
        A trained protein encoder (e.g. :func:`load_model`).
    seqs : ProteinSequences or sequence of str
        N sequences.
    batch_size : int
        Sequences per forward pass.
    max_distance : float or None
        Cap the distances here (default 3.0, the cap of the classical route, which the
        model was trained against); None leaves them uncapped.
    min_length : int
        Warn about the sequences shorter than this many residues, >= 0 (default 20, the
        ``min_columns`` of :func:`~symcl.domains.protein.distance.distance_matrix`; 0:
        never): the model learnt alignment distances, which such a sequence cannot have
        meaningfully. Their distances are kept.
    progress : bool
        Progress bar while embedding.
    device : optional
        Where to run the model.

    Returns
    -------
    ndarray
        float64, shape (N, N), substitutions per site; exactly symmetric with an exactly
        zero diagonal (see :func:`~symcl.domains.protein.head.cross_distances`).

    Warns
    -----
    ShortSequenceWarning
        Some sequences are shorter than ``min_length`` residues.
    """
    if max_distance is not None and not (
        isinstance(max_distance, (int, float)) and math.isfinite(max_distance) and max_distance > 0
    ):
        raise ValueError(
            f"The 'max_distance' parameter of predicted_distance_matrix must be a finite number > 0 or None. "
            f"Got {max_distance!r} instead."
        )
    min_length = check_integer("predicted_distance_matrix", "min_length", min_length, 0)
    _warn_about_short_sequences(seqs, min_length)
    z = torch.from_numpy(embed_sequences(model, seqs, batch_size=batch_size, progress=progress, device=device))
    distances = cross_distances(z, z).double().numpy()
    if max_distance is not None:
        np.minimum(distances, max_distance, out=distances)
    return distances


def _warn_about_short_sequences(seqs: ProteinSequences | Sequence[str], min_length: int) -> None:
    texts = _texts(seqs)
    names = seqs.ids if isinstance(seqs, ProteinSequences) else [f"sequence {i}" for i in range(len(texts))]
    lengths = [len(text) - text.count("-") for text in texts]
    message = short_sequences_message(lengths, names, min_length, "embedding")
    if message:
        warnings.warn(message, ShortSequenceWarning, stacklevel=3)


def read_model_config(directory: str | os.PathLike) -> dict[str, Any]:
    """The config.json of a trained protein model directory (its "model" must be a protein encoder)."""
    config = model_directory.read_model_config(directory, "protein")
    if config["model"].get("kind") not in ENCODERS:
        path = Path(directory) / model_directory.CONFIG_FILE
        raise UserInputError(f"{path}: no protein encoder recorded under 'model'; it is not a protein model directory")
    return config


def load_model(directory: str | os.PathLike) -> nn.Module:
    """Rebuild a trained protein encoder from a directory written by ``symcl protein train``.

    Returns
    -------
    nn.Module
        The encoder in eval mode, on CPU.
    """
    return model_directory.load_model(directory, read_model_config(directory), build_encoder)


def pretrained_directory() -> Path:
    """The directory of the pretrained default protein encoder shipped with symcl (``data/protein/model``).

    Its README.md gives the training command, data and measured quality.

    Raises
    ------
    UserInputError
        The model directory is missing from this installation.
    """
    return model_directory.pretrained_directory("protein", "symcl protein train FASTA... --out DIR")


def load_pretrained() -> nn.Module:
    """The pretrained default protein encoder shipped with symcl (see :func:`pretrained_directory`)."""
    return load_model(pretrained_directory())


def _texts(seqs: ProteinSequences | Sequence[str]) -> list[str]:
    if isinstance(seqs, ProteinSequences):
        texts = list(seqs.sequences)
    elif isinstance(seqs, str) or not isinstance(seqs, Sequence):
        raise TypeError(
            f"Protein sequences must be a ProteinSequences or a list of str. Got {type(seqs).__name__} instead."
        )
    else:
        texts = [
            clean_sequence(str(text.seq if isinstance(text, SeqRecord) else text), record=f"sequence {i}")
            for i, text in enumerate(seqs)
        ]
    if not texts:
        raise ValueError("No protein sequences to embed.")
    return texts

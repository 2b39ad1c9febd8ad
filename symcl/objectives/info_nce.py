"""The InfoNCE (NT-Xent) family of contrastive objectives.

All variants share one computation: rows of anchor-vs-key logits, reduced to one loss per
anchor. The dense path takes all 2N anchors in one block; ``chunk_size`` takes row blocks
and recomputes each block in the backward pass (activation checkpointing), so memory is
O(chunk · 2N) instead of O((2N)²) for the same value and gradient.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

TemperatureLike = float | Tensor | nn.Module


def info_nce(
    z1: Tensor,
    z2: Tensor,
    *,
    temperature: TemperatureLike = 0.1,
    negatives: Tensor | None = None,
    exclude: Tensor | None = None,
    groups: Tensor | None = None,
    hard_negative_beta: float = 0.0,
    debias_tau_plus: float = 0.0,
    chunk_size: int | None = None,
    negatives_exclude: Tensor | None = None,
) -> Tensor:
    """Symmetric InfoNCE loss over 2N anchors (SimCLR's NT-Xent; Oord et al. 2018).

    ``z1[i]`` and ``z2[i]`` are a positive pair. Both are L2-normalised here, and the
    logit of two views is their cosine similarity divided by ``temperature``. Every one
    of the 2N views is an anchor; its denominator holds all other views of the batch
    plus the ``negatives`` bank. The result is the mean over the 2N anchors. For
    collapsed embeddings (all equal) it is exactly ``log(2N - 1)``.

    Parameters
    ----------
    z1, z2 : Tensor
        Embeddings of the two views. Shape: (N, d).
    temperature : float, 0-dim Tensor or LearnableTemperature
        Softmax temperature; must be finite and > 0.
    negatives : Tensor, optional
        Extra negatives used in addition to the in-batch ones, e.g. a
        :class:`~symcl.NegativeQueue` bank. Shape: (M, d).
    exclude : Tensor, optional
        Bool mask, shape (N, N). ``exclude[i, j]`` removes sample j's two views from the
        denominators of sample i's anchors (false-negative exclusion window). Positives
        are never removed, so the diagonal is ignored.
    groups : Tensor, optional
        Integer labels, shape (N,). All views sharing a label are positives of each other,
        with the supervised-contrastive ``L_out`` form (Khosla et al. 2020): the loss of an
        anchor is the mean over its positives of ``-log softmax``.
    hard_negative_beta : float
        Concentration beta >= 0 of hard-negative importance weights ``exp(beta · logit)``
        (Robinson et al. 2021). 0 gives the uniform weighting of plain InfoNCE.
    debias_tau_plus : float
        Class prior tau+ in [0, 1) of debiased contrastive estimation (Chuang et al.
        2020). The negative term is clamped at its theoretical minimum
        ``n_neg · exp(-1 / temperature)``.
    chunk_size : int, optional
        Anchor rows per block. Gives the same value and gradient as the dense path with
        O(chunk_size · 2N) memory.
    negatives_exclude : Tensor, optional
        Bool mask, shape (N, M), only with ``negatives``. ``negatives_exclude[i, k]``
        removes bank entry k from the denominators of sample i's two anchors, e.g.
        ``queue.exclusion_mask(groups)`` (same-group entries are false negatives) or
        ``queue.nearby_mask(locations, distance)``.

    Returns
    -------
    Tensor
        The scalar loss, with gradients to ``z1``, ``z2``, ``negatives`` and a learnable
        temperature.
    """
    return masked_info_nce(
        z1,
        z2,
        temperature=temperature,
        negatives=negatives,
        exclude=exclude,
        groups=groups,
        hard_negative_beta=hard_negative_beta,
        debias_tau_plus=debias_tau_plus,
        chunk_size=chunk_size,
        negatives_exclude=negatives_exclude,
    )


def masked_info_nce(
    z1: Tensor,
    z2: Tensor,
    *,
    temperature: TemperatureLike = 0.1,
    negatives: Tensor | None = None,
    exclude: Tensor | None = None,
    groups: Tensor | None = None,
    hard_negative_beta: float = 0.0,
    debias_tau_plus: float = 0.0,
    chunk_size: int | None = None,
    negatives_exclude: Tensor | None = None,
    anchor_rows: tuple[tuple[int, int], ...] | None = None,
) -> Tensor:
    """:func:`info_nce` plus a choice of anchors.

    ``anchor_rows`` restricts the sum to these half-open ranges of the 2N anchors (view 1
    of sample i is anchor i, view 2 is anchor N + i); it is still divided by 2N. A rank
    of a distributed job uses it for its own anchors against the global batch.
    """
    tau = _validate(
        z1,
        z2,
        temperature,
        negatives,
        exclude,
        groups,
        hard_negative_beta,
        debias_tau_plus,
        chunk_size,
        negatives_exclude,
    )
    n = z1.shape[0]
    views = F.normalize(torch.cat([z1, z2]), dim=1)
    # a queue's float32 entries join bf16 or float64 embeddings in the embeddings' type and device
    keys = views if negatives is None else torch.cat([views, F.normalize(negatives.to(views), dim=1)])
    masks = _Masks(n, exclude, groups, negatives_exclude)
    weighting = _Weighting(float(hard_negative_beta), float(debias_tau_plus))

    total = 0.0
    for first, last in anchor_rows or ((0, 2 * n),):
        if chunk_size is None or chunk_size >= last - first:
            total = total + _block_loss(views, keys, tau, first, last, masks, weighting)
            continue
        for start in range(first, last, chunk_size):
            total = total + checkpoint(
                _block_loss,
                views,
                keys,
                tau,
                start,
                min(start + chunk_size, last),
                masks,
                weighting,
                use_reentrant=False,
                preserve_rng_state=False,
            )
    return total / (2 * n)


@dataclass(frozen=True)
class _Weighting:
    """How the negatives enter the denominator: plain sum, or HCL / DCL estimators."""

    beta: float
    tau_plus: float

    @property
    def plain(self) -> bool:
        return self.beta == 0.0 and self.tau_plus == 0.0


@dataclass(frozen=True)
class _Masks:
    """Builds, for a block of anchor rows, which keys are positives and which are removed.

    Anchor ``a`` in [0, 2N) is view ``a // N`` of sample ``a % N``; its partner is
    ``(a + N) % 2N``. Keys are the 2N views followed by the M bank entries.
    """

    n: int
    exclude: Tensor | None
    groups: Tensor | None
    negatives_exclude: Tensor | None

    @property
    def single_positive(self) -> bool:
        return self.groups is None

    def positives(self, rows: Tensor, partners: Tensor, n_keys: int) -> Tensor:
        """Bool (rows, keys): the partner, and with groups every same-label view but self."""
        n = self.n
        if self.groups is None:
            pos = torch.zeros(len(rows), n_keys, dtype=torch.bool, device=rows.device)
            pos[torch.arange(len(rows), device=rows.device), partners] = True
            return pos
        row_groups = self.groups[rows % n]
        same = row_groups[:, None] == self.groups.repeat(2)[None, :]
        same[torch.arange(len(rows), device=rows.device), rows] = False
        bank = torch.zeros(len(rows), n_keys - 2 * n, dtype=torch.bool, device=rows.device)
        return torch.cat([same, bank], dim=1)

    def removed(self, rows: Tensor, n_keys: int) -> Tensor | None:
        """Bool (rows, keys) of excluded negatives, or None when nothing is excluded.

        Self-similarity is handled separately; positives must be cleared by the caller.
        """
        if self.exclude is None and self.negatives_exclude is None:
            return None
        samples = rows % self.n
        if self.exclude is None:
            in_batch = torch.zeros(len(rows), 2 * self.n, dtype=torch.bool, device=rows.device)
        else:
            in_batch = self.exclude[samples].repeat(1, 2)
        if self.negatives_exclude is None:
            bank = torch.zeros(len(rows), n_keys - 2 * self.n, dtype=torch.bool, device=rows.device)
        else:
            bank = self.negatives_exclude[samples]
        return torch.cat([in_batch, bank], dim=1)


def _block_loss(
    views: Tensor,
    keys: Tensor,
    tau: float | Tensor,
    start: int,
    stop: int,
    masks: _Masks,
    weighting: _Weighting,
) -> Tensor:
    """Sum of the per-anchor losses of anchors ``start:stop``. Shapes: views (2N, d), keys (2N+M, d)."""
    rows = torch.arange(start, stop, device=views.device)
    # Scaling the (rows, d) side by 1/tau is cheaper than scaling the (rows, keys) logits.
    logits = (views[start:stop] / tau) @ keys.T
    logits.diagonal(offset=start).fill_(-math.inf)  # an anchor is not its own negative
    n_keys = keys.shape[0]
    partners = (rows + masks.n) % (2 * masks.n)
    removed = masks.removed(rows, n_keys)

    if masks.single_positive and weighting.plain:
        # Fused log-softmax + NLL: the fastest and numerically stable form.
        if removed is not None:
            removed[torch.arange(len(rows), device=rows.device), partners] = False  # never drop the positive
            logits = logits.masked_fill(removed, -math.inf)
        return F.cross_entropy(logits, partners, reduction="sum")

    positives = masks.positives(rows, partners, n_keys)
    if removed is not None:
        logits = logits.masked_fill(removed & ~positives, -math.inf)
    n_pos = positives.sum(dim=1)
    mean_positive_logit = logits.masked_fill(~positives, 0.0).sum(dim=1) / n_pos

    if weighting.plain:  # SupCon L_out: mean over positives of -log softmax
        return (torch.logsumexp(logits, dim=1) - mean_positive_logit).sum()

    negatives = ~positives & torch.isfinite(logits)
    log_neg = _log_negative_term(logits, negatives, positives, n_pos, tau, weighting)
    log_pos = torch.logsumexp(logits.masked_fill(~positives, -math.inf), dim=1)
    return (torch.logaddexp(log_pos, log_neg) - mean_positive_logit).sum()


def _log_negative_term(
    logits: Tensor,
    negatives: Tensor,
    positives: Tensor,
    n_pos: Tensor,
    tau: float | Tensor,
    weighting: _Weighting,
) -> Tensor:
    """log Ng per anchor: the HCL / DCL estimate of the negatives' partition sum.

    Robinson et al. 2021, eq. 4 and Chuang et al. 2020, eq. 6 with the clamp of their
    reference code, generalised to several positives by using their mean exp-logit.
    """
    n_neg = negatives.sum(dim=1)
    empty = n_neg == 0
    # Rows without negatives get dummy zeros, so no NaN reaches the gradient via -inf - -inf.
    neg_logits = logits.masked_fill(~negatives | empty[:, None], -math.inf)
    neg_logits = neg_logits.masked_fill(empty[:, None], 0.0)
    log_n = torch.log(n_neg.clamp(min=1).to(logits.dtype))

    beta = weighting.beta
    if beta == 0.0:
        log_ng = torch.logsumexp(neg_logits, dim=1)
    else:
        # sum_k w_k e^{s_k} / mean_k w_k with w_k = e^{beta s_k}
        log_ng = log_n + torch.logsumexp((1 + beta) * neg_logits, 1) - torch.logsumexp(beta * neg_logits, 1)

    tau_plus = weighting.tau_plus
    if tau_plus > 0.0:
        log_pos_mean = torch.logsumexp(logits.masked_fill(~positives, -math.inf), 1) - torch.log(n_pos.to(logits.dtype))
        inner = 1 - tau_plus * torch.exp(log_n + log_pos_mean - log_ng)
        valid = inner > 0
        debiased = torch.log(torch.where(valid, inner, torch.ones_like(inner))) + log_ng
        debiased = torch.where(valid, debiased - math.log1p(-tau_plus), -math.inf)
        floor = log_n - 1.0 / tau
        log_ng = torch.maximum(debiased, floor)

    return log_ng.masked_fill(empty, -math.inf)


def _validate(
    z1, z2, temperature, negatives, exclude, groups, beta, tau_plus, chunk_size, negatives_exclude
) -> float | Tensor:
    """Check every argument of :func:`info_nce`; return the temperature as float or tensor."""
    for name, z in (("z1", z1), ("z2", z2)):
        _require_tensor(name, z)
        if z.ndim != 2 or z.shape[0] < 1 or z.shape[1] < 1:
            raise ValueError(
                f"The '{name}' parameter of info_nce must have shape (N, d) with N, d >= 1. "
                f"Got shape {tuple(z.shape)} instead."
            )
        if not z.is_floating_point():
            raise TypeError(f"The '{name}' parameter of info_nce must be floating point. Got {z.dtype} instead.")
    if z1.shape != z2.shape:
        raise ValueError(
            f"The 'z1' and 'z2' parameters of info_nce must have the same shape. "
            f"Got {tuple(z1.shape)} and {tuple(z2.shape)} instead."
        )
    n, d = z1.shape
    if negatives is not None:
        _require_tensor("negatives", negatives)
        if negatives.ndim != 2 or negatives.shape[1] != d:
            raise ValueError(
                f"The 'negatives' parameter of info_nce must have shape (M, {d}). Got {tuple(negatives.shape)} instead."
            )
        if not negatives.is_floating_point():
            raise TypeError(
                f"The 'negatives' parameter of info_nce must be floating point. Got {negatives.dtype} instead."
            )
    _check_mask("exclude", exclude, (n, n))
    m = 0 if negatives is None else negatives.shape[0]
    if negatives_exclude is not None and negatives is None:
        raise ValueError("The 'negatives_exclude' parameter of info_nce needs 'negatives'. Got negatives=None.")
    _check_mask("negatives_exclude", negatives_exclude, (n, m))
    if groups is not None:
        _require_tensor("groups", groups)
        if groups.dtype == torch.bool or groups.is_floating_point() or groups.is_complex():
            raise TypeError(
                f"The 'groups' parameter of info_nce must have an integer dtype. Got {groups.dtype} instead."
            )
        if groups.shape != (n,):
            raise ValueError(
                f"The 'groups' parameter of info_nce must have shape ({n},). Got {tuple(groups.shape)} instead."
            )
    _check_real("hard_negative_beta", beta, "finite and >= 0", lambda v: v >= 0)
    _check_real("debias_tau_plus", tau_plus, "in [0, 1)", lambda v: 0 <= v < 1)
    if chunk_size is not None and (
        not isinstance(chunk_size, numbers.Integral) or isinstance(chunk_size, bool) or chunk_size < 1
    ):
        raise ValueError(
            f"The 'chunk_size' parameter of info_nce must be None or an integer >= 1. Got {chunk_size!r} instead."
        )
    return _temperature(temperature)


def _temperature(temperature: TemperatureLike) -> float | Tensor:
    if isinstance(temperature, nn.Module):
        temperature = temperature()
    if isinstance(temperature, Tensor):
        if temperature.numel() != 1:
            raise ValueError(
                f"The 'temperature' parameter of info_nce must be a scalar. Got a tensor of shape {tuple(temperature.shape)} instead."
            )
        value = float(temperature.detach())
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"The 'temperature' parameter of info_nce must be finite and > 0. Got {value!r} instead.")
        return temperature.reshape(())
    _check_real("temperature", temperature, "finite and > 0", lambda v: v > 0)
    return float(temperature)


def _check_real(name: str, value, rule: str, ok) -> None:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(
            f"The '{name}' parameter of info_nce must be a real number. Got {type(value).__name__} instead."
        )
    if not (math.isfinite(value) and ok(value)):
        raise ValueError(f"The '{name}' parameter of info_nce must be {rule}. Got {value!r} instead.")


def _check_mask(name: str, mask: Tensor | None, shape: tuple[int, int]) -> None:
    if mask is None:
        return
    _require_tensor(name, mask)
    if mask.dtype != torch.bool:
        raise TypeError(f"The '{name}' parameter of info_nce must be a bool tensor. Got {mask.dtype} instead.")
    if tuple(mask.shape) != shape:
        raise ValueError(
            f"The '{name}' parameter of info_nce must have shape {shape}. Got {tuple(mask.shape)} instead."
        )


def _require_tensor(name: str, value) -> None:
    if not isinstance(value, Tensor):
        raise TypeError(
            f"The '{name}' parameter of info_nce must be a torch.Tensor. Got {type(value).__name__} instead."
        )

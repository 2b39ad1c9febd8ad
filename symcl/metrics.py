"""Representation-quality metrics: alignment, uniformity (Wang & Isola 2020), effective rank."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def alignment(z1: Tensor, z2: Tensor, alpha: float = 2.0) -> Tensor:
    """Mean distance between positive pairs, ``E ||f(x) - f(y)||^alpha``; lower is better.

    Wang & Isola 2020, "Understanding Contrastive Representation Learning through
    Alignment and Uniformity on the Hypersphere". Inputs are L2-normalised first, so the
    value lies in [0, 2^alpha].

    Shapes: z1, z2 (N, d), tensors or floating numpy arrays (what :func:`symcl.embed`
    returns). Returns a 0-dim tensor.
    """
    z1, z2 = _as_tensor("alignment", "z1", z1), _as_tensor("alignment", "z2", z2)
    _check_pair(z1, z2)
    _check_positive("alignment", "alpha", alpha)
    z1, z2 = F.normalize(z1, dim=1), F.normalize(z2, dim=1)
    return (z1 - z2).norm(dim=1).pow(alpha).mean()


def uniformity(z: Tensor, t: float = 2.0) -> Tensor:
    """Log of the mean Gaussian potential over distinct pairs, ``log E exp(-t ||zi - zj||²)``.

    Wang & Isola 2020. Lower (more negative) is more uniform; collapsed embeddings give
    0, and the bound for uniform points on the sphere tends to ``-2t`` for large d.
    Computed as a log-mean-exp, so it is stable for well-spread embeddings.

    Shape: z (N, d) with N >= 2, a tensor or a floating numpy array. Returns a 0-dim tensor.
    """
    z = _as_tensor("uniformity", "z", z)
    _check_matrix("uniformity", "z", z, min_rows=2)
    _check_floating("uniformity", "z", z)
    _check_positive("uniformity", "t", t)
    low_precision = z.dtype in (torch.float16, torch.bfloat16)  # pdist has no half-precision kernel on CPU
    sq_dists = torch.pdist(F.normalize(z.float() if low_precision else z, dim=1), p=2).pow(2)
    value = torch.logsumexp(-t * sq_dists, dim=0) - math.log(sq_dists.numel())
    return value.to(z.dtype) if low_precision else value


def effective_rank(z: Tensor, eps: float = 1e-12) -> float:
    """Effective rank (Roy & Vetterli 2007): exp of the entropy of normalised singular values.

    1 for collapsed (rank-one) embeddings, up to ``min(N, d)`` for isotropic ones. The
    matrix is not centred, as in RankMe (Garrido et al. 2023).

    Shape: z (N, d), a tensor or a floating numpy array. Returns a float.
    """
    z = _as_tensor("effective_rank", "z", z)
    _check_matrix("effective_rank", "z", z, min_rows=1)
    s = torch.linalg.svdvals(z.detach().to(torch.float64))
    p = s / (s.sum() + eps)
    entropy = -(p * torch.log(p + eps)).sum()
    return float(torch.exp(entropy))


def _as_tensor(func: str, name: str, z: Tensor | np.ndarray) -> Tensor:
    """A numpy array as a tensor; only floating arrays, as integer embeddings are a mistake."""
    if not isinstance(z, np.ndarray):
        return z
    if not np.issubdtype(z.dtype, np.floating):
        raise TypeError(f"The '{name}' parameter of {func} must be floating point. Got a numpy array of {z.dtype}.")
    return torch.from_numpy(np.array(z))  # a copy: torch takes no negative strides nor read-only memory


def _check_pair(z1: Tensor, z2: Tensor) -> None:
    _check_matrix("alignment", "z1", z1, min_rows=1)
    _check_matrix("alignment", "z2", z2, min_rows=1)
    _check_floating("alignment", "z1", z1)
    _check_floating("alignment", "z2", z2)
    if z1.shape != z2.shape:
        raise ValueError(
            f"The 'z1' and 'z2' parameters of alignment must have the same shape. Got {tuple(z1.shape)} and {tuple(z2.shape)} instead."
        )


def _check_matrix(func: str, name: str, z: Tensor, *, min_rows: int) -> None:
    if not isinstance(z, Tensor):
        raise TypeError(
            f"The '{name}' parameter of {func} must be a torch.Tensor or a numpy array. Got {type(z).__name__} instead."
        )
    if z.ndim != 2 or z.shape[0] < min_rows or z.shape[1] < 1:
        raise ValueError(
            f"The '{name}' parameter of {func} must have shape (N, d) with N >= {min_rows}. Got {tuple(z.shape)} instead."
        )
    if not torch.isfinite(z).all():  # a NaN would give a NaN metric, or an SVD error, without a word
        raise ValueError(f"The '{name}' parameter of {func} must be finite. It holds NaN or infinite values.")


def _check_floating(func: str, name: str, z: Tensor) -> None:
    # vector_norm and pdist have no integer kernels; say so instead of their RuntimeError
    if not z.is_floating_point():
        raise TypeError(f"The '{name}' parameter of {func} must be floating point. Got {z.dtype} instead.")


def _check_positive(func: str, name: str, value) -> None:
    # inf would give 0 or -inf without a word, a string a bare comparison error
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        raise TypeError(f"The '{name}' parameter of {func} must be a real number. Got {type(value).__name__} instead.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"The '{name}' parameter of {func} must be finite and > 0. Got {value!r} instead.")

"""The distance head: predicted evolutionary distance = squared Euclidean distance of embeddings.

d(a, b) = ||e_a - e_b||^2 is symmetric and zero for a sequence and itself by
construction, and all-vs-all is one batched ``torch.cdist``. Why squared and not plain
Euclidean:

- Evolutionary distances are (nearly) additive tree metrics. Every tree metric is of
  negative type, so it is exactly the squared Euclidean distance of some point set
  (Schoenberg 1935), whereas a plain Euclidean embedding of a tree metric is in general
  distorted (a quartet with an inner branch cannot be embedded isometrically). So the
  squared form can represent the target exactly; the triangle inequality, which it
  gives up, is not needed by neighbour joining.
- It matches how a pooled encoder responds to evolution: if each substitution moves the
  mean-pooled features by a small, roughly independent random step, the embedding
  performs a random walk along the tree, and the expected *squared* displacement grows
  linearly with the number of substitutions, i.e. with the evolutionary distance
  (Brownian motion on a tree; Felsenstein 1985). A plain norm would grow as its root.
- Its gradient is smooth everywhere, also at e_a = e_b, where the gradient of the norm
  is undefined.
- No learnable scale s is needed: the encoder's last linear layer scales the
  embeddings freely, which scales d.

References
----------
Schoenberg I.J. (1935) Remarks to Maurice Fréchet's article "Sur la définition
axiomatique d'une classe d'espaces distanciés vectoriellement applicable sur l'espace
de Hilbert". Ann. Math. 36:724-732.

Felsenstein J. (1985) Phylogenies and the comparative method. Am. Nat. 125:1-15.
"""

from __future__ import annotations

import torch
from torch import Tensor


def pair_distance(z1: Tensor, z2: Tensor) -> Tensor:
    """Predicted distance of each pair of rows, ||z1[i] - z2[i]||^2.

    Shapes: z1 (N, d), z2 (N, d) -> (N,). Symmetric in z1, z2 and exactly 0 where
    z1[i] == z2[i].
    """
    if z1.shape != z2.shape or z1.ndim != 2:
        raise ValueError(
            f"pair_distance needs two (N, d) tensors of the same shape. Got {tuple(z1.shape)} and "
            f"{tuple(z2.shape)} instead."
        )
    return (z1 - z2).square().sum(dim=-1)


def cross_distances(za: Tensor, zb: Tensor) -> Tensor:
    """Predicted distances of all pairs, ||za[i] - zb[j]||^2, as one batched ``torch.cdist``.

    Shapes: za (N, d), zb (M, d) -> (N, M). The differences are formed explicitly (no
    ``|a|^2 + |b|^2 - 2ab`` expansion), so ``cross_distances(z, z)`` is exactly
    symmetric with an exactly zero diagonal, and agrees with :func:`pair_distance` to
    float rounding.
    """
    if za.ndim != 2 or zb.ndim != 2 or za.shape[1] != zb.shape[1]:
        raise ValueError(
            f"cross_distances needs (N, d) and (M, d) tensors. Got {tuple(za.shape)} and {tuple(zb.shape)} instead."
        )
    return torch.cdist(za, zb, p=2.0, compute_mode="donot_use_mm_for_euclid_dist").square()

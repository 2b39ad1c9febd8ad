"""The patch encoder: a small 2-D CNN whose normalisation never looks across the batch.

Input: image patches of shape (B, 1, P, P) or (B, P, P), in any intensity unit
(counts, normalised, ...). Output: embeddings of shape (B, dim).

- Every patch is first standardised on its own (:func:`normalise_patches`), so the dose,
  the detector gain and the background do not dominate the embedding.
- Every normalisation layer is a GroupNorm, which normalises each sample on its own.
  BatchNorm would let the model "cheat" in contrastive learning: the statistics of the
  batch leak information between samples (the background article, and Chen et al.
  2020 on SimCLR, use global BN for that reason). Here a patch's embedding is the same
  whatever else is in the batch, in training and in evaluation mode.
- The head pools the feature map three ways: its mean (the lattice around the site), its
  max (keeps a small, off-centre defect visible) and its centre (what sits at the site
  itself, so that sites of different sublattices stay apart although their patches
  hold the same lattice, shifted).

:class:`PatchEnsemble` holds several PatchCNNs trained side by side (``symcl crystal
train --members N``), each on its own loss; its embedding is their unit embeddings
concatenated.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import torch
from torch import Tensor, nn

from symcl.layers import check_sizes


def normalise_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Standardise every patch on its own: zero mean, unit standard deviation.

    Parameters
    ----------
    patches : Tensor
        float (B, C, H, W).

    Returns
    -------
    Tensor
        Same shape; a constant patch becomes zeros.
    """
    mean = patches.mean(dim=(-3, -2, -1), keepdim=True)
    centred = patches - mean
    std = centred.square().mean(dim=(-3, -2, -1), keepdim=True).sqrt()
    return centred / (std + eps * (mean.abs() + 1.0))


class _ConvBlock(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, kernel_size: int, stride: int):
        super().__init__(
            nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False),
            nn.GroupNorm(min(8, c_out), c_out),
            nn.GELU(),
        )


class PatchCNN(nn.Module):
    """A small CNN embedding atomic-resolution patches: (B, 1, P, P) -> (B, dim).

    Layout: a 5x5 stride-2 stem, then two stages of (3x3 stride-2, 3x3) convolutions
    doubling the channels, each followed by GroupNorm and GELU; mean, max and centre
    (the central 2 x 2 cells) pooling and a two-layer head. With ``channels=16`` and ``dim=64`` it has about 86 k parameters
    (0.36 MB) and embeds a few thousand 48-px patches per second on one CPU core.

    Parameters
    ----------
    dim : int
        Embedding dimension.
    channels : int
        Channels of the stem (stages have 2x and 4x).
    patch_size : int
        P, recorded for the pipeline (any size >= 16 px works).
    pixel_size : float
        Å/px of the training patches, recorded so that images are resampled to it.
    """

    def __init__(self, dim: int = 64, channels: int = 16, patch_size: int = 48, pixel_size: float = 0.3):
        super().__init__()
        dim, channels, patch_size = check_sizes(
            "PatchCNN", (("dim", dim, 1), ("channels", channels, 1), ("patch_size", patch_size, 1))
        )
        if isinstance(pixel_size, bool) or not isinstance(pixel_size, numbers.Real) or not 0 < pixel_size < math.inf:
            raise ValueError(
                f"The 'pixel_size' parameter of PatchCNN must be a finite number > 0. Got {pixel_size!r} instead."
            )
        self.config: dict[str, Any] = {
            "kind": "patch_cnn",
            "dim": dim,
            "channels": channels,
            "patch_size": patch_size,
            "pixel_size": float(pixel_size),
        }
        c = channels
        self.features = nn.Sequential(
            _ConvBlock(1, c, 5, 2),
            _ConvBlock(c, 2 * c, 3, 2),
            _ConvBlock(2 * c, 2 * c, 3, 1),
            _ConvBlock(2 * c, 4 * c, 3, 2),
            _ConvBlock(4 * c, 4 * c, 3, 1),
        )
        self.head = nn.Sequential(nn.Linear(12 * c, 4 * c), nn.GELU(), nn.Linear(4 * c, dim))

    def forward(self, patches: Tensor) -> Tensor:
        """Embed patches. Shapes: (B, 1, P, P) or (B, P, P) -> (B, dim)."""
        x = _as_batch(patches)
        h = self.features(normalise_patches(x))
        rows, cols = h.shape[-2:]
        centre = h[..., (rows - 1) // 2 : rows // 2 + 1, (cols - 1) // 2 : cols // 2 + 1].mean(dim=(-2, -1))
        pooled = torch.cat([h.mean(dim=(-2, -1)), h.amax(dim=(-2, -1)), centre], dim=1)
        return self.head(pooled)


class PatchEnsemble(nn.Module):
    """Several :class:`PatchCNN` encoders trained side by side; their unit embeddings, concatenated.

    Each member is trained with its own InfoNCE loss on the same batches (see
    :func:`member_embeddings`), from its own initialisation, so the members stay
    independent models. The embedding is the concatenation of the members' unit vectors
    divided by sqrt(members): unit length, and its cosine similarity is the mean of the
    members' cosines. On the benchmark's defect kinds, two independently trained encoders
    concatenated gave a linear probe 1 to 5 points above either alone
    (data/crystal/model/README.md).

    Parameters
    ----------
    members : int
        Number of encoders, >= 2.
    dim : int
        Width of the whole embedding; each member embeds to ``dim // members``, so it must
        divide evenly.
    channels, patch_size, pixel_size
        As for :class:`PatchCNN`, the same for every member.
    """

    def __init__(
        self, members: int = 2, dim: int = 128, channels: int = 16, patch_size: int = 48, pixel_size: float = 0.3
    ):
        super().__init__()
        members, dim = check_sizes("PatchEnsemble", (("members", members, 2), ("dim", dim, members)))
        if dim % members:
            raise ValueError(
                f"The 'dim' parameter of PatchEnsemble must be a multiple of members ({members}). Got {dim!r} instead."
            )
        self.members = nn.ModuleList(
            PatchCNN(dim=dim // members, channels=channels, patch_size=patch_size, pixel_size=pixel_size)
            for _ in range(members)
        )
        # The members' settings, as PatchCNN checked and recorded them.
        self.config: dict[str, Any] = {
            **self.members[0].config,
            "kind": "patch_ensemble",
            "members": members,
            "dim": dim,
        }

    def forward(self, patches: Tensor) -> Tensor:
        """Embed patches. Shapes: (B, 1, P, P) or (B, P, P) -> (B, dim), rows of unit length."""
        parts = [nn.functional.normalize(member(patches), dim=1) for member in self.members]
        return torch.cat(parts, dim=1) / len(parts) ** 0.5


def member_embeddings(embeddings: Tensor, members: int) -> tuple[Tensor, ...]:
    """Split a batch of :class:`PatchEnsemble` embeddings (B, dim) into its members' (B, dim // members) parts."""
    return embeddings.chunk(members, dim=1)


ENCODERS = {"patch_cnn": PatchCNN, "patch_ensemble": PatchEnsemble}


def build_encoder(config: dict[str, Any]) -> nn.Module:
    """Rebuild an encoder from its ``config`` dict (as saved in config.json)."""
    if not isinstance(config, dict) or config.get("kind") not in ENCODERS:
        kind = config.get("kind") if isinstance(config, dict) else config
        raise ValueError(f"Unknown crystal encoder kind {kind!r}; expected one of {sorted(ENCODERS)}.")
    options = {k: v for k, v in config.items() if k != "kind"}
    try:
        return ENCODERS[config["kind"]](**options)
    except TypeError as error:
        raise ValueError(f"Bad crystal encoder config {config!r}: {error}") from None


def _as_batch(patches: Tensor) -> Tensor:
    if not isinstance(patches, Tensor):
        raise TypeError(f"PatchCNN takes a tensor of patches. Got {type(patches).__name__} instead.")
    if patches.ndim == 3:
        patches = patches.unsqueeze(1)
    if patches.ndim != 4 or patches.shape[1] != 1 or min(patches.shape[-2:]) < 16:
        raise ValueError(
            f"PatchCNN takes patches of shape (B, 1, P, P) or (B, P, P) with P >= 16. Got {tuple(patches.shape)} instead."
        )
    if not patches.is_floating_point():
        patches = patches.float()
    return patches

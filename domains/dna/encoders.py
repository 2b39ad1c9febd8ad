"""Encoders of DNA fragments: 1-D CNNs, made strand-invariant by construction or not.

The default encoder is the codon-phase k-mer encoder of
:mod:`~symcl.domains.dna.codon_encoder` (the phase-blind k-mer bag of
:mod:`~symcl.domains.dna.kmer_encoder` is the fastest); both are much faster than these
CNNs. :func:`build_encoder` rebuilds any of them from its config.

Input of every encoder: model codes, ``uint8`` or ``int64`` of shape (B, L) (A=0, C=1,
G=2, T=3, ambiguous=4, padding=5 after the end of each sequence), as produced by
:class:`~symcl.domains.dna.views.DnaViews`. Output: embeddings of shape (B, dim).

- :class:`StrandInvariantCNN` computes ``head(h(x) + h(rc(x)))`` with one shared trunk
  ``h``: swapping ``x`` and ``rc(x)`` swaps the two terms of a sum, so the embedding of
  a fragment and of its reverse complement are equal up to float rounding (the
  "conjoined" construction of Zhou et al. 2021).
- :class:`PlainCNN` computes ``head(h(x))`` and can learn invariance only from the
  reverse-complement positive pairs; it is kept as the comparison.

Padding never changes a result: the trunk zeroes padded positions after every layer,
normalises each position over channels only (no batch or length statistics), and
mean-pools over the valid positions, so any length works and a sequence embeds the
same whatever it is batched with.

References
----------
Zhou, H., Shrikumar, A. & Kundaje, A. (2021). Towards a better understanding of
reverse-complement equivariance for deep learning models in genomics. MLCB, PMLR 165.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from symcl.layers import ChannelNorm, ResidualBlock, check_sizes

from .alphabet import CODE_COMPLEMENT, CODE_PAD, check_codes
from .codon_encoder import CodonPhaseEncoder
from .kmer_encoder import KmerBagEncoder

# Rows: codes 0..5. Ambiguous bases are uniform (their complement is uniform too), padding is 0.
_ONE_HOT = torch.tensor(
    [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1], [0.25] * 4, [0, 0, 0, 0]], dtype=torch.float32
)
_COMPLEMENT = torch.from_numpy(CODE_COMPLEMENT.astype("int64"))


def one_hot(codes: Tensor) -> tuple[Tensor, Tensor]:
    """One-hot encoding and validity mask of a batch of codes.

    Parameters
    ----------
    codes : Tensor
        Integer codes, shape (B, L).

    Returns
    -------
    x : Tensor
        float32, shape (B, 4, L), channels ordered A, C, G, T; ambiguous bases 0.25 each,
        padding 0.
    mask : Tensor
        float32, shape (B, 1, L): 1 at sequence positions, 0 at padding.
    """
    table = _ONE_HOT.to(codes.device)
    x = table[codes.long()].transpose(1, 2)
    mask = (codes != CODE_PAD).unsqueeze(1).to(x.dtype)
    return x.contiguous(), mask


def reverse_complement_batch(codes: Tensor) -> Tensor:
    """Reverse complement of every sequence of a padded batch, padding kept at the end.

    Parameters
    ----------
    codes : Tensor
        Integer codes, shape (B, L), padding (5) only after each sequence.

    Returns
    -------
    Tensor
        Same shape and dtype; row i holds rc of the first ``len_i`` codes, then padding.
    """
    lengths = (codes != CODE_PAD).sum(dim=1, keepdim=True)
    position = torch.arange(codes.shape[1], device=codes.device)
    index = torch.where(position < lengths, lengths - 1 - position, position)
    return _COMPLEMENT.to(codes.device)[codes.gather(1, index).long()].to(codes.dtype)


class ConvTrunk(nn.Module):
    """The shared 1-D CNN ``h``: one-hot (B, 4, L) and mask (B, 1, L) -> pooled features (B, C).

    Parameters
    ----------
    channels : int
        Feature channels C.
    kernel_size : int
        Odd width (bp) of the first convolution, which sees k-mers of that length.
    blocks : int
        Residual blocks after it; block i has dilation 2**i.
    block_kernel_size : int
        Odd width of the residual blocks' convolutions.
    stride : int
        Step (bp) of the first convolution; the blocks then run at 1/stride of the
        resolution, which divides their cost by ``stride``.
    """

    def __init__(
        self, channels: int = 64, kernel_size: int = 9, blocks: int = 2, block_kernel_size: int = 5, stride: int = 1
    ):
        super().__init__()
        self.stride = stride
        self.stem = nn.Conv1d(4, channels, kernel_size, stride=stride, padding=kernel_size // 2)
        self.blocks = nn.ModuleList(ResidualBlock(channels, block_kernel_size, 2**i) for i in range(blocks))
        self.norm = ChannelNorm(channels)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        mask = mask[..., :: self.stride]  # output j of the stem is centred on input j * stride
        h = self.stem(x) * mask
        for block in self.blocks:
            h = block(h, mask)
        h = F.gelu(self.norm(h)) * mask
        return h.sum(dim=2) / mask.sum(dim=2).clamp_min(1.0)


class _CNNEncoder(nn.Module):
    """Shared construction and config of the two encoders."""

    kind = ""

    def __init__(
        self,
        *,
        dim: int = 64,
        channels: int = 64,
        kernel_size: int = 9,
        blocks: int = 2,
        block_kernel_size: int = 5,
        stride: int = 2,
    ):
        super().__init__()
        dim, channels, kernel_size, blocks, block_kernel_size, stride = check_sizes(
            type(self).__name__,
            (
                ("dim", dim, 1),
                ("channels", channels, 1),
                ("kernel_size", kernel_size, 1),
                ("blocks", blocks, 0),
                ("block_kernel_size", block_kernel_size, 1),
                ("stride", stride, 1),
            ),
            odd=("kernel_size", "block_kernel_size"),
        )
        self.config = {
            "kind": self.kind,
            "dim": dim,
            "channels": channels,
            "kernel_size": kernel_size,
            "blocks": blocks,
            "block_kernel_size": block_kernel_size,
            "stride": stride,
        }
        self.trunk = ConvTrunk(channels, kernel_size, blocks, block_kernel_size, stride)
        self.head = nn.Sequential(nn.Linear(channels, channels), nn.GELU(), nn.Linear(channels, dim))

    @property
    def dim(self) -> int:
        return self.config["dim"]


class StrandInvariantCNN(_CNNEncoder):
    """Strand-invariant by construction: ``head(h(x) + h(rc(x)))``.

    Parameters
    ----------
    dim : int
        Embedding dimension.
    channels, kernel_size, blocks, block_kernel_size, stride : int
        Trunk options, see :class:`ConvTrunk`.

    Shape: codes (B, L) -> embeddings (B, dim). ``model(x)`` and
    ``model(reverse_complement_batch(x))`` agree to float rounding.
    """

    kind = "strand_invariant"

    def forward(self, codes: Tensor) -> Tensor:
        check_codes(codes)
        both = torch.cat([codes, reverse_complement_batch(codes)])
        pooled = self.trunk(*one_hot(both))
        n = len(codes)
        return self.head(pooled[:n] + pooled[n:])


class PlainCNN(_CNNEncoder):
    """The same CNN without built-in invariance: ``head(h(x))``, for comparison.

    Shape: codes (B, L) -> embeddings (B, dim).
    """

    kind = "plain"

    def forward(self, codes: Tensor) -> Tensor:
        check_codes(codes)
        return self.head(self.trunk(*one_hot(codes)))


ENCODERS: dict[str, type[nn.Module]] = {
    cls.kind: cls for cls in (CodonPhaseEncoder, KmerBagEncoder, StrandInvariantCNN, PlainCNN)
}


def build_encoder(config: dict[str, Any]) -> nn.Module:
    """Rebuild an encoder from its ``config`` dict (as saved in a model's config.json).

    ``config["kind"]`` is "codon_phase" (:class:`CodonPhaseEncoder`), "kmer"
    (:class:`KmerBagEncoder`), "strand_invariant"
    (:class:`StrandInvariantCNN`) or "plain" (:class:`PlainCNN`); the other keys are
    the constructor's keyword arguments.

    Raises
    ------
    ValueError
        Unknown ``kind`` or bad options.
    """
    options = dict(config)
    kind = options.pop("kind", None)
    if kind not in ENCODERS:
        raise ValueError(f"The encoder 'kind' must be one of {sorted(ENCODERS)}. Got {kind!r} instead.")
    try:
        return ENCODERS[kind](**options)
    except TypeError as error:
        raise ValueError(f"Bad options for the {kind!r} encoder: {error}") from None

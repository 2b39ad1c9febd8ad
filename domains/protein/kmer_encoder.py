"""The protein k-mer bag encoder: learned embeddings of 1-, 2- and 3-mers, (segment-)mean pooled.

Every position of a sequence starts a k-mer for each k of ``kmer_sizes``; each k has its
own learned table with one row per k-mer (``20**k`` rows; k-mers with B, Z, X or padding
look up nothing). The rows are averaged over the sequence, or, with ``segments`` S > 1,
over S overlapping stretches by relative position (the hat weights of
:func:`~symcl.domains.protein.encoder.segment_weights`), concatenated over k and
stretches, layer-normalised, and mapped to ``dim`` by a linear layer or a small MLP.

Why: a mean of 3-mer rows is a learned linear projection of the 8,000-dimensional 3-mer
frequency vector, whose cosine distance is already a fair alignment-free estimate of
evolutionary distance (``benchmarks/bench_protein.py``, the k-mer baseline). The bag
never builds a (positions x channels) feature map through several layers, so it is
cheap to train and to run. It is the protein analogue of
:class:`symcl.domains.dna.kmer_encoder.KmerBagEncoder`, without the strand sharing.

Input: residue codes (B, L) as for :class:`~symcl.domains.protein.encoder.ProteinCNN`
(:func:`~symcl.domains.protein.encoder.encode_batch`). Output: embeddings (B, dim).
A sequence embeds the same whatever it is batched with (padding adds no k-mer and
the weights are per sequence).

Measured (``benchmarks/bench_protein.py --skip-speed --quick``, held-out real families,
trained like the shipped CNN; see ``data/protein/model/README.md``): with 64 channels
and 8 segments, pooled Spearman 0.514 and mean NJ-tree RF 0.865 against the shipped
CNN's 0.603 and 0.733, homolog AUROC 0.875 against 0.748. It is not the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from symcl.layers import check_sizes

from .encoder import PAD_CODE, check_codes, segment_weights
from .kmer import N_STANDARD, check_kmer_size, kmer_indices


class ProteinKmerBag(nn.Module):
    """Residue codes (B, L) -> embeddings (B, dim): pooled learned k-mer embeddings and a small head.

    Parameters
    ----------
    dim : int
        Embedding dimension.
    kmer_sizes : sequence of int
        Distinct k-mer lengths, each in 1..4; one table of ``20**k`` rows each.
    channels : int
        Width of each table.
    segments : int
        Pooled stretches S >= 1 by relative position; 1 (default) is a plain mean.
    hidden : int
        Width of the hidden layer of a Linear-GELU-Linear head; 0 for a single linear layer.

    Attributes
    ----------
    config : dict
        The constructor arguments plus ``kind`` (``"kmer"``), as saved in a model's
        config.json (:func:`~symcl.domains.protein.encoder.build_encoder` rebuilds it).
    """

    kind = "kmer"

    def __init__(
        self,
        *,
        dim: int = 64,
        kmer_sizes: Sequence[int] = (1, 2, 3),
        channels: int = 64,
        segments: int = 1,
        hidden: int = 256,
    ):
        super().__init__()
        dim, channels, segments, hidden = check_sizes(
            "ProteinKmerBag",
            (("dim", dim, 1), ("channels", channels, 1), ("segments", segments, 1), ("hidden", hidden, 0)),
        )
        if isinstance(kmer_sizes, (str, bytes)) or not isinstance(kmer_sizes, Sequence) or not kmer_sizes:
            raise ValueError(
                f"The 'kmer_sizes' parameter of ProteinKmerBag must be a non-empty list of integers. "
                f"Got {kmer_sizes!r} instead."
            )
        sizes = [check_kmer_size(k, "ProteinKmerBag") for k in kmer_sizes]
        if len(set(sizes)) != len(sizes):
            raise ValueError(f"The 'kmer_sizes' parameter of ProteinKmerBag must be distinct. Got {sizes} instead.")
        self.config = {
            "kind": self.kind,
            "dim": dim,
            "kmer_sizes": sizes,
            "channels": channels,
            "segments": segments,
            "hidden": hidden,
        }
        self.tables = nn.ModuleList(nn.Embedding(N_STANDARD**k + 1, channels, padding_idx=N_STANDARD**k) for k in sizes)
        width = channels * segments * len(sizes)
        self.norm = nn.LayerNorm(width)
        if hidden:
            self.head = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, dim))
        else:
            self.head = nn.Linear(width, dim)

    @property
    def dim(self) -> int:
        return self.config["dim"]

    def forward(self, codes: Tensor) -> Tensor:
        """Shape: codes (B, L) -> embeddings (B, dim), float32."""
        check_codes(codes)
        segments = self.config["segments"]
        residues = (codes != PAD_CODE).sum(dim=1).view(-1, 1, 1)  # (B, 1, 1)
        parts = []
        for k, table in zip(self.config["kmer_sizes"], self.tables, strict=True):
            index = kmer_indices(codes, k)  # (B, W)
            mask = (index < N_STANDARD**k).unsqueeze(1).to(table.weight.dtype)  # (B, 1, W)
            # Positions run over all windows of the sequence, k-mers over X, B or Z included:
            # counting only the valid ones would push every position after an X along.
            windows = (residues - k + 1).clamp(min=0).to(mask.dtype)
            weights = segment_weights(mask, segments, span=windows)  # (B, S, W); all zero without a k-mer
            parts.append(torch.bmm(weights, table(index)))  # (B, S, C)
        bag = torch.cat(parts, dim=2).flatten(1)  # (B, S * C * len(kmer_sizes))
        return self.head(self.norm(bag))

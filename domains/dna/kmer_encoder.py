"""The k-mer bag encoder: strand-invariant by reverse-complement parameter sharing, and fast.

Every position of a fragment starts a k-mer, for each k of ``kmer_sizes``. A k-mer and
its reverse complement share one row of a learned embedding table (one row per
*canonical* k-mer), and each table is averaged over the fragment's positions
(``torch.nn.functional.embedding_bag``). The reverse complement of a fragment holds
the reverse complements of its k-mers, so it looks up the same rows, only in reverse
order: its embedding is the same up to float rounding. This is the reverse-complement
parameter sharing of Shrikumar et al. (2017) applied to a k-mer first layer whose
outputs are mean-pooled right away (the k-mers of each fragment are pooled in sorted
order, so the two strands give bit-identical embeddings in practice); pairing each filter with its reverse-complemented
copy and summing the pair is the same as sharing the row of a k-mer and of its
reverse complement.

Why this architecture: the pooled bag is a learned projection of the canonical k-mer
frequencies of several orders (k = 4 is the TNF of binning tools), so it never
materialises a (positions x channels) tensor. That keeps it above 1 Mbp/s on two CPU
cores, which a convolution over every position is not. With ``canonical=False`` each
k-mer has its own row: the same architecture without built-in invariance, for
comparison.

Input: model codes, ``uint8`` or ``int64`` of shape (B, L) (A=0, C=1, G=2, T=3,
ambiguous=4, padding=5 after the end of each sequence). k-mers that contain an
ambiguous base, or that run into the padding, are skipped, as in :func:`~symcl.domains.dna.tnf`.
Output: embeddings of shape (B, dim): the layer-normalised bag (``dim = channels *
len(kmer_sizes)``), optionally followed by a linear layer or a small MLP to ``out_dim``. Train it with a
projection head in the objective (see :func:`~symcl.domains.dna.models.train`,
``projection``); the head is dropped after training.

References
----------
Shrikumar, A., Greenside, P. & Kundaje, A. (2017). Reverse-complement parameter sharing
improves deep learning models for genomics. bioRxiv 103663.
Teeling, H. et al. (2004). TETRA: a web-service and a stand-alone program for the analysis
and comparison of tetranucleotide usage patterns in DNA sequences. BMC Bioinformatics 5, 163.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from symcl.layers import check_sizes

from .alphabet import CODE_N, check_codes
from .tnf import canonical_kmers

MAX_KMER_SIZE = 8  # 4^8 = 65,536 rows per table without sharing; larger tables stop being small


def kmer_classes(codes: np.ndarray, k: int, *, canonical: bool = True) -> np.ndarray:
    """The k-mer starting at every position of a batch of codes, as a row index.

    Parameters
    ----------
    codes : ndarray
        uint8 model codes, shape (B, L), padding (5) only after each sequence.
    k : int
        k-mer length, 1 <= k <= 8.
    canonical : bool
        Index canonical k-mers (a k-mer and its reverse complement share an index,
        ``len(canonical_kmers(k)[1])`` classes), or every k-mer (``4**k`` classes).

    Returns
    -------
    ndarray
        int64, shape (B, max(L - k + 1, 0)). Entry (b, i) is the class of the k-mer at
        positions i .. i+k-1 of row b, or ``n_classes`` when that window holds an
        ambiguous base or padding.
    """
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_KMER_SIZE:
        raise ValueError(f"The 'k' parameter of kmer_classes must be an integer in [1, {MAX_KMER_SIZE}]. Got {k!r}.")
    n_rows, length = codes.shape
    width = max(length - k + 1, 0)
    valid = codes < CODE_N
    digits = np.where(valid, codes, 0).astype(np.int32)
    kmer = np.zeros((n_rows, width), dtype=np.int32)
    for offset in range(k):  # kmer = sum_j digit[i + j] * 4^(k-1-j), in place
        kmer *= 4
        kmer += digits[:, offset : offset + width]
    invalid_before = np.zeros((n_rows, length + 1), dtype=np.int32)
    np.cumsum(~valid, axis=1, dtype=np.int32, out=invalid_before[:, 1:])
    broken = invalid_before[:, k : k + width] != invalid_before[:, :width]
    if canonical:
        index, names = canonical_kmers(k)
        classes, n_classes = index[kmer], len(names)
    else:
        classes, n_classes = kmer.astype(np.int64), 4**k
    classes[broken] = n_classes
    return classes


class KmerBagEncoder(nn.Module):
    """Mean of learned k-mer embeddings of several orders; strand-invariant when ``canonical``.

    Parameters
    ----------
    kmer_sizes : sequence of int
        The k-mer lengths, distinct, each in 1..8; one embedding table per length.
    channels : int
        Width of each table; the embedding has ``channels * len(kmer_sizes)`` dimensions.
    canonical : bool
        Share the row of a k-mer and of its reverse complement (exact strand
        invariance, the default), or not (the comparison that must learn invariance
        from the reverse-complement views).
    hidden : int
        Width of the hidden layer of a small MLP (Linear-GELU-Linear) applied to the
        layer-normalised bag; 0 (default) for none. Needs ``out_dim``.
    out_dim : int
        Width of a top layer on the bag (linear, or the MLP's output with ``hidden``);
        0 (default) returns the normalised bag itself. A narrow top (e.g. 64) gives
        short fragments embeddings that a linear probe separates better than the wide
        bag. It acts on the pooled, already invariant bag, so invariance stays exact.

    Shape: codes (B, L) -> embeddings (B, dim). With ``canonical=True``, ``model(x)`` and
    ``model(reverse_complement_batch(x))`` agree to float rounding, and padding never
    changes an embedding.
    """

    kind = "kmer"

    def __init__(
        self,
        *,
        kmer_sizes: Sequence[int] = (4, 5, 6, 7),
        channels: int = 64,
        canonical: bool = True,
        hidden: int = 0,
        out_dim: int = 0,
    ):
        super().__init__()
        sizes = check_kmer_sizes(kmer_sizes, "KmerBagEncoder")
        channels, hidden, out_dim = check_sizes(
            "KmerBagEncoder", (("channels", channels, 1), ("hidden", hidden, 0), ("out_dim", out_dim, 0))
        )
        if hidden and not out_dim:
            raise ValueError(
                f"The 'hidden' parameter of KmerBagEncoder needs an 'out_dim' > 0 (the MLP's output width). "
                f"Got hidden={hidden} and out_dim={out_dim} instead."
            )
        if not isinstance(canonical, bool):
            raise TypeError(f"The 'canonical' parameter of KmerBagEncoder must be a bool. Got {canonical!r} instead.")
        self.config = {
            "kind": self.kind,
            "kmer_sizes": list(sizes),
            "channels": channels,
            "canonical": canonical,
            "hidden": hidden,
            "out_dim": out_dim,
        }
        self.tables = kmer_tables(sizes, channels, canonical=canonical)
        self.norm = nn.LayerNorm(channels * len(sizes))
        bag_dim = channels * len(sizes)
        if hidden:
            self.top: nn.Module = nn.Sequential(nn.Linear(bag_dim, hidden), nn.GELU(), nn.Linear(hidden, out_dim))
        elif out_dim:
            self.top = nn.Linear(bag_dim, out_dim)
        else:
            self.top = nn.Identity()

    @property
    def dim(self) -> int:
        """Embedding dimension: ``out_dim``, or ``channels * len(kmer_sizes)`` without a top layer."""
        return self.config["out_dim"] or self.config["channels"] * len(self.config["kmer_sizes"])

    def forward(self, codes: Tensor) -> Tensor:
        """Embeddings of a batch of codes. Shape: (B, L) -> (B, dim)."""
        array = check_codes(codes)
        pooled = []
        for k, table in zip(self.config["kmer_sizes"], self.tables, strict=True):
            classes = kmer_classes(array, k, canonical=self.config["canonical"])
            pooled.append(mean_bags(table, *sorted_bags(classes, len(table))))
        return self.top(self.norm(torch.cat(pooled, dim=1)))


def kmer_tables(sizes: Sequence[int], channels: int, *, canonical: bool = True) -> nn.ParameterList:
    """One learned table per k-mer length, ``channels`` wide, N(0, 1) initialised.

    A row per canonical k-mer (a k-mer and its reverse complement share it), or with
    ``canonical=False`` a row per k-mer (``4**k``).
    """
    rows = [(len(canonical_kmers(k)[1]) if canonical else 4**k) for k in sizes]
    return nn.ParameterList(nn.Parameter(torch.randn(n, channels)) for n in rows)


def sorted_bags(classes: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """The flat ``embedding_bag`` input of one bag per row of ``classes``.

    Parameters
    ----------
    classes : ndarray
        int64, shape (R, W): k-mer classes, ``n_classes`` (or more) for "no k-mer".
    n_classes : int
        Number of table rows; larger entries are dropped.

    Returns
    -------
    index : ndarray
        int64, the valid classes of row 0, then row 1, ..., each row in sorted order.
        Sorted bags make a fragment and its reverse complement sum the same rows in the
        same order, so their embeddings are bit-identical (summing in another order
        differs by rounding, which a layer norm can amplify for long fragments).
    offsets : ndarray
        int64, shape (R,): where each row's bag starts in ``index``; an empty bag pools
        to zero. (Flat bags without a padding row are about ten times faster on CPU than
        a 2-D input with ``padding_idx``.)
    """
    rows = np.sort(classes, axis=1)
    valid = rows < n_classes
    offsets = np.zeros(len(rows), dtype=np.int64)
    np.cumsum(valid.sum(axis=1)[:-1], out=offsets[1:])
    return rows[valid], offsets


def mean_bags(table: Tensor, index: np.ndarray, offsets: np.ndarray) -> Tensor:
    """The mean of ``table``'s rows in each bag of :func:`sorted_bags`. Shape: (R, channels)."""
    device = table.device
    return F.embedding_bag(torch.from_numpy(index).to(device), table, torch.from_numpy(offsets).to(device), mode="mean")


def check_kmer_sizes(kmer_sizes: Sequence[int], owner: str) -> tuple[int, ...]:
    """``kmer_sizes`` as a tuple, or a ValueError naming ``owner`` unless they are distinct integers in 1..8."""
    try:
        sizes = tuple(kmer_sizes)
    except TypeError:
        sizes = None
    if (
        not sizes
        or len(set(sizes)) != len(sizes)
        or not all(isinstance(k, int) and not isinstance(k, bool) and 1 <= k <= MAX_KMER_SIZE for k in sizes)
    ):
        raise ValueError(
            f"The 'kmer_sizes' parameter of {owner} must be distinct integers in [1, {MAX_KMER_SIZE}]. "
            f"Got {kmer_sizes!r} instead."
        )
    return sizes

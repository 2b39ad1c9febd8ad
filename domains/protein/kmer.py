"""Protein k-mers: the k-mer index at every position, and the untrained k-mer profile distance.

Residue codes follow :func:`~symcl.domains.protein.alphabet.encode`: 0-19 the standard
amino acids, 20-22 the ambiguity codes B, Z, X, and :data:`~symcl.domains.protein.encoder.PAD_CODE`
(23) after the end of each sequence. A k-mer is indexed as the base-20 number of its
residue codes (``20**k`` classes); a window that holds an ambiguity code or padding gets
the extra index ``20**k`` ("no k-mer").

:func:`kmer_cosine_distances` is the alignment-free baseline of the benchmark: one
minus the cosine similarity of k-mer count vectors (k = 3: 8,000 dimensions), with no
training (compare Vinga & Almeida 2003 for alignment-free sequence comparison; Edgar
2004 used k-mer distances to seed MUSCLE's guide trees).

References
----------
Vinga, S. & Almeida, J. (2003). Alignment-free sequence comparison - a review.
Bioinformatics 19, 513-523.
Edgar, R. C. (2004). MUSCLE: multiple sequence alignment with high accuracy and high
throughput. Nucleic Acids Research 32, 1792-1797.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from symcl.checks import as_integer

from .alphabet import encode

#: Standard amino acids, the base of the k-mer index.
N_STANDARD = 20
#: Longest k-mer supported (20**4 = 160,000 classes; longer tables stop being small).
MAX_KMER_SIZE = 4


def check_kmer_size(k: object, owner: str) -> int:
    """Return ``k`` if it is an integer in 1..:data:`MAX_KMER_SIZE`, else raise ValueError naming ``owner``."""
    size = as_integer(k)
    if size is None or not 1 <= size <= MAX_KMER_SIZE:
        raise ValueError(f"The k-mer sizes of {owner} must be integers in [1, {MAX_KMER_SIZE}]. Got {k!r} instead.")
    return size  # a plain int: it goes into config.json


def kmer_indices(codes: Tensor, k: int) -> Tensor:
    """The k-mer starting at every position of a batch of residue codes, as a class index.

    Parameters
    ----------
    codes : Tensor
        Integer residue codes, shape (B, L), padding only after each sequence.
    k : int
        k-mer length, 1 <= k <= :data:`MAX_KMER_SIZE`.

    Returns
    -------
    Tensor
        int64, shape (B, max(L - k + 1, 0)). Entry (b, i) is the base-20 index of the
        k-mer at positions i .. i+k-1 of row b (in 0 .. 20**k - 1), or ``20**k`` when
        that window holds an ambiguity code or padding.
    """
    k = check_kmer_size(k, "kmer_indices")
    codes = codes.long()
    width = max(codes.shape[1] - k + 1, 0)
    valid = codes < N_STANDARD
    digits = torch.where(valid, codes, torch.zeros_like(codes))
    index = torch.zeros((codes.shape[0], width), dtype=torch.long, device=codes.device)
    broken = torch.zeros((codes.shape[0], width), dtype=torch.bool, device=codes.device)
    for offset in range(k):
        index = index * N_STANDARD + digits[:, offset : offset + width]
        broken |= ~valid[:, offset : offset + width]
    return torch.where(broken, torch.full_like(index, N_STANDARD**k), index)


def kmer_counts(sequences: Sequence[str], k: int = 3) -> np.ndarray:
    """k-mer count vectors of protein sequences (gaps removed; k-mers with B, Z or X skipped).

    Parameters
    ----------
    sequences : sequence of str
        Cleaned sequences (:func:`~symcl.domains.protein.alphabet.clean_sequence`).
    k : int
        k-mer length, 1 <= k <= :data:`MAX_KMER_SIZE`.

    Returns
    -------
    ndarray
        float64, shape (N, 20**k): how often each k-mer occurs in each sequence.
    """
    k = check_kmer_size(k, "kmer_counts")
    counts = np.zeros((len(sequences), N_STANDARD**k))
    for row, text in enumerate(sequences):
        codes = torch.from_numpy(encode(text.replace("-", "")).astype(np.int64)).unsqueeze(0)
        index = kmer_indices(codes, k)[0].numpy()
        counts[row] = np.bincount(index, minlength=N_STANDARD**k + 1)[: N_STANDARD**k]
    return counts


def kmer_cosine_distances(sequences: Sequence[str], k: int = 3) -> np.ndarray:
    """Untrained alignment-free distances: 1 - cosine similarity of k-mer count vectors.

    Parameters
    ----------
    sequences : sequence of str
        N cleaned protein sequences.
    k : int
        k-mer length (default 3: 8,000-dimensional counts).

    Returns
    -------
    ndarray
        float64, shape (N, N), in [0, 1] (unitless, not substitutions per site); exactly
        symmetric with a zero diagonal. A sequence without a single k-mer is at distance
        1 from every other.
    """
    counts = kmer_counts(sequences, k)
    norms = np.linalg.norm(counts, axis=1, keepdims=True)
    unit = counts / np.where(norms > 0, norms, 1.0)
    distances = np.clip(1.0 - unit @ unit.T, 0.0, 1.0)
    distances = (distances + distances.T) / 2
    np.fill_diagonal(distances, 0.0)
    return distances

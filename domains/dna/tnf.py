"""Canonical k-mer frequencies; tetranucleotide frequencies (TNF) are the classic binning feature.

A k-mer and its reverse complement are one *canonical* k-mer, so the frequencies of a
sequence and of its reverse complement are the same integers divided by the same total:
TNF is exactly strand-invariant. For k = 4 there are (4^4 + 4^2) / 2 = 136 canonical
k-mers. Windows that contain a letter other than A, C, G, T (U counts as T) are skipped.

References
----------
Teeling, H. et al. (2004). TETRA: a web-service and a stand-alone program for the
analysis and comparison of tetranucleotide usage patterns in DNA sequences.
BMC Bioinformatics 5, 163.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

import numpy as np

from symcl.errors import UserInputError

from .alphabet import CODE_N, SequenceLike, to_codes
from .inputs import named_sequences

_MAX_K = 12


@cache
def canonical_kmers(k: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """The canonical k-mer classes.

    Parameters
    ----------
    k : int
        k-mer length, 1 <= k <= 12.

    Returns
    -------
    index : ndarray
        int64, shape (4**k,), read-only: k-mer code (base-4 number, A=0, C=1, G=2, T=3,
        first letter most significant) -> canonical class in 0..n_classes-1.
    names : tuple of str
        The canonical k-mer of each class (the lexicographically smaller of a k-mer and
        its reverse complement), in class order.
    """
    _check_k(k)
    place = 4 ** np.arange(k - 1, -1, -1, dtype=np.int64)
    codes = np.arange(4**k, dtype=np.int64)
    digits = (codes[:, None] // place) % 4  # (4^k, k), first letter first
    rc_codes = (3 - digits[:, ::-1]) @ place
    unique, index = np.unique(np.minimum(codes, rc_codes), return_inverse=True)
    index.setflags(write=False)
    names = tuple("".join("ACGT"[d] for d in (code // place) % 4) for code in unique)
    return index, names


def canonical_kmer_counts(seq: SequenceLike, k: int = 4, *, record_id: str = "<sequence>") -> np.ndarray:
    """Counts of canonical k-mers in one sequence, skipping windows with non-ACGT letters.

    Parameters
    ----------
    seq : str, bytes or ndarray
        The sequence (an ndarray is uint8 ASCII text, shape (L,)).
    k : int
        k-mer length.
    record_id : str
        Name of the sequence, used in error messages.

    Returns
    -------
    ndarray
        int64, shape (n_classes,), with n_classes = len(canonical_kmers(k)[1]).
    """
    index, names = canonical_kmers(k)
    codes = to_codes(seq, record_id=record_id)
    n_windows = codes.size - k + 1
    if n_windows <= 0:
        return np.zeros(len(names), dtype=np.int64)
    valid = codes < CODE_N
    digits = np.where(valid, codes, 0).astype(np.int64)
    kmer = np.zeros(n_windows, dtype=np.int64)
    for offset in range(k):  # kmer = sum_j digit[i + j] * 4^(k-1-j)
        kmer = kmer * 4 + digits[offset : offset + n_windows]
    invalid_before = np.concatenate([[0], np.cumsum(~valid)])
    clean = invalid_before[k:] == invalid_before[:-k]  # no invalid letter in window i..i+k-1
    return np.bincount(index[kmer[clean]], minlength=len(names))


def kmer_frequencies(
    seqs: SequenceLike | Iterable,
    k: int = 4,
    *,
    pseudocount: float = 0.0,
) -> np.ndarray:
    """Normalised canonical k-mer frequencies of each sequence.

    Parameters
    ----------
    seqs : sequence or iterable of sequences
        One sequence (str, bytes, ``Bio.Seq`` or uint8 ASCII array), a mapping of id to
        sequence, or an iterable of sequences or of
        :class:`~symcl.domains.dna.reader.Record` / ``SeqRecord`` / ``(id, seq)`` pairs.
    k : int
        k-mer length.
    pseudocount : float
        Added to every count before normalising (>= 0).

    Returns
    -------
    ndarray
        float64, shape (n_sequences, n_classes); each row sums to 1.

    Raises
    ------
    UserInputError
        A sequence has no k-mer without ambiguous letters and ``pseudocount`` is 0.
    """
    if not (isinstance(pseudocount, int | float) and np.isfinite(pseudocount) and pseudocount >= 0):
        raise ValueError(f"The 'pseudocount' parameter of kmer_frequencies must be >= 0. Got {pseudocount!r} instead.")
    rows = []
    for i, (rid, seq) in enumerate(named_sequences(seqs, "kmer_frequencies")):
        counts = canonical_kmer_counts(seq, k, record_id=rid or str(i)).astype(np.float64) + pseudocount
        total = counts.sum()
        if total == 0:
            name = repr(rid) if rid else f"number {i}"
            raise UserInputError(
                f"Sequence {name} has no {k}-mer made only of A, C, G and T; its frequencies are undefined "
                "(set pseudocount > 0 to allow this)."
            )
        rows.append(counts / total)
    if not rows:
        raise ValueError("The 'seqs' parameter of kmer_frequencies holds no sequences.")
    return np.stack(rows)


def tnf(seqs: SequenceLike | Iterable, *, pseudocount: float = 0.0) -> np.ndarray:
    """Canonical tetranucleotide frequencies, the classic metagenomic binning feature.

    Parameters
    ----------
    seqs : sequence or iterable of sequences
        One sequence or many, as for :func:`kmer_frequencies`.
    pseudocount : float
        Added to every count before normalising (>= 0).

    Returns
    -------
    ndarray
        float64, shape (n_sequences, 136); rows sum to 1. ``tnf(x) == tnf(rc(x))`` exactly.

    Examples
    --------
    >>> tnf("ACGTACGTAC").shape
    (1, 136)
    """
    return kmer_frequencies(seqs, 4, pseudocount=pseudocount)


def _check_k(k: int) -> None:
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= _MAX_K:
        raise ValueError(f"The 'k' parameter must be an integer in [1, {_MAX_K}]. Got {k!r} instead.")

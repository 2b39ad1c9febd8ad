"""Embedding sequences and contigs window by window, pooled to one vector per record."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from symcl.atomic import atomic_write
from symcl.embedding import evaluation_mode
from symcl.errors import UserInputError

from .alphabet import CODE_PAD, CODE_T, SequenceLike, reverse_complement, to_codes
from .inputs import named_sequences


@dataclass(frozen=True)
class SequenceEmbeddings:
    """Embeddings of whole records, and optionally of their windows.

    Attributes
    ----------
    ids : list of str
        Record ids, in input order.
    embeddings : ndarray
        float32, shape (n_records, dim): the mean of each record's window embeddings,
        over the windows with a k-mer the model can read (all-N gaps are left out).
    lengths : ndarray
        int64, shape (n_records,): record lengths in bp.
    window_record : ndarray or None
        int64, shape (n_windows,): index into ``ids`` of each window's record.
    window_start, window_end : ndarray or None
        int64, shape (n_windows,): 0-based, end-exclusive window coordinates in bp.
    window_embeddings : ndarray or None
        float32, shape (n_windows, dim).

    Windows without a k-mer the model can read (all-N gaps) are not among the windows.
    """

    ids: list[str]
    embeddings: np.ndarray
    lengths: np.ndarray
    window_record: np.ndarray | None = None
    window_start: np.ndarray | None = None
    window_end: np.ndarray | None = None
    window_embeddings: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays to save (``np.savez``): ids, embeddings, lengths and the window arrays if present."""
        out = {"ids": np.array(self.ids, dtype=str), "embeddings": self.embeddings, "lengths": self.lengths}
        if self.window_embeddings is not None:
            out.update(
                window_record=self.window_record,
                window_start=self.window_start,
                window_end=self.window_end,
                window_embeddings=self.window_embeddings,
            )
        return out


def window_starts(length: int, window: int, stride: int) -> np.ndarray:
    """Starts of the windows that tile a record, symmetric under reversal.

    Windows cover the record from 0 to ``length`` with consecutive starts at most
    ``stride`` bp apart, and the set of starts is mirror-symmetric (``s`` is a start
    exactly when ``length - window - s`` is), so the windows of the reverse complement
    are the reverse complements of the windows: pooled embeddings stay strand-invariant.

    Parameters
    ----------
    length, window, stride : int
        Record length, window length and maximum step, in bp (``1 <= stride``).

    Returns
    -------
    ndarray
        int64, shape (n_windows,), increasing; ``[0]`` when ``length <= window``.
    """
    span = length - window
    if span <= 0:
        return np.zeros(1, dtype=np.int64)
    n = math.ceil(span / stride) + 1
    if n % 2 == 1 and span % 2 == 1:
        n += 1  # the middle window of an odd count would have to start at span / 2
    i = np.arange(n, dtype=np.int64)
    half_up = (2 * i * span + (n - 1)) // (2 * (n - 1))  # round(i * span / (n - 1)), halves up
    mirrored = span - half_up[::-1]
    return np.where(2 * i < n - 1, half_up, np.where(2 * i > n - 1, mirrored, span // 2))


def embed_sequences(
    model: nn.Module,
    seqs: Iterable | SequenceLike,
    *,
    window: int | None = None,
    stride: int | None = None,
    batch_size: int = 64,
    per_window: bool = False,
    progress: bool = False,
) -> SequenceEmbeddings:
    """Embed records window by window and mean-pool to one embedding per record.

    Records are streamed: only one batch of windows is in memory at a time (plus the
    per-window outputs when ``per_window`` is set).

    Parameters
    ----------
    model : nn.Module
        A DNA encoder: codes (B, L) -> (B, dim), e.g. from :func:`load_model`.
    seqs : iterable, mapping or one sequence
        Records (:class:`~symcl.domains.dna.reader.Record`, Biopython ``SeqRecord`` or
        ``(id, seq)``), a mapping of id to sequence, plain sequences (str, bytes,
        ``Bio.Seq``, uint8 ASCII arrays; ids "0", "1", ...), or one sequence.
    window : int, optional
        Window length in bp; default the model's training window (``training_window``,
        set by :func:`~symcl.domains.dna.models.load_model`), else 1000. A record no
        longer than that is one window. At least the model's shortest k-mer.
    stride : int, optional
        Maximum step between window starts in bp, at most ``window``; defaults to
        ``window`` (tiling without overlap, the last window aligned to the record end).
    batch_size : int
        Windows per forward pass.
    per_window : bool
        Also return every window's embedding and coordinates.
    progress : bool
        Show a progress bar over the bp embedded (with a total when ``seqs`` is a list).

    Returns
    -------
    SequenceEmbeddings
        ``embeddings`` float32 (n_records, dim) in input order. With a strand-invariant
        encoder, a record and its reverse complement get the same embedding. Windows
        without the model's shortest k-mer in A/C/G/T (all-N gaps) would all embed alike,
        so they are left out of the mean and of the per-window output.

    Raises
    ------
    UserInputError
        An empty sequence, a duplicate id, an invalid character or a record without the
        model's shortest k-mer in A/C/G/T anywhere (naming the record).
    ValueError
        A window, stride or batch size that is not a positive integer, a stride longer
        than the window, or a window shorter than the model's shortest k-mer.
    """
    window = window if window is not None else getattr(model, "training_window", None) or 1000
    stride = stride if stride is not None else window
    for name, value in (("window", window), ("batch_size", batch_size), ("stride", stride)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(
                f"The '{name}' parameter of embed_sequences must be an integer >= 1. Got {value!r} instead."
            )
    if stride > window:
        raise ValueError(
            f"The 'stride' parameter of embed_sequences must be at most the window ({window} bp), so that the "
            f"windows cover every record. Got {stride} instead."
        )
    shortest_kmer = min(getattr(model, "config", {}).get("kmer_sizes", [1]))
    if window < shortest_kmer:
        raise ValueError(
            f"The 'window' parameter of embed_sequences must be at least the model's shortest k-mer "
            f"({shortest_kmer} bp), or the model sees nothing in a window. Got {window} instead."
        )
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")  # inputs go where the model is

    ids: list[str] = []
    lengths: list[int] = []
    pooled = _MeanPool()
    kept: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # per batch: record, start, end, z
    with evaluation_mode(model):
        for record, start, end, usable, z in _embed_windows(
            model,
            _windows(seqs, window, stride, ids, lengths, shortest_kmer),
            batch_size,
            device,
            progress,
            _total_bp(seqs),
        ):
            pooled.add(record[usable], z[usable])
            if per_window:  # float32 as written: a quarter of float64
                kept.append((record[usable], start[usable], end[usable], z[usable].astype(np.float32)))
    if not ids:
        raise UserInputError("There are no sequences to embed.")
    embeddings = pooled.means()
    result = SequenceEmbeddings(ids, embeddings, np.array(lengths, dtype=np.int64))
    if not per_window:
        return result
    record, start, end, z = (np.concatenate(column) for column in zip(*kept, strict=True))
    return replace(result, window_record=record, window_start=start, window_end=end, window_embeddings=z)


class _MeanPool:
    """Per-record means of window embeddings that arrive in record order.

    Only the running sum of the current record is kept; finished records are stored as
    float32, so the bookkeeping stays the size of the output even for a million reads.
    """

    def __init__(self) -> None:
        self._done: list[np.ndarray] = []  # float32 means of finished records, one block per batch
        self._record = -1  # the record whose windows may go on in the next batch
        self._sum: np.ndarray | None = None  # float64 sum of its windows so far
        self._count = 0

    def add(self, record: np.ndarray, z: np.ndarray) -> None:
        """Add a batch: ``record`` (int64, non-decreasing) and its window embeddings ``z`` (float64)."""
        if record.size == 0:  # only gap windows
            return
        first = int(record[0])
        sums = np.zeros((int(record[-1]) - first + 1, z.shape[1]))
        counts = np.bincount(record - first, minlength=len(sums))
        if first == self._record:  # the current record goes on: continue its sum in the same order
            sums[0], counts[0] = self._sum, counts[0] + self._count
        elif self._sum is not None:  # it ended with the previous batch
            self._done.append((self._sum / self._count).astype(np.float32)[None])
        np.add.at(sums, record - first, z)  # row by row, in window order, as one running sum
        self._done.append((sums[:-1] / counts[:-1, None]).astype(np.float32))
        self._record, self._sum, self._count = int(record[-1]), sums[-1], int(counts[-1])

    def means(self) -> np.ndarray:
        """float32 (n_records, dim): the mean of every record's windows."""
        if self._sum is not None:
            self._done.append((self._sum / self._count).astype(np.float32)[None])
            self._record, self._sum = -1, None
        return np.concatenate(self._done)


def strand_invariance(
    model: nn.Module,
    seqs: Iterable,
    *,
    window: int | None = None,
    stride: int | None = None,
    batch_size: int = 64,
) -> dict[str, float]:
    """How much an encoder's sequence embeddings change when every sequence is reverse-complemented.

    Parameters
    ----------
    model : nn.Module
        A DNA encoder.
    seqs : iterable
        At least two records or sequences (as for :func:`embed_sequences`).
    window, stride, batch_size
        As for :func:`embed_sequences`.

    Returns
    -------
    dict
        :func:`symcl.invariance_score` of the forward and reverse-complement embeddings:
        "matched", "matched_min", "unrelated", "gap" and "max_abs_diff" (0 up to
        rounding for :class:`StrandInvariantCNN`).
    """
    from symcl.evaluation import invariance_score

    named = [
        (rid if rid is not None else str(i), seq)
        for i, (rid, seq) in enumerate(named_sequences(seqs, "strand_invariance"))
    ]
    flipped = [(rid, reverse_complement(seq, record_id=rid)) for rid, seq in named]
    options = {"window": window, "stride": stride, "batch_size": batch_size}
    forward = embed_sequences(model, named, **options)
    reverse = embed_sequences(model, flipped, **options)
    return invariance_score(forward.embeddings, reverse.embeddings)


def _windows(
    seqs: Iterable | SequenceLike, window: int, stride: int, ids: list[str], lengths: list[int], kmer: int
) -> Iterator[tuple[int, int, int, bool, np.ndarray]]:
    """(record index, start, end, usable, codes) of every window; fills ``ids`` and ``lengths`` as it goes.

    ``usable``: the window holds ``kmer`` A/C/G/T in a row, so the model reads something in it.
    """
    seen: set[str] = set()
    for i, (rid, seq) in enumerate(named_sequences(seqs, "embed_sequences")):
        rid = rid if rid is not None else str(i)
        if rid in seen:
            raise UserInputError(f"Duplicate record id {rid!r}; record ids must be unique.")
        seen.add(rid)
        codes = to_codes(seq, record_id=rid)
        if codes.size == 0:
            raise UserInputError(f"Record {rid!r} is empty (no sequence).")
        ids.append(rid)
        lengths.append(int(codes.size))
        every = bool((codes <= CODE_T).all())  # no gap: every window is usable, no need to look
        found = every and codes.size >= kmer
        for start in window_starts(codes.size, window, stride).tolist():
            end = min(start + window, codes.size)
            usable = found if every else _first_kmer(codes[start:end], kmer) is not None
            found |= usable
            yield len(ids) - 1, start, end, usable, codes[start:end]
        if not found:
            first = _first_kmer(codes, kmer)
            if first is None:  # refused, as tnf refuses it: any embedding would be the same for all such records
                raise UserInputError(f"Record {rid!r} has {_lacking(kmer)}, so the model sees nothing in it.")
            # its only k-mers straddle the window borders: one window around the first one
            start = max(0, min(first + kmer // 2 - window // 2, codes.size - window))
            end = min(start + window, codes.size)
            yield len(ids) - 1, start, end, True, codes[start:end]


def _first_kmer(codes: np.ndarray, k: int) -> int | None:
    """The start of the first k unambiguous bases in a row, or None."""
    bounds = np.concatenate([[-1], np.flatnonzero(codes > CODE_T), [codes.size]])
    long_enough = np.flatnonzero(np.diff(bounds) - 1 >= k)  # the A/C/G/T runs between the gaps
    return int(bounds[long_enough[0]] + 1) if long_enough.size else None


def _lacking(k: int) -> str:
    """What a sequence without the model's shortest k-mer lacks, in words."""
    return "no A, C, G or T" if k == 1 else f"no {k} A/C/G/T in a row (the model's shortest k-mer)"


def _embed_windows(
    model: nn.Module, windows: Iterator, batch_size: int, device: Any, progress: bool, total: int | None
) -> Iterator[tuple[np.ndarray, ...]]:
    """Batches of (record, start, end, usable, embeddings) for a stream of windows."""
    # shown after a second: a quick run, or an input error found at once, prints no empty bar
    bar = tqdm(total=total, desc="embedding", unit="bp", unit_scale=True, disable=not progress, delay=1.0)
    batch: list[tuple[int, int, int, bool, np.ndarray]] = []
    covered = (-1, 0)  # (record, end) of the last window: overlapping windows count their new bases only
    with torch.inference_mode(), bar:
        for item in windows:
            batch.append(item)
            if len(batch) == batch_size:
                yield _run(model, batch, device)
                covered = _advance(bar, batch, covered)
                batch = []
        if batch:
            yield _run(model, batch, device)
            _advance(bar, batch, covered)


def _advance(bar: tqdm, batch: list, covered: tuple[int, int]) -> tuple[int, int]:
    """Move the bar by the bases of ``batch`` not in an earlier window; the new (record, end)."""
    new_bases = 0
    for record, start, end, *_ in batch:
        new_bases += end - (max(start, covered[1]) if record == covered[0] else start)
        covered = (record, end)
    bar.update(new_bases)
    return covered


def _total_bp(seqs: Iterable | SequenceLike) -> int | None:
    """The bp of all records when they are a list or a tuple (a stream is not read twice)."""
    if not isinstance(seqs, list | tuple | Mapping):
        return None
    return sum(len(seq) for _, seq in named_sequences(seqs, "embed_sequences"))


def _run(model: nn.Module, batch: list, device: Any) -> tuple[np.ndarray, ...]:
    sizes = [codes.size for *_, codes in batch]
    if min(sizes) == max(sizes):  # the usual case: whole windows
        padded = np.stack([codes for *_, codes in batch])
    else:
        padded = np.full((len(batch), max(sizes)), CODE_PAD, dtype=np.uint8)
        for row, (*_, codes) in enumerate(batch):
            padded[row, : codes.size] = codes
    z = model(torch.from_numpy(padded).to(device)).to("cpu", torch.float64).numpy()
    record, start, end, usable = (np.array(column) for column in list(zip(*batch, strict=True))[:4])
    return record.astype(np.int64), start.astype(np.int64), end.astype(np.int64), usable.astype(bool), z


def save_embeddings(path: str | os.PathLike, result: SequenceEmbeddings) -> Path:
    """Atomically write ``result.arrays()`` as an uncompressed ``.npz`` (no pickles inside)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, **result.arrays())

    return atomic_write(path, write)

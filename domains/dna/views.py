"""The view generator of the dna domain: windows of real sequences and their two views.

A batch is drawn in two steps, as in torchvision's transforms v2: first every random
parameter (record, window start, fragment positions and lengths, strands), then the
deterministic rendering. The sequencing-error kernel draws its per-base noise from
the same generator, after the parameters.

Batch encoding
--------------
Views are ``torch.uint8`` tensors of shape (B, L_max) holding model codes (A=0, C=1,
G=2, T=3, ambiguous=4, see :mod:`~symcl.domains.dna.alphabet`). Each view sits at the
start of its row and the rest is :data:`~symcl.domains.dna.alphabet.CODE_PAD` (5).
``L_max`` is the longest fragment (or the window), fixed for the generator, so every
batch has the same shape; a view lengthened by insertions is cut to ``L_max``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from symcl.errors import UserInputError
from symcl.views import ViewBatch, nearby_mask

from .alphabet import CODE_COMPLEMENT, CODE_N, CODE_PAD, to_codes
from .inputs import ONE_SEQUENCE, named_sequences


@dataclass(frozen=True)
class WindowParams:
    """The random parameters of one batch, drawn before anything is rendered.

    Attributes
    ----------
    record : ndarray
        int64 (B,), index of the record each window comes from.
    start : ndarray
        int64 (B,), 0-based start of the window in its record, in bp.
    fragment_start, fragment_length : ndarray
        int64 (2, B), offset in the window and length (bp) of each view's fragment.
    reverse : ndarray
        bool (2, B), whether each view is reverse-complemented.
    """

    record: np.ndarray
    start: np.ndarray
    fragment_start: np.ndarray
    fragment_length: np.ndarray
    reverse: np.ndarray


class DnaViews:
    """Draws windows from sequence records and returns two views of each.

    A window of ``window`` bp is drawn uniformly over all window positions of all
    records (so long records give more windows). Its two views are sub-windows
    (``fragment_lengths``) or the whole window; view 1 is on a random strand, and view
    2 is on the opposite strand with probability ``rc_probability`` (1.0 gives the pure
    reverse-complement pair). Optional sequencing errors are then applied to each view.

    Windows of the same record whose starts are closer than ``exclusion_bp`` are never
    used as each other's negatives (``ViewBatch.exclude``). ``ViewBatch.labels`` are the
    record labels (e.g. the genome index), for evaluation only.

    Parameters
    ----------
    records : iterable of Record, SeqRecord or (id, seq), or a mapping of id to sequence
        The sequences (a stream such as ``read_records(path)`` is read once), each at least ``window`` bp long (read them with
        ``read_records(path, min_length=window)`` to skip, and report, shorter ones).
    labels : sequence of int, optional
        One label per record (e.g. genome of origin); defaults to the record index.
    window : int
        Window length, in bp.
    fragment_lengths : (int, int), optional
        Inclusive range of fragment lengths in bp, ``1 <= low <= high <= window``; each
        view is a uniformly placed sub-window of a uniformly drawn length. None: each
        view is the whole window.
    rc_probability : float
        Probability that view 2 is on the opposite strand of view 1, in [0, 1].
    substitution_rate, indel_rate : float
        Per-base probabilities of a substitution and of an indel (half insertions, half
        deletions), each in [0, 0.5].
    exclusion_bp : int, optional
        Minimum distance in bp between the starts of two windows of one record for them
        to be negatives; defaults to ``window`` (overlapping windows are excluded). 0
        disables the exclusion.
    """

    def __init__(
        self,
        records: Iterable,
        *,
        labels: Sequence[int] | None = None,
        window: int = 1000,
        fragment_lengths: tuple[int, int] | None = None,
        rc_probability: float = 1.0,
        substitution_rate: float = 0.0,
        indel_rate: float = 0.0,
        exclusion_bp: int | None = None,
    ):
        _check_int("window", window, 1)
        if fragment_lengths is not None:
            low, high = _pair("fragment_lengths", fragment_lengths)
            if not 1 <= low <= high <= window:
                raise ValueError(
                    f"The 'fragment_lengths' parameter of DnaViews must satisfy 1 <= low <= high <= window "
                    f"({window}). Got {fragment_lengths!r} instead."
                )
            fragment_lengths = (low, high)
        _check_rate("rc_probability", rc_probability, 1.0)
        _check_rate("substitution_rate", substitution_rate, 0.5)
        _check_rate("indel_rate", indel_rate, 0.5)
        exclusion_bp = window if exclusion_bp is None else exclusion_bp
        _check_int("exclusion_bp", exclusion_bp, 0)

        ids, codes = _records_as_codes(records)
        for rid, seq in zip(ids, codes, strict=True):
            if seq.size < window:
                raise UserInputError(
                    f"Record {rid!r} is {seq.size} bp long, shorter than the window of {window} bp; "
                    "skip short records (read_records(..., min_length=window)) or use a smaller window."
                )
        if labels is None:
            labels = range(len(codes))
        labels = np.asarray(labels, dtype=np.int64)
        if labels.shape != (len(codes),):
            raise ValueError(
                f"The 'labels' parameter of DnaViews must have one label per record ({len(codes)}). "
                f"Got shape {labels.shape} instead."
            )
        self.ids = ids
        self.labels = labels
        self.window = window
        self.fragment_lengths = fragment_lengths
        self.rc_probability = float(rc_probability)
        self.substitution_rate = float(substitution_rate)
        self.indel_rate = float(indel_rate)
        self.exclusion_bp = exclusion_bp
        lengths = np.array([seq.size for seq in codes], dtype=np.int64)
        self._offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self._codes = np.concatenate(codes)
        positions = lengths - window + 1
        self._record_weights = positions / positions.sum()
        self._record_positions = positions

    @property
    def view_length(self) -> int:
        """L_max, the padded length of every view in bp."""
        return self.fragment_lengths[1] if self.fragment_lengths else self.window

    def settings(self) -> dict:
        """The constructor options as JSON-ready values (records and labels excluded)."""
        return {
            "window": self.window,
            "fragment_lengths": list(self.fragment_lengths) if self.fragment_lengths else None,
            "rc_probability": self.rc_probability,
            "substitution_rate": self.substitution_rate,
            "indel_rate": self.indel_rate,
            "exclusion_bp": self.exclusion_bp,
        }

    def sample(self, batch_size: int, generator: torch.Generator) -> ViewBatch:
        """Two views of ``batch_size`` windows.

        Returns
        -------
        ViewBatch
            view1, view2: uint8 (B, L_max) codes padded with CODE_PAD; exclude: bool
            (B, B); labels: int64 (B,).
        """
        _check_int("batch_size", batch_size, 1)
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
        params = self.draw_params(batch_size, rng)
        windows = self._codes[(self._offsets[params.record] + params.start)[:, None] + np.arange(self.window)]
        view1, view2 = (
            render_views(
                windows,
                params.fragment_start[v],
                params.fragment_length[v],
                params.reverse[v],
                rng,
                length=self.view_length,
                substitution_rate=self.substitution_rate,
                indel_rate=self.indel_rate,
            )
            for v in (0, 1)
        )
        # The mask covers this batch; the locations let a distributed loss apply the same
        # rule between the shares of different ranks.
        locations = torch.from_numpy(np.stack([params.record, params.start], axis=1).astype(np.int64))
        return ViewBatch(
            torch.from_numpy(view1),
            torch.from_numpy(view2),
            exclude=nearby_mask(locations, self.exclusion_bp),
            locations=locations,
            exclusion_distance=self.exclusion_bp,
            labels=torch.from_numpy(self.labels[params.record]),
        )

    def draw_params(self, batch_size: int, rng: np.random.Generator) -> WindowParams:
        """Draw the random parameters of a batch (records, starts, fragments, strands)."""
        record = rng.choice(len(self._record_weights), size=batch_size, p=self._record_weights)
        start = rng.integers(0, self._record_positions[record])
        if self.fragment_lengths is None:
            length = np.full((2, batch_size), self.window, dtype=np.int64)
        else:
            low, high = self.fragment_lengths
            length = rng.integers(low, high + 1, size=(2, batch_size))
        fragment_start = rng.integers(0, self.window - length + 1)
        reverse1 = rng.random(batch_size) < 0.5
        opposite = rng.random(batch_size) < self.rc_probability
        return WindowParams(record, start, fragment_start, length, np.stack([reverse1, reverse1 ^ opposite]))


def render_views(
    windows: np.ndarray,
    fragment_start: np.ndarray,
    fragment_length: np.ndarray,
    reverse: np.ndarray,
    rng: np.random.Generator,
    *,
    length: int,
    substitution_rate: float = 0.0,
    indel_rate: float = 0.0,
) -> np.ndarray:
    """Cut, orient, mutate and pad one view of each window.

    Parameters
    ----------
    windows : ndarray
        uint8 codes, shape (B, W).
    fragment_start, fragment_length : ndarray
        int (B,), the fragment of each window, in bp.
    reverse : ndarray
        bool (B,), reverse-complement the fragment.
    rng : numpy.random.Generator
        Source of the sequencing-error noise.
    length : int
        Padded output length L_max.

    Returns
    -------
    ndarray
        uint8, shape (B, L_max), codes padded with CODE_PAD.
    """
    out = np.full((len(windows), length), CODE_PAD, dtype=np.uint8)
    for i, window in enumerate(windows):
        fragment = window[fragment_start[i] : fragment_start[i] + fragment_length[i]]
        if reverse[i]:
            fragment = CODE_COMPLEMENT[fragment[::-1]]
        if substitution_rate or indel_rate:
            fragment = sequencing_errors(fragment, rng, substitution_rate=substitution_rate, indel_rate=indel_rate)
        fragment = fragment[:length]
        out[i, : fragment.size] = fragment
    return out


def sequencing_errors(
    codes: np.ndarray,
    rng: np.random.Generator,
    *,
    substitution_rate: float = 0.0,
    indel_rate: float = 0.0,
) -> np.ndarray:
    """Apply random substitutions and indels to a sequence of model codes.

    Each base is substituted by one of the three other bases with probability
    ``substitution_rate`` (ambiguous bases are left alone); independently, each
    position is deleted with probability ``indel_rate / 2`` or followed by a random
    inserted base with probability ``indel_rate / 2``.

    Parameters
    ----------
    codes : ndarray
        uint8 codes, shape (L,).
    rng : numpy.random.Generator

    Returns
    -------
    ndarray
        uint8 codes, shape (L',); never empty when ``codes`` is not.
    """
    codes = np.array(codes, dtype=np.uint8)
    if substitution_rate:
        hit = (rng.random(codes.size) < substitution_rate) & (codes < CODE_N)
        shift = rng.integers(1, 4, size=int(hit.sum()), dtype=np.uint8)
        codes[hit] = (codes[hit] + shift) % 4
    if indel_rate:
        u = rng.random(codes.size)
        deleted = u < indel_rate / 2
        inserted = (u >= indel_rate / 2) & (u < indel_rate)
        copies = np.where(deleted, 0, np.where(inserted, 2, 1))
        mutated = np.repeat(codes, copies)
        mutated[np.cumsum(copies)[inserted] - 1] = rng.integers(0, 4, size=int(inserted.sum()), dtype=np.uint8)
        if mutated.size:
            codes = mutated
    return codes


def exclusion_mask(record: np.ndarray, start: np.ndarray, exclusion_bp: int) -> np.ndarray:
    """Pairs of windows that must not be each other's negatives.

    Parameters
    ----------
    record, start : ndarray
        int (B,), record index and start (bp) of each window.
    exclusion_bp : int
        Windows of one record whose starts differ by less than this are excluded.

    Returns
    -------
    ndarray
        bool (B, B), symmetric, False on the diagonal (the positive pair is kept).
    """
    locations = np.stack([np.asarray(record), np.asarray(start)], axis=1).astype(np.int64)
    return nearby_mask(torch.from_numpy(locations), exclusion_bp).numpy()


def _records_as_codes(records: Iterable) -> tuple[list[str], list[np.ndarray]]:
    ids, codes = [], []
    if not isinstance(records, (*ONE_SEQUENCE, np.ndarray)):  # one sequence is no collection of records
        for i, (rid, seq) in enumerate(named_sequences(records, "DnaViews")):  # a stream is read once
            rid = rid if rid is not None else str(i)
            ids.append(rid)
            codes.append(to_codes(seq, record_id=rid))
    if not codes:
        raise ValueError("The 'records' parameter of DnaViews must be a non-empty collection of records or (id, seq).")
    return ids, codes


def _check_int(name: str, value: int, low: int) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        raise ValueError(f"The '{name}' parameter of DnaViews must be an integer >= {low}. Got {value!r} instead.")


def _check_rate(name: str, value: float, high: float) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= high:
        raise ValueError(f"The '{name}' parameter of DnaViews must be a number in [0, {high}]. Got {value!r} instead.")


def _pair(name: str, value) -> tuple[int, int]:
    try:
        low, high = value
    except (TypeError, ValueError):
        raise ValueError(
            f"The '{name}' parameter of DnaViews must be a pair (low, high). Got {value!r} instead."
        ) from None
    for v in (low, high):
        if not isinstance(v, int | np.integer) or isinstance(v, bool):
            raise ValueError(f"The '{name}' parameter of DnaViews must hold integers. Got {value!r} instead.")
    return int(low), int(high)

"""Training pairs for the Siamese distance regressor, stratified over the distance range.

The targets come from the classical route: every family's all-vs-all distance matrix
is computed once (:func:`family_distances`, Scoredist by default), after which drawing
a batch only indexes arrays. :class:`PairSampler` is a view generator in the sense of
:class:`symcl.views.ViewGenerator`: ``sample(batch_size, generator)`` returns a
:class:`~symcl.views.ViewBatch` with ``view1``/``view2`` the padded residue codes of the
two sequences of each pair and ``target`` their distance.

Stratification: the within-family pairs are put into bins by distance
(:data:`DEFAULT_BIN_EDGES`); each pair of a batch first picks a stratum, then a pair in
it. The strata are the non-empty bins, all equally likely, and the cross-family stratum
(two sequences of different families, unrelated, so their target is the saturation cap
``max_distance``), picked with probability ``cross_family_fraction``. So close pairs,
which families have few of, are seen as often as distant ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from symcl.checks import as_integer, check_integer
from symcl.views import ViewBatch

from .distance import MIN_COLUMNS, distance_matrix
from .encoder import PAD_CODE, encode_batch
from .formulas import MAX_DISTANCE
from .reader import ProteinSequences

#: Distance bins (substitutions per site); the last bin also holds pairs at the cap.
DEFAULT_BIN_EDGES = (0.0, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0)


@dataclass(frozen=True)
class FamilyDistances:
    """One family and its classical all-vs-all distances.

    Attributes
    ----------
    name : str
        Family name (e.g. the file it came from).
    sequences : ProteinSequences
        The N sequences (gaps are removed before encoding).
    distances : ndarray
        float64, shape (N, N), symmetric, zero diagonal, capped at the saturation cap.
    saturated : ndarray
        bool, shape (N, N): pairs that were capped (undefined or above the cap).
    """

    name: str
    sequences: ProteinSequences
    distances: np.ndarray
    saturated: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.sequences)
        for field in ("distances", "saturated"):
            if np.shape(getattr(self, field)) != (n, n):
                raise ValueError(
                    f"The '{field}' of family {self.name!r} must have shape ({n}, {n}). "
                    f"Got {np.shape(getattr(self, field))} instead."
                )


def family_distances(
    family: ProteinSequences,
    method: str = "scoredist",
    *,
    name: str | None = None,
    max_distance: float = MAX_DISTANCE,
    anchors: int | None = None,
    n_jobs: int | None = None,
    progress: bool = False,
    min_columns: int = MIN_COLUMNS,
) -> FamilyDistances:
    """The classical distances of a family, for :class:`PairSampler`.

    Parameters
    ----------
    family : ProteinSequences
        Aligned families are compared column by column, others aligned pairwise
        (see :func:`~symcl.domains.protein.distance.distance_matrix`).
    method : {"p", "poisson", "kimura", "scoredist"}
        The distance to learn (default Scoredist).
    name : str, optional
        Default: the family's source file, or "family".
    max_distance : float
        Saturation cap (substitutions per site).
    anchors : int, optional
        Unaligned families only: read the distances off star alignments to this many
        anchors (K·N alignments) instead of aligning every pair; ignored for an aligned
        family, whose columns are used. See ``distance_matrix(anchors=...)``.
    n_jobs : int, optional
        Worker processes for pairwise alignment.
    progress : bool
        Progress bar while aligning.
    min_columns : int
        Warn about pairs compared over fewer columns (see ``distance_matrix``; 0: never).

    Returns
    -------
    FamilyDistances
    """
    distances, saturated = distance_matrix(
        family,
        method,
        max_distance=max_distance,
        anchors=None if family.aligned else anchors,
        n_jobs=n_jobs,
        progress=progress,
        min_columns=min_columns,
        return_saturated=True,
    )
    return FamilyDistances(name or family.source or "family", family, distances, saturated)


class PairSampler:
    """Pairs of sequences with their distance, stratified by distance, plus cross-family pairs.

    Parameters
    ----------
    families : sequence of FamilyDistances
        At least one family with at least 2 sequences (e.g. from :func:`family_distances`).
    bin_edges : sequence of float
        Increasing distance bin edges starting at 0; within-family pairs with distance in
        [e_k, e_k+1) go to bin k, those at or above the last edge to the last bin.
    cross_family_fraction : float
        Probability in [0, 1) that a pair is a cross-family pair (target
        ``max_distance``). 0 when there is only one family.
    max_distance : float
        The saturation cap of the targets, > 0; cross-family pairs get it.

    Attributes
    ----------
    bin_counts_ : ndarray
        int64, shape (n_bins,): within-family pairs per bin.
    strata_ : list of str
        The strata a batch draws from: ``"bin k"`` for each non-empty bin, then
        ``"cross"`` if there are cross-family pairs. ``ViewBatch.labels`` holds the
        index into this list of each pair.
    """

    def __init__(
        self,
        families: Sequence[FamilyDistances],
        *,
        bin_edges: Sequence[float] = DEFAULT_BIN_EDGES,
        cross_family_fraction: float = 0.15,
        max_distance: float = MAX_DISTANCE,
    ):
        families = list(families)
        if not families or not all(isinstance(f, FamilyDistances) for f in families):
            raise ValueError("The 'families' parameter of PairSampler must be a non-empty list of FamilyDistances.")
        small = [f.name for f in families if len(f.sequences) < 2]
        if small:
            raise ValueError(f"Every family of PairSampler needs at least 2 sequences. Got fewer in {small[:3]}.")
        edges = np.asarray(bin_edges, dtype=float)
        if edges.ndim != 1 or len(edges) < 2 or edges[0] != 0 or (np.diff(edges) <= 0).any():
            raise ValueError(
                f"The 'bin_edges' parameter of PairSampler must be increasing, start at 0 and have at least "
                f"2 values. Got {list(bin_edges)} instead."
            )
        if not (isinstance(cross_family_fraction, (int, float)) and 0 <= cross_family_fraction < 1):
            raise ValueError(
                f"The 'cross_family_fraction' parameter of PairSampler must be in [0, 1). "
                f"Got {cross_family_fraction!r} instead."
            )
        if not (isinstance(max_distance, (int, float)) and math.isfinite(max_distance) and max_distance > 0):
            raise ValueError(
                f"The 'max_distance' parameter of PairSampler must be a finite number > 0. Got {max_distance!r} instead."
            )
        self.families = families
        self.bin_edges = tuple(float(e) for e in edges)
        self.cross_family_fraction = float(cross_family_fraction)
        self.max_distance = float(max_distance)

        self._codes = [encode_batch([text])[0].numpy() for f in families for text in f.sequences]
        sizes = np.array([len(f.sequences) for f in families])
        self._offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self._sizes = sizes
        pairs = []  # (first, second, target) over all families, global sequence indices
        for offset, family in zip(self._offsets, families, strict=True):
            first, second = np.triu_indices(len(family.sequences), k=1)
            target = np.minimum(np.asarray(family.distances, dtype=float)[first, second], self.max_distance)
            target = np.where(np.asarray(family.saturated)[first, second], self.max_distance, target)
            pairs.append((first + offset, second + offset, target))
        first, second, target = (np.concatenate(column) for column in zip(*pairs, strict=True))
        which = np.clip(np.searchsorted(edges, target, side="right") - 1, 0, len(edges) - 2)
        self.bin_counts_ = np.bincount(which, minlength=len(edges) - 1)
        self._bins = [
            (first[which == k], second[which == k], target[which == k]) for k in np.flatnonzero(self.bin_counts_)
        ]
        self.strata_ = [f"bin {k}" for k in np.flatnonzero(self.bin_counts_)]
        cross = self.cross_family_fraction if len(families) > 1 else 0.0
        if cross > 0:
            self.strata_.append("cross")
        within = (1.0 - cross) / len(self._bins) if self._bins else 0.0
        probabilities = [within] * len(self._bins) + ([cross] if cross > 0 else [])
        if not probabilities or sum(probabilities) <= 0:
            raise ValueError("PairSampler has no pairs to draw: give families of at least 2 sequences.")
        self._probabilities = np.array(probabilities) / sum(probabilities)

    def sample(self, batch_size: int, generator: torch.Generator) -> ViewBatch:
        """A batch of pairs; all randomness comes from ``generator``.

        Returns
        -------
        ViewBatch
            ``view1``, ``view2``: int64 codes, shape (B, L1) and (B, L2), padded with
            :data:`~symcl.domains.protein.encoder.PAD_CODE`; ``target``: float32 (B,)
            distances (substitutions per site, ``max_distance`` for saturated and
            cross-family pairs); ``labels``: int64 (B,) stratum of each pair (index into
            ``strata_``); ``exclude``: bool (B, B), True where two pairs start in the same
            family (related sequences, not negatives of each other for the optional
            contrastive term).
        """
        batch_size = check_integer("sample", "batch_size", batch_size, 1)
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
        strata = rng.choice(len(self._probabilities), size=batch_size, p=self._probabilities)
        first = np.empty(batch_size, dtype=np.int64)
        second = np.empty(batch_size, dtype=np.int64)
        target = np.empty(batch_size)
        for s in np.unique(strata):
            rows = np.flatnonzero(strata == s)
            if s < len(self._bins):
                a, b, t = self._bins[s]
                pick = rng.integers(len(t), size=len(rows))
                first[rows], second[rows], target[rows] = a[pick], b[pick], t[pick]
            else:
                n = len(self._sizes)
                fa = rng.integers(n, size=len(rows))
                fb = (fa + 1 + rng.integers(n - 1, size=len(rows))) % n
                first[rows] = self._offsets[fa] + (rng.random(len(rows)) * self._sizes[fa]).astype(np.int64)
                second[rows] = self._offsets[fb] + (rng.random(len(rows)) * self._sizes[fb]).astype(np.int64)
                target[rows] = self.max_distance
        swap = rng.random(batch_size) < 0.5  # no order between the two views
        first, second = np.where(swap, second, first), np.where(swap, first, second)
        family = np.searchsorted(self._offsets, first, side="right") - 1
        return ViewBatch(
            self._pad(first),
            self._pad(second),
            exclude=torch.from_numpy(family[:, None] == family[None, :]),
            target=torch.from_numpy(target.astype(np.float32)),
            labels=torch.from_numpy(strata.astype(np.int64)),
            # (family, 0) within distance 1 is "same family", comparable between ranks too
            locations=torch.from_numpy(np.stack([family, np.zeros_like(family)], axis=1).astype(np.int64)),
            exclusion_distance=1,
        )

    def settings(self) -> dict[str, Any]:
        """What the sampler was built from, for a model's config.json."""
        return {
            "bin_edges": list(self.bin_edges),
            "bin_counts": self.bin_counts_.tolist(),
            "cross_family_fraction": self.cross_family_fraction,
            "max_distance": self.max_distance,
            "families": [[f.name, len(f.sequences)] for f in self.families],
        }

    def _pad(self, index: np.ndarray) -> torch.Tensor:
        rows = [self._codes[i] for i in index]
        codes = np.full((len(rows), max(len(r) for r in rows)), PAD_CODE, dtype=np.int64)
        for k, row in enumerate(rows):
            codes[k, : len(row)] = row
        return torch.from_numpy(codes)


def simulated_families(
    n_families: int,
    rng: np.random.Generator | int,
    *,
    sizes: tuple[int, int] = (8, 32),
    lengths: tuple[int, int] = (80, 300),
    branch_lengths: tuple[float, float] = (0.02, 0.6),
    alphas: tuple[float, float] = (0.5, 2.0),
    method: str = "scoredist",
    max_distance: float = MAX_DISTANCE,
    gaps: float = 0.0,
) -> list[FamilyDistances]:
    """Families simulated under LG + gamma, with classical distances as targets.

    Each family draws its size and length uniformly from the integer ranges, its mean
    branch length and gamma shape log-uniformly from the float ranges (so the families
    cover close and distant relatives), then is evolved by
    :func:`~symcl.domains.protein.simulate.simulate_family`. The targets are the
    distances of the classical route (``method``) on the true alignment, like those of
    real families, not the true tree distances.

    Parameters
    ----------
    n_families : int
        Number of families (>= 1).
    rng : numpy.random.Generator or int
        Source of all randomness.
    sizes, lengths : (int, int)
        Inclusive ranges of the number of sequences (>= 2) and of the length (aa).
    branch_lengths, alphas : (float, float)
        Ranges (> 0) of the mean branch length (substitutions per site) and gamma shape.
    method : str
        Distance method of the targets.
    max_distance : float
        Saturation cap.
    gaps : float
        In [0, 0.5). 0 (default): every sequence is its whole alignment row. Above 0,
        every row loses up to ``gaps`` of its length at each end (uniform) and about
        ``gaps * L / 8`` internal stretches (Poisson; lengths geometric, mean 4), which
        become alignment gaps, so the families have the length variation and indels of
        real families (Pfam domains trimmed differently, deletions). The targets are
        still computed from the true alignment columns.

    Returns
    -------
    list of FamilyDistances
        Named ``sim{k}``.
    """
    from .simulate import _generator, simulate_family

    rng = _generator(rng, "simulated_families")
    n_families = check_integer("simulated_families", "n_families", n_families, 1)
    for name, (low, high), minimum in (("sizes", sizes, 2), ("lengths", lengths, 1)):
        if as_integer(low) is None or as_integer(high) is None or not minimum <= low <= high:
            raise ValueError(
                f"The '{name}' parameter of simulated_families must be integers {minimum} <= low <= high. "
                f"Got {(low, high)!r} instead."
            )
    for name, (low, high) in (("branch_lengths", branch_lengths), ("alphas", alphas)):
        if not (0 < low <= high < math.inf):
            raise ValueError(
                f"The '{name}' parameter of simulated_families must be finite numbers 0 < low <= high. "
                f"Got {(low, high)!r} instead."
            )
    if not (isinstance(gaps, (int, float)) and 0 <= gaps < 0.5):
        raise ValueError(f"The 'gaps' parameter of simulated_families must be in [0, 0.5). Got {gaps!r} instead.")
    families = []
    for k in range(n_families):
        size = int(rng.integers(sizes[0], sizes[1] + 1))
        length = int(rng.integers(lengths[0], lengths[1] + 1))
        branch = float(np.exp(rng.uniform(np.log(branch_lengths[0]), np.log(branch_lengths[1]))))
        alpha = float(np.exp(rng.uniform(np.log(alphas[0]), np.log(alphas[1]))))
        family = simulate_family(size, length, rng, mean_branch_length=branch, alpha=alpha, name=f"sim{k}")
        sequences = _with_gaps(family.sequences, gaps, rng) if gaps > 0 else family.sequences
        # No short-pair warning: the caller asked for these gaps and has no sequence to drop.
        families.append(
            family_distances(
                sequences, method, name=f"sim{k}", max_distance=max_distance, progress=False, min_columns=0
            )
        )
    return families


def _with_gaps(family: ProteinSequences, gaps: float, rng: np.random.Generator) -> ProteinSequences:
    """Alignment rows with trimmed ends and internal deletions turned into gaps (see :func:`simulated_families`)."""
    rows = []
    for text in family.sequences:
        row = np.frombuffer(text.encode("ascii"), dtype=np.uint8).copy()
        length = len(row)
        most = int(gaps * length)
        start, stop = int(rng.integers(0, most + 1)), length - int(rng.integers(0, most + 1))
        row[:start] = row[stop:] = ord("-")
        for _ in range(int(rng.poisson(gaps * length / 8))):
            at = int(rng.integers(length))
            row[at : at + int(rng.geometric(0.25))] = ord("-")
        if (row != ord("-")).sum() < 1:
            row[length // 2] = ord(text[length // 2])
        rows.append(row.tobytes().decode("ascii"))
    return ProteinSequences(family.ids, tuple(rows), aligned=True, source=family.source)

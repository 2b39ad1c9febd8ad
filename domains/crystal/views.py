"""The view generator of the crystal domain: a defect and the same defect a lattice vector away.

A lattice translation maps a crystal onto itself, so a defect moved by ``n1 a1 + n2 a2``
is the same defect. :class:`LatticeTranslationViews` turns this into positive pairs:

(a) the same defect placed at a lattice-equivalent site (translated by an integer
    combination of lattice vectors) with the patch re-centred on it: the sub-pixel
    phase of the lattice against the pixel grid changes, and so do the imaging
    conditions;
(b) with probability ``offcentre_probability`` per view, the patch window is moved by
    a short lattice vector as well, so the defect sits off-centre.

Each view has its own noise realisation (dose, background, shot and read noise,
scan-line jitter). Optionally each world is turned by a rotation of the lattice's
point group. Labels are the defect kinds (:data:`~symcl.domains.crystal.defects.KINDS`).

How a batch is made, in two steps as in torchvision's transforms v2 (all random
parameters first, then the deterministic rendering):

1. Parameters: kind, material, site and defect of every sample; for each view a
   *world* (a pristine crystal imaged with its own probe, rotation, scan drift and
   origin), the cell of the defect in it and the window shift; per-view dose,
   background and jitter.
2. Rendering, each view on its own thread with its own random stream: every world is
   rendered once (tiled matrix products, see :mod:`~symcl.domains.crystal.imaging`);
   the patches are cut from each world with one fancy-indexing gather; each defect is
   added as the exact difference of its column (one Gaussian per patch); then the rows
   are jittered and the noise drawn, for the whole batch at once.

Samples that are the same physical site up to a translation of the crystal (same
material, kind and defect, and sites that a translation maps onto each other: the same
basis column, or one of the identical columns of a cell that is not primitive, see
:func:`~symcl.domains.crystal.structures.translation_classes`) are excluded from each
other's negatives (``ViewBatch.exclude``), or made positives (``groups``) with
``equivalent_positives=True``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch

from symcl.views import ViewBatch

from .defects import ADATOMS, DOPANTS, KINDS, defect_outcomes
from .imaging import FWHM_PER_SIGMA, check_dose, detector_noise, expected_counts, render_image, shift_rows
from .structures import (
    ProjectedCrystal,
    cells_covering,
    check_resolves_columns,
    column_positions,
    lattice_rotations,
    projected_crystal,
    translation_classes,
)

MIN_FIELD_OF_VIEW = 12.0  # Å: a patch must cover at least this, and two lattice periods


@dataclass(frozen=True)
class _Table:
    """Precomputed defects of one material: for each kind, its sites and their outcomes."""

    crystal: ProjectedCrystal
    intensity: np.ndarray  # (S,) pristine column intensities
    sites: dict[str, list[int]]  # kind -> sites with at least one outcome
    outcomes: dict[tuple[str, int], np.ndarray]  # (kind, site) -> new intensities
    shifts: np.ndarray  # (n, 2) int lattice combinations m of the off-centre windows, m != 0
    rotations: np.ndarray  # (R, 2, 2)
    column_class: np.ndarray  # (S,) the first basis column that a translation of the crystal maps each onto
    hollow_class: np.ndarray  # (H,) the same for the hollow sites


@dataclass(frozen=True)
class ViewParams:
    """The random parameters of one batch, drawn before anything is rendered.

    Attributes
    ----------
    material, kind, site, outcome : ndarray
        int64 (B,): material index, kind index into KINDS, site (basis column, or
        hollow for adatoms) and index of the defect among the site's outcomes.
    delta : ndarray
        float64 (B,), the intensity added at the site (new - old; 0 for pristine).
    equivalent_site : ndarray
        int64 (B,), the first site (basis column, or hollow for adatoms) that a
        translation of the crystal maps ``site`` onto: equal for the identical columns
        of a cell that is not primitive (e.g. the 4 of fcc [001]).
    world : ndarray
        int64 (2, B), the world of each view.
    centre : ndarray
        float64 (2, B, 2), where the defect site appears in its world, px (x, y).
    window : ndarray
        int64 (2, B, 2), top-left pixel (x, y) of each view's window in its world.
    dose, background, jitter : ndarray
        float64 (2, B): e⁻/Å², detector background fraction, jitter std in px.
    """

    material: np.ndarray
    kind: np.ndarray
    site: np.ndarray
    outcome: np.ndarray
    delta: np.ndarray
    equivalent_site: np.ndarray
    world: np.ndarray
    centre: np.ndarray
    window: np.ndarray
    dose: np.ndarray
    background: np.ndarray
    jitter: np.ndarray


@dataclass(frozen=True)
class World:
    """A pristine crystal imaged once: material, probe, rotation, drift and origin."""

    material: int
    sigma: float  # probe std, px
    transform: np.ndarray  # (2, 2): crystal Å -> world px, about the world centre
    origin: np.ndarray  # (2,) Å, crystal frame


class LatticeTranslationViews:
    """Two views of a defect (or pristine site) of a simulated crystal, a lattice translation apart.

    Parameters
    ----------
    materials : sequence of str or ProjectedCrystal
        The crystals to draw from (names for :func:`projected_crystal`).
    patch_size : int
        Patch edge P in px (>= 16).
    pixel_size : float
        Å/px. ``patch_size * pixel_size`` must be at least 12 Å and two lattice periods
        of every material.
    kinds : sequence of str
        The kinds drawn, uniformly (default: all of KINDS, pristine included).
    dopants, adatoms : sequence of str
        Elements of substitutions and adatoms.
    min_contrast : float
        Only defects changing their site's intensity by at least this fraction are
        drawn, so every label is visible in principle.
    gamma : float
        Z-contrast exponent.
    probe_fwhm : (float, float)
        Range of the probe FWHM, Å; one value per world.
    dose : (float, float)
        Range of the dose, e⁻/Å², drawn log-uniformly per view.
    dose_exclude : sequence of (float, float)
        Dose bands, e⁻/Å², never drawn (default none): the dose is log-uniform on
        ``dose`` minus these bands, so evaluation doses inside them stay held out.
    background : (float, float)
        Range of the detector background fraction, per view.
    scattering : float
        Detected fraction per unit Z^γ (see :class:`~symcl.domains.crystal.imaging.Imaging`).
    read_noise : float
        Read noise, counts.
    jitter : float
        Largest per-view std of the scan-line jitter, Å (each view draws its std
        uniformly in [0, jitter] minus ``jitter_exclude``).
    jitter_exclude : sequence of (float, float)
        Jitter-std bands, Å, never drawn (default none), so that an evaluation jitter
        inside them stays held out while training covers jitter on both sides of it.
    drift : float
        Std of the drift shear and stretch of each world (a fraction, e.g. 0.01).
    offcentre_probability : float
        Probability that a view's window is shifted by a short lattice vector (b).
    max_offset : float, optional
        Longest window shift, Å; default: the longest lattice period of each material.
    rotations : bool
        Turn each world by a random rotation of the lattice's point group.
    random_orientation : bool
        Also turn each world by a uniformly random in-plane angle, so the encoder does
        not depend on how the crystal is oriented in the image (real images come in any
        orientation; a rectangular lattice such as SrTiO3 [110] has no 90° symmetry).
    equivalent_positives : bool
        Also make equivalent samples positives (``groups``), not just non-negatives.
    views_per_world : int
        Views cut from one rendered world (more is faster, fewer is more varied).
    noise : bool
        False returns the expected counts, for tests and benchmarks.
    gaussian_above : float
        Shot noise is Gaussian above this many expected counts, Poisson below.
    threads : int, optional
        Threads that render a batch, one per view, so at most 2 are used (default: 2,
        or 1 on a one-core machine). The batches do not depend on it.
    """

    def __init__(
        self,
        materials: Sequence[str | ProjectedCrystal] = ("MoS2", "graphene", "SrTiO3"),
        *,
        patch_size: int = 48,
        pixel_size: float = 0.3,
        kinds: Sequence[str] = KINDS,
        dopants: Sequence[str] = DOPANTS,
        adatoms: Sequence[str] = ADATOMS,
        min_contrast: float = 0.15,
        gamma: float = 1.7,
        probe_fwhm: tuple[float, float] = (0.8, 1.1),
        dose: tuple[float, float] = (1e5, 2e6),
        dose_exclude: Sequence[tuple[float, float]] = (),
        background: tuple[float, float] = (0.001, 0.02),
        scattering: float = 1e-4,
        read_noise: float = 1.0,
        jitter: float = 0.1,
        jitter_exclude: Sequence[tuple[float, float]] = (),
        drift: float = 0.01,
        offcentre_probability: float = 0.5,
        max_offset: float | None = None,
        rotations: bool = False,
        random_orientation: bool = False,
        equivalent_positives: bool = False,
        views_per_world: int = 32,
        noise: bool = True,
        gaussian_above: float = 20.0,
        threads: int | None = None,
    ):
        if isinstance(materials, str | ProjectedCrystal) or not len(materials):
            raise ValueError(
                f"The 'materials' parameter of LatticeTranslationViews must be a non-empty sequence. Got {materials!r} instead."
            )
        _check_int("patch_size", patch_size, 16)
        _check_positive("pixel_size", pixel_size)
        _check_int("views_per_world", views_per_world, 1)
        if threads is not None:
            _check_int("threads", threads, 1)
        kinds = tuple(kinds)
        if not kinds or any(k not in KINDS for k in kinds) or len(set(kinds)) != len(kinds):
            raise ValueError(
                f"The 'kinds' parameter of LatticeTranslationViews must hold distinct kinds from {KINDS}. Got {kinds!r} instead."
            )
        for name, value in (("probe_fwhm", probe_fwhm), ("dose", dose), ("background", background)):
            _check_range(name, value, positive=name != "background")
        check_dose("LatticeTranslationViews", "dose", float(dose[1]))
        dose_exclude = tuple(tuple(map(float, band)) for band in dose_exclude)
        for band in dose_exclude:
            _check_range("dose_exclude", band, positive=True)
        self._log_dose_pieces = _allowed_pieces(
            np.log(np.asarray(dose, dtype=float)),
            np.log(np.array(dose_exclude).reshape(-1, 2)),
            "dose_exclude",
            f"the dose range {tuple(dose)} e-/Å²",
            dose_exclude,
        )
        for name, value in (("gamma", gamma), ("scattering", scattering)):
            _check_positive(name, value)
        for name, value in (("read_noise", read_noise), ("jitter", jitter), ("drift", drift)):
            _check_non_negative(name, value)
        jitter_exclude = tuple(tuple(map(float, band)) for band in jitter_exclude)
        for band in jitter_exclude:
            _check_range("jitter_exclude", band, positive=True)
        # In px, the unit the views draw in (so no exclusion draws exactly as rng.uniform(0, jitter / px)).
        self._jitter_pieces = _allowed_pieces(
            np.array([0.0, jitter]) / pixel_size,
            np.array(jitter_exclude).reshape(-1, 2) / pixel_size,
            "jitter_exclude",
            f"the jitter range [0, {jitter}] Å",
            jitter_exclude,
        )
        for name, value in (("offcentre_probability", offcentre_probability), ("min_contrast", min_contrast)):
            if not (isinstance(value, int | float) and 0 <= value <= 1):
                raise ValueError(
                    f"The '{name}' parameter of LatticeTranslationViews must be in [0, 1]. Got {value!r} instead."
                )
        if max_offset is not None:
            _check_positive("max_offset", max_offset)
        _check_positive("gaussian_above", gaussian_above, allow_inf=True)

        crystals = [m if isinstance(m, ProjectedCrystal) else projected_crystal(m) for m in materials]
        field = patch_size * pixel_size
        for crystal in crystals:
            check_resolves_columns(crystal, pixel_size)
            need = max(MIN_FIELD_OF_VIEW, 2 * float(crystal.period_lengths.max()))
            if field < need - 1e-9:
                raise ValueError(
                    f"The patch field of view ({patch_size} px x {pixel_size} Å/px = {field:.2f} Å) must cover at "
                    f"least 12 Å and two lattice periods of {crystal.name} ({need:.2f} Å); use more pixels or "
                    "coarser sampling."
                )
        self.crystals = crystals
        self.patch_size = int(patch_size)
        self.pixel_size = float(pixel_size)
        self.kinds = kinds
        self.dopants = tuple(dopants)
        self.adatoms = tuple(adatoms)
        self.min_contrast = float(min_contrast)
        self.gamma = float(gamma)
        self.probe_fwhm = tuple(map(float, probe_fwhm))
        self.dose = tuple(map(float, dose))
        self.dose_exclude = dose_exclude
        self.background = tuple(map(float, background))
        self.scattering = float(scattering)
        self.read_noise = float(read_noise)
        self.jitter = float(jitter)
        self.jitter_exclude = jitter_exclude
        self.drift = float(drift)
        self.offcentre_probability = float(offcentre_probability)
        self.max_offset = None if max_offset is None else float(max_offset)
        self.rotations = bool(rotations)
        self.random_orientation = bool(random_orientation)
        self.equivalent_positives = bool(equivalent_positives)
        self.views_per_world = int(views_per_world)
        self.noise = bool(noise)
        self.gaussian_above = float(gaussian_above)
        self.threads = int(threads) if threads is not None else min(2, os.cpu_count() or 1)
        self._tables = [self._table(c) for c in crystals]
        self._by_kind = {k: [m for m, t in enumerate(self._tables) if t.sites.get(k)] for k in kinds}
        missing = [k for k, ms in self._by_kind.items() if not ms]
        if missing:
            raise ValueError(
                f"No material of {[c.name for c in crystals]} has a visible defect of kind(s) {missing}; "
                "drop them from 'kinds' (--kinds) or add materials, dopants or adatoms."
            )
        # The window must stay inside the world: jitter margin and the rounding of the cell choice.
        self._pad = math.ceil(5 * self.jitter / self.pixel_size) + 1
        self._world_size = [self._size_of_world(t) for t in self._tables]
        self._slacks = np.array([self._slack(t) for t in self._tables], dtype=np.int64)  # (M, 2)

    # ------------------------------------------------------------------ public API

    def settings(self) -> dict:
        """The constructor options as JSON-ready values."""
        return {
            "materials": [c.name for c in self.crystals],
            "zone_axes": [list(c.zone_axis) for c in self.crystals],
            "thickness": [c.thickness for c in self.crystals],
            "patch_size": self.patch_size,
            "pixel_size": self.pixel_size,
            "kinds": list(self.kinds),
            "dopants": list(self.dopants),
            "adatoms": list(self.adatoms),
            "min_contrast": self.min_contrast,
            "gamma": self.gamma,
            "probe_fwhm": list(self.probe_fwhm),
            "dose": list(self.dose),
            "dose_exclude": [list(band) for band in self.dose_exclude],
            "background": list(self.background),
            "scattering": self.scattering,
            "read_noise": self.read_noise,
            "jitter": self.jitter,
            "jitter_exclude": [list(band) for band in self.jitter_exclude],
            "drift": self.drift,
            "offcentre_probability": self.offcentre_probability,
            "max_offset": self.max_offset,
            "rotations": self.rotations,
            "random_orientation": self.random_orientation,
            "equivalent_positives": self.equivalent_positives,
            "views_per_world": self.views_per_world,
            "noise": self.noise,
            "gaussian_above": self.gaussian_above,
        }

    @classmethod
    def from_settings(cls, settings: dict, **overrides) -> LatticeTranslationViews:
        """Views rebuilt from :meth:`settings` (e.g. a trained model's ``config.json``).

        Parameters
        ----------
        settings : dict
            The output of :meth:`settings`; ``zone_axes`` and ``thickness`` are read from
            the material names again.
        **overrides
            Constructor options that replace the saved ones, e.g. ``materials=("MoS2",)``.
        """

        def as_tuples(value):
            return tuple(as_tuples(item) for item in value) if isinstance(value, list) else value

        options = {key: as_tuples(value) for key, value in settings.items() if key not in ("zone_axes", "thickness")}
        return cls(**(options | overrides))

    def sample(self, batch_size: int, generator: torch.Generator) -> ViewBatch:
        """Two views of ``batch_size`` sites.

        Returns
        -------
        ViewBatch
            view1, view2: float32 (B, 1, P, P) counts; exclude: bool (B, B); groups:
            int64 (B,) equivalence ids when ``equivalent_positives``; labels: int64
            (B,) indices into KINDS.
        """
        _check_int("batch_size", batch_size, 1)
        rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=generator)))
        params, worlds = self.draw_params(batch_size, rng)
        views = self.render(params, worlds, rng)
        ids = equivalence_ids(params)
        exclude = ids[:, None] == ids[None, :]
        np.fill_diagonal(exclude, False)
        return ViewBatch(
            torch.from_numpy(views[0]).unsqueeze(1),
            torch.from_numpy(views[1]).unsqueeze(1),
            exclude=torch.from_numpy(exclude),
            groups=torch.from_numpy(ids.astype(np.int64)) if self.equivalent_positives else None,
            labels=torch.from_numpy(params.kind.astype(np.int64)),
        )

    def draw_params(self, batch_size: int, rng: np.random.Generator) -> tuple[ViewParams, list[World]]:
        """Draw every random parameter of a batch: defects, worlds, windows and imaging."""
        n = batch_size
        kind_choice = rng.integers(len(self.kinds), size=n)
        kind = np.array([KINDS.index(self.kinds[k]) for k in kind_choice], dtype=np.int64)
        material = np.empty(n, dtype=np.int64)
        site = np.empty(n, dtype=np.int64)
        outcome = np.empty(n, dtype=np.int64)
        delta = np.empty(n)
        equivalent_site = np.empty(n, dtype=np.int64)
        point = np.empty((n, 2))
        u = rng.random((n, 3))
        for i in range(n):  # a few table look-ups per sample; the rendering is vectorised
            name = KINDS[kind[i]]
            options = self._by_kind[name]
            m = options[int(u[i, 0] * len(options))]
            table = self._tables[m]
            sites = table.sites[name]
            s = sites[int(u[i, 1] * len(sites))]
            values = table.outcomes[(name, s)]
            o = int(u[i, 2] * len(values))
            material[i], site[i], outcome[i] = m, s, o
            point[i] = table.crystal.hollows[s] if name == "adatom" else table.crystal.positions[s]
            old = 0.0 if name == "adatom" else table.intensity[s]
            delta[i] = 0.0 if name == "pristine" else values[o] - old
            equivalent_site[i] = (table.hollow_class if name == "adatom" else table.column_class)[s]

        worlds: list[World] = []
        world = np.empty((2, n), dtype=np.int64)
        for v in range(2):
            for m in range(len(self._tables)):
                members = np.nonzero(material == m)[0]
                for start in range(0, len(members), self.views_per_world):
                    world[v, members[start : start + self.views_per_world]] = len(worlds)
                    worlds.append(self._draw_world(m, rng))

        centre = np.empty((2, n, 2))
        window = np.empty((2, n, 2), dtype=np.int64)
        for v in range(2):
            offcentre = rng.random(n) < self.offcentre_probability
            target = rng.random((n, 2))
            pick = rng.random(n)
            centre[v], window[v] = self._place(worlds, world[v], material, point, offcentre, pick, target)
        log_dose = _uniform_on_pieces(self._log_dose_pieces, rng.random((2, n)))
        background = rng.uniform(*self.background, size=(2, n))
        jitter = _uniform_on_pieces(self._jitter_pieces, rng.random((2, n)))
        return (
            ViewParams(
                material=material,
                kind=kind,
                site=site,
                outcome=outcome,
                delta=delta,
                equivalent_site=equivalent_site,
                world=world,
                centre=centre,
                window=window,
                dose=np.exp(log_dose),
                background=background,
                jitter=jitter,
            ),
            worlds,
        )

    def render(
        self, params: ViewParams, worlds: list[World], rng: np.random.Generator
    ) -> tuple[np.ndarray, np.ndarray]:
        """Render the two views of a batch from its parameters.

        The two views (each with its own worlds) are rendered on ``threads`` threads:
        numpy releases the GIL in the array work. Each view draws its noise from its own
        child of ``rng``, so the result does not depend on the number of threads.

        Returns
        -------
        (ndarray, ndarray)
            float32 (B, P, P) each: counts (or expected counts without noise).
        """
        view_rngs = rng.spawn(2)

        def view(v: int) -> np.ndarray:
            return self._render_view(params, worlds, v, view_rngs[v])

        if self.threads == 1:
            return view(0), view(1)
        with ThreadPoolExecutor(2) as pool:
            first, second = pool.map(view, (0, 1))
        return first, second

    def _render_view(self, params: ViewParams, worlds: list[World], v: int, rng: np.random.Generator) -> np.ndarray:
        """float32 (B, P, P): view ``v`` (0 or 1) of every sample, cut from its worlds."""
        P, pad = self.patch_size, self._pad
        n = len(params.kind)
        width = P + 2 * pad
        patches = np.empty((n, P, width), dtype=np.float32)
        for w in np.unique(params.world[v]):  # render each world once, then one gather per world
            image = self._render_world(worlds[w])
            members = np.nonzero(params.world[v] == w)[0]
            rows = params.window[v, members, 1][:, None, None] + np.arange(P)[None, :, None]
            cols = params.window[v, members, 0][:, None, None] - pad + np.arange(width)[None, None, :]
            patches[members] = image[rows, cols]
        sigma = np.array([worlds[w].sigma for w in params.world[v]])
        local = params.centre[v] - params.window[v] + [pad, 0]
        patches += _render_single(local, params.delta, (P, width), sigma)
        if self.jitter > 0:
            patches = shift_rows(patches, params.jitter[v][:, None] * rng.standard_normal((n, P)))
        patches = np.ascontiguousarray(patches[:, :, pad : pad + P])
        expected = expected_counts(
            patches,
            dose=params.dose[v],
            pixel_size=self.pixel_size,
            scattering=self.scattering,
            background=params.background[v],
        )
        if self.noise:
            expected = detector_noise(expected, rng, read_noise=self.read_noise, gaussian_above=self.gaussian_above)
        return expected.astype(np.float32, copy=False)

    # ------------------------------------------------------------------ internals

    def _table(self, crystal: ProjectedCrystal) -> _Table:
        outcomes = defect_outcomes(
            crystal, gamma=self.gamma, dopants=self.dopants, adatoms=self.adatoms, min_contrast=self.min_contrast
        )
        sites: dict[str, list[int]] = {}
        values: dict[tuple[str, int], np.ndarray] = {}
        for (kind, s), items in sorted(outcomes.items()):
            sites.setdefault(kind, []).append(s)
            values[(kind, s)] = np.array([value for value, _ in items])
        longest = float(crystal.period_lengths.max())
        limit = (self.max_offset if self.max_offset is not None else longest * 1.001) + 1e-9
        limit = min(limit, 0.5 * self.patch_size * self.pixel_size - 2.0)  # the defect stays 2 Å inside
        span = np.arange(-3, 4)
        m = np.stack(np.meshgrid(span, span, indexing="ij"), axis=-1).reshape(-1, 2)
        length = np.linalg.norm(m @ crystal.lattice, axis=1)
        shifts = m[(length > 1e-9) & (length <= limit)]
        rotations = lattice_rotations(crystal.lattice) if self.rotations else np.eye(2)[None]
        column_class, hollow_class = translation_classes(crystal)
        return _Table(
            crystal, crystal.intensities(self.gamma), sites, values, shifts, rotations, column_class, hollow_class
        )

    def _slack(self, table: _Table) -> tuple[int, int]:
        """(r, e) in px: how far rounding to a whole cell can move a window, and the room for phases."""
        a = table.crystal.period_lengths
        rounding = math.ceil((1 + 5 * self.drift) * float(a.sum()) / 2 / self.pixel_size) + 1
        return rounding, math.ceil(float(a.max()) / self.pixel_size)

    def _size_of_world(self, table: _Table) -> int:
        rounding, room = self._slack(table)
        return self.patch_size + 2 * (self._pad + rounding + room + 1)

    def _draw_world(self, material: int, rng: np.random.Generator) -> World:
        table = self._tables[material]
        sigma = rng.uniform(*self.probe_fwhm) / FWHM_PER_SIGMA / self.pixel_size
        rotation = table.rotations[rng.integers(len(table.rotations))]
        if self.random_orientation:
            angle = rng.uniform(0.0, 2 * math.pi)
            turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
            rotation = turn @ rotation
        shear, stretch = rng.normal(0.0, self.drift, size=2)
        drift = np.array([[1.0, shear], [0.0, 1.0 + stretch]])
        origin = rng.random(2) @ table.crystal.lattice
        return World(material, float(sigma), drift @ rotation / self.pixel_size, origin)

    def _place(
        self,
        worlds: list[World],
        world: np.ndarray,
        material: np.ndarray,
        point: np.ndarray,
        offcentre: np.ndarray,
        pick: np.ndarray,
        target: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Choose the cell of each defect so that its window lands at ``target`` (in [0, 1)^2) of its world's free area.

        Returns the site's position in its world (px, (B, 2)) and the window's top-left pixel ((B, 2) int).
        """
        P, pad = self.patch_size, self._pad
        transform = np.stack([worlds[w].transform for w in world])
        origin = np.stack([worlds[w].origin for w in world])
        lattice = np.stack([self._tables[m].crystal.lattice for m in material])
        rounding, room = self._slacks[material].T
        half = (np.asarray(self._world_size)[material] - 1) / 2
        shift_m = np.zeros((len(world), 2))
        for i in np.nonzero(offcentre)[0]:
            shifts = self._tables[material[i]].shifts
            if len(shifts):
                shift_m[i] = shifts[int(pick[i] * len(shifts))]
        shift = np.einsum("ni,nij->nj", shift_m, lattice)
        # The top-left corner aims at pad + 1 + rounding + [0, 2 room); rounding the cell moves it by < rounding.
        want = pad + 1 + rounding[:, None] + target * 2 * room[:, None] + P // 2
        x = np.einsum("nij,nj->ni", np.linalg.inv(transform), want - half[:, None]) - origin - point - shift
        cell = np.round(np.einsum("ni,nij->nj", x, np.linalg.inv(lattice)))
        site = origin + np.einsum("ni,nij->nj", cell, lattice) + point
        centre = np.einsum("nij,nj->ni", transform, site) + half[:, None]
        window_centre = np.einsum("nij,nj->ni", transform, site + shift) + half[:, None]
        window = np.round(window_centre).astype(np.int64) - P // 2
        high = (2 * half + 1).astype(np.int64) - pad - P
        window = np.clip(window, pad, high[:, None])  # a guard; the slack makes it a no-op
        return centre, window

    def _render_world(self, world: World) -> np.ndarray:
        size = self._world_size[world.material]
        half = (size - 1) / 2
        crystal = self._tables[world.material].crystal
        inverse = np.linalg.inv(world.transform)
        corners = (np.array([[0, 0], [size, 0], [0, size], [size, size]]) - half) @ inverse.T - world.origin
        cells = cells_covering(crystal.lattice, corners, 6 * world.sigma * self.pixel_size + 1.0)
        rel, sublattice, _ = column_positions(crystal, cells)
        pixels = (rel + world.origin) @ world.transform.T + half
        intensity = self._tables[world.material].intensity[sublattice]
        keep = np.all((pixels > -6 * world.sigma) & (pixels < size + 6 * world.sigma), axis=1)
        return render_image(pixels[keep], intensity[keep], (size, size), world.sigma, tile=48)


def _render_single(centres: np.ndarray, heights: np.ndarray, shape: tuple[int, int], sigma: np.ndarray) -> np.ndarray:
    """float32 (B, H, W): one Gaussian per image, of height ``heights[b]`` at ``centres[b]`` (x, y) px."""
    height, width = shape
    scale = (-0.5 / (sigma * sigma))[:, None]
    gy = np.exp(np.maximum(scale * (np.arange(height) - centres[:, 1:2]) ** 2, -60.0)) * heights[:, None]
    gx = np.exp(np.maximum(scale * (np.arange(width) - centres[:, 0:1]) ** 2, -60.0))
    return (gy[:, :, None] * gx[:, None, :]).astype(np.float32)


def _allowed_pieces(span: np.ndarray, bands: np.ndarray, parameter: str, described: str, given) -> np.ndarray:
    """The parts of the interval ``span`` (2,) outside the intervals ``bands`` (K, 2): float64 (M, 2).

    ``span`` and ``bands`` are in the space the draw is uniform in (log dose, jitter in px);
    ``parameter``, ``described`` and ``given`` (the bands as passed) word the error.
    """
    pieces = [(float(span[0]), float(span[1]))]
    for low, high in bands:
        pieces = [
            part
            for a, b in pieces
            for part in ((a, min(b, low)), (max(a, high), b))
            if part[1] > part[0] or (a == b and not low <= a <= high)
        ]
    if not pieces:
        raise ValueError(
            f"The '{parameter}' parameter of LatticeTranslationViews must leave part of {described}. "
            f"Got {list(given)!r} instead."
        )
    return np.array(pieces, dtype=np.float64)


def _uniform_on_pieces(pieces: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Map uniform draws ``u`` in [0, 1) to a uniform draw on the union of the intervals ``pieces`` (K, 2)."""
    lengths = pieces[:, 1] - pieces[:, 0]
    if lengths.sum() <= 0:  # a single point
        return np.full_like(u, pieces[0, 0])
    ends = np.cumsum(lengths)
    t = u * ends[-1]
    k = np.minimum(np.searchsorted(ends, t, side="right"), len(pieces) - 1)
    return pieces[k, 0] + (t - (ends[k] - lengths[k]))


def _check_int(name: str, value: object, low: int) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        raise ValueError(
            f"The '{name}' parameter of LatticeTranslationViews must be an integer >= {low}. Got {value!r} instead."
        )


def _check_positive(name: str, value: object, *, allow_inf: bool = False) -> None:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not ok or math.isnan(value) or value <= 0 or (math.isinf(value) and not allow_inf):
        raise ValueError(f"The '{name}' parameter of LatticeTranslationViews must be > 0. Got {value!r} instead.")


def _check_non_negative(name: str, value: object) -> None:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not ok or not math.isfinite(value) or value < 0:
        raise ValueError(f"The '{name}' parameter of LatticeTranslationViews must be >= 0. Got {value!r} instead.")


def _check_range(name: str, value: object, *, positive: bool) -> None:
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(
            f"The '{name}' parameter of LatticeTranslationViews must be a range (low, high). Got {value!r} instead."
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low <= high and (low > 0 if positive else low >= 0)):
        rule = "0 < low <= high" if positive else "0 <= low <= high"
        raise ValueError(
            f"The '{name}' parameter of LatticeTranslationViews must satisfy {rule}. Got {value!r} instead."
        )


_ID_RADIX = 1024  # sites and outcomes per (material, kind) stay far below it


def equivalence_ids(params: ViewParams) -> np.ndarray:
    """int64 (B,): one id per (material, kind, equivalent site, outcome), the same in every batch.

    The site is ``equivalent_site``, so the identical columns of a cell that is not
    primitive (related by a translation of the crystal) share ids: they are one physical
    site. Their outcome lists are the same, as outcomes depend on the column's content.
    Ids must not depend on the batch: distributed training gathers the groups of every
    rank, and a negatives queue keeps them across steps, so batch-local numbering would
    make unrelated sites share a group.
    """
    if max(params.equivalent_site.max(initial=0), params.outcome.max(initial=0)) >= _ID_RADIX:
        raise ValueError(f"site and outcome indices must be below {_ID_RADIX} to form equivalence ids")
    material_kind = params.material.astype(np.int64) * len(KINDS) + params.kind
    return (material_kind * _ID_RADIX + params.equivalent_site) * _ID_RADIX + params.outcome

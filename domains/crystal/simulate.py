"""``simulate``: a HAADF-STEM image of a crystal with defects, and its ground truth.

The crystal (named, an ``ase.Atoms`` or a :class:`ProjectedCrystal`) is tiled over the
field of view, the defects change or add columns, and the image is formed by the
incoherent model of :mod:`~symcl.domains.crystal.imaging`. Everything random (the
crystal origin when not given, the defect sites and elements, jitter and noise) comes
from the ``rng`` passed in, so a seed gives the same image.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ase import Atoms

from symcl.atomic import atomic_group, atomic_write, make_directory, write_json
from symcl.errors import UserInputError

from .defects import (
    ADATOMS,
    DEFECT_KINDS,
    DOPANTS,
    Defect,
    PlacedDefect,
    antisite_source,
    atomic_number,
    defect_outcomes,
    remove_atoms,
    substitute,
    symbol,
)
from .imaging import (
    Imaging,
    detector_noise,
    drift_positions,
    expected_counts,
    render_image,
    shift_rows,
)
from .structures import (
    ProjectedCrystal,
    cells_covering,
    check_resolves_columns,
    column_intensity,
    column_positions,
    projected_crystal,
)

_EDGE = 2.0  # random defects stay this far (Å) inside the field of view
MAX_COLUMNS = 10_000_000  # about 1 GB of column arrays; beyond it a typo in the pixel size, not an image


@dataclass(frozen=True, eq=False)
class Columns:
    """Every atomic column of a simulated image (ground truth for site finding).

    Attributes
    ----------
    positions : ndarray
        float64 (N, 2), (x, y) in Å in the sample frame.
    pixels : ndarray
        float64 (N, 2), (x, y) = (column, row) where the column appears, px, after
        scan drift (jitter moves single scan lines and is not included).
    sublattice : ndarray
        int64 (N,), the basis column of each, -1 for adatoms.
    numbers : tuple of tuple of int
        Atomic numbers of each column (empty for a column emptied by vacancies).
    defect : ndarray
        int64 (N,), index into ``SimulatedImage.defects`` of the defect that changed
        the column, -1 for none.
    """

    positions: np.ndarray
    pixels: np.ndarray
    sublattice: np.ndarray
    numbers: tuple[tuple[int, ...], ...]
    defect: np.ndarray

    def __len__(self) -> int:
        return len(self.positions)


@dataclass(frozen=True, eq=False)
class SimulatedImage:
    """The result of :func:`simulate`.

    Attributes
    ----------
    image : ndarray
        float32 (H, W), recorded counts (with noise).
    expected : ndarray
        float32 (H, W), the expected counts λ (noise-free, jitter included).
    pixel_size : float
        Å/px.
    crystal : ProjectedCrystal
    imaging : Imaging
    columns : Columns
        Every column of the field of view (and its 5σ margin).
    defects : tuple of PlacedDefect
        Ground truth of every defect.
    """

    image: np.ndarray
    expected: np.ndarray
    pixel_size: float
    crystal: ProjectedCrystal
    imaging: Imaging
    columns: Columns
    defects: tuple[PlacedDefect, ...]

    def defect_table(self) -> list[dict[str, object]]:
        """The ground truth as rows: kind, element, sublattice, x/y in Å and px, Z before/after."""
        return [
            {
                "defect": i,
                "kind": d.kind,
                "element": d.element,
                "sublattice": d.sublattice,
                "x_angstrom": round(d.x, 4),
                "y_angstrom": round(d.y, 4),
                "x_px": round(d.x_px, 3),
                "y_px": round(d.y_px, 3),
                "z_before": " ".join(map(str, d.before)),
                "z_after": " ".join(map(str, d.after)),
            }
            for i, d in enumerate(self.defects)
        ]


def simulate(
    material: str | Atoms | ProjectedCrystal = "MoS2",
    *,
    shape: tuple[int, int] = (256, 256),
    pixel_size: float = 0.2,
    defects: int | Sequence[Defect] = 0,
    defect_kinds: Sequence[str] = DEFECT_KINDS,
    dopants: Sequence[str] = DOPANTS,
    adatoms: Sequence[str] = ADATOMS,
    zone_axis: Sequence[int] = (0, 0, 1),
    thickness: int | None = None,
    rotation: float = 0.0,
    origin: tuple[float, float] | None = None,
    gamma: float = 1.7,
    probe_fwhm: float = 0.9,
    dose: float = 1e5,
    scattering: float = 1e-4,
    background: float = 0.02,
    read_noise: float = 1.0,
    jitter: float = 0.0,
    drift: tuple[float, float] = (0.0, 0.0),
    gaussian_above: float = 1000.0,
    min_contrast: float = 0.15,
    rng: np.random.Generator | int | None = None,
) -> SimulatedImage:
    """Simulate an incoherent Z-contrast (HAADF-STEM) image of a crystal with point defects.

    Parameters
    ----------
    material : str, ase.Atoms or ProjectedCrystal
        A named crystal ("MoS2", "WS2", "MoSe2", "graphene", "hBN", "SrTiO3", an fcc
        element such as "Au"), any periodic structure, or an already projected crystal.
    shape : (int, int)
        Image size (H, W) in px.
    pixel_size : float
        Å/px (> 0).
    defects : int or sequence of Defect
        A number of random defects (kinds drawn uniformly from ``defect_kinds``, sites
        uniformly, at least one lattice period apart), or explicit :class:`Defect`\\ s.
    defect_kinds : sequence of str
        Kinds of the random defects.
    dopants, adatoms : sequence of str
        Elements of random substitutions and adatoms; only those changing their site's
        intensity by ``min_contrast`` or more are drawn.
    zone_axis, thickness
        Projection of an ase structure, see :func:`projected_crystal`.
    rotation : float
        In-plane rotation of the crystal, degrees: positive turns from +x towards +y,
        which is clockwise on screen, as image rows (y) run downwards.
    origin : (float, float), optional
        Position in Å of the cell origin; default: uniform in the first cell.
    gamma, probe_fwhm, dose, scattering, background, read_noise, jitter, drift, gaussian_above
        The microscope, see :class:`Imaging` (probe FWHM and jitter in Å, dose in
        e⁻/Å², drift in Å per frame).
    min_contrast : float
        Minimal relative intensity change of a random defect, in [0, 1).
    rng : numpy.random.Generator or int, optional
        Source of all randomness (an int seeds a new generator).

    Returns
    -------
    SimulatedImage
        ``image`` (H, W) float32 counts and the ground truth (``defects``, ``columns``).

    Examples
    --------
    >>> from symcl.domains import crystal
    >>> sim = crystal.simulate("MoS2", shape=(128, 128), pixel_size=0.2, defects=3, rng=0)
    >>> sim.image.shape, len(sim.defects)
    ((128, 128), 3)
    """
    crystal = _as_crystal(material, zone_axis=zone_axis, thickness=thickness)
    shape = _check_shape(shape)
    _check_positive("pixel_size", pixel_size)
    check_resolves_columns(crystal, pixel_size)
    _check_finite("rotation", rotation)
    if not (isinstance(min_contrast, int | float) and 0 <= min_contrast < 1):
        raise ValueError(f"The 'min_contrast' parameter of simulate must be in [0, 1). Got {min_contrast!r} instead.")
    imaging = Imaging(
        gamma=gamma,
        probe_fwhm=probe_fwhm,
        dose=dose,
        scattering=scattering,
        background=background,
        read_noise=read_noise,
        jitter=jitter,
        drift=drift,
        gaussian_above=gaussian_above,
    )
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    height, width = shape
    frame_height = height * pixel_size
    if abs(imaging.drift[1]) >= 0.5 * frame_height:
        raise ValueError(
            f"The y drift must be less than half the frame height ({0.5 * frame_height:g} Å). Got {imaging.drift[1]} instead."
        )
    angle = math.radians(rotation)
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
    if origin is None:
        origin = rng.random(2) @ crystal.lattice @ turn.T
    origin = np.asarray(origin, dtype=np.float64)
    if origin.shape != (2,) or not np.isfinite(origin).all():
        raise ValueError(f"The 'origin' parameter of simulate must be (x, y) in Å. Got {origin!r} instead.")

    # Columns of the field of view plus a margin for the probe tails, jitter and drift.
    sigma = imaging.probe_sigma
    margin = 5 * sigma + 5 * imaging.jitter + abs(imaging.drift[0]) + abs(imaging.drift[1]) + 1.0
    corners = np.array([[0, 0], [width, 0], [0, height], [width, height]]) * pixel_size
    lattice = crystal.lattice @ turn.T  # rows: the rotated lattice vectors
    field = (width * pixel_size + 2 * margin) * (height * pixel_size + 2 * margin)
    columns = field / abs(np.linalg.det(crystal.lattice)) * crystal.n_columns
    if columns > MAX_COLUMNS:
        raise UserInputError(
            f"{height} x {width} px at {pixel_size:g} Å/px show about {columns:,.0f} columns of {crystal.name}, more "
            f"than the {MAX_COLUMNS:,} an image may hold; use a smaller pixel size or image"
        )
    cells = cells_covering(lattice, corners - origin, margin)
    rel, sublattice, _ = column_positions(crystal, cells)
    positions = origin + rel @ turn.T
    low, high = -margin, np.array([width, height]) * pixel_size + margin
    keep = np.all((positions >= low) & (positions <= high), axis=1)
    positions, sublattice = positions[keep], sublattice[keep]
    numbers = [crystal.numbers[s] for s in sublattice]
    hollows = (origin + (cells @ crystal.lattice)[:, None, :] @ turn.T + crystal.hollows @ turn.T).reshape(-1, 2)

    def apparent(points: np.ndarray) -> np.ndarray:
        return drift_positions(points, imaging.drift, frame_height) / pixel_size

    interior = _inside(apparent(positions), shape, _EDGE / pixel_size)
    placed, defect_of, extra = _place_defects(
        crystal,
        defects,
        positions=positions,
        sublattice=sublattice,
        numbers=numbers,
        interior=interior,
        hollows=hollows,
        hollow_interior=_inside(apparent(hollows), shape, _EDGE / pixel_size),
        in_image=lambda point: bool(_inside(apparent(point[None]), shape, 0.0)[0]),
        defect_kinds=defect_kinds,
        dopants=dopants,
        adatoms=adatoms,
        gamma=imaging.gamma,
        min_contrast=min_contrast,
        rng=rng,
    )
    if extra:
        positions = np.concatenate([positions, np.array([p for p, _, _ in extra])])
        sublattice = np.concatenate([sublattice, np.full(len(extra), -1)])
        numbers += [n for _, n, _ in extra]
        defect_of = np.concatenate([defect_of, [k for _, _, k in extra]])
    pixels = apparent(positions)
    placed = tuple(
        PlacedDefect(**{**asdict(d), "x_px": float(p[0]), "y_px": float(p[1])})
        for d, p in zip(placed, apparent(np.array([[d.x, d.y] for d in placed]).reshape(-1, 2)), strict=True)
    )

    # Render with a side margin, so that shifting scan lines never pulls in the edge.
    jitter_px = imaging.jitter / pixel_size
    pad = math.ceil(5 * jitter_px) + 2 if jitter_px else 0
    intensity = np.array([column_intensity(n, imaging.gamma) for n in numbers])
    canvas = render_image(pixels + [pad, 0], intensity, (height, width + 2 * pad), sigma / pixel_size)
    if jitter_px:
        canvas = shift_rows(canvas, jitter_px * rng.standard_normal(height))
    clean = canvas[:, pad : pad + width]
    expected = expected_counts(
        clean, dose=imaging.dose, pixel_size=pixel_size, scattering=imaging.scattering, background=imaging.background
    )
    image = detector_noise(expected, rng, read_noise=imaging.read_noise, gaussian_above=imaging.gaussian_above)
    columns = Columns(
        positions=positions,
        pixels=pixels,
        sublattice=sublattice.astype(np.int64),
        numbers=tuple(tuple(n) for n in numbers),
        defect=defect_of.astype(np.int64),
    )
    return SimulatedImage(
        image=image,
        expected=expected,
        pixel_size=float(pixel_size),
        crystal=crystal,
        imaging=imaging,
        columns=columns,
        defects=placed,
    )


def write_simulation(
    result: SimulatedImage, directory: str | os.PathLike, *, seed: int | None = None
) -> dict[str, Path]:
    """Write a simulation to a directory, every file atomically.

    Files: ``image.npy`` (float32 counts), ``image.png`` (grey scale),
    ``ground_truth.csv`` (one row per defect), ``columns.csv`` (one row per column in
    the field of view) and ``simulation.json`` (material, pixel size, microscope, and
    ``seed`` when given: the integer seed that reproduces the image and its ground truth).

    Returns
    -------
    dict
        Name -> path of each file written.
    """
    directory = make_directory(directory)
    with atomic_group():  # the image and its ground truth appear together, or not at all
        return _write_simulation_files(result, directory, seed)


def _write_simulation_files(result: SimulatedImage, directory: Path, seed: int | None) -> dict[str, Path]:
    paths = {}
    paths["image.npy"] = atomic_write(directory / "image.npy", lambda tmp: _save_npy(tmp, result.image))
    paths["image.png"] = atomic_write(directory / "image.png", lambda tmp: _save_png(tmp, result.image))
    fields = [
        "defect",
        "kind",
        "element",
        "sublattice",
        "x_angstrom",
        "y_angstrom",
        "x_px",
        "y_px",
        "z_before",
        "z_after",
    ]
    paths["ground_truth.csv"] = _write_csv(directory / "ground_truth.csv", fields, result.defect_table())
    cols = result.columns
    height, width = result.image.shape
    inside = _inside(cols.pixels, (height, width), 0.0)
    rows = [
        {
            "x_px": round(float(cols.pixels[i, 0]), 3),
            "y_px": round(float(cols.pixels[i, 1]), 3),
            "x_angstrom": round(float(cols.positions[i, 0]), 4),
            "y_angstrom": round(float(cols.positions[i, 1]), 4),
            "sublattice": int(cols.sublattice[i]),
            "z": " ".join(map(str, cols.numbers[i])),
            "defect": int(cols.defect[i]),
        }
        for i in np.nonzero(inside)[0]
    ]
    paths["columns.csv"] = _write_csv(
        directory / "columns.csv", ["x_px", "y_px", "x_angstrom", "y_angstrom", "sublattice", "z", "defect"], rows
    )
    crystal = result.crystal
    paths["simulation.json"] = write_json(
        directory / "simulation.json",
        {
            "material": crystal.name,
            "zone_axis": list(crystal.zone_axis),
            "thickness": crystal.thickness,
            "lattice_angstrom": crystal.lattice.round(6).tolist(),
            "pixel_size_angstrom": result.pixel_size,
            "shape": [height, width],
            "imaging": asdict(result.imaging),
            "n_defects": len(result.defects),
            **({} if seed is None else {"seed": seed}),
        },
    )
    return paths


def _place_defects(
    crystal: ProjectedCrystal,
    defects: int | Sequence[Defect],
    *,
    positions: np.ndarray,
    sublattice: np.ndarray,
    numbers: list[tuple[int, ...]],
    interior: np.ndarray,
    hollows: np.ndarray,
    hollow_interior: np.ndarray,
    in_image: Callable[[np.ndarray], bool],
    defect_kinds: Sequence[str],
    dopants: Sequence[str],
    adatoms: Sequence[str],
    gamma: float,
    min_contrast: float,
    rng: np.random.Generator,
) -> tuple[list[PlacedDefect], np.ndarray, list[tuple[np.ndarray, tuple[int, ...], int]]]:
    """Apply the defects in place to ``numbers``; returns the records, the defect of each column and new columns."""
    defect_of = np.full(len(positions), -1)
    adatom_of = np.full(len(hollows), -1)  # the adatom defect on each hollow site
    extra: list[tuple[np.ndarray, tuple[int, ...], int]] = []  # an adatom's column, its atoms, its defect
    placed: list[PlacedDefect] = []
    spacing = float(crystal.period_lengths.max())
    taken: list[np.ndarray] = []

    def free(p: np.ndarray) -> bool:
        return all(np.linalg.norm(p - q) >= spacing for q in taken)

    if isinstance(defects, int | np.integer) and not isinstance(defects, bool):
        if defects < 0:
            raise ValueError(f"The 'defects' parameter of simulate must be >= 0. Got {defects} instead.")
        outcomes = defect_outcomes(crystal, gamma=gamma, dopants=dopants, adatoms=adatoms, min_contrast=min_contrast)
        kinds = _check_kinds(defect_kinds)
        possible = [k for k in kinds if any(key[0] == k for key in outcomes)]
        if defects and not possible:
            raise UserInputError(f"None of the defect kinds {kinds} is possible (and visible) in {crystal.name}.")
        for _ in range(int(defects)):
            kind = possible[rng.integers(len(possible))]
            sites = sorted(site for k, site in outcomes if k == kind)
            adatom = kind == "adatom"
            pool_positions = hollows if adatom else positions
            site_of = (np.arange(len(hollows)) % len(crystal.hollows)) if adatom else sublattice
            ok = (hollow_interior if adatom else interior) & np.isin(site_of, sites)
            if not adatom:
                ok &= defect_of == -1
            candidates = [i for i in rng.permutation(np.nonzero(ok)[0]) if free(pool_positions[i])]
            if not candidates:
                raise UserInputError(
                    f"No room for {defects} defects at least {spacing:.2f} Å apart in this field of view; "
                    "ask for fewer defects or a larger image."
                )
            i = int(candidates[0])
            choices = outcomes[(kind, int(site_of[i]))]
            _, after = choices[rng.integers(len(choices))]
            taken.append(pool_positions[i])
            if adatom:
                adatom_of[i] = len(placed)
                placed.append(_record(kind, pool_positions[i], -1, (), after))
                extra.append((pool_positions[i], after, len(placed) - 1))
            else:
                placed.append(_record(kind, positions[i], int(sublattice[i]), numbers[i], after))
                numbers[i] = after
                defect_of[i] = len(placed) - 1
        return placed, defect_of, extra

    if isinstance(defects, Defect):
        defects = [defects]
    for k, spec in enumerate(defects):
        if not isinstance(spec, Defect):
            raise TypeError(f"The 'defects' parameter of simulate must hold Defect objects. Got {type(spec).__name__}.")
        adatom = spec.kind == "adatom"
        pool = hollows if adatom else positions
        site_of = (np.arange(len(hollows)) % len(crystal.hollows)) if adatom else sublattice
        ok = (hollow_interior if adatom else interior).copy()
        if spec.sublattice is not None:
            ok &= site_of == spec.sublattice
        if not adatom:
            ok &= defect_of == -1
        if spec.position is None:
            index = [int(i) for i in rng.permutation(np.nonzero(ok)[0]) if free(pool[i])]
        else:
            allowed = hollow_interior if adatom else interior
            if spec.sublattice is not None:
                allowed = allowed & (site_of == spec.sublattice)
            occupant = adatom_of if adatom else defect_of
            index = [_requested_site(k, spec, pool, allowed, occupant, spacing, in_image)]
        if not index:
            raise UserInputError(f"No free site for the {spec.kind} defect {spec} in this field of view.")
        i = int(index[0])
        taken.append(pool[i])
        if adatom:
            adatom_of[i] = len(placed)
            z = atomic_number(spec.element) if spec.element else max(crystal.elements)
            placed.append(_record("adatom", pool[i], -1, (), (z,)))
            extra.append((pool[i], (z,), len(placed) - 1))
            continue
        before = numbers[i]
        try:
            if spec.kind == "vacancy":
                element = atomic_number(spec.element) if spec.element else None
                after = remove_atoms(before, spec.count, element)
            elif spec.kind == "substitution":
                after = substitute(before, atomic_number(spec.element))
            else:
                after = crystal.numbers[antisite_source(crystal, int(sublattice[i]), spec.source)]
        except ValueError as error:
            raise UserInputError(f"Cannot place {spec}: {error}") from None
        placed.append(_record(spec.kind, positions[i], int(sublattice[i]), before, after))
        numbers[i] = after
        defect_of[i] = len(placed) - 1
    return placed, defect_of, extra


def _requested_site(
    k: int,
    spec: Defect,
    pool: np.ndarray,
    allowed: np.ndarray,
    occupant: np.ndarray,
    reach: float,
    in_image: Callable[[np.ndarray], bool],
) -> int:
    """The site (index into ``pool``) nearest to ``spec.position`` among the ``allowed`` ones.

    Refused (UserInputError naming ``defects[k]``): a position outside the image, one
    whose nearest allowed site lies more than ``reach`` Å away (e.g. in the margin
    beyond the image), and one whose nearest allowed site already holds a defect
    (``occupant`` >= 0), which would otherwise move the defect to another site or
    stack two on one.
    """
    point = np.asarray(spec.position, dtype=np.float64)
    where = f"defects[{k}] ({spec.kind} at ({point[0]:g}, {point[1]:g}) Å)"
    site = "hollow site" if spec.kind == "adatom" else "column"
    if not in_image(point):
        raise UserInputError(
            f"{where}: the position is outside the image; give (x, y) in Å inside its field of view, from (0, 0) at "
            "the centre of the top-left pixel"
        )
    distance = np.where(allowed, np.linalg.norm(pool - point, axis=1), np.inf)
    i = int(np.argmin(distance))
    if not np.isfinite(distance[i]) or distance[i] > reach:
        raise UserInputError(
            f"{where}: the nearest {site} at least {_EDGE:g} Å inside the image is {distance[i]:.2f} Å away; "
            f"it must be within one lattice period ({reach:.2f} Å)"
        )
    if occupant[i] >= 0:
        raise UserInputError(
            f"{where}: the nearest {site}, at ({pool[i, 0]:.2f}, {pool[i, 1]:.2f}) Å, already holds "
            f"defects[{occupant[i]}]; give each defect its own {site}"
        )
    return i


def _record(kind: str, position: np.ndarray, sublattice: int, before: tuple, after: tuple) -> PlacedDefect:
    """A ground-truth row; ``element`` is the element removed (vacancy) or brought in (the other kinds)."""
    if kind == "vacancy":
        changed = [z for z in before if before.count(z) > after.count(z)]
    elif kind == "substitution":
        changed = [z for z in after if after.count(z) > before.count(z)]
    else:
        changed = list(after)
    return PlacedDefect(
        kind=kind,
        x=float(position[0]),
        y=float(position[1]),
        x_px=math.nan,
        y_px=math.nan,
        sublattice=sublattice,
        before=tuple(before),
        after=tuple(after),
        element=symbol(max(changed)) if changed else "",
    )


def _inside(pixels: np.ndarray, shape: tuple[int, int], margin_px: float) -> np.ndarray:
    height, width = shape
    x, y = pixels[:, 0], pixels[:, 1]
    return (
        (x >= margin_px - 0.5)
        & (x <= width - 0.5 - margin_px)
        & (y >= margin_px - 0.5)
        & (y <= height - 0.5 - margin_px)
    )


def _as_crystal(material, *, zone_axis, thickness) -> ProjectedCrystal:
    if isinstance(material, ProjectedCrystal):
        return material
    return projected_crystal(material, zone_axis=zone_axis, thickness=thickness)


def _check_kinds(kinds: Sequence[str]) -> tuple[str, ...]:
    kinds = tuple(kinds)
    bad = [k for k in kinds if k not in DEFECT_KINDS]
    if bad or not kinds:
        raise ValueError(f"The 'defect_kinds' parameter must hold kinds from {DEFECT_KINDS}. Got {kinds!r} instead.")
    return kinds


def _check_shape(shape: Sequence[int]) -> tuple[int, int]:
    try:
        height, width = shape
    except (TypeError, ValueError):
        raise ValueError(
            f"The 'shape' parameter of simulate must be (height, width) in px. Got {shape!r} instead."
        ) from None
    for v in (height, width):
        if not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 8:
            raise ValueError(f"The 'shape' parameter of simulate must hold integers >= 8. Got {shape!r} instead.")
    return int(height), int(width)


def _check_positive(name: str, value: object) -> None:
    if (
        not isinstance(value, int | float | np.floating)
        or isinstance(value, bool)
        or not (math.isfinite(value) and value > 0)
    ):
        raise ValueError(f"The '{name}' parameter of simulate must be > 0. Got {value!r} instead.")


def _check_finite(name: str, value: object) -> None:
    if not isinstance(value, int | float | np.floating) or isinstance(value, bool) or not math.isfinite(value):
        raise ValueError(f"The '{name}' parameter of simulate must be a finite number. Got {value!r} instead.")


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as handle:
        np.save(handle, array, allow_pickle=False)


def _save_png(path: Path, image: np.ndarray) -> None:
    from matplotlib.image import imsave

    low, high = np.percentile(image, [0.5, 99.5])
    imsave(path, np.clip(image, low, high), cmap="gray", vmin=low, vmax=high, format="png")


def _write_csv(path: Path, fields: list[str], rows: list[dict[str, object]]) -> Path:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return atomic_write(path, lambda tmp: tmp.write_text(buffer.getvalue()))

"""Crystal structures from ase, projected along a zone axis to 2-D atomic columns.

In an incoherent (HAADF) image a crystal seen along a zone axis is a 2-D periodic
pattern of atomic *columns*. :func:`project` turns any periodic ``ase.Atoms`` into a
:class:`ProjectedCrystal`: the in-plane lattice vectors (from the cell), the position
of every column of the 2-D unit cell, and the atomic numbers stacked in it.

Builders for common crystals (:data:`MATERIALS`) call ase: ``ase.build.mx2`` for the
2H transition-metal dichalcogenides, ``ase.build.graphene`` for graphene and hBN,
``ase.spacegroup.crystal`` for SrTiO3 and ``ase.build.bulk`` for fcc metals. Any other
structure can be read with :func:`read_structure` (every format of ``ase.io``: CIF,
POSCAR, extended xyz, ...).

Conventions: in-plane coordinates are Cartesian, in Å, in a right-handed frame
``(e1, e2, beam)`` whose ``e1`` lies along the first in-plane lattice vector.
"""

from __future__ import annotations

import math
import os
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import reduce

import numpy as np
from ase import Atoms
from scipy.spatial import cKDTree

from symcl.errors import UserInputError

#: In-plane lattice constants (Å) and layer thicknesses (chalcogen-chalcogen, Å) of the 2H TMDs.
_TMD = {"MoS2": (3.16, 3.17), "WS2": (3.153, 3.14), "MoSe2": (3.288, 3.34)}


def _tmd(formula: str) -> Callable[[], Atoms]:
    def build() -> Atoms:
        from ase.build import mx2

        a, thickness = _TMD[formula]
        return mx2(formula, kind="2H", a=a, thickness=thickness)

    return build


def _graphene() -> Atoms:
    from ase.build import graphene

    return graphene("C2", a=2.46)


def _hbn() -> Atoms:
    from ase.build import graphene

    return graphene("BN", a=2.504)


def _srtio3() -> Atoms:
    from ase.spacegroup import crystal

    return crystal(
        ["Sr", "Ti", "O"],
        basis=[(0.0, 0.0, 0.0), (0.5, 0.5, 0.5), (0.5, 0.5, 0.0)],
        spacegroup=221,
        cellpar=[3.905, 3.905, 3.905, 90, 90, 90],
    )


def _fcc(symbol: str) -> Callable[[], Atoms]:
    def build() -> Atoms:
        from ase.build import bulk

        return bulk(symbol, "fcc", cubic=True)

    return build


def _fcc_symbols() -> tuple[str, ...]:
    from ase.data import chemical_symbols, reference_states

    return tuple(chemical_symbols[z] for z, ref in enumerate(reference_states) if ref and ref.get("symmetry") == "fcc")


#: Named crystals: name -> (builder returning ase.Atoms, default thickness in beam periods).
#: Any fcc element of ase's reference data ("Au", "Pt", "Cu", ...) is available too,
#: as the cubic cell seen along [001].
MATERIALS: dict[str, tuple[Callable[[], Atoms], int]] = {
    "MoS2": (_tmd("MoS2"), 1),
    "WS2": (_tmd("WS2"), 1),
    "MoSe2": (_tmd("MoSe2"), 1),
    "graphene": (_graphene, 1),
    "hBN": (_hbn, 1),
    "SrTiO3": (_srtio3, 5),
}

_BULK_THICKNESS = 5  # default beam periods of an fcc metal (about 2 nm)
_NAME_WITH_AXIS = re.compile(r"^(.+)\[(-?\d)\s*(-?\d)\s*(-?\d)\]$")  # "SrTiO3[110]"


@dataclass(frozen=True, eq=False)
class ProjectedCrystal:
    """A crystal seen along a zone axis: a 2-D lattice of atomic columns.

    Attributes
    ----------
    name : str
        Material name (e.g. "MoS2") or the chemical formula of a user structure.
    lattice : ndarray
        float64 (2, 2), rows are the in-plane lattice vectors a1, a2 in Å (reduced:
        shortest, |a1| <= |a2|, right-handed).
    positions : ndarray
        float64 (S, 2), the column positions of the 2-D unit cell in Å, inside the cell
        spanned by ``lattice``.
    numbers : tuple of tuple of int
        The atomic numbers stacked in each column along the beam, for the whole
        thickness (so a column's intensity is a sum over this list).
    hollows : ndarray
        float64 (H, 2), interstitial sites of the unit cell (Å), the points farthest
        from every column; adatoms and interstitials sit there.
    zone_axis : tuple of int
        The beam direction [uvw] in the basis of the ase cell.
    thickness : int
        Number of beam periods stacked in each column (1 for a 2-D material).
    period : float
        Length of one beam period in Å (0.0 for a 2-D material).
    """

    name: str
    lattice: np.ndarray
    positions: np.ndarray
    numbers: tuple[tuple[int, ...], ...]
    hollows: np.ndarray
    zone_axis: tuple[int, int, int] = (0, 0, 1)
    thickness: int = 1
    period: float = 0.0

    @property
    def n_columns(self) -> int:
        """S, the number of columns in the 2-D unit cell."""
        return len(self.positions)

    @property
    def elements(self) -> tuple[int, ...]:
        """The distinct atomic numbers of the crystal, ascending."""
        return tuple(sorted({z for column in self.numbers for z in column}))

    @property
    def period_lengths(self) -> np.ndarray:
        """float64 (2,), the lengths |a1|, |a2| of the in-plane lattice vectors, Å."""
        return np.linalg.norm(self.lattice, axis=1)

    def intensities(self, gamma: float = 1.7) -> np.ndarray:
        """float64 (S,), the Z-contrast intensity Σ Z^γ of each column (arbitrary units)."""
        return np.array([column_intensity(column, gamma) for column in self.numbers])

    def nearest_spacing(self) -> float:
        """The shortest distance between two columns (periodic images included), in Å."""
        points = column_positions(self, _cell_range(1))[0]
        d = np.linalg.norm(points[:, None] - self.positions[None], axis=-1)
        return float(d[d > 1e-6].min())


def check_resolves_columns(crystal: ProjectedCrystal, pixel_size: float) -> None:
    """Refuse a pixel size above half the nearest column spacing: no image could tell the columns apart.

    Far above it, the field of view (and the memory) grows as pixel_size²: at 100 Å/px a
    64-px image holds millions of columns.
    """
    spacing = crystal.nearest_spacing()
    if pixel_size > spacing / 2:
        raise UserInputError(
            f"pixel_size (--pixel-size) {pixel_size:g} Å/px: the nearest columns of {crystal.name} are "
            f"{spacing:.3g} Å apart, so at most {spacing / 2:.3g} Å/px resolves them (two pixels per spacing)"
        )


def column_intensity(numbers: Sequence[int], gamma: float = 1.7) -> float:
    """Incoherent Z-contrast intensity of one column, Σ Z^γ over its atoms (arbitrary units).

    References
    ----------
    Pennycook, S. J. & Jesson, D. E. (1991). High-resolution Z-contrast imaging of
    crystals. Ultramicroscopy 37, 14-38. Krivanek, O. L. et al. (2010). Atom-by-atom
    structural and chemical analysis by annular dark-field electron microscopy.
    Nature 464, 571-574 (γ ≈ 1.64 for single atoms).
    """
    return float(sum(float(z) ** gamma for z in numbers))


def build_structure(name: str) -> Atoms:
    """The ase structure of a named crystal.

    Parameters
    ----------
    name : str
        A key of :data:`MATERIALS` (case-insensitive: "MoS2", "WS2", "MoSe2",
        "graphene", "hBN", "SrTiO3") or the symbol of an fcc element ("Au", "Pt", ...).

    Returns
    -------
    ase.Atoms
        The unit cell (2-D materials have a zero third cell vector).
    """
    return _lookup(name)[0]()


def read_structure(path: str | os.PathLike, *, index: int = -1) -> Atoms:
    """Read a periodic structure with ``ase.io.read`` (CIF, POSCAR, xyz, ...).

    Parameters
    ----------
    path : path
        The structure file; the format is guessed by ase from the name and content.
    index : int
        Which image of a multi-image file (default: the last).

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    UserInputError
        ase cannot read it, it holds no atoms, or it has no two independent in-plane cell
        vectors (a molecule).

    Warns
    -----
    PartialOccupancyWarning
        A site is partially occupied or mixed; ase fills it with its majority element.
    """
    import ase.io

    if not os.path.exists(path):
        raise FileNotFoundError(f"{path}: no such structure file")
    try:
        atoms = ase.io.read(path, index=index)
    except Exception as error:  # ase raises many types for unreadable files
        raise UserInputError(f"{path}: ase cannot read this structure ({type(error).__name__}: {error})") from None
    if not isinstance(atoms, Atoms) or len(atoms) == 0:
        raise UserInputError(f"{path}: the structure holds no atoms")
    _check_in_plane_cell(path, atoms)
    _warn_partial_occupancy(path, atoms.info.get("occupancy"))
    return atoms


def _check_in_plane_cell(path: str | os.PathLike, atoms: Atoms) -> None:
    """Refuse a structure without two independent cell vectors a and b (a molecule, say): as in :func:`project`,
    there is no lattice to image."""
    cell = np.array(atoms.cell, dtype=float)
    if np.linalg.norm(np.cross(cell[0], cell[1])) < 1e-8:
        a, b = (f"({', '.join(f'{v:g}' for v in vector)})" for vector in cell[:2])
        raise UserInputError(
            f"{path}: no periodic cell in the plane (cell vectors a = {a} and b = {b} Å span no area); give a "
            "crystal with its unit cell (CIF, POSCAR, or extended xyz with Lattice=...)"
        )


class PartialOccupancyWarning(UserWarning):
    """A structure file has partially occupied or mixed sites; each is simulated as its majority element."""


_MAX_SITES_NAMED = 4


def _warn_partial_occupancy(path: str | os.PathLike, occupancy: object) -> None:
    """Warn about the sites that ase fills with one fully occupied element (its largest occupancy; ties go to
    the element listed last): an HAADF column's brightness depends on what it holds, so the image is off there."""
    if not isinstance(occupancy, dict):
        return
    kept: dict[str, str] = {}  # what a site holds -> the element simulated there
    for species in occupancy.values():
        if not isinstance(species, dict) or (len(species) == 1 and sum(species.values()) >= 1 - 1e-3):
            continue
        held = " + ".join(f"{element} {fraction:g}" for element, fraction in sorted(species.items()))
        # ase lists a mixed site once per element on it and keeps the first listing's largest occupancy
        kept.setdefault(held, sorted(species.items(), key=lambda item: item[1])[-1][0])
    if not kept:
        return
    sites = [f"{held} as {element}" for held, element in kept.items()]
    more = f" and {len(sites) - _MAX_SITES_NAMED} more" if len(sites) > _MAX_SITES_NAMED else ""
    warnings.warn(
        f"{path}: {len(sites)} site(s) with partial or mixed occupancy are simulated fully occupied by one element: "
        f"{'; '.join(sites[:_MAX_SITES_NAMED])}{more}; for the true column contrast give an ordered structure",
        PartialOccupancyWarning,
        stacklevel=3,
    )


def projected_crystal(
    material: str | Atoms,
    *,
    zone_axis: Sequence[int] = (0, 0, 1),
    thickness: int | None = None,
    tolerance: float = 0.3,
) -> ProjectedCrystal:
    """A named crystal or an ``ase.Atoms`` projected along a zone axis.

    Parameters
    ----------
    material : str or ase.Atoms
        A name accepted by :func:`build_structure`, optionally with its zone axis as
        "SrTiO3[110]", or a periodic structure.
    zone_axis, tolerance
        See :func:`project`.
    thickness : int, optional
        Beam periods per column; defaults to 1 for 2-D materials and 5 for bulk ones.
    """
    if isinstance(material, Atoms):
        default_thickness = 1 if _is_two_d(material) else _BULK_THICKNESS
        return project(material, zone_axis=zone_axis, thickness=thickness or default_thickness, tolerance=tolerance)
    if isinstance(material, str) and (match := _NAME_WITH_AXIS.match(material.strip())):
        named_axis = tuple(int(v) for v in match.group(2, 3, 4))
        if tuple(zone_axis) not in ((0, 0, 1), named_axis):
            raise ValueError(
                f"The material {material!r} names zone axis {named_axis}, but zone_axis={tuple(zone_axis)}."
            )
        material, zone_axis = match.group(1), named_axis
    builder, default_thickness = _lookup(material)
    name = _canonical_name(material)
    if tuple(zone_axis) != (0, 0, 1):
        name += "[" + "".join(str(int(v)) for v in zone_axis) + "]"
    return project(
        builder(), zone_axis=zone_axis, thickness=thickness or default_thickness, tolerance=tolerance, name=name
    )


def project(
    atoms: Atoms,
    *,
    zone_axis: Sequence[int] = (0, 0, 1),
    thickness: int = 1,
    tolerance: float = 0.3,
    name: str | None = None,
) -> ProjectedCrystal:
    """Project a periodic structure along a zone axis onto 2-D atomic columns.

    The beam runs along the lattice direction ``t = u a + v b + w c`` of the ase cell.
    The structure is re-expressed in a unimodular supercell whose third vector is
    ``t`` (``ase.build.make_supercell``), its first two vectors are projected onto the
    plane normal to the beam and Gauss-reduced, and atoms whose projections are closer
    than ``tolerance`` (periodic images included) form one column.

    Parameters
    ----------
    atoms : ase.Atoms
        A periodic structure. A 2-D material (zero or non-periodic third cell vector)
        can only be seen along [001], its normal, with ``thickness=1``.
    zone_axis : (int, int, int)
        The beam direction [uvw] in the basis of ``atoms.cell``.
    thickness : int
        Beam periods stacked in each column (>= 1).
    tolerance : float
        Distance in Å under which projected atoms share a column (> 0).
    name : str, optional
        Defaults to the chemical formula.

    Returns
    -------
    ProjectedCrystal
    """
    if not isinstance(atoms, Atoms):
        raise TypeError(f"The 'atoms' parameter of project must be an ase.Atoms. Got {type(atoms).__name__} instead.")
    if len(atoms) == 0:
        raise ValueError("The 'atoms' parameter of project must hold at least one atom.")
    axis = _check_zone_axis(zone_axis)
    _check_int("project", "thickness", thickness, 1)
    if not (isinstance(tolerance, int | float) and math.isfinite(tolerance) and tolerance > 0):
        raise ValueError(f"The 'tolerance' parameter of project must be > 0. Got {tolerance!r} instead.")
    cell = np.array(atoms.cell, dtype=float)
    two_d = _is_two_d(atoms)
    if np.linalg.norm(np.cross(cell[0], cell[1])) < 1e-8:
        raise ValueError("The 'atoms' parameter of project needs two independent in-plane cell vectors.")
    if two_d:
        if axis != (0, 0, 1):
            raise ValueError(
                f"A 2-D structure can only be seen along its normal, zone axis (0, 0, 1). Got {axis} instead."
            )
        if thickness != 1:
            raise ValueError(
                f"A 2-D structure has thickness 1; build the stack with ase to image several layers. Got {thickness} instead."
            )
        a1, a2 = cell[0], cell[1]
        beam = np.cross(a1, a2)
        period = 0.0
        positions3 = atoms.positions
        numbers = atoms.numbers
    else:
        from ase.build import make_supercell

        transform = _unimodular_with_row(axis, cell)
        oriented = make_supercell(atoms, transform, wrap=True)
        a1, a2, t = np.array(oriented.cell, dtype=float)
        beam = t
        period = float(np.linalg.norm(t))
        positions3 = oriented.positions
        numbers = oriented.numbers
    beam = beam / np.linalg.norm(beam)
    e1 = a1 - (a1 @ beam) * beam
    e1 /= np.linalg.norm(e1)
    e2 = np.cross(beam, e1)
    lattice = _gauss_reduce(np.array([[a1 @ e1, a1 @ e2], [a2 @ e1, a2 @ e2]]))
    angle = math.atan2(lattice[0, 1], lattice[0, 0])  # turn the frame so that the reduced a1 lies along +x
    e1, e2 = math.cos(angle) * e1 + math.sin(angle) * e2, -math.sin(angle) * e1 + math.cos(angle) * e2
    lattice = np.array([[a1 @ e1, a1 @ e2], [a2 @ e1, a2 @ e2]])
    lattice = _gauss_reduce(lattice)
    lattice[np.abs(lattice) < 1e-10] = 0.0
    flat = positions3 @ np.stack([e1, e2], axis=1)
    depth = positions3 @ beam
    positions, members = _group_columns(flat, lattice, tolerance)
    columns = []
    for member in members:
        ordered = sorted(member, key=lambda i: depth[i])
        columns.append(tuple(int(numbers[i]) for i in ordered) * thickness)
    return ProjectedCrystal(
        name=name or atoms.get_chemical_formula(),
        lattice=lattice,
        positions=positions,
        numbers=tuple(columns),
        hollows=hollow_sites(lattice, positions),
        zone_axis=axis,
        thickness=int(thickness),
        period=period,
    )


def column_positions(crystal: ProjectedCrystal, cells: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every column of the given unit cells.

    Parameters
    ----------
    crystal : ProjectedCrystal
    cells : ndarray
        int (C, 2), cell indices (n1, n2).

    Returns
    -------
    positions : ndarray
        float64 (C * S, 2), column positions ``n1 a1 + n2 a2 + r_s`` in Å.
    sublattice : ndarray
        int64 (C * S,), the basis column s of each.
    cell : ndarray
        int64 (C * S, 2), the cell of each.
    """
    cells = np.asarray(cells, dtype=np.int64).reshape(-1, 2)
    origin = cells @ crystal.lattice
    positions = (origin[:, None, :] + crystal.positions[None]).reshape(-1, 2)
    sublattice = np.tile(np.arange(crystal.n_columns), len(cells))
    return positions, sublattice, np.repeat(cells, crystal.n_columns, axis=0)


def cells_covering(lattice: np.ndarray, corners: np.ndarray, margin: float) -> np.ndarray:
    """int64 (C, 2): all cells (n1, n2) whose origin may lie within ``margin`` Å of the polygon ``corners``."""
    inverse = np.linalg.inv(lattice)
    spread = margin * np.linalg.norm(inverse, axis=0) + 1.0
    frac = np.asarray(corners, dtype=float) @ inverse
    low = np.floor(frac.min(axis=0) - spread).astype(int)
    high = np.ceil(frac.max(axis=0) + spread).astype(int)
    n1, n2 = np.meshgrid(np.arange(low[0], high[0] + 1), np.arange(low[1], high[1] + 1), indexing="ij")
    return np.stack([n1.ravel(), n2.ravel()], axis=1)


def hollow_sites(lattice: np.ndarray, positions: np.ndarray, *, grid: int = 48) -> np.ndarray:
    """The interstitial sites of a 2-D unit cell: the points farthest from every column.

    Parameters
    ----------
    lattice : ndarray
        float (2, 2), rows a1, a2 in Å.
    positions : ndarray
        float (S, 2), the columns of the cell in Å.

    The distance to the nearest column is evaluated on a ``grid`` x ``grid`` mesh of
    the cell; the sites are its maxima within 5% of the largest one, one per
    equivalent position.

    Returns
    -------
    ndarray
        float64 (H, 2), positions in Å, H >= 1.
    """
    from scipy.spatial import cKDTree

    u = np.arange(grid) / grid
    frac = np.stack(np.meshgrid(u, u, indexing="ij"), axis=-1).reshape(-1, 2)
    points = frac @ lattice
    cells = _cell_range(1) @ lattice
    neighbours = (cells[:, None, :] + np.asarray(positions)[None]).reshape(-1, 2)
    distance = cKDTree(neighbours).query(points)[0]
    field_ = distance.reshape(grid, grid)
    padded = np.pad(field_, 1, mode="wrap")
    local_max = np.ones_like(field_, dtype=bool)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            if di or dj:
                local_max &= field_ >= padded[1 + di : 1 + di + grid, 1 + dj : 1 + dj + grid]
    keep = local_max.ravel() & (distance >= 0.95 * distance.max())
    sites: list[np.ndarray] = []
    for p in points[keep][np.argsort(-distance[keep], kind="stable")]:
        if not any(_periodic_distance(p, q, lattice) < 0.5 for q in sites):
            sites.append(p)
    return np.array(sites)


def translation_classes(crystal: ProjectedCrystal, *, tolerance: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """Which basis columns, and which hollow sites, are one physical site repeated within the cell.

    A projected cell need not be primitive: the conventional cell of an fcc metal seen
    along [001] holds 4 identical columns, Si [001] 8 and NaCl [001] 4, each a
    translation of the others. A translation ``t`` is a symmetry of the crystal when it
    maps every column onto a column of the same content (modulo the lattice; contents
    compared as the image sees them, as multisets of atoms, since a translation with a
    component along the beam changes their depth order). Sites that such a ``t`` maps
    onto each other are the same physical site.

    Parameters
    ----------
    crystal : ProjectedCrystal
    tolerance : float
        Å; below the 0.3 Å that separate two columns and the 0.5 Å that separate two
        hollow sites, above rounding in a structure file and the hollow sites' grid.

    Returns
    -------
    column_class : ndarray
        int64 (S,): for each basis column, the smallest index of a column equivalent to it.
    hollow_class : ndarray
        int64 (H,): the same for the hollow sites.
    """
    contents = [tuple(sorted(numbers)) for numbers in crystal.numbers]
    label = np.array([contents.index(c) for c in contents])
    positions, lattice = crystal.positions, crystal.lattice
    near_column = _periodic_neighbours(positions, lattice, tolerance)

    def is_symmetry(t: np.ndarray) -> bool:  # every column lands on its like
        return all((label[found] == label[i]).any() for i, found in enumerate(near_column(positions + t)))

    translations = [
        positions[j] - positions[0]
        for j in np.nonzero(label == label[0])[0]
        if is_symmetry(positions[j] - positions[0])
    ]
    return (
        _translation_representatives(positions, translations, lattice, tolerance),
        _translation_representatives(crystal.hollows, translations, lattice, tolerance),
    )


def _translation_representatives(
    points: np.ndarray, translations: list[np.ndarray], lattice: np.ndarray, tolerance: float
) -> np.ndarray:
    """int64 (N,): the smallest index j with points[j] = points[i] + t for some t of ``translations`` (0 included)."""
    representative = np.arange(len(points), dtype=np.int64)
    if not len(points):
        return representative
    near_point = _periodic_neighbours(points, lattice, tolerance)
    for t in translations:
        for i, found in enumerate(near_point(points + t)):
            if len(found):
                representative[i] = min(representative[i], found.min())
    return representative


def _periodic_neighbours(
    points: np.ndarray, lattice: np.ndarray, tolerance: float
) -> Callable[[np.ndarray], list[np.ndarray]]:
    """A lookup: for each query point, the indices of ``points`` within ``tolerance`` of it, modulo the lattice.

    A k-d tree over the points wrapped into the cell and their 8 neighbouring images, so
    a query costs log(N), not the N of a row of :func:`_periodic_distances`.
    """
    inverse = np.linalg.inv(lattice)
    images = ((points @ inverse) % 1.0)[None] + _cell_range(1)[:, None]  # (9, N, 2) fractional
    tree = cKDTree((images @ lattice).reshape(-1, 2))

    def lookup(queries: np.ndarray) -> list[np.ndarray]:
        wrapped = ((queries @ inverse) % 1.0) @ lattice
        return [
            np.unique(np.asarray(found, dtype=np.int64) % len(points))
            for found in tree.query_ball_point(wrapped, tolerance)
        ]

    return lookup


def lattice_rotations(lattice: np.ndarray, *, tolerance: float = 1e-3) -> np.ndarray:
    """The proper rotations that map a 2-D lattice onto itself (its point group's rotations).

    Parameters
    ----------
    lattice : ndarray
        float (2, 2), rows a1, a2 in Å.

    Returns
    -------
    ndarray
        float64 (R, 2, 2) rotation matrices acting on column vectors: the identity and
        the 2-, 3-, 4- or 6-fold rotations of the lattice (R in {2, 4, 6}).
    """
    lattice = np.asarray(lattice, dtype=float)
    inverse = np.linalg.inv(lattice)
    found = []
    for k in range(12):  # multiples of 30 degrees cover every 2-D crystallographic rotation
        angle = k * math.pi / 6
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        integer = lattice @ rotation.T @ inverse  # rows: rotated a_i in the lattice basis
        if np.abs(integer - np.round(integer)).max() < tolerance:
            found.append(rotation)
    return np.array(found)


def _is_two_d(atoms: Atoms) -> bool:
    """A 2-D material: a zero or non-periodic third cell vector."""
    return bool(np.linalg.norm(np.array(atoms.cell)[2]) < 1e-8 or not atoms.pbc[2])


def _lookup(name: str) -> tuple[Callable[[], Atoms], int]:
    if not isinstance(name, str):
        raise TypeError(f"The 'material' parameter must be a material name. Got {type(name).__name__} instead.")
    lowered = {key.lower(): key for key in MATERIALS}
    if name.lower() in lowered:
        return MATERIALS[lowered[name.lower()]]
    fcc = _fcc_symbols()
    if name in fcc:
        return _fcc(name), _BULK_THICKNESS
    raise UserInputError(
        f"Unknown material {name!r}: use one of {', '.join(MATERIALS)}, an fcc element ({', '.join(fcc[:6])}, ...), "
        "or read a structure file with ase (read_structure)."
    )


def _canonical_name(name: str) -> str:
    lowered = {key.lower(): key for key in MATERIALS}
    return lowered.get(name.lower(), name)


def _check_zone_axis(zone_axis: Sequence[int]) -> tuple[int, int, int]:
    try:
        values = tuple(zone_axis)
    except TypeError:
        values = ()
    if len(values) != 3 or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
        raise ValueError(f"The 'zone_axis' parameter must be three integers [u, v, w]. Got {zone_axis!r} instead.")
    if not any(values):
        raise ValueError("The 'zone_axis' parameter must not be [0, 0, 0].")
    divisor = reduce(math.gcd, (abs(int(v)) for v in values))
    return tuple(int(v) // divisor for v in values)  # type: ignore[return-value]


def _check_int(func: str, name: str, value: object, low: int) -> None:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        raise ValueError(f"The '{name}' parameter of {func} must be an integer >= {low}. Got {value!r} instead.")


def _unimodular_with_row(axis: tuple[int, int, int], cell: np.ndarray) -> np.ndarray:
    """int (3, 3) with determinant +1 whose third row is ``axis`` and whose first rows are short in-plane."""
    t = np.array(axis)
    span = np.arange(-3, 4)
    candidates = np.stack(np.meshgrid(span, span, span, indexing="ij"), axis=-1).reshape(-1, 3)
    candidates = candidates[np.any(candidates != 0, axis=1)]
    det = candidates @ np.cross(candidates, t).T  # det[i, j] = a_i . (b_j x t)
    i, j = np.nonzero(det == 1)
    if not len(i):  # cannot happen for a primitive axis, but never fail silently
        raise ValueError(f"No unimodular cell has the zone axis {axis} as a vector.")
    beam = t @ cell
    beam = beam / np.linalg.norm(beam)
    cart = candidates @ cell
    inplane = cart - np.outer(cart @ beam, beam)
    length = np.linalg.norm(inplane, axis=1)
    cost = length[i] ** 2 + length[j] ** 2
    best = int(np.lexsort((j, i, cost))[0])
    return np.stack([candidates[i[best]], candidates[j[best]], t])


def _gauss_reduce(lattice: np.ndarray) -> np.ndarray:
    """Lagrange-Gauss reduction of a 2-D basis (rows), right-handed, shortest vector first."""
    a, b = lattice[0].copy(), lattice[1].copy()
    while True:
        if b @ b < a @ a - 1e-12:
            a, b = b, a
        mu = round(float(a @ b) / float(a @ a))
        if mu == 0:
            break
        b = b - mu * a
    if a[0] * b[1] - a[1] * b[0] < 0:
        b = -b
    return np.array([a, b])


def _group_columns(flat: np.ndarray, lattice: np.ndarray, tolerance: float) -> tuple[np.ndarray, list[list[int]]]:
    """Group projected atoms (N, 2) into columns of the cell; returns positions (S, 2) and member lists."""
    inverse = np.linalg.inv(lattice)
    frac = flat @ inverse
    wrapped = (frac - np.floor(frac + 1e-9)) @ lattice
    wrapped[np.abs(wrapped) < 1e-10] = 0.0
    positions: list[np.ndarray] = []
    members: list[list[int]] = []
    for i, p in enumerate(wrapped):
        for k, q in enumerate(positions):
            if _periodic_distance(p, q, lattice) < tolerance:
                members[k].append(i)
                break
        else:
            positions.append(p)
            members.append([i])
    return np.array(positions), members


def _periodic_distances(p: np.ndarray, q: np.ndarray, lattice: np.ndarray) -> np.ndarray:
    """(len(p), len(q)): the distance from each point of ``p`` to each of ``q``, modulo the lattice."""
    frac = (p[:, None, :] - q[None, :, :]) @ np.linalg.inv(lattice)
    frac -= np.round(frac)
    shifts = np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)])
    return np.linalg.norm((frac[:, :, None, :] + shifts) @ lattice, axis=-1).min(axis=-1)


def _periodic_distance(p: np.ndarray, q: np.ndarray, lattice: np.ndarray) -> float:
    return float(_periodic_distances(np.asarray(p)[None], np.asarray(q)[None], lattice)[0, 0])


def _cell_range(n: int) -> np.ndarray:
    span = np.arange(-n, n + 1)
    return np.stack(np.meshgrid(span, span, indexing="ij"), axis=-1).reshape(-1, 2)

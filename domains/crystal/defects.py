"""Point defects of a projected crystal, acting on the atomic numbers of its columns.

Seen along the beam a point defect changes one column, or adds one:

- ``vacancy``: atoms removed from a column (a column emptied is missing);
- ``substitution``: one atom of a column replaced by an atom of any element;
- ``antisite``: a column that holds the content of a column of another sublattice
  (e.g. a Mo atom at an S2 site of MoS2, or B and N swapped in hBN);
- ``adatom``: an extra atom at an interstitial (hollow) site. An interstitial atom
  inside a crystal projects to the same picture, so it is the same kind here.

The functions here are pure: they take and return tuples of atomic numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .structures import ProjectedCrystal, column_intensity

#: Every label kind; "pristine" marks a defect-free site.
KINDS: tuple[str, ...] = ("pristine", "vacancy", "substitution", "antisite", "adatom")
#: The defect kinds (all but pristine).
DEFECT_KINDS: tuple[str, ...] = KINDS[1:]

#: Default substituting elements of the view generator: light to heavy dopants.
DOPANTS: tuple[str, ...] = ("O", "Si", "Ti", "V", "Cr", "Fe", "Nb", "Mo", "Se", "Re", "W", "Pt")
#: Default adatom elements of the view generator.
ADATOMS: tuple[str, ...] = ("Si", "Fe", "Mo", "W", "Pt", "Au")


@dataclass(frozen=True)
class Defect:
    """A defect to place in a simulated image.

    Attributes
    ----------
    kind : str
        One of :data:`DEFECT_KINDS`.
    position : (float, float), optional
        Where to place it, (x, y) in Å in the image frame: the defect goes to the
        nearest column (the nearest hollow site for an adatom) at least 2 Å inside the
        image. A position outside the image, more than one lattice period from such a
        site, or whose site already holds a defect is refused. None: a random site.
    element : str, optional
        substitution: the new element (required); adatom: its element (default: the
        heaviest element of the crystal); vacancy: which element to remove (default:
        the heaviest of the column).
    count : int
        vacancy: atoms removed from the column (>= 1; capped at what it holds of the
        element).
    sublattice : int, optional
        Restrict a random placement to this basis column (index into
        ``ProjectedCrystal.positions``).
    source : int, optional
        antisite: the basis column whose content moves in (default: the first column
        of the crystal whose content differs).
    """

    kind: str
    position: tuple[float, float] | None = None
    element: str | None = None
    count: int = 1
    sublattice: int | None = None
    source: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in DEFECT_KINDS:
            raise ValueError(
                f"The 'kind' parameter of Defect must be one of {DEFECT_KINDS}. Got {self.kind!r} instead."
            )
        if self.kind == "substitution" and self.element is None:
            raise ValueError("A substitution Defect needs its new 'element' (e.g. element='W').")
        if self.element is not None:
            atomic_number(self.element, name="element")
        if not isinstance(self.count, int) or isinstance(self.count, bool) or self.count < 1:
            raise ValueError(f"The 'count' parameter of Defect must be an integer >= 1. Got {self.count!r} instead.")
        if self.position is not None:
            try:
                x, y = (float(v) for v in self.position)
            except (TypeError, ValueError):
                raise ValueError(
                    f"The 'position' parameter of Defect must be (x, y) in Å. Got {self.position!r} instead."
                ) from None
            if not (math.isfinite(x) and math.isfinite(y)):
                raise ValueError(f"The 'position' parameter of Defect must be finite. Got {self.position!r} instead.")
            object.__setattr__(self, "position", (x, y))


@dataclass(frozen=True)
class PlacedDefect:
    """Ground truth of one defect of a simulated image.

    Attributes
    ----------
    kind : str
        One of :data:`DEFECT_KINDS`.
    x, y : float
        Position in Å in the image frame (sample coordinates, before scan distortion).
    x_px, y_px : float
        Where it appears in the image, px (column, row), after scan distortion.
    sublattice : int
        The basis column of the site, or -1 for an adatom.
    before, after : tuple of int
        Atomic numbers of the column before and after (``()`` for a new or emptied column).
    element : str
        The element added, substituted or removed.
    """

    kind: str
    x: float
    y: float
    x_px: float
    y_px: float
    sublattice: int
    before: tuple[int, ...]
    after: tuple[int, ...]
    element: str


def atomic_number(symbol: str, *, name: str = "element") -> int:
    """Atomic number of a chemical symbol ("Mo" -> 42); ValueError names ``name`` otherwise."""
    from ase.data import atomic_numbers

    if not isinstance(symbol, str) or symbol not in atomic_numbers or atomic_numbers[symbol] == 0:
        raise ValueError(f"The '{name}' parameter must be a chemical symbol such as 'W'. Got {symbol!r} instead.")
    return atomic_numbers[symbol]


def symbol(z: int) -> str:
    """Chemical symbol of an atomic number (42 -> "Mo")."""
    from ase.data import chemical_symbols

    return chemical_symbols[int(z)]


def remove_atoms(numbers: Sequence[int], count: int = 1, element: int | None = None) -> tuple[int, ...]:
    """A vacancy: ``count`` atoms of ``element`` (default: the heaviest present) removed from a column.

    Raises
    ------
    ValueError
        The column is empty or holds no atom of ``element``.
    """
    numbers = tuple(int(z) for z in numbers)
    if not numbers:
        raise ValueError("The column is already empty; there is no atom to remove.")
    element = max(numbers) if element is None else int(element)
    if element not in numbers:
        raise ValueError(f"The column {numbers} holds no atom of Z = {element} to remove.")
    out = list(numbers)
    for _ in range(min(count, numbers.count(element))):
        out.reverse()
        out.remove(element)  # removes the deepest first
        out.reverse()
    return tuple(out)


def substitute(numbers: Sequence[int], element: int, host: int | None = None) -> tuple[int, ...]:
    """A substitution: one atom of ``host`` (default: the heaviest present) replaced by ``element``."""
    numbers = tuple(int(z) for z in numbers)
    if not numbers:
        raise ValueError("An empty column has no atom to substitute.")
    host = max(numbers) if host is None else int(host)
    if host not in numbers:
        raise ValueError(f"The column {numbers} holds no atom of Z = {host} to substitute.")
    if int(element) == host:
        raise ValueError(f"A substitution must change the element; Z = {host} is replaced by itself.")
    i = numbers.index(host)
    return numbers[:i] + (int(element),) + numbers[i + 1 :]


def antisite_source(crystal: ProjectedCrystal, sublattice: int, source: int | None = None) -> int:
    """The basis column whose content an antisite at ``sublattice`` takes (validated)."""
    if source is None:
        for s, numbers in enumerate(crystal.numbers):
            if numbers != crystal.numbers[sublattice]:
                return s
        raise ValueError(
            f"{crystal.name} has a single kind of column, so it has no antisite defect; use a substitution instead."
        )
    if not 0 <= source < crystal.n_columns or crystal.numbers[source] == crystal.numbers[sublattice]:
        raise ValueError(
            f"The 'source' parameter of an antisite must be a basis column of {crystal.name} "
            f"(0..{crystal.n_columns - 1}) with a content other than column {sublattice}'s. Got {source!r} instead."
        )
    return source


def defect_outcomes(
    crystal: ProjectedCrystal,
    *,
    gamma: float = 1.7,
    dopants: Sequence[str] = DOPANTS,
    adatoms: Sequence[str] = ADATOMS,
    min_contrast: float = 0.15,
) -> dict[tuple[str, int], list[tuple[float, tuple[int, ...]]]]:
    """Every visible defect of each kind at each site, for the view generator.

    A defect is kept when it changes the site's intensity by at least ``min_contrast``
    of the column's intensity (for an adatom: of the weakest column of the crystal), so
    every labelled defect can be seen in principle.

    Returns
    -------
    dict
        ``(kind, site) -> [(intensity, numbers), ...]``: the new intensity Σ Z^γ and
        atomic numbers of the site. ``site`` is a basis column, or a hollow site for
        "adatom". Kinds without a visible outcome at a site have no entry.
    """
    table: dict[tuple[str, int], list[tuple[float, tuple[int, ...]]]] = {}
    weakest = min(column_intensity(c, gamma) for c in crystal.numbers)

    def keep(kind: str, site: int, numbers: tuple[int, ...], reference: float, old: float) -> None:
        value = column_intensity(numbers, gamma)
        if abs(value - old) >= min_contrast * reference:
            outcomes = table.setdefault((kind, site), [])
            if all(n != numbers for _, n in outcomes):
                outcomes.append((value, numbers))

    for s, column in enumerate(crystal.numbers):
        old = column_intensity(column, gamma)
        table[("pristine", s)] = [(old, column)]
        for z in sorted(set(column)):
            for count in range(1, column.count(z) + 1):
                keep("vacancy", s, remove_atoms(column, count, z), old, old)
            for dopant in dopants:
                d = atomic_number(dopant, name="dopants")
                if d != z:
                    keep("substitution", s, substitute(column, d, z), old, old)
        for other in crystal.numbers:
            if other != column:
                keep("antisite", s, other, old, old)
    for h in range(len(crystal.hollows)):
        for element in adatoms:
            keep("adatom", h, (atomic_number(element, name="adatoms"),), weakest, 0.0)
    return table

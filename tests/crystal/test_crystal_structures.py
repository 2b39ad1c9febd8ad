"""Structures from ase and their projection to atomic columns."""

import numpy as np
import pytest
from ase.build import bulk

from symcl.domains import crystal
from symcl.errors import UserInputError


def _periodic_match(positions, expected, lattice):
    """Each expected position matches one of ``positions`` modulo the lattice (within 1e-6 Å)."""
    inverse = np.linalg.inv(lattice)
    for p in expected:
        frac = (positions - p) @ inverse
        frac -= np.round(frac)
        assert np.min(np.linalg.norm(frac @ lattice, axis=1)) < 1e-6, p


def test_mos2_projects_to_a_mo_column_and_an_s2_column():
    c = crystal.projected_crystal("MoS2")
    assert c.name == "MoS2" and c.thickness == 1 and c.period == 0.0
    np.testing.assert_allclose(c.period_lengths, [3.16, 3.16], atol=1e-9)
    assert sorted(c.numbers) == [(16, 16), (42,)]
    assert c.nearest_spacing() == pytest.approx(3.16 / np.sqrt(3), abs=1e-6)
    # the hollow (adatom) site is the third corner of the honeycomb, as far from Mo as from S2
    (hollow,) = c.hollows
    d = np.linalg.norm(
        crystal.column_positions(c, np.array([[i, j] for i in (-1, 0, 1) for j in (-1, 0, 1)]))[0] - hollow, axis=1
    )
    assert d.min() == pytest.approx(3.16 / np.sqrt(3), abs=0.05)


@pytest.mark.parametrize(
    ("name", "columns", "period"),
    [("WS2", [(16, 16), (74,)], 3.153), ("MoSe2", [(34, 34), (42,)], 3.288), ("graphene", [(6,), (6,)], 2.46),
     ("hBN", [(5,), (7,)], 2.504)],
)  # fmt: skip
def test_two_dimensional_materials(name, columns, period):
    c = crystal.projected_crystal(name)
    assert sorted(c.numbers) == columns
    np.testing.assert_allclose(c.period_lengths, [period, period], atol=1e-9)
    assert len(crystal.lattice_rotations(c.lattice)) == 6  # hexagonal


def test_srtio3_001_has_sr_tio_and_o_columns_of_the_thickness():
    c = crystal.projected_crystal("SrTiO3", thickness=3)
    assert c.zone_axis == (0, 0, 1) and c.period == pytest.approx(3.905)
    np.testing.assert_allclose(c.lattice, [[3.905, 0], [0, 3.905]], atol=1e-9)
    by_content = {tuple(sorted(n)): p for n, p in zip(c.numbers, c.positions, strict=True)}
    assert set(by_content) == {(38,) * 3, (8,) * 3 + (22,) * 3, (8,) * 3}
    assert sorted(len(n) for n in c.numbers) == [3, 3, 3, 6]
    _periodic_match(c.positions, [[0, 0], [1.9525, 1.9525], [0, 1.9525], [1.9525, 0]], c.lattice)
    assert len(crystal.lattice_rotations(c.lattice)) == 4  # square


def test_srtio3_110_is_a_centred_rectangle_with_sro_ti_and_o_columns():
    c = crystal.projected_crystal("SrTiO3", zone_axis=(1, 1, 0), thickness=1)
    assert c.period == pytest.approx(3.905 * np.sqrt(2))
    assert sorted(np.round(c.period_lengths, 3)) == [2.761, 3.905]
    assert sorted(tuple(sorted(n)) for n in c.numbers) == [(8, 8), (8, 38), (22,)]


def test_fcc_metal_along_001_and_a_user_atoms_object():
    au = crystal.projected_crystal("Au", thickness=2)
    assert len(au.numbers) == 4 and all(n == (79, 79) for n in au.numbers)
    assert au.nearest_spacing() == pytest.approx(4.078 / 2, abs=0.01)
    cu = crystal.project(bulk("Cu", "fcc", a=3.61, cubic=True), zone_axis=(0, 0, 2), thickness=1)
    assert cu.zone_axis == (0, 0, 1) and cu.name == "Cu4"  # (0, 0, 2) is the [001] direction


def test_read_structure_with_ase_io(tmp_path):
    from ase.io import write

    path = tmp_path / "srtio3.cif"
    write(path, crystal.build_structure("SrTiO3"))
    c = crystal.projected_crystal(crystal.read_structure(path), thickness=2)
    assert sorted(len(n) for n in c.numbers) == [2, 2, 2, 4]
    vasp = tmp_path / "POSCAR"
    write(vasp, bulk("Pt", "fcc", a=3.92, cubic=True), format="vasp")
    assert crystal.project(crystal.read_structure(vasp)).n_columns == 4


def test_a_structure_from_a_file_defaults_to_the_bulk_or_2d_thickness(tmp_path):
    from ase.io import write

    write(tmp_path / "sto.cif", crystal.build_structure("SrTiO3"))
    sto = crystal.projected_crystal(crystal.read_structure(tmp_path / "sto.cif"))
    assert sto.thickness == crystal.projected_crystal("SrTiO3").thickness == 5
    assert sorted(len(n) for n in sto.numbers) == [5, 5, 5, 10]
    assert crystal.projected_crystal(crystal.build_structure("MoS2")).thickness == 1


def test_translation_classes_merge_the_identical_columns_of_a_conventional_cell():
    centred = {
        "Au": crystal.projected_crystal("Au"),  # 4 columns per cubic cell, a translation of a/2 (1, 1) apart
        "Si": crystal.projected_crystal(bulk("Si", "diamond", a=5.43, cubic=True)),  # 8
        "NaCl": crystal.projected_crystal(bulk("NaCl", "rocksalt", a=5.64, cubic=True)),  # 4: Na-Cl and Cl-Na
        "Si 2x3 supercell": crystal.projected_crystal(bulk("Si", "diamond", a=5.43, cubic=True).repeat((2, 3, 1))),
    }
    for name, c in centred.items():
        columns, hollows = crystal.translation_classes(c)
        assert columns.tolist() == [0] * c.n_columns and hollows.tolist() == [0] * len(c.hollows), name
    # Distinct sites stay distinct: graphene's two C columns, SrTiO3 [001]'s two O columns (a translation
    # maps one onto the other, but Sr onto TiO) are not translations of each other.
    for name in ("MoS2", "graphene", "SrTiO3", "SrTiO3[110]"):
        c = crystal.projected_crystal(name)
        columns, hollows = crystal.translation_classes(c)
        assert columns.tolist() == list(range(c.n_columns)) and hollows.tolist() == list(range(len(c.hollows)))


def test_structure_errors(tmp_path):
    with pytest.raises(UserInputError, match="Unknown material 'Unobtainium'"):
        crystal.projected_crystal("Unobtainium")
    with pytest.raises(FileNotFoundError, match="no such structure file"):
        crystal.read_structure(tmp_path / "missing.cif")
    bad = tmp_path / "bad.cif"
    bad.write_text("this is not a crystal\n")
    with pytest.raises(UserInputError, match="bad.cif: ase cannot read"):
        crystal.read_structure(bad)
    mos2 = crystal.build_structure("MoS2")
    with pytest.raises(ValueError, match="only be seen along its normal"):
        crystal.project(mos2, zone_axis=(1, 0, 0))
    with pytest.raises(ValueError, match="thickness 1"):
        crystal.project(mos2, thickness=2)
    with pytest.raises(ValueError, match="'zone_axis' parameter must not be"):
        crystal.project(bulk("Au", cubic=True), zone_axis=(0, 0, 0))
    with pytest.raises(ValueError, match="'tolerance' parameter of project must be > 0"):
        crystal.project(bulk("Au", cubic=True), tolerance=0)


def test_zone_axis_in_the_material_name():
    c = crystal.projected_crystal("SrTiO3[110]")
    assert c.zone_axis == (1, 1, 0) and c.name == "SrTiO3[110]"
    assert crystal.projected_crystal("Au[-1 1 0]").zone_axis == (-1, 1, 0)
    with pytest.raises(ValueError, match="names zone axis"):
        crystal.projected_crystal("SrTiO3[110]", zone_axis=(1, 1, 1))


_MIXED_CIF = """data_mixed
_cell_length_a 4.0
_cell_length_b 4.0
_cell_length_c 4.0
_cell_angle_alpha 90
_cell_angle_beta 90
_cell_angle_gamma 90
_symmetry_space_group_name_H-M 'P 1'
loop_
_atom_site_label
_atom_site_type_symbol
_atom_site_fract_x
_atom_site_fract_y
_atom_site_fract_z
_atom_site_occupancy
Au1 Au 0 0 0 0.5
Ag1 Ag 0 0 0 0.5
O1 O 0.5 0.5 0.5 0.7
Sr1 Sr 0.5 0 0 1.0
"""


def test_read_structure_warns_in_one_line_which_element_stands_for_a_mixed_or_partial_site(tmp_path):
    path = tmp_path / "mixed.cif"
    path.write_text(_MIXED_CIF)
    with pytest.warns(crystal.PartialOccupancyWarning) as caught:
        atoms = crystal.read_structure(path)
    assert atoms.get_chemical_formula() == "AgOSr"  # ase fills each site with one element
    assert [str(w.message) for w in caught] == [
        f"{path}: 2 site(s) with partial or mixed occupancy are simulated fully occupied by one element: "
        "Ag 0.5 + Au 0.5 as Ag; O 0.7 as O; for the true column contrast give an ordered structure"
    ]


def test_simulate_prints_the_partial_occupancy_warning_in_one_line(tmp_path, capsys):
    from symcl.cli import main

    path = tmp_path / "mixed.cif"
    path.write_text(_MIXED_CIF)
    argv = ["crystal", "simulate", "--structure", str(path), "--size", "128", "128", "-o", str(tmp_path / "out")]
    assert main(argv) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if "warning" in line.lower()]
    assert warnings == [
        f"symcl: warning: {path}: 2 site(s) with partial or mixed occupancy are simulated fully occupied by one "
        "element: Ag 0.5 + Au 0.5 as Ag; O 0.7 as O; for the true column contrast give an ordered structure"
    ]


def test_a_molecule_without_a_cell_is_refused_naming_the_file(tmp_path):
    path = tmp_path / "mol.xyz"
    path.write_text("3\nwater\nO 0 0 0\nH 0.96 0 0\nH -0.24 0.93 0\n")
    with pytest.raises(UserInputError) as caught:
        crystal.read_structure(path)
    assert str(caught.value) == (
        f"{path}: no periodic cell in the plane (cell vectors a = (0, 0, 0) and b = (0, 0, 0) Å span no area); give "
        "a crystal with its unit cell (CIF, POSCAR, or extended xyz with Lattice=...)"
    )

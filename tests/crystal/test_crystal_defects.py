"""Defects as pure functions on the atomic numbers of a column."""

import pytest

from symcl.domains import crystal


def test_remove_substitute_and_antisite():
    assert crystal.remove_atoms((16, 16)) == (16,)
    assert crystal.remove_atoms((16, 16), count=5) == ()
    assert crystal.remove_atoms((8, 22, 8, 22), element=8) == (8, 22, 22)
    assert crystal.substitute((16, 16), 74) == (74, 16)
    assert crystal.substitute((8, 22), 57, host=8) == (57, 22)
    mos2 = crystal.projected_crystal("MoS2")
    s = mos2.numbers.index((16, 16))
    assert mos2.numbers[crystal.antisite_source(mos2, s)] == (42,)
    with pytest.raises(ValueError, match="single kind of column"):
        crystal.antisite_source(crystal.projected_crystal("graphene"), 0)
    with pytest.raises(ValueError, match="no atom of Z = 42"):
        crystal.remove_atoms((16, 16), element=42)
    with pytest.raises(ValueError, match="must change the element"):
        crystal.substitute((42,), 42)


def test_defect_spec_validation():
    assert crystal.Defect("adatom", position=(1, 2)).position == (1.0, 2.0)
    with pytest.raises(ValueError, match="'kind' parameter of Defect"):
        crystal.Defect("dislocation")
    with pytest.raises(ValueError, match="needs its new 'element'"):
        crystal.Defect("substitution")
    with pytest.raises(ValueError, match="chemical symbol"):
        crystal.Defect("substitution", element="Xx")
    with pytest.raises(ValueError, match="'count' parameter of Defect"):
        crystal.Defect("vacancy", count=0)
    with pytest.raises(ValueError, match="must be finite"):
        crystal.Defect("vacancy", position=(float("nan"), 0))


def test_outcomes_are_visible_and_cover_every_kind():
    mos2 = crystal.projected_crystal("MoS2")
    table = crystal.defect_outcomes(mos2, min_contrast=0.15)
    kinds = {k for k, _ in table}
    assert kinds == set(crystal.KINDS)
    intensity = mos2.intensities()
    for (kind, site), items in table.items():
        for value, numbers in items:
            assert value == pytest.approx(crystal.column_intensity(numbers))
            if kind not in ("pristine", "adatom"):
                assert abs(value - intensity[site]) >= 0.15 * intensity[site]
    # Nb (Z=41) for Mo (Z=42) is invisible, so it is not an outcome
    mo = mos2.numbers.index((42,))
    assert all(numbers != (41,) for _, numbers in table[("substitution", mo)])
    assert not any(k == "antisite" for k, _ in crystal.defect_outcomes(crystal.projected_crystal("graphene")))

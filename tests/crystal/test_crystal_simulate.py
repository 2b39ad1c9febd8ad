"""simulate(): determinism, physics sanity and the ground truth."""

import csv

import numpy as np
import pytest

from symcl.domains import crystal
from symcl.domains.crystal import Defect
from symcl.errors import UserInputError


def _peak(sim, index):
    """The noise-free expected counts at the pixel nearest to column ``index``."""
    x, y = np.round(sim.columns.pixels[index]).astype(int)
    return float(sim.expected[y, x])


def test_same_seed_same_image_and_different_seed_different_image():
    a = crystal.simulate("MoS2", shape=(64, 64), defects=3, jitter=0.05, drift=(0.5, 0.2), rng=7)
    b = crystal.simulate("MoS2", shape=(64, 64), defects=3, jitter=0.05, drift=(0.5, 0.2), rng=np.random.default_rng(7))
    c = crystal.simulate("MoS2", shape=(64, 64), defects=3, jitter=0.05, drift=(0.5, 0.2), rng=8)
    np.testing.assert_array_equal(a.image, b.image)
    assert a.defect_table() == b.defect_table()
    assert not np.array_equal(a.image, c.image)
    assert a.image.dtype == np.float32 and a.image.shape == (64, 64)


def test_intensity_grows_with_z_and_a_vacancy_lowers_its_column():
    options = {"shape": (64, 64), "pixel_size": 0.2, "origin": (6.0, 6.0), "rng": 0}
    mos2 = crystal.simulate("MoS2", **options)
    ws2 = crystal.simulate("WS2", **options)
    inside = [
        i for i in range(len(mos2.columns)) if np.all((mos2.columns.pixels[i] > 8) & (mos2.columns.pixels[i] < 56))
    ]
    mo = [i for i in inside if mos2.columns.numbers[i] == (42,)]
    s2 = [i for i in inside if mos2.columns.numbers[i] == (16, 16)]
    mo_peak = np.mean([_peak(mos2, i) for i in mo])
    s2_peak = np.mean([_peak(mos2, i) for i in s2])
    w_peak = np.mean([_peak(ws2, i) for i in inside if ws2.columns.numbers[i] == (74,)])
    assert w_peak > mo_peak > s2_peak  # Z: 74 > 42 > 2 x 16 in Z^1.7
    # a single S vacancy in the middle column
    target = s2[len(s2) // 2]
    vac = crystal.simulate(
        "MoS2", defects=[crystal.Defect("vacancy", position=tuple(mos2.columns.positions[target]))], **options
    )
    (d,) = vac.defects
    assert d.kind == "vacancy" and d.before == (16, 16) and d.after == (16,) and d.element == "S"
    assert _peak(vac, target) < 0.8 * _peak(mos2, target)
    assert vac.columns.defect[target] == 0 and (vac.columns.defect == -1).sum() == len(vac.columns) - 1


def test_pixel_size_scales_the_lattice_in_pixels():
    for p in (0.1, 0.25):
        sim = crystal.simulate("SrTiO3", shape=(96, 96), pixel_size=p, origin=(0.0, 0.0), rng=0)
        sr = sim.columns.pixels[[i for i, n in enumerate(sim.columns.numbers) if n[0] == 38]]
        step = np.diff(np.unique(np.round(sr[:, 0], 6)))
        np.testing.assert_allclose(step, 3.905 / p, rtol=1e-9)
        assert sim.pixel_size == p


def test_random_defects_ground_truth(mos2_image):
    sim = mos2_image
    table = sim.defect_table()
    assert len(table) == len(sim.defects) == 4
    for i, row in enumerate(table):
        assert row["kind"] in crystal.DEFECT_KINDS
        assert 0 <= row["x_px"] <= 159 and 0 <= row["y_px"] <= 159
        assert row["x_px"] == pytest.approx(row["x_angstrom"] / 0.2, abs=0.01)  # no drift: px = Å / pixel size
        assert (sim.columns.defect == i).sum() == 1
        j = int(np.nonzero(sim.columns.defect == i)[0][0])
        np.testing.assert_allclose(sim.columns.pixels[j], [row["x_px"], row["y_px"]], atol=1e-2)
        assert sim.columns.numbers[j] == tuple(int(z) for z in row["z_after"].split())
    positions = np.array([[r["x_angstrom"], r["y_angstrom"]] for r in table])
    distance = np.linalg.norm(positions[:, None] - positions[None], axis=-1) + np.eye(4) * 100
    assert distance.min() >= 3.16 - 1e-9  # at least one lattice period apart


@pytest.mark.parametrize(
    "defects", [[crystal.Defect("adatom"), crystal.Defect("vacancy")], 4], ids=["adatom first", "random"]
)
def test_every_defect_column_points_to_its_own_defect(defects):
    # Adatoms add columns at the end; their defect index must still be their own.
    sim = crystal.simulate("MoS2", shape=(128, 128), pixel_size=0.2, defects=defects, rng=1)
    kinds = [d.kind for d in sim.defects]
    assert "adatom" in kinds and kinds[-1] != "adatom"
    for i, row in enumerate(sim.defect_table()):
        (j,) = np.nonzero(sim.columns.defect == i)[0]
        np.testing.assert_allclose(sim.columns.pixels[j], [row["x_px"], row["y_px"]], atol=1e-2)
        assert (sim.columns.sublattice[j] == -1) == (row["kind"] == "adatom")


def test_explicit_defects_of_every_kind():
    defects = [
        crystal.Defect("vacancy", position=(4.0, 4.0)),
        crystal.Defect("substitution", position=(12.0, 4.0), element="La"),
        crystal.Defect("antisite", position=(4.0, 12.0)),
        crystal.Defect("adatom", position=(12.0, 12.0), element="Pt"),
    ]
    sim = crystal.simulate(
        "SrTiO3", shape=(96, 96), pixel_size=0.2, origin=(0.0, 0.0), thickness=2, defects=defects, rng=0
    )
    kinds = [d.kind for d in sim.defects]
    assert kinds == ["vacancy", "substitution", "antisite", "adatom"]
    assert sim.defects[1].element == "La" and 57 in sim.defects[1].after
    assert sim.defects[3].after == (78,) and sim.defects[3].sublattice == -1
    assert sim.columns.numbers[-1] == (78,) and sim.columns.sublattice[-1] == -1
    with pytest.raises(UserInputError, match="Unknown material"):
        crystal.simulate("kryptonite")
    with pytest.raises(UserInputError, match="Cannot place"):
        crystal.simulate("graphene", defects=[crystal.Defect("antisite")], shape=(64, 64), rng=0)


@pytest.mark.parametrize(
    ("defects", "message"),
    [
        ([Defect("vacancy", position=(-50.0, -50.0))], "defects[0] (vacancy at (-50, -50) Å): the position is outside"),
        ([Defect("adatom", position=(25.0, 5.0))], "defects[0] (adatom at (25, 5) Å): the position is outside"),
        ([Defect("vacancy", position=(0.1, 0.1))], "nearest column at least 2 Å inside the image is 4.56 Å away"),
        (
            [Defect("vacancy", position=(10.0, 10.0)), Defect("substitution", position=(10.0, 10.0), element="W")],
            "defects[1] (substitution at (10, 10) Å): the nearest column, at (11.07, 9.86) Å, already holds defects[0]",
        ),
        (
            [Defect("adatom", position=(10.0, 10.0)), Defect("adatom", position=(10.0, 10.0))],
            "defects[1] (adatom at (10, 10) Å): the nearest hollow site, at (9.49, 10.77) Å, already holds defects[0]",
        ),
    ],
    ids=["outside", "adatom outside", "beyond the edge strip", "same column", "same hollow"],
)
def test_explicit_defect_positions_outside_the_image_or_on_a_taken_site_are_refused(defects, message):
    with pytest.raises(UserInputError) as error:
        crystal.simulate("MoS2", shape=(100, 100), pixel_size=0.2, defects=defects, rng=0)
    assert message in str(error.value) and "\n" not in str(error.value)
    neighbours = [Defect("vacancy", position=(10.0, 10.0)), Defect("vacancy", position=(11.0, 8.0))]
    sim = crystal.simulate("MoS2", shape=(100, 100), pixel_size=0.2, defects=neighbours, rng=0)
    assert len({(d.x, d.y) for d in sim.defects}) == 2  # neighbouring columns are fine
    assert all(0 <= d.x_px <= 99 and 0 <= d.y_px <= 99 for d in sim.defects)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"pixel_size": 0.0}, "The 'pixel_size' parameter of simulate must be > 0. Got 0.0 instead."),
        ({"pixel_size": float("nan")}, "The 'pixel_size' parameter of simulate must be > 0"),
        ({"dose": -5.0}, "The 'dose' parameter of Imaging must be a finite number > 0"),
        ({"shape": (4, 64)}, "The 'shape' parameter of simulate must hold integers >= 8"),
        ({"defects": -1}, "The 'defects' parameter of simulate must be >= 0"),
        ({"jitter": float("nan")}, "The 'jitter' parameter of Imaging"),
        ({"defect_kinds": ["dislocation"]}, "The 'defect_kinds' parameter"),
    ],
)
def test_simulate_validates_its_inputs(options, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        crystal.simulate("MoS2", **{"shape": (32, 32), "defects": 1, **options})


def test_noise_mean_matches_the_expected_counts():
    sim = crystal.simulate("Au", shape=(96, 96), pixel_size=0.2, dose=1e6, rng=0)
    assert sim.image.mean() == pytest.approx(sim.expected.mean(), rel=0.01)
    assert np.std(sim.image - sim.expected) > 1.0


def test_write_simulation(tmp_path, mos2_image):
    paths = crystal.write_simulation(mos2_image, tmp_path / "out")
    assert set(paths) == {"image.npy", "image.png", "ground_truth.csv", "columns.csv", "simulation.json"}
    np.testing.assert_array_equal(np.load(paths["image.npy"]), mos2_image.image)
    with open(paths["ground_truth.csv"]) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["kind"] for r in rows] == [d.kind for d in mos2_image.defects]
    assert not list((tmp_path / "out").glob(".*.tmp"))  # atomic writes leave no temp files

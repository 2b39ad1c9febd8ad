"""The pretrained default encoder shipped in data/crystal/model: it loads, embeds, and tells sites apart."""

import numpy as np
import pytest

from symcl.data import data_path
from symcl.domains import crystal


@pytest.fixture(scope="module")
def model():
    return crystal.load_pretrained()


def test_pretrained_model_is_small_and_recorded(model):
    directory = crystal.pretrained_directory()
    assert directory == data_path("crystal", "model")
    assert (directory / "model.safetensors").stat().st_size <= 5 * 2**20
    config = crystal.read_model_config(directory)
    assert config["model"] == model.config and config["model"]["kind"] == "patch_cnn"
    materials = config["crystal"]["views"]["materials"]
    assert {"MoS2", "graphene", "SrTiO3", "SrTiO3[110]"} <= set(materials)
    assert (directory / "README.md").read_text().count("symcl crystal train") >= 1
    assert not model.training


def test_pretrained_model_embeds_simulated_patches(model):
    P, pixel = model.config["patch_size"], model.config["pixel_size"]
    sim = crystal.simulate("MoS2", shape=(96, 96), pixel_size=pixel, defects=2, rng=3)
    inside = np.all((sim.columns.pixels > P / 2) & (sim.columns.pixels < 96 - P / 2), axis=1)
    patches, _ = crystal.cut_patches(sim.image, sim.columns.pixels[inside], P)
    z = crystal.embed_patches(model, patches)
    assert z.shape == (int(inside.sum()), model.config["dim"]) and z.dtype == np.float32
    assert np.isfinite(z).all() and np.linalg.norm(z, axis=1).min() > 0


def test_pretrained_model_separates_the_srtio3_110_sublattices(model):
    """SrO and Ti columns of [110] SrTiO3 (the real test image's projection) embed apart."""
    P, pixel = model.config["patch_size"], model.config["pixel_size"]
    sim = crystal.simulate("SrTiO3[110]", shape=(112, 112), pixel_size=pixel, rotation=90.0, dose=3e5, rng=5)
    cols = sim.columns
    keep = np.all((cols.pixels > P / 2) & (cols.pixels < 112 - P / 2), axis=1) & (cols.sublattice < 2)
    patches, _ = crystal.cut_patches(sim.image, cols.pixels[keep], P)
    z = crystal.embed_patches(model, patches)
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    sub = cols.sublattice[keep]
    assert set(sub) == {0, 1}
    similarity = z @ z.T
    within = np.mean([similarity[np.ix_(sub == s, sub == s)].mean() for s in (0, 1)])
    across = similarity[np.ix_(sub == 0, sub == 1)].mean()
    assert within > across + 0.3


def test_pretrained_pipeline_labels_the_sublattices_of_a_srtio3_110_image(model):
    """The real-image route on a simulated stand-in: 0.1 Å/px, turned 90 degrees, every site clustered."""
    from scipy.spatial import cKDTree
    from sklearn.metrics import adjusted_rand_score

    sim = crystal.simulate(
        "SrTiO3[110]", shape=(300, 280), pixel_size=0.1, rotation=90.0, dose=2e5, jitter=0.05, rng=11
    )
    result = crystal.analyse_image(model, sim.image, 0.1, spacing=1.95, n_clusters=2)
    cols = sim.columns
    distance, nearest = cKDTree(cols.pixels).query(result.sites.positions)
    assert np.all(distance < 0.5 / 0.1) and len(set(nearest)) == len(nearest)
    truth = cols.sublattice[nearest]
    assert set(truth) == {0, 1} and result.edge.sum() > len(truth) / 3  # many sites near the border
    assert adjusted_rand_score(truth, result.cluster) > 0.9


def test_pretrained_model_never_saw_the_benchmark_held_out_conditions():
    """bench_crystal.py scores at doses 5e4 and 5e6 e-/Å² with 0.15 Å jitter: neither may be a training condition."""
    views = crystal.read_model_config(crystal.pretrained_directory())["crystal"]["views"]
    low, high = views["dose"]
    bands = views.get("dose_exclude", [])
    for dose in (5e4, 5e6):
        assert not low <= dose <= high or any(a < dose < b for a, b in bands)
    assert views["jitter"] < 0.15 or any(a < 0.15 < b for a, b in views.get("jitter_exclude", []))

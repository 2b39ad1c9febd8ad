"""LatticeTranslationViews: the view-generator contract, translations, exclusion and validation."""

import pickle

import numpy as np
import pytest
import torch
from ase.build import bulk

from symcl.domains import crystal
from symcl.views import ViewBatch

SMALL = {"patch_size": 40, "pixel_size": 0.3}


@pytest.fixture(scope="module")
def views():
    return crystal.LatticeTranslationViews(("MoS2", "SrTiO3"), **SMALL)


def _batch(views, seed=0, n=48):
    return views.sample(n, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"rotations": True, "equivalent_positives": True, "offcentre_probability": 1.0},
        {"random_orientation": True},
    ],
)
def test_contract(options):
    views = crystal.LatticeTranslationViews(("MoS2", "graphene", "SrTiO3"), **SMALL, **options)
    batch = _batch(views)
    assert isinstance(batch, ViewBatch)
    assert batch.view1.shape == batch.view2.shape == (48, 1, 40, 40)
    assert batch.view1.dtype == torch.float32 and torch.isfinite(batch.view1).all()
    assert batch.exclude.shape == (48, 48) and batch.exclude.dtype == torch.bool
    assert torch.equal(batch.exclude, batch.exclude.T) and not batch.exclude.diagonal().any()
    assert batch.labels.dtype == torch.int64 and set(batch.labels.tolist()) <= set(range(len(crystal.KINDS)))
    assert (batch.groups is not None) == bool(options.get("equivalent_positives"))
    # same generator state -> same batch, whatever the global RNGs do
    torch.manual_seed(123)
    np.random.seed(123)
    again = _batch(views)
    for a, b in ((batch.view1, again.view1), (batch.view2, again.view2), (batch.exclude, again.exclude)):
        assert torch.equal(a, b)
    # the two views of a pair differ (other lattice site, imaging and noise), and so do two seeds
    assert not torch.equal(batch.view1, batch.view2)
    assert not torch.equal(batch.view1, _batch(views, seed=1).view1)
    # pickles (for data-loader workers) and samples the same after the round trip
    clone = pickle.loads(pickle.dumps(views))
    assert torch.equal(_batch(clone).view1, batch.view1)


def test_equivalence_ids_are_the_same_in_every_batch():
    # Ranks gather each other's groups, so an id must name one (material, kind, site, outcome) everywhere.
    from symcl.domains.crystal.views import equivalence_ids

    views = crystal.LatticeTranslationViews(("MoS2", "graphene", "SrTiO3"), **SMALL, equivalent_positives=True)
    key_of: dict[int, tuple] = {}
    for seed in range(3):
        params, _ = views.draw_params(64, np.random.default_rng(seed))
        keys = zip(params.material, params.kind, params.site, params.outcome, strict=True)
        for group, key in zip(equivalence_ids(params).tolist(), keys, strict=True):
            assert key_of.setdefault(group, key) == key
    assert len(set(key_of.values())) == len(key_of) > 10


def test_batches_do_not_depend_on_the_number_of_threads():
    one, two = (crystal.LatticeTranslationViews(("MoS2", "graphene"), **SMALL, threads=t) for t in (1, 2))
    assert (one.threads, two.threads) == (1, 2)
    a, b = _batch(one, seed=5), _batch(two, seed=5)
    for x, y in ((a.view1, b.view1), (a.view2, b.view2), (a.exclude, b.exclude), (a.labels, b.labels)):
        assert torch.equal(x, y)


def test_equivalent_sites_are_excluded_and_others_are_not(views):
    n = 64
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(3))))
    params, _ = views.draw_params(n, rng)
    batch = _batch(views, seed=3, n=n)
    key = list(zip(params.material, params.kind, params.site, params.outcome, strict=True))
    expected = np.array([[key[i] == key[j] and i != j for j in range(n)] for i in range(n)])
    np.testing.assert_array_equal(batch.exclude.numpy(), expected)
    assert expected.any()  # pristine sites of one material and sublattice recur in a batch
    np.testing.assert_array_equal(batch.labels.numpy(), params.kind)


@pytest.mark.parametrize("material", ["Au", bulk("Si", "diamond", a=5.43, cubic=True)], ids=["Au", "Si"])
@pytest.mark.parametrize("kinds", [("pristine", "vacancy"), ("adatom",)], ids=["columns", "adatoms"])
def test_identical_columns_of_a_conventional_cell_are_never_each_others_negatives(material, kinds):
    # Au [001] has 4 identical columns per cubic cell and Si [001] 8: the same physical site, one
    # translation of the crystal apart. Keyed on the basis column, 3/4 of such pairs were negatives.
    # Likewise for adatoms: hollows one translation apart are one hollow class.
    views = crystal.LatticeTranslationViews((material,), kinds=kinds, noise=False, **SMALL)
    n = 64
    rng = np.random.default_rng(int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(1))))
    params, _ = views.draw_params(n, rng)
    exclude = _batch(views, seed=1, n=n).exclude.numpy()
    identical = (params.kind[:, None] == params.kind[None]) & (params.outcome[:, None] == params.outcome[None])
    np.fill_diagonal(identical, False)
    np.testing.assert_array_equal(exclude, identical)
    assert len(set(params.site.tolist())) > 1  # the batch holds several of the identical sites


def test_lattice_translated_pristine_views_are_nearly_identical():
    views = crystal.LatticeTranslationViews(
        ("SrTiO3",), kinds=("pristine",), noise=False, jitter=0.0, drift=0.0, probe_fwhm=(0.9, 0.9),
        offcentre_probability=0.0, dose=(1e5, 1e5), background=(0.01, 0.01), **SMALL,
    )  # fmt: skip
    batch = _batch(views, n=16)
    a, b = batch.view1[:, 0].flatten(1), batch.view2[:, 0].flatten(1)
    a, b = a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)
    correlation = (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1))
    # only the sub-pixel phase of the lattice differs (< 0.5 px each way)
    assert correlation.min() > 0.9
    # ... whereas a different site (Sr vs Ti-O centred) of the same crystal is a different patch
    site = views.draw_params(
        16, np.random.default_rng(int(torch.randint(2**62, (1,), generator=torch.Generator().manual_seed(0))))
    )[0].site
    if len(set(site.tolist())) > 1:
        i, j = int(np.argmax(site == site.max())), int(np.argmax(site == site.min()))
        assert (a[i] * a[j]).sum() / (a[i].norm() * a[j].norm()) < correlation.min()


def test_commensurate_translation_of_a_clean_image_gives_the_same_patch():
    # 16 px per lattice period: a translation by a1 moves the image by exactly 16 px
    p = 3.905 / 16
    sim = crystal.simulate("SrTiO3", shape=(96, 96), pixel_size=p, origin=(0.0, 0.0), read_noise=0.0, rng=0)
    patches, _ = crystal.cut_patches(sim.expected, np.array([[32.0, 32.0], [48.0, 32.0], [48.0, 48.0]]), 40)
    np.testing.assert_allclose(patches[1], patches[0], rtol=1e-4)
    np.testing.assert_allclose(patches[2], patches[0], rtol=1e-4)


def test_offcentre_views_move_the_defect_by_a_lattice_vector():
    views = crystal.LatticeTranslationViews(("MoS2",), kinds=("adatom",), offcentre_probability=1.0, **SMALL)
    rng = np.random.default_rng(0)
    params, _ = views.draw_params(32, rng)
    centre_of_window = params.window + 40 // 2
    offset = (params.centre - centre_of_window) * 0.3  # Å, defect position relative to the window centre
    length = np.linalg.norm(offset, axis=-1)
    assert np.all(length > 2.5) and np.all(length < 3.16 + 0.5)  # one lattice period, up to rounding to pixels
    centred = crystal.LatticeTranslationViews(("MoS2",), kinds=("adatom",), offcentre_probability=0.0, **SMALL)
    params, _ = centred.draw_params(32, rng)
    assert np.abs(params.centre - (params.window + 20)).max() <= 0.5 + 1e-9


def test_field_of_view_and_parameter_validation():
    with pytest.raises(ValueError, match="must cover at least 12 Å"):
        crystal.LatticeTranslationViews(("MoS2",), patch_size=48, pixel_size=0.1)
    with pytest.raises(ValueError, match="'pixel_size' parameter of LatticeTranslationViews must be > 0"):
        crystal.LatticeTranslationViews(("MoS2",), pixel_size=-0.3)
    with pytest.raises(ValueError, match="'kinds' parameter"):
        crystal.LatticeTranslationViews(("MoS2",), kinds=("pristine", "dislocation"), **SMALL)
    with pytest.raises(ValueError, match="visible defect of kind"):
        crystal.LatticeTranslationViews(("graphene",), kinds=("antisite",), **SMALL)
    with pytest.raises(ValueError, match="'dose' parameter"):
        crystal.LatticeTranslationViews(("MoS2",), dose=(1e5, 1e3), **SMALL)
    with pytest.raises(ValueError, match="'threads' parameter of LatticeTranslationViews must be an integer >= 1"):
        crystal.LatticeTranslationViews(("MoS2",), threads=0, **SMALL)
    with pytest.raises(ValueError, match="'batch_size' parameter"):
        crystal.LatticeTranslationViews(("MoS2",), **SMALL).sample(0, torch.Generator())


def test_random_orientation_turns_the_worlds():
    """Each world gets its own in-plane angle (the [110] SrTiO3 rectangle has no 90-degree symmetry)."""
    plain = crystal.LatticeTranslationViews(("SrTiO3[110]",), **SMALL)
    turned = crystal.LatticeTranslationViews(("SrTiO3[110]",), **SMALL, random_orientation=True)
    assert turned.settings()["random_orientation"] and not plain.settings()["random_orientation"]
    rng = np.random.default_rng(0)
    angles = []
    for _ in range(20):
        world = turned._draw_world(0, rng)
        rotation = world.transform * turned.pixel_size  # drift (~1 %) times rotation
        angles.append(np.degrees(np.arctan2(rotation[1, 0], rotation[0, 0])))
    assert np.ptp(angles) > 90  # angles spread over the circle, not only the lattice's point group
    world = plain._draw_world(0, np.random.default_rng(0))
    np.testing.assert_allclose(world.transform * plain.pixel_size, np.eye(2), atol=0.1)


def test_jitter_exclude_holds_a_band_out_of_the_uniform_jitter():
    views = crystal.LatticeTranslationViews(("MoS2",), jitter=0.3, jitter_exclude=[(0.1, 0.225)], **SMALL)
    params, _ = views.draw_params(2000, np.random.default_rng(0))
    jitter = params.jitter.ravel() * views.pixel_size  # drawn in px, per view
    assert jitter.min() >= 0 and jitter.max() <= 0.3 + 1e-9
    assert not ((jitter > 0.1 + 1e-9) & (jitter < 0.225 - 1e-9)).any()
    assert abs(np.mean(jitter < 0.1) - 0.1 / 0.175) < 0.04  # uniform on what is left
    assert views.settings()["jitter_exclude"] == [[0.1, 0.225]]
    with pytest.raises(ValueError, match="'jitter_exclude' parameter of LatticeTranslationViews must satisfy 0 < low"):
        crystal.LatticeTranslationViews(("MoS2",), jitter_exclude=[(0.2, 0.1)], **SMALL)


def test_dose_exclude_holds_bands_out_of_the_log_uniform_dose():
    views = crystal.LatticeTranslationViews(("MoS2",), dose=(1e4, 1e7), dose_exclude=[(3e4, 8e4), (3e6, 8e6)], **SMALL)
    params, _ = views.draw_params(2000, np.random.default_rng(0))
    dose = params.dose.ravel()
    assert dose.min() >= 1e4 * (1 - 1e-9) and dose.max() <= 1e7 * (1 + 1e-9)
    assert not ((dose > 3e4) & (dose < 8e4)).any() and not ((dose > 3e6) & (dose < 8e6)).any()
    # Log-uniform on what is left: the share below 3e4 is log(3)/log(1000 / (8/3)^2) of the draws.
    share = np.log(3) / (np.log(1e3) - 2 * np.log(8 / 3))
    assert abs(np.mean(dose < 3e4) - share) < 0.04
    assert views.settings()["dose_exclude"] == [[3e4, 8e4], [3e6, 8e6]]
    with pytest.raises(ValueError, match="'dose_exclude' parameter of LatticeTranslationViews must leave"):
        crystal.LatticeTranslationViews(("MoS2",), dose=(1e5, 2e5), dose_exclude=[(1e4, 1e6)], **SMALL)
    with pytest.raises(ValueError, match="'dose_exclude' parameter"):
        crystal.LatticeTranslationViews(("MoS2",), dose_exclude=[(1e5, 1e3)], **SMALL)


def test_from_settings_rebuilds_the_views_a_model_was_trained_on():
    """The settings round-trip through JSON, so a model's config.json gives back its views."""
    import json

    views = crystal.LatticeTranslationViews(
        ("MoS2", "SrTiO3[110]"), dose=(1e4, 1e7), dose_exclude=[(3e4, 8e4)], offcentre_probability=0.0, **SMALL
    )
    saved = json.loads(json.dumps(views.settings()))
    rebuilt = crystal.LatticeTranslationViews.from_settings(saved)
    assert rebuilt.settings() == views.settings()
    batch, again = (v.sample(4, torch.Generator().manual_seed(0)) for v in (views, rebuilt))
    assert torch.equal(batch.view1, again.view1) and torch.equal(batch.view2, again.view2)
    only_mos2 = crystal.LatticeTranslationViews.from_settings(saved, materials=("MoS2",))
    assert only_mos2.settings()["materials"] == ["MoS2"] and only_mos2.settings()["dose_exclude"] == [[3e4, 8e4]]

"""Training on lattice-translation views (exact resume), embed_patches, anomaly scores and clusters."""

import shutil

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import symcl.evaluation
from symcl.checkpoint import list_checkpoints
from symcl.domains import crystal
from symcl.training import TrainConfig, seed_everything

VIEWS = {"patch_size": 40, "pixel_size": 0.3}


def _fit(out_dir, steps, *, resume=False):
    views = crystal.LatticeTranslationViews(("MoS2",), **VIEWS)
    seed_everything(0)
    model = crystal.PatchCNN(dim=8, channels=4, **VIEWS)
    config = TrainConfig(steps=steps, batch_size=8, eval_every=0, checkpoint_every=2, warmup_steps=1)
    crystal.train(model, views, config, out_dir=out_dir, resume=resume, progress=False)
    return load_file(out_dir / "model.safetensors")


def test_resume_is_bit_identical(tmp_path):
    straight = _fit(tmp_path / "a", 4)
    # an interrupted run: the same directory as it was right after the step-2 checkpoint
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    (tmp_path / "b" / "model.safetensors").unlink()
    newest = list_checkpoints(tmp_path / "b" / "checkpoints")[-1]
    newest.unlink()
    resumed = _fit(tmp_path / "b", 4, resume=True)
    assert straight.keys() == resumed.keys()
    for name in straight:
        assert torch.equal(straight[name], resumed[name]), name


def test_train_checks_the_model_against_the_views(tmp_path):
    views = crystal.LatticeTranslationViews(("MoS2",), **VIEWS)
    with pytest.raises(ValueError, match="patch_size"):
        crystal.train(crystal.PatchCNN(patch_size=48), views, TrainConfig(steps=1, batch_size=4), progress=False)
    with pytest.raises(ValueError, match="'temperature' parameter of train"):
        crystal.train(crystal.PatchCNN(**VIEWS), views, TrainConfig(steps=1, batch_size=4), temperature=0.0)


def test_embed_patches_validates_and_keeps_order():
    torch.manual_seed(0)
    model = crystal.PatchCNN(dim=8, channels=4, **VIEWS).eval()
    patches = np.random.default_rng(0).random((5, 40, 40)).astype(np.float32)
    z = crystal.embed_patches(model, patches, batch_size=2)
    assert z.shape == (5, 8) and z.dtype == np.float32
    np.testing.assert_allclose(z[3], crystal.embed_patches(model, patches[3:4])[0], rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="40-px patches"):
        crystal.embed_patches(model, np.zeros((2, 48, 48)))
    with pytest.raises(ValueError, match="finite"):
        crystal.embed_patches(model, np.full((2, 40, 40), np.nan))


def test_anomaly_scores_flag_the_outlier_and_clusters_find_the_groups():
    rng = np.random.default_rng(0)
    a = rng.normal([5, 0, 0], 0.05, size=(40, 3))
    b = rng.normal([0, 5, 0], 0.05, size=(40, 3))
    odd = np.array([[0.0, 0.0, 5.0]])
    z = np.concatenate([a, b, odd])
    score = crystal.anomaly_scores(z, k=5)
    assert np.argmax(score) == 80 and score[80] > 10 * np.median(score)
    labels = crystal.cluster_sites(z[:80])
    assert len(set(labels[:40])) == 1 and len(set(labels[40:])) == 1 and labels[0] != labels[40]
    assert crystal.cluster_sites(z, n_clusters=3).max() == 2
    with pytest.raises(ValueError, match="'max_clusters' parameter of cluster_sites must be an integer >= 2. Got 1"):
        crystal.cluster_sites(z, max_clusters=1)
    with pytest.raises(ValueError, match=r"'n_clusters' parameter \(--clusters\) of cluster_sites .* \[1, 81\]"):
        crystal.cluster_sites(z, n_clusters=100000)  # the CLI user reads which flag to change


def test_anomaly_scores_and_clusters_of_many_sites_do_not_depend_on_the_chunks_or_the_sample(monkeypatch):
    from symcl.domains.crystal import analysis

    rng = np.random.default_rng(1)
    z = np.concatenate([rng.normal([3, 0, 0, 0], 0.3, size=(150, 4)), rng.normal([0, 3, 0, 0], 0.3, size=(100, 4))])
    reference = rng.random(len(z)) < 0.8
    whole = crystal.anomaly_scores(z, k=4, reference=reference)
    monkeypatch.setattr(analysis, "_NEIGHBOUR_CHUNK", 7)
    np.testing.assert_array_equal(crystal.anomaly_scores(z, k=4, reference=reference, progress=True), whole)
    # The silhouette that picks k is computed on a random subset when there are many sites.
    monkeypatch.setattr(symcl.evaluation, "SILHOUETTE_SAMPLE", 60)
    labels = crystal.cluster_sites(z)
    assert labels.max() == 1 and len(set(labels[:150])) == 1 and len(set(labels[150:])) == 1


def test_embed_patches_takes_a_tensor_that_requires_grad():
    torch.manual_seed(0)
    model = crystal.PatchCNN(dim=8, channels=4, **VIEWS).eval()
    patches = torch.rand(3, 1, 40, 40, requires_grad=True)  # was torch's "Can't call numpy()"
    np.testing.assert_array_equal(crystal.embed_patches(model, patches), crystal.embed_patches(model, patches.detach()))


def test_anomaly_scores_read_integer_reference_indices_as_indices_not_as_a_mask():
    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal([5, 0, 0], 0.05, size=(40, 3)), rng.normal([0, 5, 0], 0.05, size=(40, 3))])
    mask = np.zeros(80, dtype=bool)
    mask[:40] = True
    by_mask = crystal.anomaly_scores(z, k=5, reference=mask)
    np.testing.assert_array_equal(crystal.anomaly_scores(z, k=5, reference=np.arange(40)), by_mask)
    np.testing.assert_array_equal(crystal.anomaly_scores(z, k=5, reference=list(range(40))), by_mask)
    assert by_mask[40:].min() > 10  # the second group is far from the reference group
    with pytest.raises(ValueError, match=r"bool mask of length 80 .* Got dtype bool, shape \(40,\) instead"):
        crystal.anomaly_scores(z, reference=mask[:40])
    with pytest.raises(
        ValueError, match=r"integer indices in \[0, 80\). Got dtype int64, shape \(1,\), values 80 to 80"
    ):
        crystal.anomaly_scores(z, reference=np.array([80]))
    with pytest.raises(ValueError, match="Got dtype float64"):
        crystal.anomaly_scores(z, reference=np.ones(80))
    with pytest.raises(ValueError, match=r"holds 80 zeros and ones, one per embedding: a mask or indices\?"):
        crystal.anomaly_scores(z, reference=mask.astype(int))  # a 0/1 mask as integers is ambiguous

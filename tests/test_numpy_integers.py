"""Counts computed with numpy (np.int64 from argmax, len of an array, ...) are accepted like ints."""

import json

import numpy as np
import pytest

from symcl.domains import crystal, dna, protein


def test_simulation_and_clustering_take_numpy_integers():
    family = protein.simulate_family(np.int64(5), np.int64(40), np.random.default_rng(0))
    assert len(family.sequences) == 5 and family.sequences.ids[0].endswith("_0")
    assert len(protein.gamma_rates(0.5, np.int32(4))) == 4
    embeddings = np.random.default_rng(0).normal(size=(12, 4))
    labels = crystal.cluster_sites(embeddings, n_clusters=np.int64(3), max_clusters=np.int64(4))
    assert len(set(labels.tolist())) == 3


def test_dna_training_records_numpy_sizes_as_plain_json(tmp_path):
    from symcl.training import TrainConfig

    rng = np.random.default_rng(0)
    views = dna.DnaViews([("a", "".join(rng.choice(list("ACGT"), 600)))], window=200)
    model = dna.StrandInvariantCNN(dim=8, channels=8, blocks=1)
    config = TrainConfig(steps=2, batch_size=4, eval_every=0, checkpoint_every=0, warmup_steps=1)
    dna.train(model, views, config, projection=np.int64(8), queue_size=np.int64(0), out_dir=tmp_path, progress=False)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["dna"]["projection"] == 8 and saved["dna"]["queue_size"] == 0


@pytest.mark.parametrize("value", [True, 2.0, "3"])
def test_a_bool_float_or_text_count_is_still_refused(value):
    with pytest.raises(ValueError, match="'n_leaves' parameter of random_tree must be an integer >= 2"):
        protein.random_tree(value, np.random.default_rng(0))


def test_protein_counts_take_numpy_integers():
    import torch

    families = protein.simulated_families(np.int64(2), np.random.default_rng(0), sizes=(np.int64(4), np.int64(6)))
    sampler = protein.PairSampler(families)
    assert sampler.sample(np.int64(8), torch.Generator().manual_seed(0)).target.shape == (8,)
    bag = protein.ProteinKmerBag(kmer_sizes=[np.int64(1), np.int64(2)])
    assert bag.config["kmer_sizes"] == [1, 2] and all(type(k) is int for k in bag.config["kmer_sizes"])
    embedded = protein.embed_sequences(bag, ["MKVLA", "MKVLG"], batch_size=np.int64(1))
    assert embedded.shape[0] == 2


@pytest.mark.parametrize(
    ("build", "sizes"),
    [
        (protein.ProteinCNN, {"dim": 8, "channels": 8, "blocks": 1, "segments": 2}),
        (protein.ProteinKmerBag, {"dim": 8, "channels": 8, "segments": 2, "hidden": 16}),
        (dna.StrandInvariantCNN, {"dim": 8, "channels": 8, "blocks": 1}),
        (dna.KmerBagEncoder, {"channels": 8, "hidden": 16, "out_dim": 8}),
        (dna.CodonPhaseEncoder, {"channels": 8, "hidden": 16, "out_dim": 8}),
        (crystal.PatchCNN, {"dim": 8, "channels": 4, "patch_size": 16}),
        (crystal.PatchEnsemble, {"members": 2, "dim": 8, "channels": 4, "patch_size": 16}),
    ],
)
def test_encoders_take_numpy_sizes_and_record_plain_ints(build, sizes):
    model = build(**{name: np.int64(value) for name, value in sizes.items()})
    for name, value in sizes.items():
        assert type(model.config[name]) is int and model.config[name] == value
    json.dumps(model.config)  # config.json takes it

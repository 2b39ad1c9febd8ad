"""Training from Python, model directories and the pretrained model."""

import numpy as np
import pytest
import torch
from dna_testing import random_dna

from symcl.atomic import write_json
from symcl.checkpoint import save_weights
from symcl.domains import dna
from symcl.errors import UserInputError
from symcl.training import TrainConfig

SMALL = {"dim": 8, "channels": 8, "blocks": 1}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return dna.StrandInvariantCNN(**SMALL).eval()


def test_model_directory_round_trip_and_errors(model, tmp_path):
    save_weights(tmp_path / "model.safetensors", model)
    write_json(tmp_path / "config.json", {"model": model.config})
    loaded = dna.load_model(tmp_path)
    codes = torch.randint(0, 4, (3, 90), dtype=torch.uint8)
    assert torch.equal(loaded(codes), model(codes))
    with pytest.raises(UserInputError, match="not a model directory"):
        dna.load_model(tmp_path / "nope")
    for damaged in (None, "x", {"views": None}, {"views": {"window": "1000"}}):  # metadata only: no window
        write_json(tmp_path / "config.json", {"model": model.config, "dna": damaged})
        assert dna.load_model(tmp_path).training_window is None
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserInputError, match="no 'model' architecture"):
        dna.load_model(tmp_path)


def test_load_pretrained_returns_a_small_working_strand_invariant_model(shipped):
    directory = dna.pretrained_directory()
    assert {"model.safetensors", "config.json", "history.json"} <= {p.name for p in directory.iterdir()}
    assert not (directory / "checkpoints").exists()
    assert (directory / "model.safetensors").stat().st_size <= 5_000_000
    model = dna.load_pretrained()
    assert not model.training and model.config["kind"] == "codon_phase"
    (record,) = dna.read_records(shipped["pPCP1.fa.gz"])
    window = dna.read_model_config(directory)["dna"]["views"]["window"]
    forward = dna.embed_sequences(model, [("x", record.seq), ("y", record.seq[:3000])], window=window)
    reverse = dna.embed_sequences(
        model,
        [("x", dna.reverse_complement(record.seq)), ("y", dna.reverse_complement(record.seq[:3000]))],
        window=window,
    )
    assert forward.embeddings.shape == (2, model.dim) and np.isfinite(forward.embeddings).all()
    assert np.abs(forward.embeddings - reverse.embeddings).max() <= 1e-5
    assert np.abs(forward.embeddings[0] - forward.embeddings[1]).max() > 1e-3


def test_train_from_python_writes_a_loadable_model(tmp_path, rng):
    views = dna.DnaViews(
        [("a", random_dna(rng, 2000)), ("b", random_dna(rng, 2000))], window=200, fragment_lengths=(50, 200)
    )
    torch.manual_seed(0)
    model = dna.StrandInvariantCNN(**SMALL)
    config = TrainConfig(steps=4, batch_size=8, eval_every=2, eval_batch_size=16, checkpoint_every=2, warmup_steps=1)
    state = dna.train(model, views, config, out_dir=tmp_path, progress=False, sources=["a.fa"])
    assert state.step == 4
    saved = dna.read_model_config(tmp_path)
    assert saved["model"] == model.config and saved["dna"]["views"]["window"] == 200
    assert saved["dna"]["sources"] == ["a.fa"]
    loaded = dna.load_model(tmp_path)
    codes = torch.randint(0, 4, (2, 64), dtype=torch.uint8)
    assert torch.allclose(loaded(codes), model.eval()(codes))
    # the trained object embeds as its reloaded copy: both default to the training window
    assert model.training_window == loaded.training_window == 200
    records = [("a", random_dna(rng, 900))]
    np.testing.assert_allclose(
        dna.embed_sequences(model, records).embeddings, dna.embed_sequences(loaded, records).embeddings, atol=1e-6
    )


def test_train_with_a_projection_head_keeps_the_encoder_output(tmp_path, rng):
    views = dna.DnaViews([("a", random_dna(rng, 3000))], window=300, fragment_lengths=(60, 300))
    torch.manual_seed(0)
    model = dna.KmerBagEncoder(kmer_sizes=[3, 4], channels=4)
    config = TrainConfig(steps=3, batch_size=8, eval_every=0, checkpoint_every=0, warmup_steps=1)
    state = dna.train(model, views, config, projection=16, out_dir=tmp_path, progress=False)
    assert isinstance(state.objective, dna.ProjectedContrastive)
    assert state.objective.head[-1].out_features == 16
    assert dna.read_model_config(tmp_path)["dna"]["projection"] == 16
    codes = torch.randint(0, 4, (2, 64), dtype=torch.uint8)
    assert dna.load_model(tmp_path)(codes).shape == (2, 8)
    with pytest.raises(ValueError, match="'projection' parameter of train must be an integer >= 0"):
        dna.train(model, views, config, projection=-1)


def test_train_passes_the_loss_options_to_the_projected_objective(tmp_path, rng):
    views = dna.DnaViews([("a", random_dna(rng, 3000))], window=300, fragment_lengths=(60, 300))
    torch.manual_seed(0)
    model = dna.KmerBagEncoder(kmer_sizes=[3], channels=4)
    config = TrainConfig(steps=3, batch_size=8, eval_every=0, checkpoint_every=0, warmup_steps=1)
    state = dna.train(
        model,
        views,
        config,
        projection=16,
        debias_tau_plus=0.1,
        hard_negative_beta=0.5,
        queue_size=32,
        out_dir=tmp_path,
        progress=False,
    )
    loss = state.objective.loss.loss
    assert (loss.debias_tau_plus, loss.hard_negative_beta) == (0.1, 0.5)
    assert loss.queue.size == 32 and loss.queue.dim == 16 and len(loss.queue) == 24  # 3 batches of 8
    saved = dna.read_model_config(tmp_path)["dna"]
    assert (saved["debias_tau_plus"], saved["hard_negative_beta"], saved["queue_size"]) == (0.1, 0.5, 32)


def test_train_without_a_head_uses_the_loss_options_and_defaults_to_plain_info_nce(rng):
    views = dna.DnaViews([("a", random_dna(rng, 3000))], window=300, fragment_lengths=(60, 300))
    torch.manual_seed(0)
    model = dna.KmerBagEncoder(kmer_sizes=[3], channels=4)
    config = TrainConfig(steps=1, batch_size=8, eval_every=0, checkpoint_every=0, warmup_steps=1)
    state = dna.train(model, views, config, debias_tau_plus=0.2, progress=False)
    assert state.objective.loss.debias_tau_plus == 0.2 and state.objective.loss.queue is None
    plain = dna.ProjectedContrastive(8, 16).loss.loss
    assert (plain.debias_tau_plus, plain.hard_negative_beta, plain.queue) == (0.0, 0.0, None)


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("debias_tau_plus", 1.0, r"'debias_tau_plus' parameter of train must be a number in \[0, 1\). Got 1.0"),
        ("debias_tau_plus", -0.1, r"'debias_tau_plus' .* Got -0.1"),
        ("debias_tau_plus", True, r"'debias_tau_plus' .* Got True"),
        ("hard_negative_beta", -1.0, r"'hard_negative_beta' parameter of train must be a finite number >= 0. Got -1.0"),
        ("hard_negative_beta", float("inf"), r"'hard_negative_beta' .* Got inf"),
        ("queue_size", -1, r"'queue_size' parameter of train must be an integer >= 0. Got -1"),
        ("queue_size", 2.0, r"'queue_size' .* Got 2.0"),
    ],
)
def test_train_rejects_bad_loss_options_before_training(option, value, message, rng):
    views = dna.DnaViews([("a", random_dna(rng, 600))], window=300)
    model = dna.KmerBagEncoder(kmer_sizes=[3], channels=4)
    config = TrainConfig(steps=1, batch_size=4, eval_every=0, checkpoint_every=0, warmup_steps=1)
    with pytest.raises(ValueError, match=message):
        dna.train(model, views, config, progress=False, **{option: value})

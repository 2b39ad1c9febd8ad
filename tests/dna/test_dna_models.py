"""Training from Python, model directories and the pretrained model."""

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
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(UserInputError, match="no 'model' architecture"):
        dna.load_model(tmp_path)


def test_load_pretrained_says_none_ships_yet():
    with pytest.raises(UserInputError, match="no pretrained dna model ships"):
        dna.load_pretrained()


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

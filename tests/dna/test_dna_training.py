"""Training the dna encoder with the engine: same seed, same weights; an interrupted run resumes bit-identically."""

import numpy as np
import pytest
import torch
from dna_testing import random_dna
from safetensors.torch import load_file

from symcl.domains import dna
from symcl.training import Callback, TrainConfig, contrastive_objective, fit, seed_everything


class Interrupt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, state, loss, metrics):
        if state.step == self.step:
            raise KeyboardInterrupt


def _run(steps=12):
    """A fresh, seeded model + views (fragments and sequencing errors) + objective + config."""
    rng = np.random.default_rng(3)
    records = [("a", random_dna(rng, 1500)), ("b", random_dna(rng, 900, "ACGTN"))]
    views = dna.DnaViews(records, window=300, fragment_lengths=(80, 300), substitution_rate=0.02, indel_rate=0.02)
    seed_everything(0)
    model = dna.StrandInvariantCNN(dim=8, channels=8, blocks=1)
    config = TrainConfig(steps=steps, batch_size=8, eval_every=0, checkpoint_every=4, warmup_steps=2)
    return model, views, contrastive_objective(8, temperature=0.2), config


def _weights(directory):
    return load_file(str(directory / "model.safetensors"))


def test_interrupted_training_resumes_bit_identically(tmp_path):
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    fit(*_run(), out_dir=whole, progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(*_run(), out_dir=interrupted, callbacks=[Interrupt(6)], progress=False)
    state = fit(*_run(), out_dir=interrupted, resume=True, progress=False)
    assert state.step == 12
    a, b = _weights(whole), _weights(interrupted)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    fresh = dna.StrandInvariantCNN(dim=8, channels=8, blocks=1).state_dict()
    assert any(not torch.equal(a[k], fresh[k]) for k in a)  # training changed the weights


def test_projection_head_training_resumes_bit_identically(tmp_path):
    def run():
        rng = np.random.default_rng(4)
        views = dna.DnaViews([("a", random_dna(rng, 2000))], window=300, fragment_lengths=(60, 300))
        seed_everything(0)
        model = dna.KmerBagEncoder(kmer_sizes=[3, 5], channels=4)
        config = TrainConfig(steps=8, batch_size=8, eval_every=0, checkpoint_every=3, warmup_steps=2)
        return model, views, dna.ProjectedContrastive(model.dim, 8), config

    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    fit(*run(), out_dir=whole, progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(*run(), out_dir=interrupted, callbacks=[Interrupt(4)], progress=False)
    fit(*run(), out_dir=interrupted, resume=True, progress=False)
    a, b = _weights(whole), _weights(interrupted)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)

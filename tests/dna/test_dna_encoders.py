"""Encoders: exact strand invariance by construction, padding independence, the plain comparison."""

import pickle

import numpy as np
import pytest
import torch
from torch import nn

from symcl.domains import dna
from symcl.domains.dna.alphabet import CODE_PAD
from symcl.domains.dna.encoders import check_codes

SMALL = {"dim": 12, "channels": 16, "blocks": 2}


def _padded_batch(generator, n=24, width=300, with_n=True):
    codes = torch.randint(0, 5 if with_n else 4, (n, width), generator=generator, dtype=torch.uint8)
    lengths = torch.randint(1, width + 1, (n,), generator=generator)
    lengths[0] = width
    codes[torch.arange(width)[None, :] >= lengths[:, None]] = CODE_PAD
    return codes, lengths


def _invariant(seed=0, **options):
    torch.manual_seed(seed)
    return dna.StrandInvariantCNN(**{**SMALL, **options}).eval()


@pytest.mark.parametrize("stride", [1, 2, 3])
def test_strand_invariant_by_construction(generator, stride):
    model = _invariant(stride=stride)
    codes, _ = _padded_batch(generator)
    with torch.no_grad():
        z = model(codes)
        z_rc = model(dna.reverse_complement_batch(codes))
    assert z.shape == (24, 12)
    assert (z - z_rc).abs().max() <= 1e-5
    assert (z[1:] - z[:-1]).abs().max() > 1e-3  # not invariant by being constant


def test_invariance_holds_in_training_mode_and_after_training_steps(generator):
    model = _invariant()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    codes, _ = _padded_batch(generator, n=8, width=120)
    for _ in range(3):
        loss = model(codes).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())
    model.train()
    assert (model(codes) - model(dna.reverse_complement_batch(codes))).abs().max() <= 1e-5


@pytest.mark.parametrize("kind", ["strand_invariant", "plain"])
def test_padding_and_batch_companions_do_not_change_an_embedding(generator, kind):
    torch.manual_seed(0)
    model = dna.build_encoder({"kind": kind, **SMALL}).eval()
    codes, lengths = _padded_batch(generator, n=6)
    with torch.no_grad():
        together = model(codes)
        alone = torch.cat([model(codes[i : i + 1, : lengths[i]]) for i in range(6)])
        wider = model(torch.cat([codes, torch.full((6, 37), CODE_PAD, dtype=torch.uint8)], dim=1))
    assert (together - alone).abs().max() <= 1e-5
    assert (together - wider).abs().max() <= 1e-5


def test_plain_cnn_is_not_invariant_by_itself(generator):
    torch.manual_seed(0)
    model = dna.PlainCNN(**SMALL).eval()
    codes, _ = _padded_batch(generator, with_n=False)
    with torch.no_grad():
        gap = (model(codes) - model(dna.reverse_complement_batch(codes))).abs().max()
    assert gap > 1e-3


def test_reverse_complement_batch_matches_numpy_and_is_an_involution(generator):
    codes, lengths = _padded_batch(generator)
    rc = dna.reverse_complement_batch(codes)
    for row, rc_row, n in zip(codes, rc, lengths.tolist(), strict=True):
        assert np.array_equal(rc_row[:n].numpy(), dna.reverse_complement_codes(row[:n].numpy()))
        assert (rc_row[n:] == CODE_PAD).all()
    assert torch.equal(dna.reverse_complement_batch(rc), codes)


def test_one_hot_flip_is_the_reverse_complement():
    codes = torch.tensor([[0, 1, 2, 3, 4, 0, 3]], dtype=torch.uint8)
    x, mask = dna.one_hot(codes)
    x_rc, _ = dna.one_hot(dna.reverse_complement_batch(codes))
    assert torch.equal(x.flip(1).flip(2), x_rc)  # channels A,C,G,T: complement = channel flip
    assert mask.shape == (1, 1, 7) and mask.sum() == 7


def test_normalisation_uses_no_batch_statistics():
    for kind in ("strand_invariant", "plain"):
        model = dna.build_encoder({"kind": kind})
        assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def test_config_rebuilds_the_same_architecture():
    model = _invariant(stride=3)
    rebuilt = dna.build_encoder(model.config)
    assert type(rebuilt) is type(model) and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    codes = torch.randint(0, 4, (2, 50), dtype=torch.uint8)
    assert torch.equal(rebuilt.eval()(codes), model(codes))
    assert pickle.loads(pickle.dumps(model)).config == model.config
    with pytest.raises(ValueError, match="kind"):
        dna.build_encoder({"kind": "transformer"})
    with pytest.raises(ValueError, match="must be odd"):
        dna.StrandInvariantCNN(kernel_size=8)
    with pytest.raises(ValueError, match="'dim' parameter of PlainCNN must be an integer >= 1"):
        dna.PlainCNN(dim=0)


def test_bad_codes_are_rejected():
    with pytest.raises(ValueError, match="0..5"):
        check_codes(torch.tensor([[0, 6]], dtype=torch.uint8))
    with pytest.raises(ValueError, match="padding only after"):
        check_codes(torch.tensor([[0, CODE_PAD, 1]], dtype=torch.uint8))
    with pytest.raises(ValueError, match="shape"):
        check_codes(torch.zeros(3, dtype=torch.uint8))
    with pytest.raises(TypeError):
        check_codes(np.zeros((2, 3)))

"""The k-mer bag encoder: exact strand invariance, padding independence, k-mer classes, options."""

import numpy as np
import pytest
import torch
from dna_testing import random_dna, strand_gap_after_training
from hypothesis import given, settings
from hypothesis import strategies as st

from symcl.domains import dna
from symcl.domains.dna.alphabet import CODE_PAD
from symcl.domains.dna.kmer_encoder import kmer_classes

SMALL = {"kmer_sizes": [3, 4, 6], "channels": 8}


def _model(seed=0, **options):
    torch.manual_seed(seed)
    return dna.KmerBagEncoder(**{**SMALL, **options}).eval()


def _padded(rng, n=16, width=300, letters=5):
    codes = rng.integers(0, letters, size=(n, width), dtype=np.uint8)
    lengths = rng.integers(1, width + 1, size=n)
    lengths[0] = width
    codes[np.arange(width)[None, :] >= lengths[:, None]] = CODE_PAD
    return torch.from_numpy(codes), lengths


def test_strand_invariant_by_construction_with_n_and_padding(rng):
    model = _model()
    codes, _ = _padded(rng)
    with torch.inference_mode():
        z = model(codes)
        z_rc = model(dna.reverse_complement_batch(codes))
    assert z.shape == (16, model.dim) == (16, 24)
    assert (z - z_rc).abs().max() <= 1e-5
    assert (z[1:] - z[:-1]).abs().max() > 1e-3  # invariant, not constant


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ACGTN", min_size=1, max_size=120), min_size=1, max_size=6))
def test_invariance_property_on_random_batches(seqs):
    model = _model(seed=1)
    width = max(map(len, seqs))
    codes = np.full((len(seqs), width), CODE_PAD, dtype=np.uint8)
    for row, seq in enumerate(seqs):
        codes[row, : len(seq)] = dna.to_codes(seq)
    codes = torch.from_numpy(codes)
    with torch.inference_mode():
        assert (model(codes) - model(dna.reverse_complement_batch(codes))).abs().max() <= 1e-5


def test_invariance_holds_after_training_steps(rng):
    model = _model()
    codes, _ = _padded(rng, n=8, width=120)
    assert strand_gap_after_training(model, codes) <= 1e-5


def test_padding_and_batch_companions_do_not_change_an_embedding(rng):
    model = _model()
    codes, lengths = _padded(rng, n=6)
    with torch.inference_mode():
        together = model(codes)
        alone = torch.cat([model(codes[i : i + 1, : lengths[i]]) for i in range(6)])
        wider = model(torch.cat([codes, torch.full((6, 37), CODE_PAD, dtype=torch.uint8)], dim=1))
        as_int64 = model(codes.long())
    assert (together - alone).abs().max() <= 1e-5
    assert (together - wider).abs().max() <= 1e-5
    assert torch.equal(together, as_int64)


def test_rows_without_any_kmer_embed_to_a_finite_constant():
    model = _model()
    codes = torch.tensor([[0, 1, CODE_PAD, CODE_PAD], [4, 4, 4, 4], [2, 3, CODE_PAD, CODE_PAD]], dtype=torch.uint8)
    with torch.inference_mode():
        z = model(codes)
    assert torch.isfinite(z).all()
    assert torch.allclose(z[0], z[1]) and torch.allclose(z[0], z[2])


def test_plain_variant_is_not_invariant(rng):
    model = _model(canonical=False)
    assert [len(t) for t in model.tables] == [4**3, 4**4, 4**6]
    codes, _ = _padded(rng, letters=4)
    with torch.inference_mode():
        assert (model(codes) - model(dna.reverse_complement_batch(codes))).abs().max() > 1e-3


@pytest.mark.parametrize("k", [1, 2, 4, 5])
def test_kmer_classes_count_like_the_tnf_baseline(rng, k):
    seq = random_dna(rng, 400, "ACGTN")
    codes = dna.to_codes(seq)[None]
    classes = kmer_classes(codes, k)
    n_classes = len(dna.canonical_kmers(k)[1])
    assert classes.shape == (1, 400 - k + 1)
    counts = np.bincount(classes[classes < n_classes], minlength=n_classes)
    assert np.array_equal(counts, dna.canonical_kmer_counts(seq, k))


def test_kmer_classes_by_hand():
    codes = np.array([[0, 0, 1, 3, 4, 2, CODE_PAD]], dtype=np.uint8)  # AACTNG + padding
    index, names = dna.canonical_kmers(2)
    expected = [names.index("AA"), names.index("AC"), names.index("AG"), len(names), len(names), len(names)]
    assert kmer_classes(codes, 2).tolist() == [expected]  # CT is canonical AG; N and padding are skipped
    assert kmer_classes(codes, 2, canonical=False).tolist() == [[0, 1, 7, 16, 16, 16]]
    assert kmer_classes(codes[:, :2], 3).shape == (1, 0)
    with pytest.raises(ValueError, match=r"'k' parameter of kmer_classes must be an integer in \[1, 8\]"):
        kmer_classes(codes, 9)


def test_config_round_trip_and_bad_options(rng):
    model = _model()
    rebuilt = dna.build_encoder(model.config)
    assert type(rebuilt) is dna.KmerBagEncoder and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    codes, _ = _padded(rng, n=3)
    assert torch.equal(rebuilt.eval()(codes), model(codes))
    with pytest.raises(ValueError, match="'kmer_sizes' parameter of KmerBagEncoder must be distinct integers"):
        dna.KmerBagEncoder(kmer_sizes=[4, 4])
    with pytest.raises(ValueError, match="'kmer_sizes'"):
        dna.KmerBagEncoder(kmer_sizes=[9])
    with pytest.raises(ValueError, match="'channels' parameter of KmerBagEncoder must be an integer >= 1"):
        dna.KmerBagEncoder(channels=0)
    with pytest.raises(ValueError, match="'hidden' parameter of KmerBagEncoder needs an 'out_dim' > 0"):
        dna.KmerBagEncoder(hidden=8)
    with pytest.raises(ValueError, match="'out_dim' parameter of KmerBagEncoder must be an integer >= 0"):
        dna.KmerBagEncoder(out_dim=-1)
    with pytest.raises(ValueError, match="0..5"):
        model(torch.tensor([[0, 7]], dtype=torch.uint8))
    with pytest.raises(ValueError, match="padding only after"):
        model(torch.tensor([[0, CODE_PAD, 1]], dtype=torch.uint8))
    with pytest.raises(TypeError, match="tensor of codes"):
        model(np.zeros((2, 3), dtype=np.uint8))


@pytest.mark.parametrize("hidden", [0, 16])
def test_top_layer_keeps_exact_invariance_and_round_trips(rng, hidden):
    model = _model(hidden=hidden, out_dim=5)
    codes, _ = _padded(rng, n=8)
    with torch.inference_mode():
        z = model(codes)
        z_rc = model(dna.reverse_complement_batch(codes))
    assert model.dim == 5 and z.shape == (8, 5)
    assert (z - z_rc).abs().max() <= 1e-5
    assert (z[1:] - z[:-1]).abs().max() > 1e-3
    rebuilt = dna.build_encoder(model.config)
    rebuilt.load_state_dict(model.state_dict())
    assert torch.equal(rebuilt.eval()(codes), z)

"""The codon-phase encoder: phase bags, exact strand and frame invariance, padding, options."""

import numpy as np
import pytest
import torch
from dna_testing import strand_gap_after_training
from hypothesis import given, settings
from hypothesis import strategies as st

from symcl.domains import dna
from symcl.domains.dna.alphabet import CODE_PAD

SMALL = {"kmer_sizes": [1, 3, 4], "channels": 8, "hidden": 16, "out_dim": 12}


def _model(seed=0, **options):
    torch.manual_seed(seed)
    return dna.CodonPhaseEncoder(**{**SMALL, **options}).eval()


def _batch(seqs):
    width = max(map(len, seqs))
    codes = np.full((len(seqs), width), CODE_PAD, dtype=np.uint8)
    for row, seq in enumerate(seqs):
        codes[row, : len(seq)] = dna.to_codes(seq)
    return torch.from_numpy(codes)


def _embed(model, seqs):
    with torch.inference_mode():
        return model(_batch(seqs))


def test_phase_bags_by_hand():
    # k = 1: the phase of position i is 2i mod 3, so in ACGACGA the A's (i = 0, 3, 6) are phase 0,
    # the C's (i = 1, 4) phase 2 and the G's (i = 2, 5) phase 1. Canonical 1-mers: A/T = 0, C/G = 1.
    index, offsets, everything = dna.phase_bags(dna.to_codes("ACGACGA")[None, :], 1)
    assert index.tolist() == [0, 0, 0, 1, 1, 1, 1]
    assert offsets.tolist() == [0, 3, 5]
    assert everything.tolist() == [0, 0, 0, 1, 1, 1, 1]
    # k = 2 (phase (2i + 1) mod 3) with an N and padding. Row 0, ACNGT: AC (i = 0) and GT (i = 3)
    # are both phase 1 and one canonical class; CN, NG and the k-mer into the padding are skipped.
    # Row 1, TTT: TT (= AA, class 0) at i = 0 (phase 1) and i = 1 (phase 0).
    codes = np.array([[0, 1, 4, 2, 3, CODE_PAD], [3, 3, 3, CODE_PAD, CODE_PAD, CODE_PAD]], dtype=np.uint8)
    index, offsets, everything = dna.phase_bags(codes, 2)
    ac = dna.canonical_kmers(2)[1].index("AC")
    assert offsets.tolist() == [0, 0, 2, 2, 3, 4]
    assert index.tolist() == [ac, ac, 0, 0]
    assert everything.tolist() == [ac, ac, 0, 0]


def test_the_reverse_complement_permutes_the_phase_bags(rng):
    for length in (150, 151, 152):
        codes = rng.integers(0, 4, size=(1, length), dtype=np.uint8)
        index, offsets, _ = dna.phase_bags(codes, 5)
        rc_index, rc_offsets, _ = dna.phase_bags(dna.reverse_complement_codes(codes[0])[None, :], 5)
        bags = sorted(tuple(b) for b in np.split(index, offsets[1:]))
        rc_bags = sorted(tuple(b) for b in np.split(rc_index, rc_offsets[1:]))
        assert bags == rc_bags


@settings(max_examples=40, deadline=None)
@given(st.lists(st.text(alphabet="ACGTN", min_size=1, max_size=120), min_size=1, max_size=6))
def test_strand_invariant_by_construction(seqs):
    model = _model(seed=1)
    z = _embed(model, seqs)
    assert (z - _embed(model, [dna.reverse_complement(s) for s in seqs])).abs().max() <= 1e-5


def test_frame_blind_but_phase_aware():
    model = _model(kmer_sizes=[1])
    periodic, shifted = "AAC" * 40, "ACA" * 40  # the same codons read in another frame
    shuffled = "".join(np.random.default_rng(0).permutation(list(periodic)))  # same bases, no period
    z = _embed(model, [periodic, shifted, shuffled])
    assert (z[0] - z[1]).abs().max() <= 1e-5
    assert (z[0] - z[2]).abs().max() > 1e-3  # same 1-mer frequencies, different phase composition


def test_padding_batch_companions_and_training_keep_invariance(rng):
    model = _model()
    seqs = ["".join(rng.choice(list("ACGTN"), n)) for n in (300, 7, 151, 2, 90)]
    together = _embed(model, seqs)
    alone = torch.cat([_embed(model, [s]) for s in seqs])
    assert together.shape == (5, 12)
    assert (together - alone).abs().max() <= 1e-5
    assert torch.isfinite(together).all() and (together[0] - together[2]).abs().max() > 1e-3
    assert strand_gap_after_training(model, _batch(seqs)) <= 1e-5


def test_config_round_trip_and_bad_options(rng):
    model = _model()
    rebuilt = dna.build_encoder(model.config)
    assert type(rebuilt) is dna.CodonPhaseEncoder and rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    codes = _batch(["ACGTTGCA", "GGA"])
    assert torch.equal(rebuilt.eval()(codes), model(codes))
    with pytest.raises(ValueError, match="'kmer_sizes' parameter of CodonPhaseEncoder must be distinct integers"):
        dna.CodonPhaseEncoder(kmer_sizes=[3, 3])
    with pytest.raises(ValueError, match="'hidden' parameter of CodonPhaseEncoder must be an integer >= 1"):
        dna.CodonPhaseEncoder(hidden=0)
    with pytest.raises(ValueError, match="padding only after"):
        model(torch.tensor([[0, CODE_PAD, 1]], dtype=torch.uint8))

"""Embedding records window by window: tiling, pooling, strand invariance, saving."""

import numpy as np
import pytest
import torch
from dna_testing import random_dna
from hypothesis import given, settings
from hypothesis import strategies as st
from progress_recorder import bar_recorder

from symcl.domains import dna
from symcl.errors import UserInputError

SMALL = {"dim": 8, "channels": 8, "blocks": 1}


@pytest.fixture
def model():
    torch.manual_seed(0)
    return dna.StrandInvariantCNN(**SMALL).eval()


@settings(deadline=None)
@given(st.integers(1, 20_000), st.integers(1, 3000), st.integers(1, 3000))
def test_window_starts_cover_the_record_and_are_mirror_symmetric(length, window, stride):
    stride = min(stride, window)
    starts = dna.window_starts(length, window, stride)
    span = length - window
    if span <= 0:
        assert starts.tolist() == [0]
        return
    assert starts[0] == 0 and starts[-1] == span
    assert (np.diff(starts) > 0).all() and np.diff(starts).max() <= stride
    assert np.array_equal(np.sort(span - starts), starts)


def test_embeddings_keep_order_and_pool_windows(model, rng):
    seqs = [("long", random_dna(rng, 2600)), ("short", random_dna(rng, 300)), ("mid", random_dna(rng, 1000))]
    result = dna.embed_sequences(model, seqs, window=1000, batch_size=3, per_window=True)
    assert result.ids == ["long", "short", "mid"]
    assert result.embeddings.shape == (3, 8) and result.embeddings.dtype == np.float32
    assert result.lengths.tolist() == [2600, 300, 1000]
    assert result.window_record.tolist() == [0, 0, 0, 1, 2]
    assert result.window_start.tolist() == [0, 800, 1600, 0, 0]
    assert result.window_end.tolist() == [1000, 1800, 2600, 300, 1000]
    np.testing.assert_allclose(result.embeddings[0], result.window_embeddings[:3].mean(axis=0), atol=1e-6)
    with torch.no_grad():
        direct = model(torch.from_numpy(dna.to_codes(seqs[1][1]))[None]).numpy()
    np.testing.assert_allclose(result.embeddings[1], direct[0], atol=1e-5)
    assert result.window_embeddings.dtype == np.float32 and result.window_embeddings.shape == (5, 8)
    plain = dna.embed_sequences(model, seqs, window=1000)
    assert plain.window_embeddings is None
    np.testing.assert_allclose(plain.embeddings, result.embeddings, atol=1e-6)


class BaseFractions(torch.nn.Module):
    """A window's A/C/G/T fractions and a nonlinear mix: the same for any batch it is in."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, codes):
        counts = torch.stack([(codes == c).sum(1) for c in range(4)], 1).double()
        fractions = counts / counts.sum(1, keepdim=True)
        return torch.cat([fractions, fractions.sin() * self.scale.double(), fractions.sqrt()], 1).float()


def test_records_pooled_across_batch_borders_embed_identically_for_every_batch_size(rng):
    # only the current record's sum is kept between batches: records that end at a batch
    # border, span several batches or share one must all pool exactly as in one batch
    seqs = [(f"r{i}", random_dna(rng, n)) for i, n in enumerate((2600, 300, 1000, 1700, 150, 4100, 999))]
    model = BaseFractions()
    whole = dna.embed_sequences(model, seqs, window=500, stride=300, batch_size=1000, per_window=True)
    expected = [whole.window_embeddings[whole.window_record == i].mean(0, dtype=np.float64) for i in range(7)]
    np.testing.assert_allclose(whole.embeddings, np.array(expected), rtol=1e-6)
    for batch_size in (1, 2, 3, 5, 7):
        result = dna.embed_sequences(model, iter(seqs), window=500, stride=300, batch_size=batch_size)
        np.testing.assert_array_equal(result.embeddings, whole.embeddings)
        assert result.ids == whole.ids and result.embeddings.dtype == np.float32


def test_gap_windows_are_left_out_of_the_mean_and_a_record_of_gaps_is_refused(model, rng):
    real = random_dna(rng, 10_000)
    gapped = dna.embed_sequences(model, [("g", real + "N" * 10_000)], window=1000, per_window=True)
    alone = dna.embed_sequences(model, [("r", real)], window=1000)
    np.testing.assert_allclose(gapped.embeddings, alone.embeddings, atol=1e-6)  # not pulled toward an "empty" one
    assert gapped.window_start.tolist() == list(range(0, 10_000, 1000))  # the gap's windows are not listed
    with pytest.raises(UserInputError, match=r"Record 'gap' has no A, C, G or T, so the model sees nothing in it"):
        dna.embed_sequences(model, [("a", real), ("gap", "NNNN")])
    pretrained = dna.load_pretrained()  # reads 3-mers at the shortest: "ACnnAC" has none
    with pytest.raises(UserInputError, match=r"Record 'x' has no 3 A/C/G/T in a row \(the model's shortest k-mer\)"):
        dna.embed_sequences(pretrained, [("x", "ACNNAC")])


def test_a_record_whose_only_kmer_straddles_a_window_border_is_embedded_from_a_window_around_it():
    pretrained = dna.load_pretrained()  # 3-mers at the shortest; the CLI keeps such a record, so it must embed
    straddle = "N" * 998 + "ACGT" + "N" * 998  # windows [0, 1000) and [1000, 2000) each hold 2 of its bases
    result = dna.embed_sequences(pretrained, [("s", straddle)], window=1000, per_window=True)
    assert (result.window_start.tolist(), result.window_end.tolist()) == ([499], [1499])
    around = dna.embed_sequences(pretrained, [("w", straddle[499:1499])], window=1000)
    np.testing.assert_allclose(result.embeddings, around.embeddings, atol=1e-6)


def test_record_and_reverse_complement_embed_equally(model, shipped):
    records = [r for name in ("phiX174.fa.gz", "pPCP1.fa.gz") for r in dna.read_records(shipped[name])]
    flipped = [(r.id, dna.reverse_complement(r.seq)) for r in records]
    forward = dna.embed_sequences(model, records, window=700, stride=500)
    reverse = dna.embed_sequences(model, flipped, window=700, stride=500)
    assert np.abs(forward.embeddings - reverse.embeddings).max() <= 1e-5
    assert np.abs(forward.embeddings[0] - forward.embeddings[1]).max() > 1e-4


def test_strand_invariance_scores_both_encoders(rng):
    seqs = [random_dna(rng, 700) for _ in range(6)]
    torch.manual_seed(0)
    invariant = dna.strand_invariance(dna.StrandInvariantCNN(**SMALL), seqs, window=300)
    plain = dna.strand_invariance(dna.PlainCNN(**SMALL), seqs, window=300)
    assert invariant["max_abs_diff"] <= 1e-5 and invariant["matched"] == pytest.approx(1.0, abs=1e-5)
    assert plain["max_abs_diff"] > 1e-4 and plain["matched"] < invariant["matched"]


def test_input_forms(model, rng):
    seq = random_dna(rng, 400)
    one = dna.embed_sequences(model, seq, window=200)
    assert one.ids == ["0"] and one.embeddings.shape == (1, 8)
    many = dna.embed_sequences(model, [seq, dna.encode(seq), seq.encode()], window=200)
    assert many.ids == ["0", "1", "2"]
    np.testing.assert_allclose(many.embeddings, np.repeat(one.embeddings, 3, axis=0), atol=1e-6)


def test_a_mapping_and_biopython_objects_are_read_as_named_sequences(model, rng):
    from Bio.Seq import Seq
    from Bio.SeqRecord import SeqRecord

    long, short = random_dna(rng, 400), random_dna(rng, 300)
    expected = dna.embed_sequences(model, [("chrM", long), ("chrY", short)], window=200)
    # a dict's keys are ids, not sequences: "chrM" is nucleotide letters and was embedded as 4 bp
    for seqs in (
        {"chrM": long, "chrY": short},
        [SeqRecord(Seq(long), id="chrM"), SeqRecord(Seq(short), id="chrY")],
        {"chrM": SeqRecord(Seq(long), id="chrM"), "chrY": SeqRecord(Seq(short), id="chrY")},  # SeqIO.to_dict
    ):
        result = dna.embed_sequences(model, seqs, window=200)
        assert result.ids == ["chrM", "chrY"] and list(result.lengths) == [400, 300]
        np.testing.assert_array_equal(result.embeddings, expected.embeddings)
    np.testing.assert_array_equal(dna.tnf({"chrM": long}), dna.tnf(Seq(long)))
    assert dna.reverse_complement(Seq("ACGTn")) == Seq("nACGT")


def test_bad_input(model):
    with pytest.raises(UserInputError, match="Duplicate record id 'a'"):
        dna.embed_sequences(model, [("a", "ACGT"), ("a", "GG")])
    with pytest.raises(UserInputError, match="Record 'e' is empty"):
        dna.embed_sequences(model, [("e", "")])
    with pytest.raises(UserInputError, match="no sequences"):
        dna.embed_sequences(model, [])
    with pytest.raises(UserInputError, match=r"'x'.*'J' at position 2"):
        dna.embed_sequences(model, [("x", "AJ")])
    with pytest.raises(ValueError, match="'window' parameter of embed_sequences"):
        dna.embed_sequences(model, ["ACGT"], window=0)
    with pytest.raises(ValueError, match="'stride' parameter of embed_sequences must be at most the window"):
        dna.embed_sequences(model, ["ACGT"], window=10, stride=11)
    with pytest.raises(ValueError, match="'stride' parameter of embed_sequences must be an integer >= 1"):
        dna.embed_sequences(model, ["ACGT"], window=10, stride=0)


def test_the_default_window_is_the_models_training_window(rng):
    pretrained = dna.load_pretrained()
    assert pretrained.training_window == 10_000
    records = [("a", random_dna(rng, 3_000)), ("b", random_dna(rng, 25_000))]
    default = dna.embed_sequences(pretrained, records).embeddings
    np.testing.assert_array_equal(default, dna.embed_sequences(pretrained, records, window=10_000).embeddings)
    with pytest.raises(ValueError, match=r"at least the model's shortest k-mer \(3 bp\)"):
        dna.embed_sequences(pretrained, records, window=2)


def test_save_embeddings_writes_arrays_without_pickles(model, tmp_path, rng):
    result = dna.embed_sequences(model, [("a", random_dna(rng, 500))], window=200, per_window=True)
    path = dna.save_embeddings(tmp_path / "out.npz", result)
    with np.load(path, allow_pickle=False) as saved:
        assert saved["ids"].tolist() == ["a"]
        assert set(saved.files) == {
            "ids",
            "embeddings",
            "lengths",
            "window_record",
            "window_start",
            "window_end",
            "window_embeddings",
        }
        np.testing.assert_array_equal(saved["embeddings"], result.embeddings)
    assert [p.name for p in tmp_path.iterdir()] == ["out.npz"]  # no temporary file left


def test_progress_counts_each_base_once_with_overlapping_windows(model, rng, monkeypatch):
    Recorder, bars = bar_recorder()
    monkeypatch.setattr("symcl.domains.dna.embedding.tqdm", Recorder)
    seqs = [random_dna(rng, n) for n in (2600, 300, 1000)]
    dna.embed_sequences(model, seqs, window=500, stride=170, batch_size=4, progress=True)
    assert (bars[-1].total, bars[-1].n) == (3900, 3900)
    dna.embed_sequences(model, iter(seqs), window=500, stride=500, batch_size=4, progress=True)
    assert (bars[-1].total, bars[-1].n) == (None, 3900)  # a stream is not read twice for a total


def test_embedding_gives_each_layer_back_its_own_mode(model, rng):
    model.train()
    frozen = next(iter(model.children()))
    frozen.eval()  # a part the caller keeps in eval mode while the rest trains
    dna.embed_sequences(model, [random_dna(rng, 300)], window=200)
    assert model.training and not frozen.training

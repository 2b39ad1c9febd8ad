"""Protein k-mers: indices, the untrained cosine baseline, and the ProteinKmerBag encoder."""

import pickle

import numpy as np
import pytest
import torch

from symcl.cli import main
from symcl.data import data_path
from symcl.domains import protein

COX2 = str(data_path("protein", "COX2_TM.fa"))


@pytest.fixture(scope="module")
def bag():
    torch.manual_seed(0)
    return protein.ProteinKmerBag(dim=8, channels=4, segments=3, hidden=16).eval()


def test_kmer_indices_are_base_20_and_skip_ambiguous_and_padding():
    codes = protein.encode_batch(["ARNX", "RA"])  # A=0, R=1, N=2 in the BLOSUM62 order; X ambiguous
    assert protein.kmer_indices(codes, 1).tolist() == [[0, 1, 2, 20], [1, 0, 20, 20]]
    assert protein.kmer_indices(codes, 2).tolist() == [[1, 22, 400], [20, 400, 400]]
    assert protein.kmer_indices(codes, 3).tolist() == [[22, 8000]] * 1 + [[8000, 8000]]
    assert protein.kmer_indices(codes, 4).tolist() == [[160000], [160000]]
    assert protein.kmer_indices(protein.encode_batch(["AR"]), 3).shape == (1, 0)
    with pytest.raises(ValueError, match=r"k-mer sizes of kmer_indices must be integers in \[1, 4\]. Got 5"):
        protein.kmer_indices(codes, 5)


def test_kmer_cosine_distances_against_a_direct_count():
    seqs = ["MKVLAAGIVA", "MKVLAAGIVA", "WWWWW", "MKVLSAGIVAX", "AC"]
    d = protein.kmer_cosine_distances(seqs, 3)
    assert d.shape == (5, 5) and np.array_equal(d, d.T) and np.all(np.diag(d) == 0)
    assert d[0, 1] == pytest.approx(0.0, abs=1e-12)
    assert d[0, 2] == 1.0 and d[2, 4] == 1.0  # no shared 3-mer; "AC" has none at all

    def counts(text):
        out = {}
        for i in range(len(text) - 2):
            if "X" not in text[i : i + 3]:
                out[text[i : i + 3]] = out.get(text[i : i + 3], 0) + 1
        return out

    a, b = counts(seqs[0]), counts(seqs[3])
    dot = sum(a[key] * b.get(key, 0) for key in a)
    expected = 1 - dot / np.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))
    assert d[0, 3] == pytest.approx(expected, abs=1e-12)
    assert protein.kmer_counts(seqs, 1).sum() == 10 + 10 + 5 + 10 + 2  # X is not counted


def test_bag_shapes_gradients_and_batch_independence(bag):
    codes = protein.encode_batch(["MKVLAAGIVALLA" * 5, "ACD", "W", "MKXLA"])
    z = bag(codes)
    assert z.shape == (4, 8) and z.dtype == torch.float32 and torch.isfinite(z).all()
    for i in range(4):  # alone, without padding, each sequence embeds the same as in the batch
        alone = bag(codes[i : i + 1, : int((codes[i] != protein.PAD_CODE).sum())])
        torch.testing.assert_close(alone[0], z[i], rtol=1e-5, atol=1e-5)
    trainable = protein.ProteinKmerBag(dim=8, channels=4, segments=3, hidden=0)
    trainable(codes).pow(2).sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable.parameters())
    assert trainable.tables[2].weight.grad[8000].abs().sum() == 0  # the "no k-mer" row stays zero
    seen = protein.kmer_indices(codes, 3).unique()
    touched = (trainable.tables[2].weight.grad.abs().sum(dim=1) > 0).nonzero().flatten()
    assert touched.tolist() == seen[seen < 8000].tolist()  # exactly the rows of the k-mers present


def test_bag_is_deterministic_and_sensitive_to_the_sequence():
    codes = protein.encode_batch(["MKVLAAGIVALLAQ", "MKVLAAGIVALLAW"])
    first = protein.ProteinKmerBag(dim=8, channels=4)
    torch.manual_seed(3)
    a = protein.ProteinKmerBag(dim=8, channels=4).eval()
    torch.manual_seed(3)
    b = protein.ProteinKmerBag(dim=8, channels=4).eval()
    assert torch.equal(a(codes), b(codes)) and torch.equal(a(codes), a(codes))
    assert not torch.equal(first.tables[0].weight, a.tables[0].weight)
    z = a(codes)
    assert not torch.allclose(z[0], z[1])  # one substitution moves the embedding


def test_bag_config_rebuilds_pickles_and_rejects_bad_options(bag):
    assert bag.config == {"kind": "kmer", "dim": 8, "kmer_sizes": [1, 2, 3], "channels": 4, "segments": 3, "hidden": 16}
    rebuilt = protein.build_encoder(bag.config)
    assert isinstance(rebuilt, protein.ProteinKmerBag) and rebuilt.config == bag.config
    rebuilt.load_state_dict(bag.state_dict())
    codes = protein.encode_batch(["MKVLAAGIVALLA", "ACDEFGHIK"])
    assert torch.equal(rebuilt.eval()(codes), bag(codes))
    assert torch.equal(pickle.loads(pickle.dumps(bag))(codes), bag(codes))
    with pytest.raises(ValueError, match="'channels' parameter of ProteinKmerBag must be an integer >= 1. Got 0"):
        protein.ProteinKmerBag(channels=0)
    with pytest.raises(ValueError, match=r"k-mer sizes of ProteinKmerBag must be integers in \[1, 4\]. Got 7"):
        protein.ProteinKmerBag(kmer_sizes=[1, 7])
    with pytest.raises(ValueError, match="must be distinct"):
        protein.ProteinKmerBag(kmer_sizes=[2, 2])
    with pytest.raises(ValueError, match="Bad options for the 'kmer' encoder"):
        protein.build_encoder({"kind": "kmer", "blocks": 2})


def test_train_kmer_encoder_from_the_cli_and_load_it(tmp_path):
    argv = [
        "protein", "train", COX2, "--out", str(tmp_path), "--simulated", "2", "--simulated-sizes", "4", "6",
        "--simulated-lengths", "30", "40", "--encoder", "kmer", "--kmer-sizes", "1", "2", "--channels", "4",
        "--hidden", "0", "--dim", "6", "--segments", "2", "--batch-size", "8", "--steps", "3", "--quiet",
    ]  # fmt: skip
    assert main(argv) == 0
    config = protein.read_model_config(tmp_path)
    assert config["model"] == {
        "kind": "kmer",
        "dim": 6,
        "kmer_sizes": [1, 2],
        "channels": 4,
        "segments": 2,
        "hidden": 0,
    }
    model = protein.load_model(tmp_path)
    family = protein.read_sequences(COX2)
    d = protein.predicted_distance_matrix(model, family)
    assert d.shape == (len(family), len(family)) and np.array_equal(d, d.T) and np.all(np.diag(d) == 0)


def test_train_rejects_bad_kmer_sizes(tmp_path, capsys):
    argv = ["protein", "train", COX2, "--out", str(tmp_path), "--simulated", "0", "--encoder", "kmer"]
    assert main([*argv, "--kmer-sizes", "2", "5"]) == 2
    assert "--kmer-sizes must be distinct integers in [1, 4]. Got [2, 5] instead." in capsys.readouterr().err


@pytest.mark.parametrize("segments", [8, 16])
def test_residues_after_ambiguous_letters_are_pooled(segments):
    # Relative positions counted over the valid k-mers only pushed everything after a run
    # of X past the last segment, so these two sequences embedded identically.
    torch.manual_seed(0)
    model = protein.ProteinKmerBag(segments=segments).eval()
    a, b = "X" * 25 + "MVLSPADKTNVKAAWGKVGAHAGEY", "X" * 25 + "MSSHHHHHHSSGLVPRGSHMASMTG"
    z = protein.embed_sequences(model, [a, b])
    assert np.abs(z[0] - z[1]).max() > 0.05

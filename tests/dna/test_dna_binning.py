"""Binning contigs by clustering their features."""

import numpy as np
import pytest

from symcl.domains import dna


def test_bin_contigs_recovers_separated_groups_and_checks_its_input(rng, tmp_path):
    centres = rng.normal(size=(3, 16)) * 5
    truth = np.repeat(np.arange(3), 10)
    features = centres[truth] + rng.normal(size=(30, 16)) * 0.1
    bins = dna.bin_contigs(features, 3)
    assert bins.shape == (30,) and len(set(bins.tolist())) == 3
    assert all(len(set(bins[truth == g].tolist())) == 1 for g in range(3))
    assert np.array_equal(
        dna.bin_contigs(features, 3, method="agglomerative"), dna.bin_contigs(features, 3, method="agglomerative")
    )
    for method in ("kmeans", "agglomerative"):  # one bin needs no clustering, even of a single contig
        assert np.array_equal(dna.bin_contigs(features[:1], 1, method=method), [0])
    with pytest.raises(ValueError, match=r"'n_bins' parameter of bin_contigs must be an integer in \[1, 30\]"):
        dna.bin_contigs(features, 31)
    path = dna.save_bins(tmp_path / "bins.tsv", [f"c{i}" for i in range(30)], bins)
    lines = path.read_text().splitlines()
    assert lines[0] == "contig\tbin" and lines[1] == f"c0\t{bins[0]}" and len(lines) == 31


def test_agglomerative_binning_refuses_more_contigs_than_its_memory_allows(rng, monkeypatch):
    from symcl.domains.dna import binning

    monkeypatch.setattr(binning, "MAX_AGGLOMERATIVE", 20)
    features = rng.normal(size=(30, 4))
    with pytest.raises(ValueError, match=r"about 0 GB for 30 contigs; it takes at most 20. Use k-means"):
        dna.bin_contigs(features, 3, method="agglomerative")
    assert dna.bin_contigs(features, 3).shape == (30,)  # k-means has no such limit


def test_without_a_number_of_bins_k_means_chooses_it_by_silhouette(rng):
    centres = rng.normal(size=(4, 16)) * 5
    truth = np.repeat(np.arange(4), 15)
    features = centres[truth] + rng.normal(size=(60, 16)) * 0.1
    bins = dna.bin_contigs(features, None)
    assert len(set(bins.tolist())) == 4 and all(len(set(bins[truth == g].tolist())) == 1 for g in range(4))
    assert np.array_equal(dna.bin_contigs(features[:2], None), [0, 0])  # too few contigs to compare
    with pytest.raises(ValueError, match="agglomerative binning needs a number of bins"):
        dna.bin_contigs(features, None, method="agglomerative")


def test_runner_up_is_named_only_within_the_margin():
    from symcl.domains.dna.binning import runner_up

    assert runner_up({2: 0.50, 3: 0.47, 4: 0.30}, 0.05) == 3
    assert runner_up({2: 0.30, 3: 0.50, 4: 0.47}, 0.05) == 4
    assert runner_up({2: 0.50, 3: 0.40}, 0.05) is None
    assert runner_up({2: 0.50, 3: 0.50}, 0.0) == 3  # a tie keeps the smaller k, so the larger is the runner-up
    assert runner_up({2: 0.50}, 0.05) is None


def test_choose_bins_scores_every_number_tried(rng):
    centres = rng.normal(size=(3, 8)) * 5
    features = centres[np.repeat(np.arange(3), 10)] + rng.normal(size=(30, 8)) * 0.1
    bins, scores = dna.choose_bins(features)
    assert list(scores) == list(range(2, 21)) and max(scores, key=scores.get) == 3
    assert np.array_equal(bins, dna.bin_contigs(features))  # n_bins defaults to None: the same choice
    assert dna.choose_bins(features[:2])[1] == {}  # too few contigs to score: one bin


def test_standardised_log_ratios_centre_and_scale_each_tetranucleotide(rng):
    frequencies = rng.dirichlet(np.ones(136), size=20)
    x = dna.standardised_log_ratios(frequencies)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(x.std(axis=0), 1)
    np.testing.assert_allclose(dna.standardised_log_ratios(frequencies * 7.0), x, atol=1e-9)  # ratios only
    assert (dna.standardised_log_ratios(np.full((3, 4), 0.25)) == 0).all()  # nothing varies
    with pytest.raises(ValueError, match=r"'frequencies' parameter of standardised_log_ratios must be .* positive"):
        dna.standardised_log_ratios(np.zeros((2, 136)))


def test_bin_contigs_chooses_the_number_of_bins_by_default(rng):
    centres = rng.normal(size=(2, 8)) * 5
    features = centres[np.repeat(np.arange(2), 12)] + rng.normal(size=(24, 8)) * 0.1
    assert len(set(dna.bin_contigs(features).tolist())) == 2

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

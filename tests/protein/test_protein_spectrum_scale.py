"""Spectrum distances at scale: a block of rows at a time, the same values, little memory, a progress bar."""

import tracemalloc

import numpy as np
import pytest
from progress_recorder import bar_recorder

from symcl.cli import main
from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein import cli, spectrum
from symcl.domains.protein.distance import prepare_rows


def whole_matrix_spectrum(family, max_distance=3.0):
    """The earlier spectrum_distances: three (N, N) sums over the seeds, then the formula on whole matrices."""
    _, rows, _ = prepare_rows(family, False, "test")
    similarity, weight, used = (np.zeros((len(rows), len(rows))) for _ in range(3))
    for alphabet, pattern in spectrum.DEFAULT_SEEDS:
        unit = spectrum.spectrum_matrix(rows, alphabet, pattern)
        both = np.outer(*(2 * [(unit.getnnz(axis=1) > 0).astype(float)]))
        similarity += (unit @ unit.T).toarray()
        weight += both * pattern.count("1")
        used += both
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_similarity = np.where(used > 0, similarity / used, 0.0)
        mean_weight = np.where(used > 0, weight / used, 1.0)
    return spectrum.similarity_distances(mean_similarity, mean_weight, max_distance)


def random_family(n, seed=0):
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWYX"))
    return ["".join(rng.choice(letters, size=rng.integers(2, 60))) for _ in range(n)]


@pytest.mark.parametrize("name", ["globins45.fa", "Pkinase.fa", "COX2_TM.aligned.fa"])
def test_blocks_of_rows_give_exactly_the_whole_matrix_distances(monkeypatch, name):
    family = protein.read_sequences(data_path("protein", name))
    expected = whole_matrix_spectrum(family)
    monkeypatch.setattr(spectrum, "_BLOCK_PAIRS", 3 * len(family))  # blocks of 3 rows
    got = protein.spectrum_distances(family, return_saturated=True)
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_short_and_unknown_sequences_match_too(monkeypatch):
    family = random_family(70)  # some too short for a seed, some saturated
    expected = whole_matrix_spectrum(family, max_distance=1.0)
    monkeypatch.setattr(spectrum, "_BLOCK_PAIRS", 70 * 8)
    got = protein.spectrum_distances(family, max_distance=1.0, return_saturated=True)
    assert expected[1].any()
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_spectrum_distances_hold_little_beside_the_result(monkeypatch):
    family = random_family(1000)
    monkeypatch.setattr(spectrum, "_BLOCK_PAIRS", 50 * 1000)
    tracemalloc.start()
    try:
        protein.spectrum_distances(family)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The result and its flags (1.125 matrices) and row blocks; whole-matrix sums took about 10.
    assert peak < 2 * 1000 * 1000 * 8


def test_spectrum_progress_bar_covers_every_pair_and_follows_quiet(monkeypatch, tmp_path):
    Recorder, bars = bar_recorder()
    monkeypatch.setattr(spectrum, "ProgressBar", Recorder)
    monkeypatch.setattr(spectrum, "_BLOCK_PAIRS", 45 * 4)
    family = protein.read_sequences(data_path("protein", "globins45.fa"))
    protein.spectrum_distances(family, progress=True)
    assert bars[-1].total == bars[-1].n == 45 * 46 // 2 and not bars[-1].disable
    source, out = str(data_path("protein", "globins45.fa")), str(tmp_path / "d.tsv")
    for quiet in (False, True):
        assert main(["protein", "distances", source, "--method", "spectrum", "-o", out, *(["--quiet"] * quiet)]) == 0
        assert bars[-1].disable is quiet
    assert cli.spectrum_distances is protein.spectrum_distances

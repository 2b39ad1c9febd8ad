"""The aligned route at scale: counted a block of rows at a time, with the same distances and little memory."""

import tracemalloc

import numpy as np
import pytest

from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein import distance
from symcl.domains.protein.formulas import distances_from_stats


def _whole_matrix(rows, method):
    """The former aligned route: all four (N, N) counts at once, then the formula."""
    distances, saturated = distances_from_stats(*protein.msa_stats(rows), method=method, max_distance=3.0)
    np.fill_diagonal(distances, 0.0)
    np.fill_diagonal(saturated, False)
    return distances, saturated


def _gapped_family(n, length, seed):
    rng = np.random.default_rng(seed)
    family = protein.simulate_family(n, length, rng, mean_branch_length=0.3)
    rows = []
    for row in family.sequences.sequences:
        letters = np.array(list(str(row)))
        letters[rng.random(letters.size) < 0.15] = "-"
        rows.append("".join(letters))
    return rows


@pytest.mark.parametrize("method", ["p", "poisson", "kimura", "scoredist"])
@pytest.mark.parametrize("rows_per_block", [1, 4, 7])
def test_aligned_distances_do_not_depend_on_the_row_blocks(monkeypatch, method, rows_per_block):
    inputs = [
        list(protein.read_sequences(data_path("protein", name)).sequences)
        for name in ("globins45.aligned.fa", "RRM_1.aligned.fa", "COX2_TM.aligned.fa")
    ]
    inputs.append(_gapped_family(60, 80, 1))
    for rows in inputs:
        monkeypatch.setattr(distance, "_BLOCK_PAIRS", len(rows) * rows_per_block)
        got = protein.distance_matrix(rows, method, aligned=True, max_distance=3.0, return_saturated=True)
        for blocked, whole in zip(got, _whole_matrix(rows, method), strict=True):
            assert np.array_equal(blocked, whole)


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_saturated_pairs_land_in_the_right_blocks(monkeypatch):
    # Rows 0 and 5 share no comparable column: undefined, saturated, in blocks of 2 rows.
    rows = ["AC--", "ACDE", "AD-E", "CCDE", "ACDF", "--DE"]
    monkeypatch.setattr(distance, "_BLOCK_PAIRS", 2 * len(rows))
    got = protein.distance_matrix(rows, "kimura", aligned=True, return_saturated=True)
    for blocked, whole in zip(got, _whole_matrix(rows, "kimura"), strict=True):
        assert np.array_equal(blocked, whole)
    assert got[1][0, 5] and got[1][5, 0] and got[0][0, 5] == 3.0


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_aligned_distances_hold_about_one_matrix(monkeypatch):
    # Short rows, so the one-hot columns stay small, to look at the counting alone.
    n, rng = 1000, np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY-"))
    rows = ["".join(rng.choice(letters, size=20)) for _ in range(n)]
    monkeypatch.setattr(distance, "_BLOCK_PAIRS", 50 * n)
    tracemalloc.start()
    try:
        protein.distance_matrix(rows, "scoredist", aligned=True, return_saturated=True)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The distances and mask (1.125 matrices) and blocks; whole-matrix counts took about 11.
    assert peak < 3 * n * n * 8

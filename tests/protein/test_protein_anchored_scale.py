"""The anchored route at scale: counted a block of rows at a time, with the same distances and little memory."""

import tracemalloc

import numpy as np
import pytest

from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein import anchored
from symcl.domains.protein.alignment import alignment_codes, make_aligner, msa_row_stats


def test_row_blocks_of_msa_counts_are_exactly_the_rows_of_the_whole():
    rows = list(protein.read_sequences(data_path("protein", "globins45.aligned.fa")).sequences)
    whole = protein.msa_stats(rows)
    codes = alignment_codes(rows)
    for start, stop in [(0, 7), (7, 30), (30, 45), (44, 45)]:
        for block, full in zip(msa_row_stats(codes, start, stop, block_columns=50), whole, strict=True):
            np.testing.assert_array_equal(block, full[start:stop])


@pytest.mark.parametrize("method", ["p", "kimura", "scoredist"])
def test_anchored_distances_do_not_depend_on_the_row_blocks(monkeypatch, method):
    sequences = list(protein.read_sequences(data_path("protein", "globins45.fa")).sequences)
    kwargs = dict(aligner=make_aligner(), anchors=3, max_distance=3.0, progress=False)
    whole = anchored.anchored_distances(sequences, method, **kwargs)
    monkeypatch.setattr(anchored, "_BLOCK_PAIRS", 45 * 4)  # blocks of 4 rows
    blocked = anchored.anchored_distances(sequences, method, **kwargs)
    for got, expected in zip(blocked, whole, strict=True):
        np.testing.assert_array_equal(got, expected)


def test_anchored_distances_hold_about_one_matrix(monkeypatch):
    # Star rows made up (short, so the one-hot columns stay small) to look at the counting alone.
    n, rng = 1000, np.random.default_rng(0)
    letters = np.array(list("ACDEFGHIKLMNPQRSTVWY-"))
    rows = ["".join(rng.choice(letters, size=20)) for _ in range(n)]
    monkeypatch.setattr(anchored, "_all_star_rows", lambda sequences, chosen, *rest: ([*rows] for _ in chosen))
    monkeypatch.setattr(anchored, "_BLOCK_PAIRS", 50 * n)
    tracemalloc.start()
    try:
        anchored.anchored_distances(["A" * 20] * n, "kimura", aligner=None, anchors=2, max_distance=3.0, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The total and flags (1.125 matrices) and blocks; whole-matrix counts took about 11.
    assert peak < 3 * n * n * 8

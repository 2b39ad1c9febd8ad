"""The anchored route of distance_matrix: star rows by hand, exactness without indels, seeds, errors, CLI."""

import numpy as np
import pytest

from symcl.cli import main
from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein.alignment import make_aligner
from symcl.domains.protein.anchored import choose_anchors, star_rows

ANCHOR = "MKTAYIAKQRQISFVKSHFSRQLEERLGLIEVQAPILSRVGDGTQDNLSGAEK"


def test_star_rows_put_residues_in_the_anchor_columns():
    fragment = ANCHOR[10:40]
    inserted = ANCHOR[:25] + "WWWWW" + ANCHOR[25:]  # the insertion has no anchor column, so it is dropped
    rows = star_rows(ANCHOR, [ANCHOR, fragment, inserted], make_aligner())
    assert rows[0] == ANCHOR
    assert rows[1] == "-" * 10 + fragment + "-" * (len(ANCHOR) - 40)
    assert rows[2] == ANCHOR
    assert all(len(row) == len(ANCHOR) for row in rows)


def test_without_indels_the_anchored_route_equals_the_true_alignment():
    # Close relatives of equal length align to any anchor without gaps, so each star
    # alignment is the true alignment and every anchor gives the same distances.
    family = protein.simulate_family(12, 150, np.random.default_rng(3), mean_branch_length=0.03)
    truth = protein.distance_matrix(family.sequences, "kimura", aligned=True)
    anchored = protein.distance_matrix(list(family.sequences.sequences), "kimura", anchors=4, n_jobs=1, progress=False)
    np.testing.assert_allclose(anchored, truth, atol=1e-12)


def test_anchored_distances_are_symmetric_seeded_and_the_same_in_worker_processes():
    family = protein.read_sequences(data_path("protein", "globins45.fa"))
    one = protein.distance_matrix(family, anchors=3, seed=1, n_jobs=1, progress=False)
    again = protein.distance_matrix(family, anchors=3, seed=1, n_jobs=2, progress=False)
    other = protein.distance_matrix(family, anchors=3, seed=2, n_jobs=1, progress=False)
    np.testing.assert_array_equal(one, again)
    np.testing.assert_array_equal(one, one.T)
    assert np.all(np.diag(one) == 0) and np.all(one >= 0)
    assert not np.array_equal(one, other)  # other anchors, other (close) estimates
    pairwise = protein.distance_matrix(family, n_jobs=1, progress=False)
    upper = np.triu_indices(len(family), k=1)
    assert np.corrcoef(one[upper], pairwise[upper])[0, 1] > 0.9


def test_anchors_are_drawn_among_the_middle_lengths():
    lengths = [10, 100, 101, 102, 103, 104, 105, 1000]
    chosen = choose_anchors(lengths, 3, seed=0)
    interquartile = {2, 3, 4, 5}  # lengths 101-104: the quartiles are 100.75 and 104.25
    assert len(set(chosen.tolist())) == 3 and set(chosen.tolist()) <= interquartile
    np.testing.assert_array_equal(chosen, choose_anchors(lengths, 3, seed=0))
    assert set(choose_anchors(lengths, 50, seed=0).tolist()) == interquartile  # at most the candidates


@pytest.mark.parametrize("anchors", [0, -1, True, 2.5])
def test_bad_anchor_counts_are_rejected(anchors):
    with pytest.raises(ValueError, match="'anchors' parameter of distance_matrix must be an integer >= 1"):
        protein.distance_matrix([ANCHOR, ANCHOR[5:]], anchors=anchors)


def test_anchors_with_alignment_rows_and_bad_seeds_are_rejected():
    with pytest.raises(ValueError, match="applies to unaligned sequences"):
        protein.distance_matrix(["MK-TAY", "MKQTAY"], anchors=2, aligned=True)
    with pytest.raises(ValueError, match="'seed' parameter of distance_matrix must be an integer >= 0. Got -1"):
        protein.distance_matrix([ANCHOR, ANCHOR[5:]], anchors=1, seed=-1)


def test_cli_anchors_match_the_python_route_and_refuse_alignments(tmp_path, capsys):
    source = data_path("protein", "COX2_TM.fa")
    out = tmp_path / "d.tsv"
    args = ["protein", "distances", str(source), "--anchors", "3", "--jobs", "1", "-o", str(out), "--quiet"]
    assert main(args) == 0
    values = np.array([[float(x) for x in line.split("\t")[1:]] for line in out.read_text().splitlines()[1:]])
    expected = protein.distance_matrix(protein.read_sequences(source), anchors=3, n_jobs=1, progress=False)
    np.testing.assert_allclose(values, expected, atol=1e-6)

    aligned = data_path("protein", "COX2_TM.aligned.fa")
    assert main(["protein", "tree", str(aligned), "--anchors", "3", "-o", str(tmp_path / "t.nwk")]) == 2
    assert "--anchors needs unaligned sequences" in capsys.readouterr().err
    assert main(["protein", "tree", str(source), "--model", "--anchors", "3", "-o", str(tmp_path / "t.nwk")]) == 2
    assert "--anchors applies to alignment distances" in capsys.readouterr().err


def test_training_targets_from_anchors_for_unaligned_families_only():
    unaligned = protein.read_sequences(data_path("protein", "COX2_TM.fa"))
    targets = protein.family_distances(unaligned, anchors=3, n_jobs=1)
    expected = protein.distance_matrix(unaligned, anchors=3, n_jobs=1, progress=False, return_saturated=True)
    np.testing.assert_array_equal(targets.distances, expected[0])
    np.testing.assert_array_equal(targets.saturated, expected[1])

    aligned = protein.read_sequences(data_path("protein", "COX2_TM.aligned.fa"))
    columns = protein.family_distances(aligned, anchors=3)  # an alignment keeps its columns
    np.testing.assert_array_equal(columns.distances, protein.family_distances(aligned).distances)

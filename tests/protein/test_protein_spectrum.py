"""The alignment-free route: spaced k-mer spectra and their distances."""

import itertools

import numpy as np
import pytest
from scipy import stats

from symcl.cli import main
from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein.alphabet import STANDARD


def brute_force_kmers(text: str, alphabet: str, pattern: str) -> set[tuple[int, ...]]:
    """The spaced k-mers of one sequence, by a plain loop over windows (the reference)."""
    groups = protein.ALPHABETS[alphabet]
    kmers = set()
    for start in range(len(text) - len(pattern) + 1):
        letters = [text[start + i] for i, c in enumerate(pattern) if c == "1"]
        classes = [next((k for k, g in enumerate(groups) if letter in g), None) for letter in letters]
        if None not in classes:
            kmers.add(tuple(classes))
    return kmers


@pytest.mark.parametrize(("alphabet", "pattern"), [("full", "111"), ("full", "11011"), ("murphy10", "1101")])
def test_spectrum_matrix_matches_a_loop_over_windows(alphabet, pattern):
    rng = np.random.default_rng(0)
    texts = ["".join(rng.choice(list(STANDARD), n)) for n in (4, 30, 1, 57)] + ["ACDXACDEF"]
    unit = protein.spectrum_matrix(texts, alphabet, pattern).toarray()
    for row, text in zip(unit, texts, strict=True):
        kmers = brute_force_kmers(text, alphabet, pattern)
        assert np.count_nonzero(row) == len(kmers)
        if kmers:
            np.testing.assert_allclose(np.linalg.norm(row), 1.0)


def test_a_window_never_spans_two_sequences():
    # "AAAA" + "CCCC" would give the 3-mer ACC if sequences ran into each other.
    unit = protein.spectrum_matrix(["AAAA", "CCCC", "ACC"], "full", "111").toarray()
    assert unit[2] @ unit[0] == 0 and unit[2] @ unit[1] == 0


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_murphy_classes_absorb_conservative_changes_and_ambiguity_codes():
    # I -> V and K -> R stay in one Murphy class; B (D or N) and Z (E or Q) fall in EDNQ.
    full = protein.spectrum_distances(["MKILDE", "MRVLBZ"], seeds=[("full", "111")])
    murphy = protein.spectrum_distances(["MKILDE", "MRVLBZ"], seeds=[("murphy10", "111")])
    assert full[0, 1] == protein.MAX_DISTANCE
    assert murphy[0, 1] == 0.0


def test_distances_are_symmetric_zero_on_the_diagonal_and_grow_with_mutations():
    rng = np.random.default_rng(1)
    base = rng.choice(list(STANDARD), 200)
    variants = []
    for n_changes in (0, 10, 30, 60, 100):
        text = base.copy()
        where = rng.choice(200, n_changes, replace=False)
        text[where] = rng.choice(list(STANDARD), n_changes)
        variants.append("".join(text))
    d = protein.spectrum_distances(variants)
    np.testing.assert_array_equal(d, d.T)
    np.testing.assert_array_equal(np.diag(d), 0.0)
    assert d[0, 0] == 0 and all(d[0, k] < d[0, k + 1] for k in range(4))


def test_ranks_a_simulated_family_like_its_true_distances():
    family = protein.simulate_family(16, 250, np.random.default_rng(5), mean_branch_length=0.1)
    truth = protein.distance_matrix(family.sequences, "poisson", aligned=True)
    free = protein.spectrum_distances(family.sequences)  # gaps removed: the route never sees the alignment
    upper = np.triu_indices(16, k=1)
    assert stats.spearmanr(free[upper], truth[upper]).statistic > 0.9


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
def test_pairs_without_a_shared_kmer_are_capped_and_flagged():
    d, saturated = protein.spectrum_distances(["AAAAAA", "WWWWWW", "AAAAAA"], max_distance=2.5, return_saturated=True)
    assert d[0, 1] == 2.5 and saturated[0, 1] and saturated[1, 2]
    assert d[0, 2] == 0 and not saturated[0, 2] and not saturated.diagonal().any()


@pytest.mark.filterwarnings("ignore::symcl.domains.protein.ShortSequenceWarning")  # toy sequences, on purpose
@pytest.mark.parametrize("text", ["MKVLW", "MKVLXAKVLXGHWLX" * 3])
def test_identical_sequences_are_at_zero_when_a_seed_finds_no_kmer_in_them(text):
    # "MKVLW" is shorter than the 6-wide seed; X every fifth residue leaves no 5- or 6-wide window
    d, saturated = protein.spectrum_distances([text, text, "GHWKLMPAST"], return_saturated=True)
    assert d[0, 1] == 0 and not saturated[0, 1]


@pytest.mark.parametrize(
    "seeds",
    [[], "111", [("full", "101010")], [("full", "0110")], [("latin", "111")], [("full", "12")], [("full", "1" * 15)]],
)
def test_bad_seeds_are_rejected_naming_the_rule(seeds):
    with pytest.raises(ValueError, match="seed"):
        protein.spectrum_distances(["MKV", "MKV"], seeds=seeds)


def test_bad_input_names_the_function():
    with pytest.raises(TypeError, match="spectrum_distances"):
        protein.spectrum_distances("MKVL")
    with pytest.raises(ValueError, match="max_distance"):
        protein.spectrum_distances(["MKVL"], max_distance=0)


def test_cli_distances_and_tree_with_method_spectrum(tmp_path):
    source = data_path("protein", "globins45.aligned.fa")
    out, tree = tmp_path / "d.tsv", tmp_path / "t.nwk"
    assert main(["protein", "distances", str(source), "--method", "spectrum", "-o", str(out), "--quiet"]) == 0
    family = protein.read_sequences(source)
    lines = out.read_text().splitlines()
    assert lines[0].split("\t") == ["id", *family.ids]
    values = np.array([[float(x) for x in line.split("\t")[1:]] for line in lines[1:]])
    np.testing.assert_allclose(values, protein.spectrum_distances(family), atol=1e-6)
    assert main(["protein", "tree", str(source), "--method", "spectrum", "-o", str(tree), "--quiet"]) == 0
    assert all(name in tree.read_text() for name in itertools.islice(family.ids, 5))


def test_cli_spectrum_with_anchors_exits_2(tmp_path, capsys):
    argv = ["protein", "distances", str(data_path("protein", "COX2_TM.fa")), "--method", "spectrum", "--anchors", "2"]
    assert main([*argv, "-o", str(tmp_path / "d.tsv")]) == 2
    assert "--anchors applies to alignment distances" in capsys.readouterr().err


def test_training_targets_cannot_be_spectrum_distances(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["protein", "train", "--method", "spectrum", "--out", str(tmp_path / "m")])
    assert exit_info.value.code == 2
    assert "invalid choice: 'spectrum'" in capsys.readouterr().err


def test_unrelated_random_sequences_stay_below_the_cap_by_chance_matches():
    # Documented behaviour: chance k-mer matches keep unrelated sequences off the cap.
    rng = np.random.default_rng(2)
    texts = ["".join(rng.choice(list(STANDARD), 300)) for _ in range(6)]
    d, saturated = protein.spectrum_distances(texts, return_saturated=True)
    assert not saturated.any() and (d[np.triu_indices(6, k=1)] > 0.5).all()

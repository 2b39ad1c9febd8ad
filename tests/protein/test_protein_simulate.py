"""The LG model, discrete gamma rates, random trees and simulated families."""

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.linalg import expm

from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein.simulate import evolve
from symcl.domains.protein.substitution import AMINO_ACIDS, read_paml_model


@pytest.fixture(scope="module")
def lg():
    return protein.lg_model()


def test_lg_values_are_the_published_ones():
    s, pi = read_paml_model(data_path("protein", "LG.dat"))
    index = {aa: i for i, aa in enumerate(AMINO_ACIDS)}
    # Spot checks against Le & Gascuel (2008), PAML's lg.dat.
    assert s[index["A"], index["R"]] == 0.425093
    assert s[index["I"], index["V"]] == 10.649107  # the largest exchangeability
    assert s[index["C"], index["D"]] == 0.062556
    assert s[index["Y"], index["F"]] == 7.803902
    assert s.max() == 10.649107
    np.testing.assert_array_equal(s, s.T)
    np.testing.assert_array_equal(np.diag(s), 0.0)
    assert pi[index["A"]] == 0.079066 and pi[index["W"]] == 0.012066 and pi[index["L"]] == 0.099081
    assert abs(pi.sum() - 1.0) < 1e-5
    assert AMINO_ACIDS == "ARNDCQEGHILKMFPSTWYV"


def test_rate_matrix_is_a_normalised_reversible_generator(lg):
    q, pi = lg.rate_matrix, lg.frequencies
    np.testing.assert_allclose(q.sum(axis=1), 0.0, atol=1e-12)
    off = ~np.eye(20, dtype=bool)
    assert (q[off] > 0).all()
    flux = pi[:, None] * q
    np.testing.assert_allclose(flux, flux.T, rtol=1e-12, atol=1e-15)  # pi_i q_ij = pi_j q_ji
    assert -np.dot(pi, np.diag(q)) == pytest.approx(1.0, rel=1e-12)  # one substitution per unit time
    assert np.isclose(lg.eigenvalues.max(), 0.0, atol=1e-12) and (lg.eigenvalues < 1e-12).all()


def test_transition_matrices(lg):
    times = np.array([0.0, 0.01, 0.3, 1.0, 5.0])
    matrices = lg.transition_matrices(times)
    assert matrices.shape == (5, 20, 20)
    np.testing.assert_allclose(matrices[0], np.eye(20), atol=1e-12)
    np.testing.assert_allclose(matrices.sum(axis=-1), 1.0, atol=1e-12)
    assert (matrices >= 0).all()
    for t, p in zip(times, matrices, strict=True):
        np.testing.assert_allclose(p, expm(lg.rate_matrix * t), atol=1e-10)
        np.testing.assert_allclose(lg.frequencies @ p, lg.frequencies, atol=1e-12)  # stationary
    np.testing.assert_allclose(lg.transition_matrices(200.0), np.tile(lg.frequencies, (20, 1)), atol=1e-8)
    with pytest.raises(ValueError, match="'times'"):
        lg.transition_matrices(-1.0)


def test_substitution_model_validates():
    s, pi = np.ones((20, 20)), np.full(20, 0.05)
    model = protein.substitution_model(s, pi)  # Poisson model: all rates equal
    np.testing.assert_allclose(model.rate_matrix[~np.eye(20, dtype=bool)], 1 / 19)
    with pytest.raises(ValueError, match="symmetric"):
        protein.substitution_model(np.triu(s), pi)
    with pytest.raises(ValueError, match="'frequencies'"):
        protein.substitution_model(s, np.zeros(20))
    with pytest.raises(ValueError, match=r"shape \(20, 20\)"):
        protein.substitution_model(np.ones((4, 4)), pi)


def test_read_paml_model_rejects_other_files(tmp_path):
    bad = tmp_path / "bad.dat"
    bad.write_text("1 2 3\n4 5\n")
    with pytest.raises(ValueError, match="not a PAML amino-acid model file"):
        read_paml_model(bad)


def test_gamma_rates_match_yang_1994():
    np.testing.assert_allclose(protein.gamma_rates(0.5, 4), [0.0334, 0.2519, 0.8203, 2.8944], atol=1e-4)
    for alpha in (0.1, 1.0, 7.0):
        rates = protein.gamma_rates(alpha, 4)
        assert rates.mean() == pytest.approx(1.0)
        assert (np.diff(rates) > 0).all()
    np.testing.assert_allclose(protein.gamma_rates(1e4, 4), 1.0, atol=0.03)
    np.testing.assert_allclose(protein.gamma_rates(2.0, 1), [1.0])
    with pytest.raises(ValueError, match="'alpha' parameter of gamma_rates must be a finite number > 0. Got -1"):
        protein.gamma_rates(-1.0)
    with pytest.raises(ValueError, match="'n_categories'"):
        protein.gamma_rates(1.0, 0)


def test_random_tree_shape_and_leaves():
    tree = protein.random_tree(10, 3, mean_branch_length=0.2, names=[f"s{i}" for i in range(10)])
    assert sorted(leaf.name for leaf in tree.get_terminals()) == sorted(f"s{i}" for i in range(10))
    inner = tree.get_nonterminals()
    assert len(inner) == 9 and all(len(clade.clades) == 2 for clade in inner)
    lengths = [clade.branch_length for clade in tree.find_clades() if clade is not tree.root]
    assert len(lengths) == 18 and all(length > 0 for length in lengths)
    with pytest.raises(ValueError, match="'n_leaves'"):
        protein.random_tree(1, 0)
    with pytest.raises(ValueError, match="unique names"):
        protein.random_tree(3, 0, names=["a", "a", "b"])
    with pytest.raises(TypeError, match="'rng'"):
        protein.random_tree(3, "seed")


def test_patristic_distances_agree_with_bio_phylo():
    tree = protein.random_tree(7, 1)
    names = [f"leaf_{i}" for i in range(7)]
    distances = protein.patristic_distances(tree, names)
    np.testing.assert_array_equal(distances, distances.T)
    np.testing.assert_array_equal(np.diag(distances), 0.0)
    for i, j in itertools.combinations(range(7), 2):
        assert distances[i, j] == pytest.approx(tree.distance(names[i], names[j]))


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(4, 12))
def test_true_distances_are_a_tree_metric(seed, n):
    distances = protein.patristic_distances(protein.random_tree(n, seed))
    rng = np.random.default_rng(seed)
    for _ in range(10):
        i, j, k, m = rng.choice(n, size=4, replace=False)
        sums = sorted(
            [distances[i, j] + distances[k, m], distances[i, k] + distances[j, m], distances[i, m] + distances[j, k]]
        )
        assert sums[2] == pytest.approx(sums[1], abs=1e-9)  # the four-point condition


def test_simulate_family_is_deterministic_and_keeps_the_truth():
    first = protein.simulate_family(12, 60, 7, mean_branch_length=0.15, alpha=0.7, name="fam")
    again = protein.simulate_family(12, 60, np.random.default_rng(7), mean_branch_length=0.15, alpha=0.7, name="fam")
    other = protein.simulate_family(12, 60, 8, mean_branch_length=0.15, alpha=0.7, name="fam")
    assert first.sequences == again.sequences
    np.testing.assert_array_equal(first.distances, again.distances)
    assert protein.to_newick(first.tree) == protein.to_newick(again.tree)
    assert first.sequences != other.sequences
    ids = [f"fam_{i}" for i in range(12)]
    assert list(first.sequences.ids) == ids
    assert sorted(leaf.name for leaf in first.tree.get_terminals()) == sorted(ids)
    np.testing.assert_allclose(first.distances, protein.patristic_distances(first.tree, ids))
    assert first.sequences.aligned and {len(s) for s in first.sequences} == {60}
    assert set("".join(first.sequences)) <= set(AMINO_ACIDS)
    assert first.site_rates.shape == (60,) and set(np.round(first.site_rates, 8)) <= set(
        np.round(protein.gamma_rates(0.7, 4), 8)
    )
    # The classical route reads the simulated family as an alignment.
    d = protein.distance_matrix(first.sequences, "p", progress=False)
    assert d.shape == (12, 12)


def _two_leaf_tree(t):
    from Bio.Phylo.BaseTree import Clade, Tree

    return Tree(root=Clade(clades=[Clade(branch_length=t / 2, name="a"), Clade(branch_length=t / 2, name="b")]))


@pytest.mark.parametrize("t", [0.1, 0.5, 1.5])
def test_p_distance_of_simulated_pairs_matches_the_model(lg, t):
    alpha, length = 0.8, 20_000
    names, codes, _ = evolve(_two_leaf_tree(t), length, np.random.default_rng(11), alpha=alpha)
    observed = float((codes[0] != codes[1]).mean())
    rates = protein.gamma_rates(alpha, 4)
    same = np.mean([np.dot(lg.frequencies, np.diag(p)) for p in lg.transition_matrices(rates * t)])
    expected = 1.0 - same
    assert names == ["a", "b"]
    assert abs(observed - expected) < 0.015  # about 4 standard errors at L = 20,000
    assert observed < t  # multiple hits: p-distance under the true distance


def test_stationary_frequencies_are_preserved(lg):
    tree = protein.random_tree(6, 2, mean_branch_length=0.5)
    _, codes, _ = evolve(tree, 20_000, np.random.default_rng(3), alpha=1.0)
    for row in codes:
        composition = np.bincount(row, minlength=20) / row.size
        np.testing.assert_allclose(composition, lg.frequencies, atol=0.008)


def test_evolve_validates():
    tree = _two_leaf_tree(0.1)
    with pytest.raises(ValueError, match="'length'"):
        evolve(tree, 0, 0)
    tree.root.clades[0].branch_length = -1.0
    with pytest.raises(ValueError, match="branch lengths >= 0"):
        evolve(tree, 10, 0)

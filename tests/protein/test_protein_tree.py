"""Neighbour joining recovers additive trees and matches Biopython's; Robinson-Foulds against hand-counted splits."""

import io

import numpy as np
import pytest
from Bio import Phylo
from hypothesis import given, settings
from hypothesis import strategies as st

from symcl.domains import protein

TRUE_TREE = "((A:1,B:2):1,(C:1,D:3):2,(E:0.5,(F:1,G:1.5):0.7):1.2);"


def read(newick: str):
    return Phylo.read(io.StringIO(newick), "newick")


def path_lengths(tree, names):
    return np.array([[tree.distance(a, b) if a != b else 0.0 for b in names] for a in names])


def test_nj_recovers_an_additive_tree():
    true = read(TRUE_TREE)
    names = ["D", "A", "G", "C", "F", "B", "E"]
    distances = path_lengths(true, names)
    tree = protein.nj_tree(distances, names)
    assert sorted(leaf.name for leaf in tree.get_terminals()) == sorted(names)
    assert protein.robinson_foulds(tree, true) == 0.0
    np.testing.assert_allclose(path_lengths(tree, names), distances, atol=1e-9)
    assert all(clade.name is None for clade in tree.get_nonterminals())


def test_robinson_foulds_by_hand():
    t1 = read("((A,B),C,(D,E));")
    t2 = read("((A,C),B,(D,E));")
    assert protein.bipartitions(t1) == {frozenset("CDE"), frozenset("DE")}
    assert protein.robinson_foulds(t1, t2, normalized=False) == 2.0
    assert protein.robinson_foulds(t1, t2) == 0.5
    # The root position does not matter: trees are read as unrooted.
    assert protein.robinson_foulds(t1, read("((A,B),(C,(D,E)));")) == 0.0
    with pytest.raises(ValueError, match="same leaves"):
        protein.robinson_foulds(t1, read("((A,B),C,(D,F));"))


def test_newick_round_trip_keeps_awkward_names(tmp_path):
    names = ["COX2_SCHPO/11-99", "gi|1|sp", "a:b", "c,d"]
    distances = np.array([[0, 1, 2, 3], [1, 0, 2, 3], [2, 2, 0, 3], [3, 3, 3, 0]], dtype=float)
    tree = protein.nj_tree(distances, names)
    path = protein.write_newick(tree, tmp_path / "out.nwk")
    back = Phylo.read(path, "newick")
    assert sorted(leaf.name for leaf in back.get_terminals()) == sorted(names)
    assert protein.robinson_foulds(back, tree) == 0.0


def test_nj_tree_validates_its_input():
    good = np.array([[0.0, 1.0, 2.0], [1.0, 0.0, 2.0], [2.0, 2.0, 0.0]])
    with pytest.raises(ValueError, match="square"):
        protein.nj_tree(good[:2], ["a", "b"])
    with pytest.raises(ValueError, match="one name per row"):
        protein.nj_tree(good, ["a", "b"])
    with pytest.raises(ValueError, match="unique names. Got 'a' twice"):
        protein.nj_tree(good, ["a", "a", "b"])
    asymmetric = good.copy()
    asymmetric[0, 1] = 5.0
    with pytest.raises(ValueError, match="symmetric"):
        protein.nj_tree(asymmetric, ["a", "b", "c"])
    with pytest.raises(ValueError, match="finite"):
        protein.nj_tree(np.where(good > 1, np.nan, good), ["a", "b", "c"])
    huge = np.where(good > 0, 1e308, 0.0)  # finite, but its sums overflow: a leaf was dropped silently
    with pytest.raises(ValueError, match=r"distances <= 1.5e\+307 \(3 rows\).* Got 1e\+308; rescale"):
        protein.nj_tree(huge, ["a", "b", "c"])


def random_matrix(rng, n):
    points = rng.normal(size=(n, 4))
    return np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))


@pytest.mark.parametrize("n", [3, 4, 5, 8, 17, 40])
def test_fast_nj_matches_biopython_on_random_matrices(n):
    rng = np.random.default_rng(n)
    names = [f"s{i}" for i in range(n)]
    for _ in range(3):
        distances = random_matrix(rng, n)
        fast = protein.nj_tree(distances, names, progress=n == 17)  # the bar changes nothing
        reference = protein.tree.biopython_nj_tree(distances, names)
        assert protein.robinson_foulds(fast, reference) == 0.0
        assert len(fast.get_terminals()) == n
        # Same branch lengths too: every leaf-to-leaf path agrees.
        np.testing.assert_allclose(path_lengths(fast, names), path_lengths(reference, names), atol=1e-9)


@pytest.mark.parametrize("order", [[0, 1, 2, 3, 4], [3, 0, 1, 2, 4]], ids=["s0_first", "s3_first"])
def test_nj_branch_lengths_of_a_non_metric_matrix_are_never_negative(order):
    # Far from additive: raw NJ gives negative branches (s0: -0.21, and with s3 first also
    # s3: -0.27), which make a Newick that tools refuse or draw backwards; like Biopython's they
    # become 0. The negative branch is the second clade of its join in the first order and the
    # first in the second, so both clamps are checked.
    distances = np.array(
        [
            [0.0, 0.88, 0.22, 0.15, 2.46],
            [0.88, 0.0, 2.22, 1.68, 2.81],
            [0.22, 2.22, 0.0, 0.2, 2.22],
            [0.15, 1.68, 0.2, 0.0, 1.33],
            [2.46, 2.81, 2.22, 1.33, 0.0],
        ]
    )[np.ix_(order, order)]
    names = [f"s{i}" for i in order]
    tree = protein.nj_tree(distances, names)
    assert all(clade.branch_length >= 0 for clade in tree.find_clades())
    reference = protein.tree.biopython_nj_tree(distances, names)
    assert protein.robinson_foulds(tree, reference) == 0.0
    np.testing.assert_allclose(path_lengths(tree, names), path_lengths(reference, names), atol=1e-9)


def test_fast_nj_recovers_a_random_additive_tree():
    true = protein.random_tree(60, np.random.default_rng(3), mean_branch_length=0.2)
    names = [leaf.name for leaf in true.get_terminals()]
    distances = protein.patristic_distances(true, names)
    tree = protein.nj_tree(distances, names)
    assert protein.robinson_foulds(tree, true) == 0.0
    np.testing.assert_allclose(protein.patristic_distances(tree, names), distances, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(3, 12), st.integers(0, 2**32 - 1))
def test_fast_nj_property_same_topology_as_biopython(n, seed):
    distances = random_matrix(np.random.default_rng(seed), n)
    names = [f"s{i}" for i in range(n)]
    fast = protein.nj_tree(distances, names)
    assert protein.robinson_foulds(fast, protein.tree.biopython_nj_tree(distances, names)) == 0.0


def test_nj_tree_small_cases():
    one = protein.nj_tree(np.zeros((1, 1)), ["a"])
    assert [leaf.name for leaf in one.get_terminals()] == ["a"]
    two = protein.nj_tree(np.array([[0.0, 2.0], [2.0, 0.0]]), ["a", "b"])
    assert path_lengths(two, ["a", "b"])[0, 1] == pytest.approx(2.0)

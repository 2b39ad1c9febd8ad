"""Neighbour joining recovers additive trees; Robinson-Foulds against hand-counted splits."""

import io

import numpy as np
import pytest
from Bio import Phylo

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

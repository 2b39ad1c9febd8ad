"""Neighbour joining at scale: the same trees as the whole-matrix algorithm, one matrix of memory, a fair bar."""

import tracemalloc

import numpy as np
import pytest
from Bio.Phylo.BaseTree import Clade, Tree
from progress_recorder import bar_recorder

from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein import tree as tree_module


def whole_matrix_nj(distances: np.ndarray, names: list[str]) -> Tree:
    """The earlier nj_tree: a fresh (n, n) Q per join, np.argmin over all of it."""
    d = 0.5 * (distances + distances.T)
    clades = [Clade(name=name) for name in names]
    n = len(clades)
    while n > 2:
        active = d[:n, :n]
        r = active.sum(axis=1) / (n - 2)
        q = active - r[:, None]
        q -= r[None, :]
        np.fill_diagonal(q, np.inf)
        i, j = divmod(int(np.argmin(q)), n)
        dij = active[i, j]
        branch_i = 0.5 * (dij + r[i] - r[j])
        clades[i].branch_length = max(branch_i, 0.0)
        clades[j].branch_length = max(dij - branch_i, 0.0)
        joined = 0.5 * (active[i] + active[j] - dij)
        keep, drop, last = min(i, j), max(i, j), n - 1
        d[keep, :n] = d[:n, keep] = joined
        d[keep, keep] = 0.0
        clades[keep] = Clade(clades=[clades[i], clades[j]])
        if drop != last:
            d[drop, :n] = d[last, :n]
            d[:n, drop] = d[:n, last]
            d[drop, drop] = 0.0
            clades[drop] = clades[last]
        del clades[last]
        n -= 1
    root, other = (clades[0], clades[1]) if not clades[0].is_terminal() else (clades[1], clades[0])
    other.branch_length = max(d[0, 1], 0.0)
    root.branch_length = 0.0
    root.clades.append(other)
    return Tree(root=root, rooted=False)


def random_matrices():
    rng = np.random.default_rng(7)
    uniform = rng.random((200, 200))
    ties = rng.integers(0, 4, size=(150, 150)).astype(float)  # many tied Q values
    points = rng.normal(size=(120, 3))
    points[60:] = points[:60]  # duplicated sequences: identical rows
    duplicated = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
    for matrix in (uniform, ties, duplicated):
        matrix = matrix + matrix.T
        np.fill_diagonal(matrix, 0.0)
        yield matrix


def shipped_families():
    for path in sorted(data_path("protein").glob("*.fa")):
        family = protein.read_sequences(path)
        yield protein.spectrum_distances(family), list(family.ids)


def test_nj_tree_gives_the_newick_of_the_whole_matrix_algorithm():
    cases = [(m, [f"s{i}" for i in range(len(m))]) for m in random_matrices()]
    for distances, names in [*cases, *shipped_families()]:
        expected = protein.to_newick(whole_matrix_nj(distances, names))
        assert protein.to_newick(protein.nj_tree(distances, names)) == expected


def test_nj_tree_holds_about_one_matrix_beside_its_input():
    distances = np.random.default_rng(0).random((1000, 1000))
    distances += distances.T
    np.fill_diagonal(distances, 0.0)
    names = [f"s{i}" for i in range(len(distances))]
    tracemalloc.start()
    try:
        protein.nj_tree(distances, names)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # The copy it joins in, plus row blocks; it was over 3 matrices (symmetrising, a fresh Q per join).
    assert peak < 1.5 * distances.nbytes


def test_nj_tree_progress_counts_the_work_of_each_join(monkeypatch):
    Recorder, bars = bar_recorder()
    monkeypatch.setattr(tree_module, "ProgressBar", Recorder)
    distances = next(random_matrices())[:10, :10]
    protein.nj_tree(distances, [f"s{i}" for i in range(10)], progress=True)
    # A join among n nodes scans n^2 values of Q, so the bar moves by that, not by 1.
    assert bars[-1].updates == [n * n for n in range(10, 2, -1)]
    assert bars[-1].total == sum(n * n for n in range(3, 11)) and bars[-1].closed


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_nj_tree_reads_other_dtypes_as_float64(dtype):
    distances = next(random_matrices())[:30, :30].round().astype(dtype)
    names = [f"s{i}" for i in range(30)]
    expected = protein.to_newick(whole_matrix_nj(distances.astype(float), names))
    assert protein.to_newick(protein.nj_tree(distances, names)) == expected

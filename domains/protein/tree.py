"""Neighbour-joining trees from distance matrices (vectorised numpy, Bio.Phylo trees), Newick, Robinson-Foulds."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from Bio import Phylo
from Bio.Phylo.BaseTree import Clade, Tree
from Bio.Phylo.TreeConstruction import DistanceMatrix, DistanceTreeConstructor

from symcl.atomic import atomic_write

from .workers import ProgressBar


def nj_tree(distance_matrix: np.ndarray, names: Sequence[str], *, progress: bool = False) -> Tree:
    """Neighbour-joining tree (Saitou & Nei 1987), vectorised with numpy, as a Bio.Phylo tree.

    The standard algorithm, as in Biopython's ``DistanceTreeConstructor.nj``: while more
    than two nodes are left, join the pair (i, j) that minimises the Q criterion
    ``Q[i, j] = d[i, j] - r[i] - r[j]`` with ``r = d.sum(1) / (n - 2)``, give the two
    branches ``(d[i, j] + r[i] - r[j]) / 2`` and ``d[i, j]`` minus that, and replace i
    and j by a node u with ``d[u, k] = (d[i, k] + d[j, k] - d[i, j]) / 2``. Each join is
    a few numpy operations on the (n, n) matrix of the nodes left, Q a block of rows at
    a time, so the total work is O(N^3) floating-point operations, all in numpy: about
    1 s for N = 1,000, where Biopython's pure-Python loops take about 15 minutes. Memory
    is one float64 (N, N) matrix beside the input.

    The tree is unrooted (drawn from the last inner node, like Biopython's); inner
    nodes carry no names, and negative branch lengths, which NJ can produce, are set to
    0. Ties in Q are broken by the first pair in numpy's row-major order, so on a
    matrix with tied Q values the topology may differ from Biopython's (both are
    valid NJ trees).

    Parameters
    ----------
    distance_matrix : ndarray
        Shape (N, N), symmetric, finite, >= 0, zero diagonal (e.g. from
        :func:`~symcl.domains.protein.distance.distance_matrix`).
    names : sequence of str
        N unique leaf names, in the order of the matrix rows.
    progress : bool
        Show a progress bar (N = 3,000 takes about half a minute). It advances by the
        work of each join, n^2 for n nodes left, so its time estimate holds although the
        first joins are the slowest.

    Returns
    -------
    Bio.Phylo.BaseTree.Tree
        With N leaves and N - 2 inner nodes (for N >= 3), branch lengths in the units
        of the distances.

    References
    ----------
    Saitou N., Nei M. (1987) The neighbor-joining method: a new method for
    reconstructing phylogenetic trees. Mol. Biol. Evol. 4:406-425.
    Studier J.A., Keppler K.J. (1988) A note on the neighbor-joining algorithm of
    Saitou and Nei. Mol. Biol. Evol. 5:729-731.
    """
    d = _check_distance_matrix(distance_matrix, names)
    names = [str(name) for name in names]
    clades = [Clade(name=name) for name in names]
    n = len(clades)
    if n == 1:
        return Tree(root=clades[0], rooted=False)
    buffer = np.empty(_BLOCK_ELEMENTS + n)
    # A join scans the n x n matrix of the nodes left, so the bar counts n^2 per join:
    # counted in joins, the first half of the bar would take seven eighths of the time.
    work = sum(m * m for m in range(3, n + 1))
    bar = ProgressBar(total=work, desc="neighbour joining", bar_format=_BAR_FORMAT, disable=not progress)
    while n > 2:
        active = d[:n, :n]
        r = active.sum(axis=1) / (n - 2)
        i, j = _closest_pair(active, r, buffer)
        dij = active[i, j]
        branch_i = 0.5 * (dij + r[i] - r[j])
        clades[i].branch_length = max(branch_i, 0.0)
        clades[j].branch_length = max(dij - branch_i, 0.0)
        joined = 0.5 * (active[i] + active[j] - dij)
        keep, drop = min(i, j), max(i, j)
        d[keep, :n] = joined
        d[:n, keep] = joined
        d[keep, keep] = 0.0
        clades[keep] = Clade(clades=[clades[i], clades[j]])
        last = n - 1
        if drop != last:  # move the last node into the freed row and column
            d[drop, :n] = d[last, :n]
            d[:n, drop] = d[:n, last]
            d[drop, drop] = 0.0
            clades[drop] = clades[last]
        del clades[last]
        bar.update(n * n)
        n -= 1
    bar.close()
    first, second = clades
    if first.is_terminal() and second.is_terminal():  # N = 2
        first.branch_length = second.branch_length = max(d[0, 1], 0.0) / 2
        root = Clade(branch_length=0.0, clades=[first, second])
    else:
        root, other = (first, second) if not first.is_terminal() else (second, first)
        other.branch_length = max(d[0, 1], 0.0)
        root.branch_length = 0.0
        root.clades.append(other)
    return Tree(root=root, rooted=False)


#: Elements of Q computed at a time: a block of rows that stays in the CPU cache.
_BLOCK_ELEMENTS = 1 << 15
_BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"


def _closest_pair(active: np.ndarray, r: np.ndarray, buffer: np.ndarray) -> tuple[int, int]:
    """The (i, j) minimising ``Q = active - r[i] - r[j]`` off the diagonal, first in row-major order on ties.

    Q is computed a block of rows at a time in ``buffer``, never as a whole (n, n) array,
    with the same operations in the same order as on the whole, so the minimum and the
    pair chosen on ties are those of ``np.argmin`` over the full Q.
    """
    n = len(r)
    rows = max(1, _BLOCK_ELEMENTS // n)
    best, best_index = np.inf, 0
    for start in range(0, n, rows):
        stop = min(start + rows, n)
        q = buffer[: (stop - start) * n].reshape(stop - start, n)
        np.subtract(active[start:stop], r[start:stop, None], out=q)
        q -= r[None, :]
        q[np.arange(stop - start), np.arange(start, stop)] = np.inf
        k = int(np.argmin(q))
        if q.flat[k] < best:  # strictly: an earlier block wins a tie
            best, best_index = q.flat[k], start * n + k
    return divmod(best_index, n)


def _check_distance_matrix(distance_matrix: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Validate the input of :func:`nj_tree`; returns the matrix as float64."""
    matrix = np.asarray(distance_matrix)
    names = [str(name) for name in names]
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(
            f"The 'distance_matrix' parameter of nj_tree must be square. Got shape {matrix.shape} instead."
        )
    if len(names) != matrix.shape[0]:
        raise ValueError(
            f"The 'names' parameter of nj_tree must have one name per row of the matrix ({matrix.shape[0]}). "
            f"Got {len(names)} instead."
        )
    if len(set(names)) != len(names):
        seen: set[str] = set()
        duplicate = next(name for name in names if name in seen or seen.add(name))
        raise ValueError(f"The 'names' parameter of nj_tree must hold unique names. Got {duplicate!r} twice.")
    if not len(names):
        raise ValueError("The 'distance_matrix' parameter of nj_tree must have at least one row. Got shape (0, 0).")
    largest = 0.0
    for rows, _ in _row_blocks(matrix):
        if not np.isfinite(rows).all() or (rows < 0).any():
            raise ValueError("The 'distance_matrix' parameter of nj_tree must be finite and >= 0.")
        largest = max(largest, float(rows.max()))
    # Q sums about 3n distances: beyond this they overflow to inf, and inf - inf joins nonsense
    limit = np.finfo(float).max / (4 * len(names))
    if largest > limit:
        raise ValueError(
            f"The 'distance_matrix' parameter of nj_tree must hold distances <= {limit:.3g} ({len(names)} rows), "
            f"or neighbour joining's sums overflow. Got {largest:.3g}; rescale the distances."
        )
    return _symmetrised(matrix)


def _row_blocks(matrix: np.ndarray) -> Iterator[tuple[np.ndarray, slice]]:
    """Blocks of rows of a square matrix as float64, with their slice, so checks make no (N, N) temporary."""
    step = max(1, _BLOCK_ELEMENTS * 2 // len(matrix))
    for start in range(0, len(matrix), step):
        rows = slice(start, start + step)
        yield np.asarray(matrix[rows], dtype=float), rows


def _symmetrised(matrix: np.ndarray) -> np.ndarray:
    """A new float64 ``0.5 * (matrix + matrix.T)``, after checking symmetry and the zero diagonal block by block."""
    result = np.empty(matrix.shape)
    for rows, where in _row_blocks(matrix):
        columns = np.asarray(matrix[:, where], dtype=float).T
        diagonal = rows[np.arange(len(rows)), np.arange(len(matrix))[where]]
        if not np.allclose(rows, columns, rtol=1e-9, atol=1e-12) or np.any(diagonal != 0):
            raise ValueError("The 'distance_matrix' parameter of nj_tree must be symmetric with a zero diagonal.")
        np.multiply(np.add(rows, columns, out=result[where]), 0.5, out=result[where])
    return result


def biopython_nj_tree(distance_matrix: np.ndarray, names: Sequence[str]) -> Tree:
    """Neighbour joining with Biopython's ``DistanceTreeConstructor.nj`` (the reference for :func:`nj_tree`).

    Same input, output conventions and validation as :func:`nj_tree`, but O(N^3) in
    pure Python (about 1 s for N = 100, 8 s for N = 200); kept for tests and benchmarks.
    """
    matrix = _check_distance_matrix(distance_matrix, names)
    names = [str(name) for name in names]
    lower = [matrix[i, : i + 1].tolist() for i in range(len(names))]
    tree = DistanceTreeConstructor().nj(DistanceMatrix(names, lower))
    for clade in tree.find_clades():
        if not clade.is_terminal():
            clade.name = None
        if clade.branch_length is not None and clade.branch_length < 0:
            clade.branch_length = 0.0
    return tree


def to_newick(tree: Tree) -> str:
    """The Newick text of a tree, one line ending in ``;``."""
    handle = io.StringIO()
    Phylo.write(tree, handle, "newick")
    return handle.getvalue().strip() + "\n"


def write_newick(tree: Tree, path: str | os.PathLike) -> Path:
    """Write a tree as Newick, atomically (temporary file, then rename)."""
    text = to_newick(tree)
    return atomic_write(path, lambda tmp: tmp.write_text(text))


def bipartitions(tree: Tree) -> set[frozenset[str]]:
    """The non-trivial splits of a tree, read as unrooted.

    Each split is given by the side that does not hold the alphabetically first leaf,
    so a split and its complement are the same element. Splits that cut off a single
    leaf (or nothing) are left out.
    """
    leaves = [leaf.name for leaf in tree.get_terminals()]
    if len(set(leaves)) != len(leaves):
        raise ValueError("bipartitions needs unique leaf names.")
    all_leaves = frozenset(leaves)
    reference = min(all_leaves)
    splits = set()
    for clade in tree.find_clades():
        side = frozenset(leaf.name for leaf in clade.get_terminals())
        if reference in side:
            side = all_leaves - side
        if 1 < len(side) < len(all_leaves) - 1:
            splits.add(side)
    return splits


def robinson_foulds(tree1: Tree, tree2: Tree, *, normalized: bool = True) -> float:
    """Robinson-Foulds distance between two trees on the same leaves, read as unrooted.

    Parameters
    ----------
    tree1, tree2 : Bio.Phylo.BaseTree.Tree
        Trees with the same set of unique leaf names.
    normalized : bool
        Divide by the number of non-trivial splits of both trees (2(N - 3) for two binary
        trees), giving a value in [0, 1]. Default True.

    Returns
    -------
    float
        The number of splits found in only one of the trees (or that fraction).
    """
    leaves1 = {leaf.name for leaf in tree1.get_terminals()}
    leaves2 = {leaf.name for leaf in tree2.get_terminals()}
    if leaves1 != leaves2:
        only = sorted(leaves1 ^ leaves2)[:3]
        raise ValueError(f"robinson_foulds needs two trees on the same leaves. These are in only one: {only}.")
    splits1, splits2 = bipartitions(tree1), bipartitions(tree2)
    distance = len(splits1 ^ splits2)
    if not normalized:
        return float(distance)
    total = len(splits1) + len(splits2)
    return distance / total if total else 0.0

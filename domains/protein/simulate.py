"""Simulated protein families: sequences evolved along random trees under LG + discrete gamma.

A family is made in three steps, all randomness from one ``numpy.random.Generator``:

1. :func:`random_tree`: a random binary topology (lineages joined two at a time, picked
   uniformly, as in the coalescent) with independent exponential branch lengths, so
   lineages evolve at different speeds (the tree is not ultrametric);
2. :func:`evolve`: a root sequence drawn from the equilibrium frequencies, each site
   given one of K equally likely gamma rate categories, then every branch applies
   P(r_k t) of the substitution model to all sites at once (vectorised numpy);
3. :func:`patristic_distances`: the true distances, sums of branch lengths between
   leaves, in expected substitutions per site.

Indels are not simulated: all sequences of a family have the same length and are the
rows of their true alignment (``ProteinSequences.aligned`` is True, so
:func:`~symcl.domains.protein.distance.distance_matrix` compares columns directly).

Why scipy and not a simulator package: the model is a 20x20 matrix and the work is one
eigendecomposition plus one vectorised draw per branch, about 100 lines. The maintained
simulators either need an external binary (INDELible, Seq-Gen, AliSim in IQ-TREE) or
are not a dependency of symcl (pyvolve, which also draws site by site in Python and is
slower than the vectorised draw here). Writing it here keeps the trees as Bio.Phylo
objects that :func:`~symcl.domains.protein.tree.robinson_foulds` compares directly and
keeps every draw on the caller's generator, so a seed gives the same families anywhere.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from Bio.Phylo.BaseTree import Clade, Tree

from symcl.checks import as_integer, check_integer

from .reader import ProteinSequences
from .substitution import AMINO_ACIDS, SubstitutionModel, gamma_rates, lg_model

_LETTERS = np.frombuffer(AMINO_ACIDS.encode("ascii"), dtype=np.uint8)


@dataclass(frozen=True)
class SimulatedFamily:
    """A simulated protein family with its ground truth.

    Attributes
    ----------
    sequences : ProteinSequences
        N sequences of the same length, ids ``{name}_{i}``; the rows of the true alignment.
    tree : Bio.Phylo.BaseTree.Tree
        The true tree; its leaves are named by the ids, branch lengths in expected
        substitutions per site.
    distances : ndarray
        float64, shape (N, N): the true (patristic) distances, expected substitutions per site.
    site_rates : ndarray
        float64, shape (L,): the gamma rate multiplier of every site.
    """

    sequences: ProteinSequences
    tree: Tree
    distances: np.ndarray
    site_rates: np.ndarray


def random_tree(
    n_leaves: int,
    rng: np.random.Generator | int,
    *,
    mean_branch_length: float = 0.1,
    names: Sequence[str] | None = None,
) -> Tree:
    """A random rooted binary tree with exponential branch lengths.

    The topology joins two lineages picked uniformly at random until one is left (the
    topology distribution of the coalescent and of the Yule process); every branch
    length is drawn independently from an exponential distribution.

    Parameters
    ----------
    n_leaves : int
        Number of leaves N >= 2.
    rng : numpy.random.Generator or int
        Source of randomness (an int seeds a new generator).
    mean_branch_length : float
        Mean of the exponential branch lengths (> 0), expected substitutions per site.
    names : sequence of str, optional
        N unique leaf names; default ``leaf_0 .. leaf_{N-1}``.

    Returns
    -------
    Bio.Phylo.BaseTree.Tree
        Rooted (the root has two children); 2N - 2 branches.
    """
    rng = _generator(rng, "random_tree")
    n_leaves = check_integer("random_tree", "n_leaves", n_leaves, 2)
    _check_positive(mean_branch_length, "mean_branch_length", "random_tree")
    names = [f"leaf_{i}" for i in range(n_leaves)] if names is None else [str(name) for name in names]
    if len(names) != n_leaves or len(set(names)) != n_leaves:
        raise ValueError(
            f"The 'names' parameter of random_tree must hold {n_leaves} unique names. Got {len(names)} "
            f"({len(set(names))} unique) instead."
        )
    lengths = iter(rng.exponential(mean_branch_length, size=2 * n_leaves - 2))
    lineages = [Clade(branch_length=next(lengths), name=name) for name in names]
    while len(lineages) > 2:
        i, j = sorted(rng.choice(len(lineages), size=2, replace=False))
        right, left = lineages.pop(j), lineages.pop(i)
        lineages.append(Clade(branch_length=next(lengths), clades=[left, right]))
    return Tree(root=Clade(branch_length=0.0, clades=lineages), rooted=True)


def patristic_distances(tree: Tree, names: Sequence[str] | None = None) -> np.ndarray:
    """Path lengths between all pairs of leaves (sums of branch lengths).

    Parameters
    ----------
    tree : Bio.Phylo.BaseTree.Tree
        Leaves with unique names; missing branch lengths count as 0.
    names : sequence of str, optional
        The leaf order of the result; default the order of ``tree.get_terminals()``.

    Returns
    -------
    ndarray
        float64, shape (N, N), symmetric, zero diagonal, in the units of the branch lengths.
    """
    leaves = [leaf.name for leaf in tree.get_terminals()]
    names = leaves if names is None else [str(name) for name in names]
    if sorted(names) != sorted(leaves) or len(set(leaves)) != len(leaves):
        raise ValueError("The 'names' parameter of patristic_distances must name every leaf of the tree exactly once.")
    index = {name: i for i, name in enumerate(names)}
    n = len(names)
    depth = np.zeros(n)
    distances = np.zeros((n, n))

    def visit(clade: Clade, above: float) -> tuple[list[int], float]:
        here = above + (clade.branch_length or 0.0)
        if clade.is_terminal():
            depth[index[clade.name]] = here
            return [index[clade.name]], here
        groups = [visit(child, here)[0] for child in clade.clades]
        for a, first in enumerate(groups):
            for second in groups[a + 1 :]:
                block = depth[first][:, None] + depth[second][None, :] - 2 * here
                distances[np.ix_(first, second)] = block
                distances[np.ix_(second, first)] = block.T
        return [i for group in groups for i in group], here

    visit(tree.root, 0.0)
    return distances


def evolve(
    tree: Tree,
    length: int,
    rng: np.random.Generator | int,
    *,
    alpha: float = 1.0,
    n_categories: int = 4,
    model: SubstitutionModel | None = None,
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Evolve sequences down a tree: root from pi, then P(r t) on every branch, all sites at once.

    Parameters
    ----------
    tree : Bio.Phylo.BaseTree.Tree
        Branch lengths in expected substitutions per site (missing = 0); named leaves.
    length : int
        Sites L >= 1.
    rng : numpy.random.Generator or int
    alpha : float
        Gamma shape of the rate variation among sites (> 0; ``math.inf`` for equal rates).
    n_categories : int
        Discrete gamma categories K (each site draws one uniformly).
    model : SubstitutionModel, optional
        Default :func:`~symcl.domains.protein.substitution.lg_model`.

    Returns
    -------
    names : list of str
        Leaf names, in ``tree.get_terminals()`` order.
    codes : ndarray
        uint8, shape (N, L), amino-acid codes 0-19 (:data:`AMINO_ACIDS` order).
    site_rates : ndarray
        float64, shape (L,), the rate of every site.
    """
    rng = _generator(rng, "evolve")
    length = check_integer("evolve", "length", length, 1)
    model = lg_model() if model is None else model
    rates = np.ones(1) if alpha == math.inf else gamma_rates(alpha, n_categories)
    category = rng.integers(len(rates), size=length)
    root = _draw(np.broadcast_to(model.frequencies, (length, len(model.frequencies))), rng)
    states = {id(tree.root): root}
    leaves: list[tuple[str, np.ndarray]] = []
    for clade in tree.find_clades(order="preorder"):
        state = states.pop(id(clade))
        if clade.is_terminal():
            leaves.append((clade.name, state))
        for child in clade.clades:
            t = child.branch_length or 0.0
            if t < 0 or not math.isfinite(t):
                raise ValueError(f"evolve needs finite branch lengths >= 0. Got {t} on the branch to {child.name!r}.")
            matrices = model.transition_matrices(rates * t)  # (K, 20, 20)
            states[id(child)] = _draw(matrices[category, state], rng)
    names = [name for name, _ in leaves]
    return names, np.stack([codes for _, codes in leaves]).astype(np.uint8), rates[category]


def simulate_family(
    n_sequences: int,
    length: int,
    rng: np.random.Generator | int,
    *,
    mean_branch_length: float = 0.1,
    alpha: float = 1.0,
    n_categories: int = 4,
    model: SubstitutionModel | None = None,
    name: str = "sim",
) -> SimulatedFamily:
    """A protein family evolved along a random tree under LG + discrete gamma, with its truth.

    Parameters
    ----------
    n_sequences : int
        N >= 2 leaves.
    length : int
        Sequence length L (aa) >= 1; no indels.
    rng : numpy.random.Generator or int
        Source of all randomness (tree, root, rates, substitutions).
    mean_branch_length : float
        Mean branch length of :func:`random_tree` (> 0), substitutions per site. With
        the joining topology the mean pairwise distance grows with N, somewhat faster
        than ``2 ln(N) * mean_branch_length`` and the more so the larger N.
    alpha, n_categories, model
        See :func:`evolve`.
    name : str
        Prefix of the record ids.

    Returns
    -------
    SimulatedFamily
        Sequences in leaf-index order (``{name}_0`` first), the true tree and distances.

    Examples
    --------
    >>> family = simulate_family(8, 120, np.random.default_rng(0), mean_branch_length=0.2)
    >>> family.distances.shape
    (8, 8)
    """
    rng = _generator(rng, "simulate_family")
    ids = [f"{name}_{i}" for i in range(as_integer(n_sequences) or 0)]
    tree = random_tree(n_sequences, rng, mean_branch_length=mean_branch_length, names=ids)
    names, codes, site_rates = evolve(tree, length, rng, alpha=alpha, n_categories=n_categories, model=model)
    order = [names.index(i) for i in ids]
    texts = tuple(_LETTERS[codes[k]].tobytes().decode("ascii") for k in order)
    sequences = ProteinSequences(tuple(ids), texts, aligned=True, source="")
    return SimulatedFamily(sequences, tree, patristic_distances(tree, ids), site_rates)


def _draw(probabilities: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of (L, 20) probabilities; returns (L,) codes."""
    cumulative = np.cumsum(probabilities, axis=-1)
    u = rng.random(len(probabilities)) * cumulative[:, -1]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), probabilities.shape[-1] - 1)


def _generator(rng: np.random.Generator | int, where: str) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool) and rng >= 0:
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"The 'rng' parameter of {where} must be a numpy.random.Generator or an integer seed >= 0. "
        f"Got {type(rng).__name__} instead."
    )


def _check_positive(value: float, name: str, where: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"The '{name}' parameter of {where} must be a finite number > 0. Got {value!r} instead.")

"""Empirical amino-acid substitution models: the LG rate matrix, transition probabilities, gamma rates.

A reversible model is given by symmetric exchangeabilities s_ij and equilibrium
frequencies pi_i: the rate from i to j is Q_ij = mu s_ij pi_j (i != j), rows sum to zero,
and mu is chosen so that the expected rate -sum_i pi_i Q_ii is 1; time is then measured
in expected substitutions per site. Transition probabilities P(t) = exp(Qt) come from the
eigendecomposition of the symmetric matrix D^1/2 Q D^-1/2 (D = diag(pi)), computed once,
so P(t) for many t costs one small matrix product each.

The amino acids are in the order ``ARNDCQEGHILKMFPSTWYV`` of PAML, which is also the order
of the codes 0-19 of :func:`~symcl.domains.protein.alphabet.encode` (the BLOSUM62
alphabet of Biopython), so simulated codes are encoder codes.

References
----------
- Le S.Q. & Gascuel O. (2008) An improved general amino acid replacement matrix.
  Mol. Biol. Evol. 25:1307-1320. (LG; values in ``data/protein/LG.dat``.)
- Yang Z. (1994) Maximum likelihood phylogenetic estimation from DNA sequences with
  variable rates over sites: approximate methods. J. Mol. Evol. 39:306-314. (Discrete gamma.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import special, stats

from symcl.checks import as_integer

from .alphabet import BLOSUM62_ALPHABET

#: The 20 amino acids in PAML order, which is the order of the encoder codes 0-19.
AMINO_ACIDS = BLOSUM62_ALPHABET[:20]
N_AMINO_ACIDS = 20


@dataclass(frozen=True, eq=False)
class SubstitutionModel:
    """A reversible amino-acid model, normalised to one expected substitution per unit time.

    Build it with :func:`substitution_model` or :func:`lg_model`.

    Attributes
    ----------
    rate_matrix : ndarray
        Q, float64, shape (20, 20); rows sum to 0, pi_i Q_ij = pi_j Q_ji, -sum_i pi_i Q_ii = 1.
    frequencies : ndarray
        pi, float64, shape (20,), sums to 1.
    eigenvalues : ndarray
        Eigenvalues of Q (all <= 0, one of them 0), shape (20,).
    left, right : ndarray
        Shape (20, 20) each, with P(t) = left @ diag(exp(eigenvalues t)) @ right.
    """

    rate_matrix: np.ndarray
    frequencies: np.ndarray
    eigenvalues: np.ndarray
    left: np.ndarray
    right: np.ndarray

    def transition_matrices(self, times: np.ndarray | float) -> np.ndarray:
        """P(t) = exp(Q t) for every time.

        Parameters
        ----------
        times : array_like
            Times >= 0 in expected substitutions per site, any shape S.

        Returns
        -------
        ndarray
            float64, shape S + (20, 20); entry [..., i, j] is the probability of j at the
            end of a branch that starts in i. Rows sum to 1; round-off below 0 is set to 0.
        """
        times = np.asarray(times, dtype=float)
        if not np.isfinite(times).all() or (times < 0).any():
            raise ValueError("The 'times' parameter of transition_matrices must be finite and >= 0.")
        decay = np.exp(times[..., None] * self.eigenvalues)  # S + (20,)
        matrices = np.einsum("ik,...k,kj->...ij", self.left, decay, self.right)
        matrices = np.clip(matrices, 0.0, None)
        return matrices / matrices.sum(axis=-1, keepdims=True)


def substitution_model(exchangeabilities: np.ndarray, frequencies: np.ndarray) -> SubstitutionModel:
    """The normalised reversible model of given exchangeabilities and frequencies.

    Parameters
    ----------
    exchangeabilities : ndarray
        s, shape (20, 20), symmetric, >= 0 off the diagonal (the diagonal is ignored).
    frequencies : ndarray
        pi, shape (20,), > 0; rescaled to sum to 1.

    Returns
    -------
    SubstitutionModel
    """
    s = np.array(exchangeabilities, dtype=float)
    pi = np.array(frequencies, dtype=float)
    if s.shape != (N_AMINO_ACIDS, N_AMINO_ACIDS):
        raise ValueError(f"The 'exchangeabilities' parameter must have shape (20, 20). Got {s.shape} instead.")
    if pi.shape != (N_AMINO_ACIDS,):
        raise ValueError(f"The 'frequencies' parameter must have shape (20,). Got {pi.shape} instead.")
    np.fill_diagonal(s, 0.0)
    if not np.isfinite(s).all() or (s < 0).any() or not np.allclose(s, s.T):
        raise ValueError("The 'exchangeabilities' parameter must be finite, >= 0 and symmetric.")
    if not np.isfinite(pi).all() or (pi <= 0).any():
        raise ValueError("The 'frequencies' parameter must be finite and > 0.")
    pi = pi / pi.sum()
    q = s * pi[None, :]
    np.fill_diagonal(q, -q.sum(axis=1))
    q /= -np.dot(pi, np.diag(q))
    root = np.sqrt(pi)
    symmetric = root[:, None] * q / root[None, :]
    eigenvalues, vectors = np.linalg.eigh((symmetric + symmetric.T) / 2)
    left = vectors / root[:, None]
    right = vectors.T * root[None, :]
    return SubstitutionModel(q, pi, eigenvalues, left, right)


def read_paml_model(path) -> tuple[np.ndarray, np.ndarray]:
    """Exchangeabilities and frequencies from a PAML ``.dat`` file (e.g. ``LG.dat``).

    The file starts with 19 lines of the lower triangle (row i holds s_i1 .. s_i,i-1 for
    i = 2..20) and one line of 20 frequencies, amino acids in :data:`AMINO_ACIDS` order;
    blank lines are skipped and everything after the frequencies is free text.

    Returns
    -------
    exchangeabilities : ndarray
        float64, shape (20, 20), symmetric, zero diagonal.
    frequencies : ndarray
        float64, shape (20,), as written.
    """
    rows: list[list[float]] = []
    with open(path) as handle:
        for line in handle:
            if not line.strip():
                continue
            rows.append([float(x) for x in line.split()])
            if len(rows) == N_AMINO_ACIDS:
                break
    lengths = [len(row) for row in rows]
    if lengths != [*range(1, N_AMINO_ACIDS), N_AMINO_ACIDS]:
        raise ValueError(f"{path}: not a PAML amino-acid model file (row lengths {lengths}, expected 1..19 then 20)")
    s = np.zeros((N_AMINO_ACIDS, N_AMINO_ACIDS))
    for i, row in enumerate(rows[:-1], start=1):
        s[i, :i] = row
    return s + s.T, np.array(rows[-1])


@cache
def lg_model() -> SubstitutionModel:
    """The LG model (Le & Gascuel 2008), read from the shipped ``data/protein/LG.dat``."""
    from symcl.data import data_path

    return substitution_model(*read_paml_model(data_path("protein", "LG.dat")))


def gamma_rates(alpha: float, n_categories: int = 4) -> np.ndarray:
    """Discrete-gamma rate categories (Yang 1994): the mean rate of each equal-probability slice.

    The rates follow a gamma distribution of shape alpha and mean 1, cut into
    ``n_categories`` slices of probability 1/K at its quantiles; each category's rate is
    the mean of its slice, so the rates average exactly 1.

    Parameters
    ----------
    alpha : float
        Shape, > 0. Small alpha: strong rate variation among sites (many nearly
        invariable sites, a few fast ones); alpha -> inf: equal rates.
    n_categories : int
        K >= 1 (4 is the usual choice).

    Returns
    -------
    ndarray
        float64, shape (K,), increasing, mean 1. For alpha = 0.5, K = 4:
        0.0334, 0.2519, 0.8203, 2.8944.
    """
    if not isinstance(alpha, (int, float)) or isinstance(alpha, bool) or not math.isfinite(alpha) or alpha <= 0:
        raise ValueError(f"The 'alpha' parameter of gamma_rates must be a finite number > 0. Got {alpha!r} instead.")
    if as_integer(n_categories) is None or n_categories < 1:
        raise ValueError(
            f"The 'n_categories' parameter of gamma_rates must be an integer >= 1. Got {n_categories!r} instead."
        )
    # Rate X ~ Gamma(shape alpha, rate alpha). E[X; X < b] = P(Y < b) with Y ~ Gamma(alpha + 1, rate alpha).
    bounds = stats.gamma.ppf(np.arange(1, n_categories) / n_categories, alpha, scale=1.0 / alpha)
    cumulative = np.concatenate([[0.0], special.gammainc(alpha + 1.0, bounds * alpha), [1.0]])
    rates = n_categories * np.diff(cumulative)
    return rates / rates.mean()

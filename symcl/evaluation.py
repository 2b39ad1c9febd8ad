"""Downstream evaluation of frozen embeddings: linear probe, kNN, clustering, invariance.

Every function takes embeddings as a ``numpy.ndarray`` or a ``torch.Tensor`` of shape
``(n_samples, dim)`` and converts them to float64 NumPy arrays; nothing is trained
through the encoder. The estimators are scikit-learn's, seeded through an explicit
``seed`` argument, so the same inputs and seed always give the same numbers.

Shared by every domain: defect classes of crystal patches, taxa of DNA fragments,
families of proteins.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any, TypedDict

import numpy as np
import torch
from numpy.typing import ArrayLike
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, adjusted_rand_score, normalized_mutual_info_score, silhouette_score
from sklearn.model_selection import train_test_split
from sklearn.neighbors import NearestNeighbors
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits
from tqdm.auto import tqdm

from symcl.checks import as_integer
from symcl.training.config import MAX_SEED

Embeddings = np.ndarray | torch.Tensor

CLUSTER_METHODS = ("kmeans", "agglomerative")
KNN_METRICS = ("cosine", "euclidean", "manhattan")


class ClusterScores(TypedDict):
    """What :func:`cluster_scores` returns."""

    ari: float
    nmi: float
    labels: np.ndarray
    n_clusters: int


class InvarianceScores(TypedDict):
    """What :func:`invariance_score` returns."""

    matched: float
    matched_min: float
    unrelated: float
    gap: float
    max_abs_diff: float


# --------------------------------------------------------------------------- probes


def linear_probe(
    train_x: Embeddings,
    train_y: ArrayLike,
    test_x: Embeddings,
    test_y: ArrayLike,
    *,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> float:
    """Accuracy of a logistic-regression probe fitted on frozen embeddings.

    Features are standardised with statistics of the training split only
    (``StandardScaler`` then ``LogisticRegression`` in one scikit-learn pipeline), the
    probe is fitted on the training split and scored on the test split. This is the
    linear evaluation protocol of SimCLR (Chen et al. 2020, "A Simple Framework for
    Contrastive Learning of Visual Representations").

    Parameters
    ----------
    train_x : ndarray or Tensor, shape (n_train, dim)
        Training embeddings.
    train_y : array-like, shape (n_train,)
        Training labels (ints or strings); at least two distinct classes.
    test_x : ndarray or Tensor, shape (n_test, dim)
        Test embeddings, same ``dim`` as ``train_x``.
    test_y : array-like, shape (n_test,)
        Test labels. Classes absent from the training split count as errors.
    C : float, default=1.0
        Inverse L2 regularisation strength, > 0.
    max_iter : int, default=1000
        Iteration cap of the L-BFGS solver, >= 1.
    seed : int, default=0
        ``random_state`` of the logistic regression.

    Returns
    -------
    float
        Fraction of test samples classified correctly, in [0, 1].

    See Also
    --------
    linear_probe_split : the same probe on a stratified split of one labelled set.
    """
    func = "linear_probe"
    n_test = _as_matrix(func, "test_x", test_x, min_rows=1).shape[0]
    test_y = _as_labels(func, "test_y", test_y, n=n_test, x_name="test_x")  # checked before the fit
    predicted = _probe_predict(func, train_x, train_y, test_x, C=C, max_iter=max_iter, seed=seed)
    return float(accuracy_score(test_y, predicted))


def probe_predictions(
    train_x: Embeddings,
    train_y: ArrayLike,
    test_x: Embeddings,
    *,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> np.ndarray:
    """The labels that :func:`linear_probe`'s probe predicts for ``test_x``.

    The same standardisation, logistic regression and arguments as :func:`linear_probe`;
    use it to see which classes the probe gets wrong (per-class accuracy, confusion).

    Returns
    -------
    ndarray, shape (n_test,)
        Predicted labels, of the type of ``train_y``'s labels.
    """
    return _probe_predict("probe_predictions", train_x, train_y, test_x, C=C, max_iter=max_iter, seed=seed)


def _probe_predict(
    func: str, train_x: Embeddings, train_y: ArrayLike, test_x: Embeddings, *, C: float, max_iter: int, seed: int
) -> np.ndarray:
    train_x = _as_matrix(func, "train_x", train_x, min_rows=2)
    test_x = _as_matrix(func, "test_x", test_x, min_rows=1)
    train_y = _as_labels(func, "train_y", train_y, n=train_x.shape[0], x_name="train_x")
    if test_x.shape[1] != train_x.shape[1]:
        raise ValueError(
            f"The 'test_x' parameter of {func} must have the same number of columns as 'train_x' "
            f"({train_x.shape[1]}). Got {test_x.shape[1]} instead."
        )
    _check_min_classes(func, "train_y", train_y)
    C = _check_positive_float(func, "C", C)
    max_iter = _check_int(func, "max_iter", max_iter, minimum=1)
    seed = _check_seed(func, seed)
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=max_iter, random_state=seed))
    probe.fit(train_x, train_y)
    return probe.predict(test_x)


def linear_probe_split(
    x: Embeddings,
    y: ArrayLike,
    *,
    test_size: float = 0.3,
    C: float = 1.0,
    max_iter: int = 1000,
    seed: int = 0,
) -> float:
    """Linear-probe accuracy on a stratified train/test split of one labelled set.

    Splits with ``sklearn.model_selection.train_test_split(stratify=y)`` and calls
    :func:`linear_probe`. Use it when a domain has no predefined split.

    Parameters
    ----------
    x : ndarray or Tensor, shape (n_samples, dim)
        Embeddings.
    y : array-like, shape (n_samples,)
        Labels; at least two classes, and every class needs at least two members so
        that both splits can contain it.
    test_size : float, default=0.3
        Fraction held out for testing, in (0, 1).
    C, max_iter : see :func:`linear_probe`.
    seed : int, default=0
        Seeds both the split and the probe.

    Returns
    -------
    float
        Test accuracy in [0, 1].
    """
    func = "linear_probe_split"
    x = _as_matrix(func, "x", x, min_rows=2)
    y = _as_labels(func, "y", y, n=x.shape[0], x_name="x")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError(f"The 'y' parameter of {func} must contain at least 2 classes. Got {len(classes)} instead.")
    if counts.min() < 2:
        raise ValueError(
            f"The 'y' parameter of {func} must have at least 2 samples per class for a stratified split. "
            f"Got {counts.min()} for class {classes[counts.argmin()]!r} instead."
        )
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.integer, np.floating)):
        raise TypeError(f"The 'test_size' parameter of {func} must be a float. Got {type(test_size).__name__} instead.")
    test_size = float(test_size)  # numpy scalars too
    if not 0 < test_size < 1:
        raise ValueError(f"The 'test_size' parameter of {func} must be in (0, 1). Got {test_size!r} instead.")
    seed = _check_seed(func, seed)
    n_test = math.ceil(test_size * len(y))
    if n_test < len(classes) or len(y) - n_test < len(classes):
        raise ValueError(
            f"The 'test_size' parameter of {func} must leave at least one sample per class ({len(classes)}) in "
            f"each split of {len(y)} samples. Got {test_size!r} instead."
        )
    train_x, test_x, train_y, test_y = train_test_split(x, y, test_size=test_size, stratify=y, random_state=seed)
    return linear_probe(train_x, train_y, test_x, test_y, C=C, max_iter=max_iter, seed=seed)


def knn_accuracy(x: Embeddings, y: ArrayLike, *, k: int = 5, metric: str = "cosine") -> float:
    """Leave-one-out k-nearest-neighbour accuracy.

    Each sample is classified by a majority vote of its ``k`` nearest *other* samples
    (it is never its own neighbour); the score is the fraction classified correctly.
    Ties go to the tied class whose member is nearest. No training split is needed and
    nothing is random. The cosine metric is the default because contrastive embeddings
    are compared on the unit sphere (Wu et al. 2018, "Unsupervised Feature Learning via
    Non-Parametric Instance Discrimination").

    Parameters
    ----------
    x : ndarray or Tensor, shape (n_samples, dim)
        Embeddings.
    y : array-like, shape (n_samples,)
        Labels (ints or strings); at least two classes.
    k : int, default=5
        Number of neighbours, ``1 <= k < n_samples``.
    metric : {"cosine", "euclidean", "manhattan"}, default="cosine"
        Distance passed to ``sklearn.neighbors.NearestNeighbors``.

    Returns
    -------
    float
        Leave-one-out accuracy in [0, 1]. Chance level is the frequency of the
        largest class (for large ``k``) or ``sum(p_c**2)`` (for ``k = 1``).
    """
    func = "knn_accuracy"
    x = _as_matrix(func, "x", x, min_rows=2)
    y = _as_labels(func, "y", y, n=x.shape[0], x_name="x")
    _check_min_classes(func, "y", y)
    k = _check_int(func, "k", k, minimum=1)
    if k >= x.shape[0]:
        raise ValueError(
            f"The 'k' parameter of {func} must be < the number of samples ({x.shape[0]}). Got {k} instead."
        )
    _check_choice(func, "metric", metric, KNN_METRICS)
    _, codes = np.unique(y, return_inverse=True)
    neighbours = NearestNeighbors(n_neighbors=k, metric=metric).fit(x).kneighbors(return_distance=False)
    neighbour_codes = codes[neighbours]  # (n, k), nearest first
    rows = np.arange(len(codes))
    # the votes for each neighbour's class, (n, k): memory k² per sample, not one count per class
    votes = (neighbour_codes[:, :, None] == neighbour_codes[:, None, :]).sum(axis=2)
    is_top = votes == votes.max(axis=1, keepdims=True)
    predicted = neighbour_codes[rows, is_top.argmax(axis=1)]  # first (nearest) neighbour of a top class
    return float(np.mean(predicted == codes))


# ----------------------------------------------------------------------- clustering


def cluster(x: Embeddings, n_clusters: int, *, method: str = "kmeans", seed: int = 0) -> np.ndarray:
    """Cluster embeddings without ground truth, e.g. to bin DNA fragments.

    ``"kmeans"`` runs ``sklearn.cluster.KMeans`` with 10 seeded restarts;
    ``"agglomerative"`` runs Ward-linkage ``sklearn.cluster.AgglomerativeClustering``,
    which is deterministic. Both use Euclidean geometry on ``x`` as given; L2-normalise
    the rows first to cluster by cosine similarity.

    Parameters
    ----------
    x : ndarray or Tensor, shape (n_samples, dim)
        Embeddings.
    n_clusters : int
        Number of clusters, ``1 <= n_clusters <= n_samples``.
    method : {"kmeans", "agglomerative"}, default="kmeans"
    seed : int, default=0
        ``random_state`` of k-means; unused by agglomerative clustering.

    Returns
    -------
    ndarray of int64, shape (n_samples,)
        Cluster index of each sample, in ``[0, n_clusters)``.
    """
    func = "cluster"
    x = _as_matrix(func, "x", x, min_rows=1)
    return _cluster(func, x, n_clusters, method, seed)


def cluster_scores(
    x: Embeddings,
    labels_true: ArrayLike,
    *,
    n_clusters: int | None = None,
    method: str = "kmeans",
    seed: int = 0,
) -> ClusterScores:
    """Cluster embeddings and compare the clusters with known classes.

    Runs :func:`cluster` and scores the result with the adjusted Rand index
    (Hubert & Arabie 1985; 1 for a perfect match up to relabelling, about 0 for chance)
    and the normalised mutual information (arithmetic normalisation, in [0, 1]), both
    from ``sklearn.metrics``.

    Parameters
    ----------
    x : ndarray or Tensor, shape (n_samples, dim)
        Embeddings.
    labels_true : array-like, shape (n_samples,)
        Ground-truth classes (ints or strings); at least two.
    n_clusters : int or None, default=None
        Number of clusters; ``None`` uses the number of distinct ``labels_true``.
    method : {"kmeans", "agglomerative"}, default="kmeans"
    seed : int, default=0

    Returns
    -------
    dict
        ``"ari"`` (float), ``"nmi"`` (float), ``"labels"`` (ndarray of int64, shape
        (n_samples,), the predicted clusters) and ``"n_clusters"`` (int).
    """
    func = "cluster_scores"
    x = _as_matrix(func, "x", x, min_rows=2)
    labels_true = _as_labels(func, "labels_true", labels_true, n=x.shape[0], x_name="x")
    n_classes = _check_min_classes(func, "labels_true", labels_true)
    if n_clusters is None:
        n_clusters = n_classes
    labels = _cluster(func, x, n_clusters, method, seed)
    return {
        "ari": float(adjusted_rand_score(labels_true, labels)),
        "nmi": float(normalized_mutual_info_score(labels_true, labels)),
        "labels": labels,
        "n_clusters": int(n_clusters),
    }


def _cluster(func: str, x: np.ndarray, n_clusters: Any, method: Any, seed: Any) -> np.ndarray:
    n_clusters = _check_int(func, "n_clusters", n_clusters, minimum=1)
    if n_clusters > x.shape[0]:
        raise ValueError(
            f"The 'n_clusters' parameter of {func} must be <= the number of samples ({x.shape[0]}). "
            f"Got {n_clusters} instead."
        )
    _check_choice(func, "method", method, CLUSTER_METHODS)
    seed = _check_seed(func, seed)
    if n_clusters == 1:  # nothing to fit, and agglomerative clustering refuses a single sample
        return np.zeros(x.shape[0], dtype=np.int64)
    if method == "kmeans":
        model = KMeans(n_clusters=n_clusters, n_init=10, random_state=seed)
    else:
        model = AgglomerativeClustering(n_clusters=n_clusters, linkage="ward")
    return in_canonical_order(model.fit_predict, x)


def in_canonical_order(label_rows: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """``label_rows`` applied to the rows of ``x`` sorted lexicographically, the labels put back in x's order.

    k-means++ draws its starting centres by row index, so the same points listed in
    another order would give another local optimum: another partition, even another
    number of bins. Sorted, the partition depends on the points only.
    """
    order = np.lexsort(x.T[::-1])
    labels = np.empty(len(x), dtype=np.int64)
    labels[order] = label_rows(x[order])
    return labels


SILHOUETTE_SAMPLE = 5000


def kmeans_by_silhouette(x: np.ndarray, candidates: list[int], *, seed: int = 0, progress: bool = False) -> np.ndarray:
    """k-means labels (int64) for the k of ``candidates`` with the best silhouette score.

    The silhouette costs O(N^2), so beyond ``SILHOUETTE_SAMPLE`` rows it is scored on a
    seeded random subset. Ties keep the smaller k. One thread: a few thousand rows
    cluster in milliseconds, and OpenMP threads only add overhead. ``progress`` shows a
    bar over the candidates (minutes for 50,000 rows). :func:`kmeans_silhouettes` also
    returns the score of every k.
    """
    return kmeans_silhouettes(x, candidates, seed=seed, progress=progress)[0]


def kmeans_silhouettes(
    x: np.ndarray, candidates: list[int], *, seed: int = 0, progress: bool = False
) -> tuple[np.ndarray, dict[int, float]]:
    """As :func:`kmeans_by_silhouette`, with the silhouette score of every k tried.

    Returns
    -------
    labels : ndarray
        int64, shape (n_rows,): the k-means labels of the best-scoring k.
    scores : dict of int to float
        k -> silhouette score, in the order of ``candidates`` (-1 where k-means found one
        cluster or one per row, which the silhouette cannot score).
    """
    n = len(x)
    ks = [as_integer(k) for k in candidates] if isinstance(candidates, Iterable) else []
    if not ks or any(k is None or not 1 <= k <= n for k in ks):
        raise ValueError(
            f"The 'candidates' parameter of kmeans_by_silhouette must be a non-empty list of integers in [1, {n}] "
            f"(the number of rows). Got {candidates!r} instead."
        )
    scores: dict[int, float] = {}
    labels = in_canonical_order(lambda rows: _best_silhouette(rows, ks, seed, scores, progress), x)
    return labels, scores


def _best_silhouette(
    x: np.ndarray, candidates: list[int], seed: int, scores: dict[int, float], progress: bool = False
) -> np.ndarray:
    """The labels of the best k; fills ``scores`` with every k's silhouette."""
    n = len(x)
    sample = {"sample_size": SILHOUETTE_SAMPLE, "random_state": seed} if n > SILHOUETTE_SAMPLE else {}
    best, best_score = None, -np.inf
    with threadpool_limits(limits=1):
        for k in tqdm(candidates, desc="choosing k", unit="k", disable=not progress, delay=1.0):
            labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x)
            score = silhouette_score(x, labels, **sample) if 1 < len(set(labels)) < n else -1.0
            scores[k] = float(score)
            if best is None or score > best_score + 1e-9:
                best, best_score = labels, score
    return best.astype(np.int64)


# ----------------------------------------------------------------------- invariance


def invariance_score(z: Embeddings, z_transformed: Embeddings) -> InvarianceScores:
    """How much an encoder's embedding changes under a symmetry of its input.

    Row ``i`` of ``z_transformed`` must embed the symmetry-transformed version of the
    input embedded in row ``i`` of ``z`` (a lattice-translated crystal patch, the
    reverse complement of a DNA fragment). The matched cosine similarity is compared
    with the cosine similarity between unrelated inputs, so that invariance obtained by
    collapse is not mistaken for the real thing.

    Interpretation: ``matched = 1`` means perfectly invariant up to scale. For a spread
    embedding ``unrelated`` is about 0 (points scattered over the sphere), so ``gap``
    near 1 is the ideal; a collapsed encoder gives ``matched = unrelated = 1`` and
    ``gap = 0``. ``max_abs_diff = 0`` reports exact invariance (e.g. an encoder that is
    invariant by construction).

    Parameters
    ----------
    z : ndarray or Tensor, shape (n_samples, dim)
        Embeddings of the original inputs, ``n_samples >= 2``.
    z_transformed : ndarray or Tensor, shape (n_samples, dim)
        Embeddings of the transformed inputs, row-aligned with ``z``.

    Returns
    -------
    dict
        ``"matched"``: mean cosine similarity of ``z[i]`` and ``z_transformed[i]``;
        ``"matched_min"``: the smallest of those (the worst sample);
        ``"unrelated"``: mean cosine similarity of ``z[i]`` and ``z_transformed[j]``
        over all ``i != j``; ``"gap"``: ``matched - unrelated``;
        ``"max_abs_diff"``: ``max |z - z_transformed|`` on the raw, unnormalised
        embeddings. Zero rows have cosine similarity 0 with everything.
    """
    func = "invariance_score"
    z = _as_matrix(func, "z", z, min_rows=2)
    z_transformed = _as_matrix(func, "z_transformed", z_transformed, min_rows=2)
    if z.shape != z_transformed.shape:
        raise ValueError(
            f"The 'z' and 'z_transformed' parameters of {func} must have the same shape. "
            f"Got {z.shape} and {z_transformed.shape} instead."
        )
    u, v = _unit_rows(z), _unit_rows(z_transformed)
    n = u.shape[0]
    matched = np.einsum("ij,ij->i", u, v)
    # Sum of the full (n, n) cosine matrix is (sum_i u_i) . (sum_j v_j): O(n d), not O(n^2).
    off_diagonal = float(u.sum(axis=0) @ v.sum(axis=0)) - float(matched.sum())
    unrelated = off_diagonal / (n * (n - 1))
    return {
        "matched": float(matched.mean()),
        "matched_min": float(matched.min()),
        "unrelated": unrelated,
        "gap": float(matched.mean()) - unrelated,
        "max_abs_diff": float(np.abs(z - z_transformed).max()),
    }


def _unit_rows(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), eps)


# ----------------------------------------------------------------------- validation


def _as_matrix(func: str, name: str, x: Any, *, min_rows: int) -> np.ndarray:
    """Convert embeddings to a finite float64 array of shape (N, d) with N >= min_rows."""
    if isinstance(x, torch.Tensor):
        x = x.detach().to(device="cpu", dtype=torch.float64).numpy()
    elif isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
            raise TypeError(f"The '{name}' parameter of {func} must have a numeric dtype. Got {x.dtype} instead.")
        x = x.astype(np.float64, copy=False)
    else:
        raise TypeError(
            f"The '{name}' parameter of {func} must be a numpy.ndarray or a torch.Tensor. "
            f"Got {type(x).__name__} instead."
        )
    if x.ndim != 2 or x.shape[0] < min_rows or x.shape[1] < 1:
        raise ValueError(
            f"The '{name}' parameter of {func} must have shape (n_samples, dim) with n_samples >= {min_rows} "
            f"and dim >= 1. Got {x.shape} instead."
        )
    if not np.isfinite(x).all():
        raise ValueError(f"The '{name}' parameter of {func} must be finite. Got NaN or infinite values instead.")
    return x


def _as_labels(func: str, name: str, y: Any, *, n: int, x_name: str) -> np.ndarray:
    """Convert labels to a 1-D array with one entry per row of ``x_name``."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"The '{name}' parameter of {func} must be 1-D. Got shape {y.shape} instead.")
    if len(y) != n:
        raise ValueError(
            f"The '{name}' parameter of {func} must have one label per row of '{x_name}' ({n}). Got {len(y)} instead."
        )
    try:
        np.unique(y)  # sorts: classes of mixed types cannot be ordered
    except TypeError:
        kinds = sorted({type(label).__name__ for label in y.tolist()})
        raise ValueError(
            f"The '{name}' parameter of {func} must hold labels of one kind (all numbers or all strings). "
            f"Got a mix of {', '.join(kinds)} instead."
        ) from None
    if y.dtype.kind in "fc" and not np.isfinite(y).all():
        raise ValueError(f"The '{name}' parameter of {func} must not hold NaN or infinite labels.")
    return y


def _check_min_classes(func: str, name: str, y: np.ndarray) -> int:
    n_classes = len(np.unique(y))
    if n_classes < 2:
        raise ValueError(f"The '{name}' parameter of {func} must contain at least 2 classes. Got {n_classes} instead.")
    return n_classes


def _check_seed(func: str, seed: Any) -> int:
    """A seed scikit-learn accepts: an integer in [0, 2**32 - 1]."""
    seed = _check_int(func, "seed", seed, minimum=0)
    if seed > MAX_SEED:
        raise ValueError(f"The 'seed' parameter of {func} must be at most 2**32 - 1. Got {seed} instead.")
    return seed


def _check_int(func: str, name: str, value: Any, *, minimum: int) -> int:
    number = as_integer(value)
    if number is None:
        raise TypeError(f"The '{name}' parameter of {func} must be an int. Got {type(value).__name__} instead.")
    value = number
    if value < minimum:
        raise ValueError(f"The '{name}' parameter of {func} must be >= {minimum}. Got {value} instead.")
    return value


def _check_positive_float(func: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"The '{name}' parameter of {func} must be a float. Got {type(value).__name__} instead.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"The '{name}' parameter of {func} must be finite and > 0. Got {value!r} instead.")
    return float(value)


def _check_choice(func: str, name: str, value: Any, choices: tuple[str, ...]) -> None:
    if not isinstance(value, str):
        raise TypeError(f"The '{name}' parameter of {func} must be a str. Got {type(value).__name__} instead.")
    if value not in choices:
        raise ValueError(f"The '{name}' parameter of {func} must be one of {choices}. Got {value!r} instead.")

import numpy as np
import pytest
import torch

from symcl.evaluation import (
    cluster,
    cluster_scores,
    invariance_score,
    kmeans_by_silhouette,
    kmeans_silhouettes,
    knn_accuracy,
    linear_probe,
    linear_probe_split,
    probe_predictions,
)

N_CLASSES, PER_CLASS, DIM = 4, 60, 16
CHANCE = 1 / N_CLASSES


@pytest.fixture
def blobs() -> tuple[np.ndarray, np.ndarray]:
    """Four well-separated Gaussian blobs, (240, 16), with integer labels."""
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(N_CLASSES, DIM)) * 10
    y = np.repeat(np.arange(N_CLASSES), PER_CLASS)
    return centers[y] + rng.normal(size=(len(y), DIM)), y


@pytest.fixture
def random_labels(blobs) -> np.ndarray:
    return np.random.default_rng(1).permutation(blobs[1])


def test_linear_probe_separates_blobs(blobs):
    x, y = blobs
    train = np.arange(len(y)) % 2 == 0
    assert linear_probe(x[train], y[train], x[~train], y[~train]) == 1.0
    assert linear_probe_split(x, y, test_size=0.3, seed=0) == 1.0
    assert linear_probe_split(x, y, test_size=np.float32(0.3), seed=0) == 1.0  # numpy scalars are floats too


def test_probe_predictions_are_the_probe_s_and_name_the_misclassified(blobs, random_labels):
    x, y = blobs
    names = np.array(["vacancy", "interstitial", "antisite", "pristine"])[y]
    train = np.arange(len(y)) % 2 == 0
    assert (probe_predictions(x[train], names[train], x[~train]) == names[~train]).all()
    predicted = probe_predictions(x[train], random_labels[train], x[~train], seed=2)
    assert predicted.shape == (int((~train).sum()),)
    accuracy = linear_probe(x[train], random_labels[train], x[~train], random_labels[~train], seed=2)
    assert np.mean(predicted == random_labels[~train]) == accuracy
    with pytest.raises(ValueError, match="'test_x' parameter of probe_predictions"):
        probe_predictions(x[train], y[train], x[~train][:, :3])


def test_linear_probe_is_at_chance_on_random_labels(blobs, random_labels):
    x, _ = blobs
    assert linear_probe_split(x, random_labels, seed=0) == pytest.approx(CHANCE, abs=0.12)


def test_linear_probe_accepts_tensors_and_string_labels(blobs):
    x, y = blobs
    names = np.array(["vacancy", "interstitial", "antisite", "pristine"])[y]
    numpy_score = linear_probe_split(x, y, seed=3)
    assert linear_probe_split(torch.from_numpy(x).float(), names.tolist(), seed=3) == pytest.approx(numpy_score)


def test_knn_separates_blobs_and_is_at_chance_on_random_labels(blobs, random_labels):
    x, y = blobs
    assert knn_accuracy(x, y, k=5) == 1.0
    assert knn_accuracy(x, y, k=1, metric="euclidean") == 1.0
    assert knn_accuracy(x, random_labels, k=5) == pytest.approx(CHANCE, abs=0.12)


def test_knn_is_leave_one_out():
    # The lone "b" is right only if it may vote for itself; leave-one-out gets it wrong.
    x = np.array([[1.0, 0.0], [0.9, 0.1], [0.8, 0.2], [0.0, 1.0]])
    assert knn_accuracy(x, ["a", "a", "a", "b"], k=1) == 0.75
    # Only the query's own row is left out, not exact duplicates of it.
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    assert knn_accuracy(x, [0, 0, 1, 1], k=1) == 1.0


def test_knn_breaks_ties_towards_the_nearest_neighbour():
    x = np.array([[0.0], [1.0], [-2.0], [10.0], [11.0]])
    y = np.array(["a", "b", "a", "b", "b"])
    # Nearest two (nearest first): 0 -> b, a (tie, b: wrong); 1 -> a, a (wrong);
    # 2 -> a, b (tie, a: right); 3 and 4 -> b, b (right). Breaking ties towards the
    # first class in sorted order would score 4/5.
    assert knn_accuracy(x, y, k=2, metric="euclidean") == pytest.approx(3 / 5)


def test_cluster_scores_recover_blobs(blobs):
    x, y = blobs
    for method in ("kmeans", "agglomerative"):
        scores = cluster_scores(x, y, method=method)
        assert scores["ari"] == pytest.approx(1.0)
        assert scores["nmi"] == pytest.approx(1.0)
        assert scores["n_clusters"] == N_CLASSES
        assert scores["labels"].shape == y.shape
        assert set(scores["labels"].tolist()) == set(range(N_CLASSES))


def test_cluster_scores_are_near_zero_on_shuffled_labels(blobs, random_labels):
    x, _ = blobs
    scores = cluster_scores(x, random_labels)
    assert abs(scores["ari"]) < 0.05
    assert scores["nmi"] < 0.1


def test_cluster_returns_labels_without_ground_truth(blobs):
    x, y = blobs
    labels = cluster(x, 4, method="kmeans", seed=0)
    assert labels.dtype == np.int64 and labels.shape == y.shape
    # Each blob lands in exactly one cluster.
    assert all(len(set(labels[y == c].tolist())) == 1 for c in range(N_CLASSES))
    assert cluster_scores(x, y, n_clusters=2)["n_clusters"] == 2


def test_same_seed_gives_same_results(blobs, random_labels):
    x, _ = blobs
    noisy = x + np.random.default_rng(5).normal(size=x.shape) * 20
    assert linear_probe_split(noisy, random_labels, seed=7) == linear_probe_split(noisy, random_labels, seed=7)
    np.testing.assert_array_equal(cluster(noisy, 6, seed=7), cluster(noisy, 6, seed=7))
    assert knn_accuracy(noisy, random_labels) == knn_accuracy(noisy, random_labels)
    # The seed matters: a different split scores the random labels differently.
    scores = {linear_probe_split(noisy, random_labels, seed=s) for s in range(4)}
    assert len(scores) > 1


def test_invariance_of_identical_embeddings():
    z = torch.randn(200, 64, generator=torch.Generator().manual_seed(0))
    scores = invariance_score(z, z.clone())
    assert scores["matched"] == pytest.approx(1.0)
    assert scores["matched_min"] == pytest.approx(1.0)
    assert scores["unrelated"] == pytest.approx(0.0, abs=0.05)
    assert scores["gap"] > 0.9
    assert scores["max_abs_diff"] == 0.0


def test_invariance_of_unrelated_embeddings_has_no_gap():
    rng = np.random.default_rng(0)
    scores = invariance_score(rng.normal(size=(200, 64)), rng.normal(size=(200, 64)))
    assert scores["matched"] == pytest.approx(0.0, abs=0.05)
    assert scores["gap"] == pytest.approx(0.0, abs=0.05)
    assert scores["max_abs_diff"] > 1.0


def test_invariance_unrelated_matches_the_pairwise_definition():
    rng = np.random.default_rng(2)
    z, zt = rng.normal(size=(9, 5)), rng.normal(size=(9, 5))
    u = z / np.linalg.norm(z, axis=1, keepdims=True)
    v = zt / np.linalg.norm(zt, axis=1, keepdims=True)
    pairs = [u[i] @ v[j] for i in range(9) for j in range(9) if i != j]
    scores = invariance_score(z, zt)
    assert scores["unrelated"] == pytest.approx(np.mean(pairs))
    assert scores["matched"] == pytest.approx(np.mean(np.sum(u * v, axis=1)))


def test_collapsed_embeddings_look_invariant_but_have_no_gap():
    z = np.ones((50, 8))
    scores = invariance_score(z, z * 2)
    assert scores["matched"] == pytest.approx(1.0)
    assert scores["unrelated"] == pytest.approx(1.0)
    assert scores["gap"] == pytest.approx(0.0, abs=1e-12)
    assert scores["max_abs_diff"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (
            lambda x, y: linear_probe(x, y[:-1], x, y),
            ValueError,
            r"'train_y' parameter of linear_probe.*one label per row.*Got 239",
        ),
        (
            lambda x, y: linear_probe(x, np.zeros(len(y)), x, y),
            ValueError,
            r"'train_y'.*at least 2 classes\. Got 1 instead",
        ),
        (lambda x, y: linear_probe(x, y, x[:, :3], y), ValueError, r"'test_x'.*same number of columns.*Got 3"),
        (
            lambda x, y: linear_probe(x, y, x, y, C=0),
            ValueError,
            r"'C' parameter of linear_probe must be finite and > 0\. Got 0",
        ),
        (
            lambda x, y: linear_probe(x.tolist(), y, x, y),
            TypeError,
            r"'train_x'.*numpy.ndarray or a torch.Tensor\. Got list",
        ),
        (lambda x, y: linear_probe_split(x, y, test_size=1.5), ValueError, r"'test_size'.*in \(0, 1\)\. Got 1.5"),
        (lambda x, y: linear_probe_split(x, np.arange(len(y))), ValueError, r"'y'.*at least 2 samples per class"),
        (
            lambda x, y: knn_accuracy(x, y, k=0),
            ValueError,
            r"The 'k' parameter of knn_accuracy must be >= 1\. Got 0 instead\.",
        ),
        (
            lambda x, y: knn_accuracy(x, y, k=len(y)),
            ValueError,
            r"'k' parameter of knn_accuracy must be < the number of samples \(240\)\. Got 240",
        ),
        (
            lambda x, y: knn_accuracy(x, y, k=2.5),
            TypeError,
            r"'k' parameter of knn_accuracy must be an int\. Got float",
        ),
        (lambda x, y: knn_accuracy(x, y, metric="hamming"), ValueError, r"'metric'.*one of.*Got 'hamming'"),
        (lambda x, y: knn_accuracy(x[:, :, None], y), ValueError, r"'x'.*shape \(n_samples, dim\).*Got \(240, 16, 1\)"),
        (lambda x, y: knn_accuracy(np.full_like(x, np.nan), y), ValueError, r"'x'.*must be finite"),
        (
            lambda x, y: knn_accuracy(x, np.array([1, "a"] * (len(y) // 2), dtype=object)),
            ValueError,
            r"'y' parameter of knn_accuracy must hold labels of one kind.*Got a mix of int, str",
        ),
        (
            lambda x, y: linear_probe(x, y, x, np.where(y == 0, np.nan, y)),
            ValueError,
            r"'test_y' parameter of linear_probe must not hold NaN",
        ),
        (
            lambda x, y: cluster(x, 4, method="dbscan"),
            ValueError,
            r"'method' parameter of cluster must be one of \('kmeans', 'agglomerative'\)\. Got 'dbscan'",
        ),
        (lambda x, y: cluster(x, 0), ValueError, r"'n_clusters' parameter of cluster must be >= 1\. Got 0"),
        (lambda x, y: cluster(x, 241), ValueError, r"'n_clusters'.*<= the number of samples \(240\)\. Got 241"),
        (
            lambda x, y: cluster_scores(x, np.ones(len(y))),
            ValueError,
            r"'labels_true' parameter of cluster_scores.*at least 2 classes",
        ),
        (
            lambda x, y: cluster_scores(x, y, method="spectral"),
            ValueError,
            r"'method' parameter of cluster_scores.*Got 'spectral'",
        ),
        (lambda x, y: invariance_score(x, x[:-1]), ValueError, r"'z' and 'z_transformed'.*same shape"),
        (lambda x, y: invariance_score(x[:1], x[:1]), ValueError, r"'z'.*n_samples >= 2"),
        (lambda x, y: linear_probe(x, y, x, y, seed=2**32), ValueError, r"'seed' parameter of linear_probe.*2\*\*32"),
        (lambda x, y: kmeans_by_silhouette(x, []), ValueError, r"'candidates'.*non-empty list.*\[1, 240\]"),
        (lambda x, y: kmeans_by_silhouette(x, [2, True]), ValueError, r"'candidates'.*Got \[2, True\]"),
    ],
)
def test_invalid_input_raises_naming_the_parameter(blobs, call, error, match):
    with pytest.raises(error, match=match):
        call(*blobs)


def test_kmeans_silhouettes_scores_every_candidate(blobs):
    from sklearn.metrics import silhouette_score

    x, _ = blobs
    labels, scores = kmeans_silhouettes(x, [2, 3, 4, 5, 6], seed=1)
    assert list(scores) == [2, 3, 4, 5, 6] and max(scores, key=scores.get) == N_CLASSES
    assert np.array_equal(labels, kmeans_by_silhouette(x, [2, 3, 4, 5, 6], seed=1))
    assert scores[N_CLASSES] == pytest.approx(silhouette_score(x, labels))


def test_kmeans_candidates_may_be_numpy_integers():
    x = np.random.default_rng(0).random((30, 2))
    assert np.array_equal(kmeans_by_silhouette(x, np.arange(2, 4)), kmeans_by_silhouette(x, [2, 3]))


@pytest.mark.parametrize("k", [None, 7], ids=["k by silhouette", "k = 7"])
def test_clusters_do_not_depend_on_the_order_of_the_rows(k):
    # k-means++ picks its starting centres by row index; unstructured points have many local optima
    x = np.random.default_rng(0).random((120, 4))
    order = np.random.default_rng(1).permutation(len(x))
    if k is None:
        labels, shuffled = (kmeans_by_silhouette(rows, list(range(2, 9)), seed=5) for rows in (x, x[order]))
    else:
        labels, shuffled = (cluster(rows, k, seed=5) for rows in (x, x[order]))
    assert np.array_equal(labels[order], shuffled)


def test_the_search_for_k_shows_a_bar_over_the_candidates_only_when_asked(capsys, monkeypatch):
    from symcl import evaluation

    seen = []
    real_tqdm = evaluation.tqdm
    monkeypatch.setattr(evaluation, "tqdm", lambda items, **kw: seen.append(kw["disable"]) or real_tqdm(items, **kw))
    x = np.random.default_rng(0).normal(size=(30, 3))
    quiet = evaluation.kmeans_by_silhouette(x, [2, 3, 4])
    shown = evaluation.kmeans_by_silhouette(x, [2, 3, 4], progress=True)
    assert seen == [True, False]
    np.testing.assert_array_equal(quiet, shown)

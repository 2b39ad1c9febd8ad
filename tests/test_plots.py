import sys
from pathlib import Path

import matplotlib
import matplotlib.image
import numpy as np
import pytest
import torch

from symcl.plots import plot_embedding_map, plot_training_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> np.ndarray:
    """The file is a readable, non-trivial PNG; return its pixels, (H, W, channels)."""
    assert path.is_file()
    assert path.read_bytes()[:8] == PNG_MAGIC
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    assert image.std() > 0  # something was drawn
    assert not list(path.parent.glob(f".{path.name}.*.tmp"))  # no temporary file left behind
    return image


def full_history() -> dict:
    return {
        "steps": [{"step": s, "loss": 5.0 / (s + 1), "lr": 1e-3, "temperature": 0.1 + 0.001 * s} for s in range(50)],
        "evaluations": [
            {"step": s, "alignment": 1.0 / (s + 1), "uniformity": -3.0 - s / 50, "effective_rank": 10.0 + s / 5}
            for s in range(0, 50, 10)
        ],
    }


def test_training_curves_are_written_as_png(tmp_path):
    path = plot_training_curves(full_history(), tmp_path / "nested" / "dir" / "curves.png")
    assert path == tmp_path / "nested" / "dir" / "curves.png"
    assert_png(path)


def test_training_curves_without_evaluations_or_temperature(tmp_path):
    history = full_history()
    history["evaluations"] = []
    for record in history["steps"]:
        record["temperature"] = None  # a distance-regression objective has no temperature
    narrow = assert_png(plot_training_curves(history, tmp_path / "steps_only.png"))
    wide = assert_png(plot_training_curves(full_history(), tmp_path / "full.png"))
    # Fewer panels give a smaller figure: two panels (loss, lr) against three columns of six.
    assert narrow.shape[1] < wide.shape[1]


def test_training_curves_with_missing_parts(tmp_path):
    assert_png(plot_training_curves({"evaluations": full_history()["evaluations"]}, tmp_path / "evals_only.png"))
    assert_png(plot_training_curves({}, tmp_path / "empty.png"))
    assert_png(plot_training_curves({"steps": [], "evaluations": []}, tmp_path / "empty_lists.png"))


def test_training_curves_mark_early_stop_and_plot_extra_metrics(tmp_path):
    history = full_history()
    plain = plot_training_curves(history, tmp_path / "plain.png").read_bytes()
    history["early_stop"] = {"step": 40, "best_step": 20, "collapsed": True, "reason": "uniformity degraded"}
    stopped = plot_training_curves(history, tmp_path / "stopped.png")
    assert_png(stopped)
    assert stopped.read_bytes() != plain
    for record in history["evaluations"]:
        record["knn_accuracy"] = 0.9  # any further numeric metric gets a seventh panel, a third row
    extra = assert_png(plot_training_curves(history, tmp_path / "extra.png"))
    assert extra.shape[0] > matplotlib.image.imread(stopped).shape[0]


def test_every_training_panel_spans_the_whole_run(tmp_path, monkeypatch):
    import symcl.plots

    drawn = []
    monkeypatch.setattr(symcl.plots, "_save", lambda fig, path: drawn.append(fig) or path)
    history = full_history()  # losses at steps 0-49, evaluations at 0, 10, ..., 40
    history["evaluations"] = [dict(record, step=record["step"] + 10) for record in history["evaluations"]]
    plot_training_curves(history, tmp_path / "curves.png")
    limits = {tuple(ax.get_xlim()) for ax in drawn[0].axes}
    assert len(limits) == 1  # the evaluations' panels too, though their first point is at step 10
    ((low, high),) = limits
    assert low < 0 < 50 < high < 52


def test_training_curves_overwrite_atomically(tmp_path):
    path = tmp_path / "curves.png"
    path.write_bytes(b"old")
    plot_training_curves(full_history(), path)
    assert_png(path)


def test_training_curves_validate_input(tmp_path):
    with pytest.raises(TypeError, match=r"'history' parameter of plot_training_curves must be a mapping\. Got list"):
        plot_training_curves([], tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"'history\['steps'\]'.*'step' key.*index 0"):
        plot_training_curves({"steps": [{"loss": 1.0}]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"'path' parameter of plot_training_curves must end in '.png'"):
        plot_training_curves(full_history(), tmp_path / "x.pdf")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    "labels",
    [
        np.repeat(["vacancy", "interstitial", "antisite"], 20),
        np.repeat([0, 1, 2], 20).tolist(),
        torch.arange(60) % 3,
        None,
        [f"family_{i}" for i in range(60)],  # more labels than the legend shows
        ["a"] * 30 + [1] * 30,  # mixed types
    ],
    ids=["strings", "ints", "tensor", "none", "many", "mixed"],
)
def test_embedding_map_handles_labels(tmp_path, labels):
    z = torch.randn(60, 8, generator=torch.Generator().manual_seed(0))
    path = plot_embedding_map(z, labels, tmp_path / "map.png", method="pca", title="test")
    assert_png(path)


def test_nan_labels_are_one_missing_label():
    from symcl.plots import _encode

    distinct, codes, counts = _encode(np.array([np.nan, 1.0, np.nan, 2.0]))
    assert distinct == ["missing", 1.0, 2.0] and codes.tolist() == [0, 1, 0, 2] and counts.tolist() == [2, 1, 1]


def test_embedding_map_of_one_dimensional_embeddings(tmp_path):
    assert_png(plot_embedding_map(np.arange(10.0)[:, None], [0, 1] * 5, tmp_path / "line.png", method="pca"))


def test_embedding_map_is_deterministic(tmp_path):
    z = np.random.default_rng(0).normal(size=(80, 6))
    labels = np.repeat(["x", "y"], 40)
    first = plot_embedding_map(z, labels, tmp_path / "a.png", seed=3, method="pca").read_bytes()
    second = plot_embedding_map(z, labels, tmp_path / "b.png", seed=3, method="pca").read_bytes()
    assert first == second


def test_embedding_map_without_umap(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)  # makes `import umap` raise ImportError
    z = np.random.default_rng(0).normal(size=(30, 4))
    assert_png(plot_embedding_map(z, None, tmp_path / "auto.png", method="auto"))
    with pytest.raises(ImportError, match="umap-learn"):
        plot_embedding_map(z, None, tmp_path / "umap.png", method="umap")
    assert not (tmp_path / "umap.png").exists()


def test_embedding_map_validates_input(tmp_path):
    z = np.zeros((10, 3))
    with pytest.raises(
        ValueError, match=r"'labels' parameter of plot_embedding_map must have shape \(10,\).*Got \(9,\)"
    ):
        plot_embedding_map(z, [0] * 9, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"'method' parameter of plot_embedding_map must be one of.*Got 'tsne'"):
        plot_embedding_map(z, None, tmp_path / "x.png", method="tsne")
    with pytest.raises(ValueError, match=r"'embeddings'.*n_samples >= 2.*Got \(1, 3\)"):
        plot_embedding_map(z[:1], None, tmp_path / "x.png")
    with pytest.raises(TypeError, match=r"'embeddings'.*Got list"):
        plot_embedding_map(z.tolist(), None, tmp_path / "x.png")
    assert not list(tmp_path.iterdir())


def test_plotting_leaves_global_matplotlib_state_alone(tmp_path):
    backend, rc = matplotlib.get_backend(), dict(matplotlib.rcParams)
    pyplot_loaded = "matplotlib.pyplot" in sys.modules
    plot_embedding_map(np.eye(5), None, tmp_path / "map.png", method="pca")
    plot_training_curves(full_history(), tmp_path / "curves.png")
    assert matplotlib.get_backend() == backend
    assert dict(matplotlib.rcParams) == rc
    if pyplot_loaded:  # no figure was registered with pyplot's figure manager
        assert not sys.modules["matplotlib.pyplot"].get_fignums()
    else:
        assert "matplotlib.pyplot" not in sys.modules

"""PNG figures of training runs and embeddings, written atomically.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas, so importing or
calling this module never changes the user's matplotlib backend or global state.
Each file is saved to a temporary file beside its target and renamed into place
(:func:`symcl.atomic.atomic_write`), so a reader never sees a half-written PNG.
"""

from __future__ import annotations

import importlib
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from numpy.typing import ArrayLike
from sklearn.decomposition import PCA

from symcl.atomic import atomic_write
from symcl.evaluation import Embeddings, _as_matrix, _check_choice, _check_int

MAP_METHODS = ("auto", "pca", "umap")

# Panel titles of the known series, in drawing order; other numeric evaluation keys follow.
_STEP_TITLES = {"loss": "loss", "lr": "learning rate", "temperature": "temperature"}
_EVAL_TITLES = {
    "alignment": "alignment (lower is better)",
    "uniformity": "uniformity (lower is better)",
    "effective_rank": "effective rank",
    "knn_accuracy": "5-NN accuracy of the labels",
    # the protein regressor's (symcl.domains.protein.regression_evaluator), on a fixed batch of training pairs
    "spearman": "Spearman of predicted vs target",
    "mae": "mean abs. error (subst. per site)",
    "cap_recall": "capped pairs predicted at the cap",
}


def plot_training_curves(history: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Plot loss, learning rate, temperature and evaluation metrics against the step.

    ``history`` is the dictionary the training engine writes to ``history.json``::

        {"steps": [{"step": int, "loss": float, "lr": float,
                    "temperature": float | None}, ...],
         "evaluations": [{"step": int, "alignment": float, "uniformity": float,
                          "effective_rank": float}, ...]}

    One panel is drawn per series that has at least one value; further numeric keys of
    the evaluations get panels of their own. Missing keys, empty lists and ``None``
    values are skipped (no evaluations yet, or no temperature for a distance-regression
    objective); with nothing at all to draw the figure says so. When the history holds
    an ``"early_stop"`` record, its ``"best_step"`` and ``"step"`` are marked by
    dashed and dotted vertical lines.

    Parameters
    ----------
    history : Mapping
        Training history as above. Each record needs an integer ``"step"``.
    path : str or PathLike
        Output file; must end in ``.png``. Parent directories are created.

    Returns
    -------
    Path
        The written file.
    """
    func = "plot_training_curves"
    path = _check_png_path(func, path)
    if not isinstance(history, Mapping):
        raise TypeError(f"The 'history' parameter of {func} must be a mapping. Got {type(history).__name__} instead.")
    steps = _records(func, history, "steps")
    evaluations = _records(func, history, "evaluations")
    eval_keys = list(_EVAL_TITLES) + [
        key
        for key in dict.fromkeys(key for record in evaluations for key in record)
        if key not in _EVAL_TITLES and key != "step" and _is_numeric_series(evaluations, key)
    ]
    panels = [(title, *_series(steps, key)) for key, title in _STEP_TITLES.items()]
    panels += [(_EVAL_TITLES.get(key, key.replace("_", " ")), *_series(evaluations, key)) for key in eval_keys]
    panels = [panel for panel in panels if len(panel[1])]
    early_stop = history.get("early_stop")
    early_stop = early_stop if isinstance(early_stop, Mapping) else {}
    markers = [
        (early_stop[key], style, label)
        for key, style, label in (("best_step", "--", "best"), ("step", ":", "early stop"))
        if isinstance(early_stop.get(key), numbers.Real)
    ]

    # every panel over the whole run, so an evaluation every N steps lines up with the loss
    steps_drawn = np.concatenate([x for _, x, _ in panels]) if panels else np.empty(0)
    x_range = None
    if len(steps_drawn) and np.ptp(steps_drawn) > 0:
        margin = 0.02 * np.ptp(steps_drawn)  # so the last evaluation's marker is not cut in half
        x_range = (steps_drawn.min() - margin, steps_drawn.max() + margin)
    n_cols = min(3, max(1, len(panels)))
    n_rows = max(1, -(-len(panels) // n_cols))
    fig = Figure(figsize=(4.2 * n_cols, 3.2 * n_rows), layout="constrained")
    FigureCanvasAgg(fig)
    if not panels:
        ax = fig.add_subplot()
        ax.text(0.5, 0.5, "no training history yet", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    for i, (title, x, y) in enumerate(panels):
        ax = fig.add_subplot(n_rows, n_cols, i + 1)
        ax.plot(x, y, marker="o" if len(x) < 30 else None, markersize=3, linewidth=1.2)
        for step, style, label in markers:
            ax.axvline(step, color="grey", linestyle=style, linewidth=1, label=label)
        if markers and i == 0:
            ax.legend(fontsize="small")
        ax.set_title(title)
        if x_range is not None:
            ax.set_xlim(*x_range)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_embedding_map(
    embeddings: Embeddings,
    labels: ArrayLike | None,
    path: str | os.PathLike,
    *,
    method: str = "auto",
    title: str | None = None,
    max_legend: int = 20,
    seed: int = 0,
) -> Path:
    """Scatter embeddings in 2-D, coloured by label.

    The 2-D coordinates come from ``sklearn.decomposition.PCA`` or from UMAP
    (McInnes et al. 2018, the optional ``umap-learn`` package). Points are drawn in a
    seeded random order so that no class hides another.

    Parameters
    ----------
    embeddings : ndarray or Tensor, shape (n_samples, dim)
        Embeddings, ``n_samples >= 2``. With ``dim == 1`` the second axis is zero.
    labels : array-like of shape (n_samples,) or None
        Class of each point (ints or strings). ``None`` draws every point in one colour
        without a legend.
    path : str or PathLike
        Output file; must end in ``.png``. Parent directories are created.
    method : {"auto", "pca", "umap"}, default="auto"
        ``"auto"`` uses UMAP when ``umap`` is importable and PCA otherwise; ``"umap"``
        raises ``ImportError`` when it is not.
    title : str or None, default=None
        Figure title; defaults to the projection used.
    max_legend : int, default=20
        The legend lists at most this many labels, the most frequent first, and counts
        the rest. ``0`` hides the legend.
    seed : int, default=0
        Seeds the projection and the drawing order.

    Returns
    -------
    Path
        The written file.
    """
    func = "plot_embedding_map"
    path = _check_png_path(func, path)
    x = _as_matrix(func, "embeddings", embeddings, min_rows=2)
    _check_choice(func, "method", method, MAP_METHODS)
    max_legend = _check_int(func, "max_legend", max_legend, minimum=0)
    seed = _check_int(func, "seed", seed, minimum=0)
    if title is not None and not isinstance(title, str):
        raise TypeError(f"The 'title' parameter of {func} must be a str or None. Got {type(title).__name__} instead.")
    if labels is not None:
        labels = np.asarray(labels, dtype=object)
        if labels.shape != (x.shape[0],):
            raise ValueError(
                f"The 'labels' parameter of {func} must have shape ({x.shape[0]},), one label per row of "
                f"'embeddings'. Got {labels.shape} instead."
            )

    coords, used = _project(x, method, seed)
    order = np.random.default_rng(seed).permutation(x.shape[0])
    fig = Figure(figsize=(7.5, 6.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    size = float(np.clip(3000.0 / x.shape[0], 2.0, 30.0))
    if labels is None:
        ax.scatter(coords[order, 0], coords[order, 1], s=size, alpha=0.8, linewidths=0)
    else:
        classes, codes, counts = _encode(labels)
        palette = _palette(len(classes))
        ax.scatter(coords[order, 0], coords[order, 1], c=palette[codes[order]], s=size, alpha=0.8, linewidths=0)
        shown = np.argsort(-counts, kind="stable")[:max_legend]
        if len(shown):
            handles = [
                Line2D([], [], linestyle="", marker="o", color=palette[c], label=f"{classes[c]} ({counts[c]})")
                for c in shown
            ]
            hidden = len(classes) - len(shown)
            ax.legend(
                handles=handles,
                title=f"+{hidden} more labels" if hidden else None,
                loc="center left",
                bbox_to_anchor=(1.01, 0.5),
                fontsize="small",
                frameon=False,
            )
    ax.set_xlabel(f"{used} 1")
    ax.set_ylabel(f"{used} 2")
    ax.set_title(title if title is not None else f"{used} of {x.shape[0]} embeddings")
    return _save(fig, path)


# ---------------------------------------------------------------------------- helpers


def _records(func: str, history: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    records = history.get(key)
    if records is None:
        return []
    if isinstance(records, (str, bytes)) or not isinstance(records, Sequence):
        raise TypeError(
            f"The 'history[{key!r}]' parameter of {func} must be a list of records. Got {type(records).__name__} instead."
        )
    for i, record in enumerate(records):
        if not isinstance(record, Mapping) or "step" not in record:
            raise ValueError(
                f"The 'history[{key!r}]' parameter of {func} must hold mappings with a 'step' key. "
                f"Got {record!r} at index {i} instead."
            )
    return list(records)


def _series(records: Sequence[Mapping[str, Any]], key: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and values of ``key`` over the records that have a value for it."""
    kept = [(r["step"], r[key]) for r in records if r.get(key) is not None]
    steps = np.array([s for s, _ in kept], dtype=float)
    values = np.array([v for _, v in kept], dtype=float)
    return steps, values


def _is_numeric_series(records: Sequence[Mapping[str, Any]], key: str) -> bool:
    values = [r[key] for r in records if r.get(key) is not None]
    return all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in values)


def _project(x: np.ndarray, method: str, seed: int) -> tuple[np.ndarray, str]:
    """2-D coordinates of ``x`` (N, d) and the name of the projection used."""
    if method in ("auto", "umap"):
        try:
            umap = importlib.import_module("umap")
        except ImportError:
            if method == "umap":
                raise ImportError(
                    "plot_embedding_map(method='umap') needs the optional 'umap-learn' package. "
                    "Install it, or pass method='pca' or 'auto'."
                ) from None
        else:
            if x.shape[0] > 3:
                reducer = umap.UMAP(n_components=2, n_neighbors=min(15, x.shape[0] - 1), random_state=seed)
                return np.asarray(reducer.fit_transform(x), dtype=float), "UMAP"
    if x.shape[1] == 1:
        return np.column_stack([x[:, 0] - x[:, 0].mean(), np.zeros(x.shape[0])]), "PCA"
    return PCA(n_components=2, random_state=seed).fit_transform(x), "PCA"


_MISSING = "missing"  # the legend entry of NaN labels


def _encode(labels: np.ndarray) -> tuple[list[Any], np.ndarray, np.ndarray]:
    """Distinct labels (sorted when comparable), integer code per point, count per label.

    NaN, the usual mark of a missing label, is one label: NaN != NaN would make each its own.
    """
    values = [_MISSING if isinstance(v, float) and v != v else v for v in labels.tolist()]
    distinct = list(dict.fromkeys(values))
    try:
        distinct = sorted(distinct)
    except TypeError:  # mixed types keep their order of first appearance
        pass
    index = {label: i for i, label in enumerate(distinct)}
    codes = np.array([index[label] for label in values], dtype=np.int64)
    return distinct, codes, np.bincount(codes, minlength=len(distinct))


def _palette(n: int) -> np.ndarray:
    """(n, 4) RGBA colours: qualitative for up to 20 labels, a continuous map beyond."""
    if n <= 10:
        return colormaps["tab10"](np.arange(n))
    if n <= 20:
        return colormaps["tab20"](np.arange(n))
    return colormaps["turbo"](np.linspace(0.0, 1.0, n))


def _check_png_path(func: str, path: Any) -> Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"The 'path' parameter of {func} must be a str or PathLike. Got {type(path).__name__} instead.")
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"The 'path' parameter of {func} must end in '.png'. Got {str(path)!r} instead.")
    return path


def _save(fig: Figure, path: Path) -> Path:
    """Save ``fig`` as PNG to a temporary file beside ``path``, then rename it into place."""
    return atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=120))

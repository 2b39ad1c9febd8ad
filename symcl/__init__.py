"""symcl: symmetry-aware contrastive learning for scientific data.

The core holds the objectives, negatives queue and metrics shared by every domain.
Domains live in :mod:`symcl.domains` and are never imported from here.
"""

from symcl.collapse import CollapseMonitor
from symcl.embedding import embed
from symcl.metrics import alignment, effective_rank, uniformity
from symcl.negative_queue import NegativeQueue
from symcl.objectives import InfoNCE, LearnableTemperature, info_nce

__version__ = "0.1.0"

# scikit-learn and matplotlib take seconds to import: load them on first use only.
_LAZY = {
    "cluster": "symcl.evaluation",
    "cluster_scores": "symcl.evaluation",
    "invariance_score": "symcl.evaluation",
    "knn_accuracy": "symcl.evaluation",
    "linear_probe": "symcl.evaluation",
    "linear_probe_split": "symcl.evaluation",
    "probe_predictions": "symcl.evaluation",
    "plot_embedding_map": "symcl.plots",
    "plot_training_curves": "symcl.plots",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'symcl' has no attribute {name!r}")


__all__ = [
    "CollapseMonitor",
    "InfoNCE",
    "LearnableTemperature",
    "NegativeQueue",
    "__version__",
    "alignment",
    "cluster",
    "cluster_scores",
    "effective_rank",
    "embed",
    "info_nce",
    "invariance_score",
    "knn_accuracy",
    "linear_probe",
    "linear_probe_split",
    "probe_predictions",
    "plot_embedding_map",
    "plot_training_curves",
    "uniformity",
]

"""symcl: symmetry-aware contrastive learning for scientific data.

The core holds the objectives, negatives queue and metrics shared by every domain.
Domains live in :mod:`symcl.domains` and are never imported from here.
"""

from symcl.collapse import CollapseMonitor
from symcl.embedding import embed
from symcl.metrics import alignment, effective_rank, uniformity
from symcl.objectives import InfoNCE, LearnableTemperature, info_nce
from symcl.negative_queue import NegativeQueue

__version__ = "0.1.0"

__all__ = [
    "CollapseMonitor",
    "InfoNCE",
    "LearnableTemperature",
    "NegativeQueue",
    "__version__",
    "alignment",
    "effective_rank",
    "embed",
    "info_nce",
    "uniformity",
]

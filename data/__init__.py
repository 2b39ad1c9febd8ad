"""Small real data sets and pretrained default models shipped with symcl.

Each domain keeps its files in a folder of its own (``dna/``, ``crystal/``,
``protein/``) with a README giving provenance and licence.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def data_path(*parts: str) -> Path:
    """Path of a shipped file or folder, e.g. ``data_path("dna", "model")``."""
    path = Path(str(files(__name__).joinpath(*parts)))
    if not path.exists():
        raise FileNotFoundError(f"{path}: not shipped with this symcl installation")
    return path

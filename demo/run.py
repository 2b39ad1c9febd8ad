"""Run the demo parts in order and write the report, keeping what finished if a part fails."""

from __future__ import annotations

import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm

import symcl
from symcl.errors import UserInputError

from .report import REPORT_FILES, Section, write_report

PARTS = ("dna", "crystal", "protein")


def _runner(name: str) -> Callable[..., Section]:
    # Imported on demand so that ``symcl --help`` does not load three domains.
    if name == "dna":
        from .dna_part import run_dna

        return run_dna
    if name == "crystal":
        from .crystal_part import run_crystal

        return run_crystal
    from .protein_part import run_protein

    return run_protein


def run_demo(
    out_dir: str | os.PathLike = "symcl-demo",
    *,
    quick: bool = False,
    seed: int = 0,
    parts: Sequence[str] = PARTS,
    progress: bool = True,
) -> dict[str, Path]:
    """Run the demo parts and write ``report.md`` and ``report.html`` in ``out_dir``.

    Parameters
    ----------
    out_dir : path
        Output directory (created); each part writes its files in a subfolder.
    quick : bool
        Smaller inputs (about 20 seconds on 2 CPU cores instead of about a minute).
    seed : int
        Seed of the fragment strands, the simulated micrograph, the views and the
        simulated protein family.
    parts : sequence of {"dna", "crystal", "protein"}
        Which parts to run, in this order.
    progress : bool
        Progress bars (the parts and their long steps).

    Returns
    -------
    dict
        "report.md" and "report.html" -> path.

    Raises
    ------
    ValueError
        ``parts`` names an unknown part.
    UserInputError
        ``out_dir`` exists and is not a directory.

    A part that fails re-raises its error after the report of the parts that finished
    has been written. Files already in ``out_dir`` are kept; those this run did not
    write (from an earlier run) are named in the report and in a UserWarning.
    """
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"The 'parts' parameter of run_demo must name some of {PARTS}. Got {list(parts)} instead.")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"The demo output directory {str(out_dir)!r} exists and is not a directory.")
    out_dir.mkdir(parents=True, exist_ok=True)
    before = _snapshot(out_dir)
    started = time.perf_counter()
    sections: list[Section] = []
    paths: dict[str, Path] = {}
    # The parts' own bars sit below this one, and tqdm moves between nested bars with cursor
    # codes that a log file keeps as junk: without a terminal, a plain line per part instead.
    terminal = sys.stderr.isatty()
    bar = tqdm(parts, desc="symcl demo", unit="part", disable=not (progress and terminal))
    try:
        for number, name in enumerate(bar, start=1):
            bar.set_postfix_str(name)
            if progress and not terminal:
                print(f"symcl demo: part {number}/{len(parts)}, {name}", file=sys.stderr, flush=True)
            sections.append(_runner(name)(out_dir, quick=quick, seed=seed, progress=progress))
    finally:
        bar.close()
        if sections:
            written, stale = _written_and_stale(out_dir, before)
            preamble = _preamble(quick, seed, parts, time.perf_counter() - started)
            if stale:
                preamble += (
                    f" {out_dir} also holds {_stale_files(stale)} (metrics.json lists the files this run wrote)."
                )
            paths = write_report(out_dir, "symcl demo", preamble, sections, written)
            if stale:  # printed as one "symcl: warning:" line by the command line
                warnings.warn(f"{out_dir} also holds {_stale_files(stale)}", stacklevel=2)
    return paths


def _preamble(quick: bool, seed: int, parts: Sequence[str], seconds: float) -> str:
    flags = (" --quick" if quick else "") + (f" --seed {seed}" if seed else "")
    if tuple(parts) != PARTS:
        flags += " --parts " + " ".join(parts)
    return (
        f"symcl {symcl.__version__}, torch {torch.__version__}, Python {platform.python_version()}, "
        f"{_threads(torch.get_num_threads())}; run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC in "
        f"{seconds:.0f} s. Everything here runs on data and pretrained models shipped with the package. "
        f"Reproduce the whole report with: symcl demo --out DIR{flags}"
    )


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``directory`` (relative path) -> (inode, mtime): atomic writes change both."""
    return {
        str(path.relative_to(directory)): (path.stat().st_ino, path.stat().st_mtime_ns)
        for path in directory.rglob("*")
        if path.is_file()
    }


def _written_and_stale(directory: Path, before: dict[str, tuple[int, int]]) -> tuple[list[str], list[str]]:
    """The files this run wrote, and those it left as they were (the report's own files aside)."""
    now = _snapshot(directory)
    written = sorted(name for name, stamp in now.items() if before.get(name) != stamp)
    stale = sorted(name for name, stamp in now.items() if before.get(name) == stamp and name not in REPORT_FILES)
    return sorted({*written, *REPORT_FILES}), stale


def _stale_files(stale: Sequence[str]) -> str:
    shown = ", ".join(stale[:4]) + (", ..." if len(stale) > 4 else "")
    return f"{len(stale)} file(s) this run did not write, left from an earlier run: {shown}"


def _threads(n: int) -> str:
    return f"{n} CPU thread" + ("" if n == 1 else "s")

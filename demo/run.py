"""Run the demo parts in order into a staging folder and move their files and the report into the output
directory together; a run that stops keeps the report of what finished in its staging folder."""

from __future__ import annotations

import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path

import torch
from tqdm.auto import tqdm

import symcl
from symcl.atomic import atomic_group, atomic_write, make_directory
from symcl.errors import Terminated, UserInputError

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

    The parts write into a staging folder ``out_dir/.staging-*``; only when every part has
    finished do its files and the report replace those in ``out_dir``, all together, so the
    report and the files it shows are always of one run. A part that fails, Ctrl-C or
    SIGTERM leaves ``out_dir`` as it was: the error is re-raised after a report of the parts
    that finished, marked incomplete, has been written in the staging folder (named in a
    UserWarning), or the folder removed if no part finished. Files already in ``out_dir``
    are kept; those this run did not write (from an earlier run) are named in the report
    and in a UserWarning.
    """
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(f"The 'parts' parameter of run_demo must name some of {PARTS}. Got {list(parts)} instead.")
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UserInputError(f"The demo output directory {str(out_dir)!r} exists and is not a directory.")
    make_directory(out_dir)
    # Inside out_dir, so on its file system: the files move into it by rename.
    staging = Path(tempfile.mkdtemp(prefix=STAGING, dir=out_dir))
    started = time.perf_counter()
    sections: list[Section] = []
    # The parts' own bars sit below this one, and tqdm moves between nested bars with cursor
    # codes that a log file keeps as junk: without a terminal, a plain line per part instead.
    terminal = sys.stderr.isatty()
    bar = tqdm(parts, desc="symcl demo", unit="part", disable=not (progress and terminal))
    try:
        for number, name in enumerate(bar, start=1):
            bar.set_postfix_str(name)
            if progress and not terminal:
                print(f"symcl demo: part {number}/{len(parts)}, {name}", file=sys.stderr, flush=True)
            sections.append(_runner(name)(staging, quick=quick, seed=seed, progress=progress))
    except BaseException as error:
        bar.close()
        _keep_what_finished(staging, out_dir, sections, parts, _stop_reason(error), quick, seed, started)
        raise
    bar.close()
    preamble = _preamble(quick, seed, parts, time.perf_counter() - started)
    return _publish(staging, out_dir, sections, preamble)


STAGING = ".staging-"  # the prefix of a run's staging folder inside the output directory


def _publish(staging: Path, out_dir: Path, sections: list[Section], preamble: str) -> dict[str, Path]:
    """Write the report in ``staging``, move every file of ``staging`` into ``out_dir`` together, remove ``staging``."""
    for section in sections:  # the reproduce lines name the files where they will be
        section.commands = [_moved_command(command, staging, out_dir) for command in section.commands]
    written = sorted({*_files(staging), *REPORT_FILES})
    stale = sorted(set(_files(out_dir)) - set(written))
    if stale:
        preamble += f" {out_dir} also holds {_stale_files(stale)} (metrics.json lists the files this run wrote)."
    try:
        write_report(staging, "symcl demo", preamble, sections, written)
        # Copies, so that the staging folder stays whole until the renames at the group's end.
        with atomic_group():
            for name in written:
                atomic_write(out_dir / name, lambda tmp, source=staging / name: shutil.copyfile(source, tmp))
    except BaseException:
        warnings.warn(f"{out_dir} is as it was; this run's complete output is in {staging}", stacklevel=3)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    if stale:  # printed as one "symcl: warning:" line by the command line
        warnings.warn(f"{out_dir} also holds {_stale_files(stale)}", stacklevel=3)
    return {name: out_dir / name for name in REPORT_FILES}


def _keep_what_finished(
    staging: Path,
    out_dir: Path,
    sections: list[Section],
    parts: Sequence[str],
    reason: str,
    quick: bool,
    seed: int,
    started: float,
) -> None:
    """After a stop: the report of the parts that finished, marked incomplete, in ``staging``; else remove it."""
    if not sections:
        shutil.rmtree(staging, ignore_errors=True)
        return
    missing = parts[len(sections) :]
    preamble = (
        f"Incomplete: part{'s' if len(missing) > 1 else ''} {', '.join(missing)} missing ({reason}). "
        + _preamble(quick, seed, parts, time.perf_counter() - started, complete=False)
    )
    paths = write_report(
        staging, "symcl demo (incomplete)", preamble, sections, sorted({*_files(staging), *REPORT_FILES})
    )
    done = ", ".join(parts[: len(sections)])
    warnings.warn(
        f"{out_dir} is as it was: this run stopped before {', '.join(missing)} ({reason}); "
        f"its report of {done} is {paths['report.html']}",
        stacklevel=3,
    )


def _stop_reason(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, Terminated):
        return "terminated"
    return f"failed: {type(error).__name__}: {error}"


def _moved_command(command: str, staging: Path, out_dir: Path) -> str:
    """``command`` with each path under ``staging`` renamed to the same path under ``out_dir``."""
    return shlex.join(
        str(out_dir / Path(arg).relative_to(staging)) if Path(arg).is_relative_to(staging) else arg
        for arg in shlex.split(command)
    )


def _files(directory: Path) -> list[str]:
    """Every file under ``directory``, relative to it, outside staging folders."""
    return [
        path.relative_to(directory).as_posix()
        for path in directory.rglob("*")
        if path.is_file() and not path.relative_to(directory).parts[0].startswith(STAGING)
    ]


def _preamble(quick: bool, seed: int, parts: Sequence[str], seconds: float, *, complete: bool = True) -> str:
    flags = (" --quick" if quick else "") + (f" --seed {seed}" if seed else "")
    if tuple(parts) != PARTS:
        flags += " --parts " + " ".join(parts)
    return (
        f"symcl {symcl.__version__}, torch {torch.__version__}, Python {platform.python_version()}, "
        f"{_threads(torch.get_num_threads())}; run {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC in "
        f"{seconds:.0f} s. Everything here runs on data and pretrained models shipped with the package. "
        + ("Reproduce the whole report with" if complete else "The whole report comes from")
        + f": symcl demo --out DIR{flags}"
    )


def _stale_files(stale: Sequence[str]) -> str:
    shown = ", ".join(stale[:4]) + (", ..." if len(stale) > 4 else "")
    return f"{len(stale)} file(s) this run did not write, left from an earlier run: {shown}"


def _threads(n: int) -> str:
    return f"{n} CPU thread" + ("" if n == 1 else "s")

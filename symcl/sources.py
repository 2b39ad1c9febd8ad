"""The training files of a run, identified by what they hold, not by how their paths were typed.

A run records its training files in its metadata, which a resume must match. A path as
typed would refuse the same file spelled otherwise (``./data/x.fa``, an absolute path,
another working directory: a cluster job resubmitted) and accept other data saved under
the same name. So the metadata holds a fingerprint of each file, in input order (its size
and the SHA-256 of its bytes), and config.json adds its absolute path for the reader.

The whole file is hashed, in a pass of its own before it is read: SHA-256 runs at about
1 GB/s on one core, some 20 times faster than gzip decompresses the same bytes, let alone
parses them (1.7 MB, the largest shipped genome: 7 ms; 1 GiB: 1.1 s), and the pass leaves
the file in the page cache for the read. A hash of its first and last megabytes only would
miss an edit in the middle of a genome, which is what a resume must not accept.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from symcl.atomic import read_json, write_json
from symcl.distributed.context import is_main_process
from symcl.errors import UserInputError
from symcl.training.loop import newest_readable_checkpoint


def fingerprint(path: str | os.PathLike) -> dict[str, Any]:
    """``{"bytes": size, "sha256": hex digest}`` of a file's bytes; an unreadable file raises UserInputError."""
    try:
        with open(path, "rb") as handle:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):  # not hashlib.file_digest: Python 3.11+
                digest.update(block)
            digest = digest.hexdigest()
            size = os.fstat(handle.fileno()).st_size
    except OSError as error:
        raise UserInputError(f"{path}: cannot read it ({error.strerror or error})") from None
    return {"bytes": size, "sha256": digest}


def identify(sources: list[str | os.PathLike]) -> list[Any]:
    """The metadata entry of each source: the fingerprint of a file, a name that is no file as it is."""
    return [fingerprint(s) if Path(s).is_file() else str(s) for s in sources]


def resumable_sources(
    sources: list[str | os.PathLike], out_dir: str | os.PathLike | None, resume: bool, section: str
) -> list[Any]:
    """The "sources" metadata of a run on ``sources``, refused if a resume would train on other files.

    Compared with the newest checkpoint's ``metadata[section]["sources"]``, file by file in
    input order, so that the error names the file that changed and how. A run begun before
    the fingerprints keeps its sources as typed then: spelled the same, it resumes as it did.
    """
    current = identify(sources)
    # the checkpoint the resume will load: a truncated newer one is passed over (fit warns about it)
    readable = newest_readable_checkpoint(Path(out_dir), warn=False) if resume and out_dir is not None else None
    if readable is None:
        return current
    checkpoint, state = readable
    saved = state.get("metadata", {}).get(section, {}).get("sources")
    if not isinstance(saved, list):
        return current  # no record to compare with: the engine decides
    if saved and all(isinstance(s, str) for s in saved):
        if saved == [str(s) for s in sources]:
            return saved
        if not any(isinstance(s, dict) for s in current):
            return current  # names, not files: the engine names the difference
        raise UserInputError(
            f"{checkpoint}: this run began before symcl fingerprinted its training files, so it resumes only "
            f"with them spelled as then: {' '.join(saved)}"
        )
    if len(saved) != len(current):
        raise UserInputError(
            f"{checkpoint}: cannot resume on {len(current)} training file(s); the run began on {len(saved)}"
        )
    for number, (source, old, new) in enumerate(zip(sources, saved, current, strict=True), start=1):
        if old != new:
            raise UserInputError(f"{source}: training file {number} {_change(old, new)} since {checkpoint}")
    return current


def _change(old: Any, new: Any) -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        if old.get("bytes") != new.get("bytes"):
            return f"has changed ({old.get('bytes')} -> {new.get('bytes')} bytes)"
        return f"has changed (same size, {new.get('bytes')} bytes, other content)"
    return f"is not the one the run began on ({old!r})"


def record_paths(out_dir: str | os.PathLike | None, section: str, sources: list[str | os.PathLike]) -> None:
    """Add each training file's absolute path to its entry in config.json, for the reader.

    The checkpoints' metadata, which a resume compares, holds the fingerprints only.
    """
    if out_dir is None or not is_main_process():
        return
    path = Path(out_dir) / "config.json"
    config = read_json(path)
    entries = config.get(section, {}).get("sources")
    if not isinstance(entries, list) or len(entries) != len(sources):
        return
    config[section]["sources"] = [
        {"path": str(Path(s).resolve())} | entry if isinstance(entry, dict) else entry
        for s, entry in zip(sources, entries, strict=True)
    ]
    write_json(path, config)

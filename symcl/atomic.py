"""Atomic file output: write to a temporary file beside the target, then rename.

A crash or kill at any moment leaves either the old file or the new one, never a
partial file under the final name.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from glob import escape as glob_escape
from pathlib import Path
from typing import Any

# The (temporary, final) paths of an open atomic_group, renamed when it closes.
_GROUP: ContextVar[list[tuple[Path, Path]] | None] = ContextVar("_GROUP", default=None)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)``, flush it to disk, and rename it to ``path``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path}: is a folder; give the path of a file to write")
    make_directory(path.parent)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{_WRITER}.", suffix=".tmp", dir=path.parent)
    except OSError as error:  # name the file asked for, not the hidden temporary one
        raise type(error)(f"{path}: cannot write it ({error.strerror or error})") from None
    os.close(fd)
    tmp = Path(tmp)
    try:
        write(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else _new_file_mode())
        group = _GROUP.get()
        if group is None:
            os.replace(tmp, path)
        else:
            group.append((tmp, path))
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _remove_killed_writes(path)
    return path


# Who writes a temporary file, in its name: a later write of the same file can then tell
# the leftovers of a killed process (SIGKILL runs no cleanup) from a live writer's.
_HOST = "".join(c if c.isalnum() else "-" for c in platform.node())[:32] or "host"
_WRITER = f"{_HOST}-{os.getpid()}"


def _remove_killed_writes(path: Path) -> None:
    """Delete the temporaries of ``path`` left by processes of this host that no longer run.

    A temporary of another host (a shared file system) or of a live process is left
    alone: it may be a write in progress.
    """
    if os.name != "posix":  # os.kill(pid, 0) asks whether a process runs only on POSIX (Windows would end it)
        return
    prefix = f".{path.name}.{_HOST}-"
    for leftover in path.parent.glob(f".{glob_escape(path.name)}.{glob_escape(_HOST)}-*.tmp"):
        pid = leftover.name[len(prefix) :].split(".", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            leftover.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


@contextmanager
def atomic_group() -> Iterator[None]:
    """Files written by :func:`atomic_write` inside the block appear together when it ends.

    A set of outputs that belong together (a site table, its embeddings, its overlay) is
    not left half old, half new by a kill or an error while the later ones are computed:
    until the block ends every old file stays, and the renames at its end take
    microseconds. A group opened inside another joins it, so nothing appears before the
    outer block ends. The group belongs to the thread (and context) that opened it: a
    file written from another thread is renamed at once.
    """
    outer = _GROUP.get()
    pending: list[tuple[Path, Path]] = [] if outer is None else outer
    first = len(pending)
    token = _GROUP.set(pending)
    try:
        yield
    except BaseException:
        for tmp, _ in pending[first:]:
            tmp.unlink(missing_ok=True)
        del pending[first:]
        raise
    finally:
        _GROUP.reset(token)
    if outer is None:
        _rename_all(pending)


def _rename_all(pending: list[tuple[Path, Path]]) -> None:
    """Rename each temporary file onto its target; after a failure, remove the ones left."""
    for done, (tmp, path) in enumerate(pending):
        try:
            os.replace(tmp, path)
        except OSError as error:
            for leftover, _ in pending[done:]:
                leftover.unlink(missing_ok=True)
            renamed = ", ".join(str(p) for _, p in pending[:done]) or "none"
            raise type(error)(
                f"{path}: cannot replace it ({error.strerror or error}); already replaced: {renamed}"
            ) from None


def make_directory(path: str | os.PathLike) -> Path:
    """Create the folder ``path`` and its parents if needed; a file in the way raises an error naming it."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        # exist_ok does not cover a file at ``path`` (FileExistsError) or at one of its parents.
        raise NotADirectoryError(f"{path}: cannot be a folder: it, or a folder above it, is a file") from None
    return path


def _new_file_mode() -> int:
    """0666 less the process umask: the permissions ``open(path, "w")`` gives a new file."""
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def write_json(path: str | os.PathLike, data: Any) -> Path:
    """Atomically write ``data`` as indented JSON."""
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(data, indent=2) + "\n"))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file; a missing or malformed file raises an error naming it."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    except OSError as error:  # a folder, a link loop, no permission
        raise type(error)(f"{path}: cannot read it ({error.strerror or error})") from None

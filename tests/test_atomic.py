"""Atomic writes: all or nothing under the final name, with the permissions of a plain write."""

import os
import stat
from pathlib import Path

import pytest

from symcl.atomic import atomic_write, read_json, write_json


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_new_files_get_the_mode_of_a_plain_open(tmp_path):
    umask = os.umask(0o027)
    try:
        written = write_json(tmp_path / "out" / "config.json", {"a": 1})
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(umask)
    assert read_json(written) == {"a": 1}
    assert _mode(written) == _mode(tmp_path / "plain.txt") == 0o640


def test_rewriting_keeps_the_mode_of_the_existing_file(tmp_path):
    target = tmp_path / "table.tsv"
    target.write_text("old")
    os.chmod(target, 0o600)
    atomic_write(target, lambda tmp: tmp.write_text("new"))
    assert target.read_text() == "new" and _mode(target) == 0o600


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "table.tsv"
    target.write_text("old")

    def fail(tmp):
        tmp.write_text("half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["table.tsv"]


def test_a_folder_or_a_file_in_the_way_is_one_clear_error(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a folder; give the path of a file to write"):
        write_json(tmp_path, {})
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    with pytest.raises(NotADirectoryError, match="blocker: cannot be a folder"):
        write_json(blocker / "out.json", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into a read-only folder")
def test_an_unwritable_folder_is_named_by_the_file_asked_for(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(PermissionError, match=rf"^{locked / 'out.json'}: cannot write it \(Permission denied\)$"):
        write_json(locked / "out.json", {})  # not the hidden temporary file's name


def test_a_temporary_file_that_cannot_be_made_is_reported_under_the_file_asked_for(tmp_path, monkeypatch):
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path / ".out.json.abcd1234.tmp"))

    monkeypatch.setattr("symcl.atomic.tempfile.mkstemp", refuse)
    with pytest.raises(PermissionError, match=rf"^{tmp_path / 'out.json'}: cannot write it \(Permission denied\)$"):
        write_json(tmp_path / "out.json", {})


def test_an_interrupt_while_writing_leaves_no_file(tmp_path):
    # Ctrl-C (KeyboardInterrupt) is no Exception: the temporary must still be removed.
    def interrupted(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "table.tsv", interrupted)
    assert list(tmp_path.iterdir()) == []


def test_the_file_is_flushed_to_disk_before_the_rename(tmp_path, monkeypatch):
    # Without fsync a power cut after the rename can leave an empty file under the final name.
    synced = []
    fsync = os.fsync

    def record(fd):
        synced.append(os.fstat(fd).st_ino)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", record)
    target = atomic_write(tmp_path / "table.tsv", lambda tmp: tmp.write_text("new"))
    assert synced == [target.stat().st_ino]  # the temporary, renamed to the target


def test_a_group_of_files_appears_together_or_not_at_all(tmp_path):
    from symcl.atomic import atomic_group

    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_text("old")
    with pytest.raises(KeyboardInterrupt), atomic_group():
        atomic_write(tmp_path / "a.txt", lambda tmp: tmp.write_text("new"))
        assert (tmp_path / "a.txt").read_text() == "old"  # not renamed before the group ends
        raise KeyboardInterrupt  # a kill while the second file is computed
    assert [(tmp_path / n).read_text() for n in ("a.txt", "b.txt")] == ["old", "old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]  # no temporary left
    with atomic_group():
        for name in ("a.txt", "b.txt"):
            atomic_write(tmp_path / name, lambda tmp: tmp.write_text("new"))
    assert [(tmp_path / n).read_text() for n in ("a.txt", "b.txt")] == ["new", "new"]


def test_a_nested_group_appears_with_the_outer_one(tmp_path):
    from symcl.atomic import atomic_group

    with atomic_group():
        with atomic_group():
            atomic_write(tmp_path / "inner.txt", lambda tmp: tmp.write_text("new"))
        assert not (tmp_path / "inner.txt").exists()  # the inner end commits nothing
        atomic_write(tmp_path / "outer.txt", lambda tmp: tmp.write_text("new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["inner.txt", "outer.txt"]


def test_an_error_caught_inside_a_group_drops_only_the_inner_files(tmp_path):
    from symcl.atomic import atomic_group

    with atomic_group():
        atomic_write(tmp_path / "kept.txt", lambda tmp: tmp.write_text("new"))
        with pytest.raises(ValueError), atomic_group():
            atomic_write(tmp_path / "dropped.txt", lambda tmp: tmp.write_text("new"))
            raise ValueError
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept.txt"]


def test_a_rename_that_fails_midway_leaves_no_temporary_and_names_what_was_replaced(tmp_path, monkeypatch):
    from symcl import atomic

    real_replace = os.replace

    def replace(src, dst):
        if Path(dst).name == "b.txt":
            raise PermissionError(13, "Permission denied")
        real_replace(src, dst)

    monkeypatch.setattr(atomic.os, "replace", replace)
    with pytest.raises(PermissionError, match=r"b\.txt: cannot replace it .*already replaced: .*a\.txt"):
        with atomic.atomic_group():
            for name in ("a.txt", "b.txt", "c.txt"):
                atomic_write(tmp_path / name, lambda tmp: tmp.write_text("new"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_a_write_removes_the_temporaries_a_killed_writer_left_and_no_others(tmp_path):
    import subprocess
    import sys

    from symcl.atomic import _HOST

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, alive = int(finished.stdout), os.getppid()
    killed = tmp_path / f".out.txt.{_HOST}-{dead}.k1ll3d.tmp"  # as SIGKILL leaves it
    in_progress = tmp_path / f".out.txt.{_HOST}-{alive}.l1v3.tmp"
    other_host = tmp_path / f".out.txt.elsewhere-{dead}.0th3r.tmp"  # a shared file system
    other_file = tmp_path / f".other.txt.{_HOST}-{dead}.0th3r.tmp"
    for leftover in (killed, in_progress, other_host, other_file):
        leftover.write_text("partial")
    atomic_write(tmp_path / "out.txt", lambda tmp: tmp.write_text("done"))
    assert (tmp_path / "out.txt").read_text() == "done"
    assert not killed.exists()
    assert in_progress.exists() and other_host.exists() and other_file.exists()

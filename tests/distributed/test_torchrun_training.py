"""Training under torchrun with 2 CPU processes: checkpoints, resume and restarts."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from symcl.checkpoint import list_checkpoints, load_state


def _toy(out, *extra):
    return [sys.executable, "-m", "symcl.toy", "--out", str(out), "--steps", "60", "--nproc", "2",
            "--checkpoint-every", "10", "--eval-every", "20", "--batch-size", "32", "--quiet", *extra]  # fmt: skip


def _assert_same_weights(a: Path, b: Path):
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _worker_pid(out: Path, worker_rank: int) -> int | None:
    """The pid of the torchrun worker of this run with the given RANK, from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = dict(item.split("=", 1) for item in (entry / "environ").read_text().split("\0") if "=" in item)
        except OSError:
            continue
        command = environ.get("SYMCL_TORCHRUN_WORKER")
        if command and str(out) in json.loads(command) and environ.get("RANK") == str(worker_rank):
            return int(entry.name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds workers through /proc")
def test_killed_rank_is_restarted_and_resumes_bit_identically(tmp_path):
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_toy(whole), check=True)
    history = json.loads((whole / "history.json").read_text())
    assert len(history["steps"]) == 60

    launcher = subprocess.Popen(
        _toy(killed, "--sleep", "0.1", "--max-restarts", "1"), stderr=subprocess.PIPE, text=True
    )
    target = killed / "checkpoints" / "step-00000020.safetensors"
    while not target.exists() and launcher.poll() is None:
        time.sleep(0.05)
    pid = _worker_pid(killed, 1)
    assert pid is not None and launcher.poll() is None, "the run ended before a rank could be killed"
    os.kill(pid, signal.SIGKILL)
    _, stderr = launcher.communicate(timeout=300)
    assert launcher.returncode == 0
    resumed = re.search(r"symcl: resuming from .*step-(\d+)\.safetensors \(step (\d+)\)", stderr)
    assert resumed and int(resumed.group(2)) >= 20  # restarted from a checkpoint, not from scratch

    _assert_same_weights(whole, killed)
    for path in list_checkpoints(killed / "checkpoints"):
        state = load_state(path)  # no corrupt file was left behind
        assert len(state["rng"]) == 2  # one RNG state per rank
    assert json.loads((killed / "history.json").read_text()) == history


@pytest.mark.slow
def test_resume_needs_the_same_number_of_processes(tmp_path):
    subprocess.run(_toy(tmp_path), check=True)
    result = subprocess.run(
        [sys.executable, "-m", "symcl.toy", "--out", str(tmp_path), "--steps", "70", "--resume", "--quiet",
         "--batch-size", "32", "--checkpoint-every", "10", "--eval-every", "20"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert "written by 2 process(es); resume it with the same number, not 1" in result.stderr


@pytest.mark.slow
def test_a_workers_user_error_is_one_line_and_exit_2(tmp_path):
    missing = tmp_path / "missing.fa"
    result = subprocess.run(
        [sys.executable, "-m", "symcl.cli", "dna", "train", str(missing), "--out", str(tmp_path / "run"),
         "--nproc", "2", "--steps", "2", "--quiet"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"symcl: error: {missing}: no such file"]


@pytest.mark.slow
def test_a_user_error_on_one_rank_alone_is_one_line_and_exit_2():
    # Rank 0's collective breaks when rank 1 leaves; that consequence prints no traceback.
    launch = "from symcl.distributed.launch import relaunch_with_torchrun as r; exit(r('one_rank_fails', [], nproc=2))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", launch], capture_output=True, text=True, env=env)
    assert result.stderr.strip().splitlines() == ["symcl: error: rank 1 met bad input"]
    assert result.returncode == 2


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds workers through /proc")
def test_sigterm_to_the_launcher_stops_its_workers_and_says_so_once(tmp_path):
    launcher = subprocess.Popen(_toy(tmp_path, "--sleep", "0.1", "--steps", "400"), stderr=subprocess.PIPE, text=True)
    while not (tmp_path / "checkpoints" / "step-00000020.safetensors").exists() and launcher.poll() is None:
        time.sleep(0.05)
    launcher.send_signal(signal.SIGTERM)
    _, stderr = launcher.communicate(timeout=120)
    assert launcher.returncode == 128 + signal.SIGTERM
    assert stderr.strip().splitlines() == ["symcl: terminated"]
    assert _worker_pid(tmp_path, 0) is None and _worker_pid(tmp_path, 1) is None
    assert not (tmp_path / "model.safetensors").exists()  # no orphaned worker trained on to the end


def test_a_worker_sees_only_other_ranks_reports_of_this_attempt(tmp_path, monkeypatch):
    from symcl.distributed import launch

    monkeypatch.setenv(launch._ERROR_DIR_ENV, str(tmp_path))
    monkeypatch.setenv("RANK", "1")
    monkeypatch.delenv("WORLD_SIZE", raising=False)  # not needed to find the reports
    monkeypatch.setenv("TORCHELASTIC_RESTART_COUNT", "1")
    (tmp_path / "attempt-0-rank-000000.txt").write_text("an earlier attempt's error")
    (tmp_path / "attempt-1-rank-000001.txt").write_text("this worker's own error")
    assert not launch.another_rank_reported()
    (tmp_path / "attempt-1-rank-000002.txt").write_text("rank 2 failed")
    assert launch.another_rank_reported()

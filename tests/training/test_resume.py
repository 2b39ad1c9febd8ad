import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file
from toy_setup import toy_run

from symcl.errors import UserInputError
from symcl.training import Callback, fit


class Interrupt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, state, loss, metrics):
        if state.step == self.step:
            raise KeyboardInterrupt


def _weights(directory):
    return load_file(str(directory / "model.safetensors"))


def _assert_identical(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_resumed_run_is_bit_identical_to_an_uninterrupted_one(tmp_path):
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    fit(*toy_run(steps=60), out_dir=whole, progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=60), out_dir=interrupted, callbacks=[Interrupt(37)], progress=False)
    state = fit(*toy_run(steps=60), out_dir=interrupted, resume=True, progress=False)
    assert state.step == 60
    _assert_identical(_weights(whole), _weights(interrupted))
    whole_state = fit(*toy_run(steps=60), out_dir=whole, resume=True, progress=False)  # already done: no-op
    assert whole_state.history == state.history


def test_resume_refuses_a_different_configuration(tmp_path):
    fit(*toy_run(steps=20), out_dir=tmp_path, progress=False)
    model, views, objective, config = toy_run(steps=20, lr=5e-3)
    with pytest.raises(UserInputError, match=r"step-00000020.safetensors: cannot resume.*lr: 0.001 -> 0.005"):
        fit(model, views, objective, config, out_dir=tmp_path, resume=True, progress=False)


def test_resume_refuses_fewer_steps_than_done_and_says_when_nothing_is_left(tmp_path, capsys):
    fit(*toy_run(steps=20), out_dir=tmp_path, progress=False)
    with pytest.raises(UserInputError, match=r"the run is at step 20, past --steps 10; resume with --steps >= 20"):
        fit(*toy_run(steps=10), out_dir=tmp_path, resume=True, progress=False)
    fit(*toy_run(steps=20), out_dir=tmp_path, resume=True, progress=False)
    assert "(step 20); nothing left to train" in capsys.readouterr().err


def test_resume_under_another_thread_count_warns_that_it_is_not_bit_identical(tmp_path, capsys):
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=40), out_dir=tmp_path, callbacks=[Interrupt(20)], progress=False)
    with pytest.raises(KeyboardInterrupt):  # the same count: no warning
        fit(*toy_run(steps=40), out_dir=tmp_path, resume=True, callbacks=[Interrupt(30)], progress=False)
    assert "warning" not in capsys.readouterr().err
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(threads + 1)
        fit(*toy_run(steps=40), out_dir=tmp_path, resume=True, progress=False)
    finally:
        torch.set_num_threads(threads)
    warning = f"was written with {threads} torch thread(s), this run has {threads + 1}: it continues, but not"
    assert warning in capsys.readouterr().err


def test_resume_without_a_checkpoint_says_it_starts_at_step_0(tmp_path, capsys):
    fit(*toy_run(steps=5), out_dir=tmp_path / "new", resume=True, progress=False)
    assert f"nothing to resume in {tmp_path / 'new'} (no checkpoint); starting at step 0" in capsys.readouterr().err


def test_resume_removes_the_temporary_files_of_a_killed_write(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=30), out_dir=tmp_path, callbacks=[Interrupt(20)], progress=False)
    leftovers = [
        tmp_path / ".history.json.k3x9q2ab.tmp",
        tmp_path / "checkpoints" / ".step-00000030.safetensors.a1b2c3d4.tmp",
    ]
    for leftover in leftovers:
        leftover.write_text("half written")
    fit(*toy_run(steps=30), out_dir=tmp_path, resume=True, progress=False)
    assert not any(leftover.exists() for leftover in leftovers)


@pytest.mark.parametrize("steps", [30, 15])
def test_resume_refuses_another_number_of_steps_whose_schedule_would_jump(tmp_path, steps):
    # The cosine schedule decays to zero at `steps`: 20 -> 30 would restart it from 0 at step 21.
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=20), out_dir=tmp_path, callbacks=[Interrupt(12)], progress=False)
    with pytest.raises(UserInputError) as info:
        fit(*toy_run(steps=steps), out_dir=tmp_path, resume=True, progress=False)
    message = str(info.value)
    assert f"step-00000010.safetensors: the run was started with --steps 20, not {steps};" in message
    assert "decays to zero at step 20" in message and "\n" not in message
    assert not (tmp_path / "config.json").exists()
    assert fit(*toy_run(steps=20), out_dir=tmp_path, resume=True, progress=False).step == 20


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda state: state.update(step=-5), "step -5 is not a step number"),
        (lambda state: state.pop("rng"), "its RNG states cannot be read"),
        (lambda state: state["model"].update({k: v[:1] for k, v in state["model"].items()}), "size mismatch"),
        (lambda state: state.update(config=[1]), "its configuration cannot be read"),
        (lambda state: state.update(scheduler=5), "AttributeError"),
        (lambda state: state.update(history=None), "history and callbacks' states must be mappings"),
    ],
    ids=["negative step", "no RNG states", "wrong shapes", "configuration not a mapping", "scheduler", "history"],
)
def test_a_damaged_checkpoint_is_one_clear_error_naming_it(tmp_path, damage, message):
    from symcl.checkpoint import CheckpointError, list_checkpoints, load_state, save_state

    fit(*toy_run(steps=10), out_dir=tmp_path, progress=False)
    path = list_checkpoints(tmp_path / "checkpoints")[-1]
    state = load_state(path)
    damage(state)
    save_state(path, state)
    with pytest.raises(CheckpointError, match=f"step-00000010.safetensors: damaged checkpoint.*{message}") as info:
        fit(*toy_run(steps=20), out_dir=tmp_path, resume=True, progress=False)
    assert "\n" not in str(info.value)


def test_resume_without_checkpoint_starts_from_scratch(tmp_path):
    state = fit(*toy_run(steps=10), out_dir=tmp_path, resume=True, progress=False)
    assert state.step == 10


def _toy_command(out, *extra):
    return [
        sys.executable,
        "-m",
        "symcl.toy",
        "--out",
        str(out),
        "--steps",
        "120",
        "--checkpoint-every",
        "20",
        "--eval-every",
        "40",
        "--quiet",
        *extra,
    ]


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    subprocess.run(_toy_command(whole), check=True, env=env)

    process = subprocess.Popen(_toy_command(killed, "--sleep", "0.05"), env=env)
    target = killed / "checkpoints" / "step-00000040.safetensors"
    while not target.exists() and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "model.safetensors").exists()

    subprocess.run(_toy_command(killed, "--resume"), check=True, env=env)
    _assert_identical(_weights(whole), _weights(killed))


def test_sigterm_while_writing_checkpoints_leaves_no_temporary_file(tmp_path):
    # A checkpoint every step, so the signal most likely lands while one is being written.
    command = _toy_command(tmp_path, "--sleep", "0.02")
    command[command.index("--checkpoint-every") + 1] = "1"
    process = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, stderr=subprocess.PIPE, text=True)
    while not (tmp_path / "checkpoints" / "step-00000010.safetensors").exists() and process.poll() is None:
        time.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 128 + signal.SIGTERM, "the run ended before it could be stopped"
    assert stderr.strip().splitlines()[-1] == "symcl: terminated"
    assert not [path.name for path in (tmp_path / "checkpoints").iterdir() if path.name.startswith(".")]


def test_a_fresh_run_refuses_a_folder_with_an_earlier_runs_checkpoints(tmp_path):
    fit(*toy_run(steps=20), out_dir=tmp_path, progress=False)
    # Mixed with this run's, they would be what a later resume picks up.
    with pytest.raises(UserInputError, match=r"holds the checkpoints of an earlier run \(newest step-00000020"):
        fit(*toy_run(steps=10), out_dir=tmp_path, progress=False)


def test_resume_refuses_other_metadata(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=30), out_dir=tmp_path, callbacks=[Interrupt(20)], progress=False,
            metadata={"data": {"sources": ["a.fa"]}})  # fmt: skip
    with pytest.raises(UserInputError, match=r"cannot resume.*data.sources: \['a.fa'\] -> \['b.fa'\]"):
        fit(*toy_run(steps=30), out_dir=tmp_path, resume=True, progress=False, metadata={"data": {"sources": ["b.fa"]}})
    state = fit(
        *toy_run(steps=30), out_dir=tmp_path, resume=True, progress=False, metadata={"data": {"sources": ("a.fa",)}}
    )
    assert state.step == 30


def test_an_out_dir_that_is_a_file_is_refused_before_training(tmp_path):
    target = tmp_path / "model"
    target.write_text("not a folder")
    with pytest.raises(NotADirectoryError, match="model: cannot be a folder"):
        fit(*toy_run(steps=5), out_dir=target, progress=False)


def test_resume_without_out_dir_is_refused():
    with pytest.raises(ValueError, match="'resume' parameter of fit needs 'out_dir'.*Got out_dir=None"):
        fit(*toy_run(steps=2), resume=True, progress=False)


def _truncate(path, size=600):
    path.write_bytes(path.read_bytes()[:size])


def test_a_truncated_newest_checkpoint_falls_back_to_the_newest_readable_one(tmp_path, capsys):
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    fit(*toy_run(steps=60), out_dir=whole, progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=60), out_dir=interrupted, callbacks=[Interrupt(45)], progress=False)
    checkpoints = interrupted / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["step-00000030.safetensors", "step-00000040.safetensors"]
    _truncate(checkpoints / "step-00000040.safetensors")
    capsys.readouterr()
    state = fit(*toy_run(steps=60), out_dir=interrupted, resume=True, progress=False)
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert "step-00000040.safetensors: corrupt or truncated checkpoint" in warnings[0]
    assert "resuming from the newest readable checkpoint, step-00000030.safetensors" in warnings[0]
    assert "resuming from" in err and "(step 30)" in err
    assert state.step == 60
    for name in ("model.safetensors", "history.json"):
        assert (whole / name).read_bytes() == (interrupted / name).read_bytes(), name
    assert (checkpoints / "step-00000040.safetensors.unreadable").is_file()  # kept, but no checkpoint any more


def test_the_resumed_runs_checkpoints_are_not_pruned_in_favour_of_an_unreadable_newer_one(tmp_path):
    import signal

    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    fit(*toy_run(steps=60), out_dir=whole, progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=60), out_dir=interrupted, callbacks=[Interrupt(45)], progress=False)
    _truncate(interrupted / "checkpoints" / "step-00000040.safetensors")
    # resumed at 30 and stopped by Ctrl-C at 35, which checkpoints step 35; with one checkpoint kept,
    # counting the unreadable step 40 as the newest would prune step 35 and leave nothing to resume
    with pytest.raises(KeyboardInterrupt):
        fit(
            *toy_run(steps=60, keep_checkpoints=1),
            out_dir=interrupted,
            resume=True,
            callbacks=[SendSignal(35, signal.SIGINT)],
            progress=False,
        )
    assert [p.name for p in (interrupted / "checkpoints").glob("*.safetensors")] == ["step-00000035.safetensors"]
    fit(*toy_run(steps=60, keep_checkpoints=1), out_dir=interrupted, resume=True, progress=False)
    for name in ("model.safetensors", "history.json"):
        assert (whole / name).read_bytes() == (interrupted / name).read_bytes(), name


def test_resume_fails_in_one_line_when_no_checkpoint_can_be_read(tmp_path):
    from symcl.checkpoint import CheckpointError

    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=60), out_dir=tmp_path, callbacks=[Interrupt(45)], progress=False)
    for path in (tmp_path / "checkpoints").iterdir():
        _truncate(path)
    with pytest.raises(CheckpointError, match=r"step-00000040.safetensors: corrupt or truncated checkpoint"):
        fit(*toy_run(steps=60), out_dir=tmp_path, resume=True, progress=False)
    assert len(list((tmp_path / "checkpoints").iterdir())) == 2  # nothing deleted


class SendSignal(Callback):
    def __init__(self, step, signum, times=1):
        self.step, self.signum, self.times = step, signum, times

    def on_step_end(self, state, loss, metrics):
        if state.step == self.step:
            for _ in range(self.times):
                os.kill(os.getpid(), self.signum)


def test_ctrl_c_checkpoints_the_completed_step_and_resume_equals_an_uninterrupted_run(tmp_path):
    whole, interrupted = tmp_path / "whole", tmp_path / "interrupted"
    fit(*toy_run(steps=60), out_dir=whole, progress=False)
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=60), out_dir=interrupted, callbacks=[SendSignal(37, signal.SIGINT)], progress=False)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    assert (interrupted / "checkpoints" / "step-00000037.safetensors").exists()
    assert json.loads((interrupted / "history.json").read_text())["steps"][-1]["step"] == 37
    state = fit(*toy_run(steps=60), out_dir=interrupted, resume=True, progress=False)
    assert state.step == 60
    for name in ("model.safetensors", "history.json"):
        assert (whole / name).read_bytes() == (interrupted / name).read_bytes(), name


def test_sigterm_checkpoints_the_completed_step_then_calls_the_previous_handler(tmp_path):
    from symcl.errors import Terminated

    def terminate(signum, frame):
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminate)
    try:
        with pytest.raises(Terminated):
            fit(*toy_run(steps=60), out_dir=tmp_path, callbacks=[SendSignal(23, signal.SIGTERM)], progress=False)
        assert signal.getsignal(signal.SIGTERM) is terminate
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert (tmp_path / "checkpoints" / "step-00000023.safetensors").exists()


def test_a_second_ctrl_c_stops_at_once(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        fit(*toy_run(steps=60), out_dir=tmp_path, callbacks=[SendSignal(37, signal.SIGINT, 2)], progress=False)
    assert not (tmp_path / "checkpoints" / "step-00000037.safetensors").exists()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

import io
import os
import subprocess
import sys

import pytest
import torch

import symcl
from symcl.checkpoint import save_state
from symcl.cli import main


def _run(*args):
    return subprocess.run([sys.executable, *args], capture_output=True, text=True)


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["--version"])
    assert exit.value.code == 0
    assert capsys.readouterr().out.strip() == f"symcl {symcl.__version__}"


def test_console_script_runs():
    result = _run("-m", "symcl.cli", "--version")
    assert result.returncode == 0
    assert symcl.__version__ in result.stdout


@pytest.mark.parametrize("group", ["dna", "crystal", "protein"])
def test_domain_groups_are_registered(group, capsys):
    assert main([group]) == 0
    assert f"usage: symcl {group}" in capsys.readouterr().out


def test_help_lists_the_groups(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(name in out for name in ("dna", "crystal", "protein"))


def test_unknown_command_exits_2(capsys):
    with pytest.raises(SystemExit) as exit:
        main(["fold-proteins"])
    assert exit.value.code == 2
    assert "invalid choice: 'fold-proteins'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
        (["--lr", "-1"], "argument --lr: must be a finite number > 0, got -1"),
        (["--lr", "1e39"], "argument --lr: must be a number in [1.2e-38, 3.4e+38] (float32), got 1e39"),
        (["--seed", "x"], "argument --seed: must be an integer >= 0, got 'x'"),
        (["--seed", str(2**64)], "argument --seed: must be an integer in [0, 2**32 - 1], got 18446744073709551616"),
        (["--device", "tpu"], "--device must be cpu, cuda, cuda:N or auto. Got 'tpu' instead."),
    ],
)
def test_training_flag_errors_print_one_line_and_exit_2(tmp_path, flags, message):
    result = _run("-m", "symcl.toy", "--out", str(tmp_path), "--quiet", *flags)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_missing_cuda_is_a_user_error(tmp_path):
    result = _run("-m", "symcl.toy", "--out", str(tmp_path), "--device", "cuda", "--quiet")
    assert result.returncode == 2
    assert (
        result.stderr.strip() == "symcl: error: --device cuda: CUDA is not available on this machine; use --device cpu"
    )


def test_corrupt_checkpoint_on_resume_is_one_line_naming_the_file(tmp_path):
    path = save_state(tmp_path / "checkpoints" / "step-00000010.safetensors", {"w": torch.zeros(50)})
    path.write_bytes(path.read_bytes()[:40])
    result = _run("-m", "symcl.toy", "--out", str(tmp_path), "--resume", "--quiet", "--steps", "20")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "step-00000010.safetensors: corrupt or truncated checkpoint" in lines[0]


def test_output_paths_are_checked_while_parsing(tmp_path, capsys):
    import argparse

    from symcl.cli import output_directory, output_file

    blocker = tmp_path / "blocker.fa"
    blocker.write_text(">a\nACGT\n")
    assert output_file(str(tmp_path / "new" / "out.npz")) == str(tmp_path / "new" / "out.npz")
    assert output_directory(str(tmp_path / "new" / "run")) == str(tmp_path / "new" / "run")
    with pytest.raises(argparse.ArgumentTypeError, match="is a folder; give the path of a file to write"):
        output_file(str(tmp_path))
    with pytest.raises(argparse.ArgumentTypeError, match="blocker.fa' is a file, not a folder"):
        output_file(str(blocker / "out.npz"))
    with pytest.raises(argparse.ArgumentTypeError, match="blocker.fa' is a file, not a folder"):
        output_directory(str(blocker))
    with pytest.raises(SystemExit) as exit:  # before any work: the input is never read
        main(["dna", "train", str(blocker), "--out", str(blocker), "--quiet"])
    assert exit.value.code == 2
    assert "argument --out: cannot write" in capsys.readouterr().err


def test_negative_numbers_in_e_notation_are_values_not_options():
    from symcl.cli import build_parser

    args = build_parser().parse_args(["protein", "distances", "f.fa", "-o", "d.tsv", "--gap-open", "-1.5e1"])
    assert args.gap_open == -15.0
    for text, value in (("-1.e1", -10.0), ("-2.", -2.0), ("-.5E+1", -5.0)):
        args = build_parser().parse_args(["protein", "distances", "f.fa", "-o", "d.tsv", "--gap-open", text])
        assert args.gap_open == value


def test_a_negative_infinity_is_a_value_that_its_type_refuses(capsys):
    with pytest.raises(SystemExit):
        main(["protein", "distances", "f.fa", "-o", "d.tsv", "--gap-open", "-inf"])
    assert "argument --gap-open: must be a finite number" in capsys.readouterr().err


def test_float_in_names_the_range(capsys):
    import argparse

    from symcl.cli import float_in

    assert float_in(0, 1)("0.25") == 0.25
    for text in ("1.5", "-0.1", "nan", "half"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"must be a number in \[0, 1\]"):
            float_in(0, 1)(text)
    with pytest.raises(SystemExit):
        main(["dna", "train", "x.fa", "--out", "unused", "--rc-probability", "2"])
    assert "argument --rc-probability: must be a number in [0, 1], got 2" in capsys.readouterr().err


@pytest.mark.parametrize(("flags", "warmup"), [(["--steps", "2000"], 50), (["--steps", "30"], 3), (["--steps", "30", "--warmup-steps", "20"], 20)])  # fmt: skip
def test_warmup_is_at_most_a_tenth_of_the_run_unless_given(flags, warmup):
    import argparse

    from symcl.cli import add_training_arguments, train_config_from

    parser = argparse.ArgumentParser()
    add_training_arguments(parser)
    assert train_config_from(parser.parse_args(["--out", "unused", *flags])).effective_warmup_steps == warmup


@pytest.mark.slow
def test_resume_with_more_steps_is_refused_in_one_line(tmp_path):
    common = ["--out", str(tmp_path), "--checkpoint-every", "10", "--eval-every", "0", "--quiet"]
    assert _run("-m", "symcl.toy", "--steps", "20", *common).returncode == 0
    resumed = _run("-m", "symcl.toy", "--steps", "40", "--resume", *common)
    assert resumed.returncode == 2
    lines = resumed.stderr.strip().splitlines()
    assert len(lines) == 1 and "started with --steps 20, not 40" in lines[0]


def test_a_relaunch_gets_the_arguments_given_to_main(monkeypatch, tmp_path):
    import symcl.cli
    from symcl import toy

    launched = []
    monkeypatch.setattr(symcl.cli, "relaunch_with_torchrun", lambda module, argv, **kw: launched.append(argv) or 0)
    argv = ["--out", str(tmp_path / "run"), "--nproc", "2", "--quiet"]
    assert toy.main(argv) == 0
    assert launched == [argv]  # not the pytest command line


def test_restarts_cannot_continue_an_earlier_run_without_resume(monkeypatch, tmp_path, capsys):
    import symcl.cli
    from symcl import toy

    common = ["--out", str(tmp_path), "--steps", "4", "--checkpoint-every", "2", "--eval-every", "0", "--quiet"]
    assert toy.main(common) == 0
    monkeypatch.setattr(symcl.cli, "relaunch_with_torchrun", lambda *a, **kw: pytest.fail("relaunched"))
    assert toy.main([*common, "--max-restarts", "1"]) == 2  # restarted workers would resume it
    assert "holds the checkpoints of an earlier run" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--batch-size", "33"], "--batch-size 33 must be a multiple of --nproc 2"),
        (["--device", "cpux"], "--device must be"),
    ],
)
def test_a_relaunch_refuses_bad_flags_before_starting_workers(monkeypatch, tmp_path, capsys, flags, message):
    import symcl.cli
    from symcl import toy

    monkeypatch.setattr(symcl.cli, "relaunch_with_torchrun", lambda *a, **kw: pytest.fail("relaunched"))
    assert toy.main(["--out", str(tmp_path), "--nproc", "2", "--quiet", *flags]) == 2
    assert message in capsys.readouterr().err


def test_a_relaunch_refuses_to_resume_with_another_number_of_processes(monkeypatch, tmp_path, capsys):
    import symcl.cli
    from symcl import toy

    common = ["--out", str(tmp_path), "--steps", "4", "--checkpoint-every", "2", "--eval-every", "0", "--quiet"]
    assert toy.main(common) == 0  # one process
    monkeypatch.setattr(symcl.cli, "relaunch_with_torchrun", lambda *a, **kw: pytest.fail("relaunched"))
    assert toy.main([*common, "--steps", "6", "--resume", "--nproc", "2"]) == 2
    assert "written by 1 process(es); resume it with the same number, not 2" in capsys.readouterr().err


def test_a_bad_flag_is_one_line_naming_the_command(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["protein", "distances", "f.fa", "--method", "jc", "-o", "x.tsv"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("symcl protein distances: error: argument --method: invalid choice")


def test_a_hard_link_to_a_training_file_is_the_same_file(tmp_path):
    from symcl.cli import refuse_a_file_given_twice
    from symcl.errors import UserInputError

    (tmp_path / "genome.fa").write_text(">a\nACGT\n")
    os.link(tmp_path / "genome.fa", tmp_path / "copy.fa")
    (tmp_path / "other.fa").write_text(">a\nACGT\n")  # same content, another file: allowed
    refuse_a_file_given_twice([str(tmp_path / "genome.fa"), str(tmp_path / "other.fa"), str(tmp_path / "missing.fa")])
    with pytest.raises(UserInputError, match=r"copy\.fa: given twice \(also as .*genome\.fa\)"):
        refuse_a_file_given_twice([str(tmp_path / "genome.fa"), str(tmp_path / "copy.fa")])


@pytest.mark.parametrize(
    "command",
    [
        ["dna", "embed", "{input}", "-o", "{output}"],
        ["dna", "bin", "{input}", "-o", "{output}", "--bins", "2"],
        ["protein", "distances", "{input}", "-o", "{output}"],
        ["protein", "tree", "{input}", "--method", "spectrum", "-o", "{output}"],
        ["protein", "embed", "{input}", "-o", "{output}"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path, capsys, command):
    source = tmp_path / "family.fa"
    text = "".join(f">s{i}\n{'ACGTTGCAAC' * 30}\n" for i in range(4))
    source.write_text(text)
    (tmp_path / "link.fa").symlink_to(source)  # another path to the same file
    argv = [arg.format(input=source, output=tmp_path / "link.fa") for arg in command]
    assert main([*argv, "--quiet"]) == 2
    assert (
        f"-o {tmp_path / 'link.fa'}: is the input file {source}; choose another output path" in capsys.readouterr().err
    )
    assert source.read_text() == text


def test_a_warning_is_one_line_naming_no_source_file(tmp_path, capsys):
    rows = ["MKV-LAAG--", "MKVALAAG", "MRVALSAGLL"]  # gaps, but ragged rows: read as unaligned, with a warning
    (tmp_path / "ragged.fa").write_text("".join(f">s{i}\n{row}\n" for i, row in enumerate(rows)))
    assert (
        main(
            [
                "protein",
                "distances",
                str(tmp_path / "ragged.fa"),
                "-o",
                str(tmp_path / "d.tsv"),
                "--quiet",
                "--min-columns",
                "0",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"symcl: warning: {tmp_path / 'ragged.fa'}: has gap characters")


def test_a_relaunch_checks_the_newest_readable_checkpoint(monkeypatch, tmp_path, capsys):
    import symcl.cli
    from symcl import toy

    common = ["--out", str(tmp_path), "--steps", "4", "--checkpoint-every", "2", "--eval-every", "0", "--quiet"]
    assert toy.main(common) == 0
    newest = tmp_path / "checkpoints" / "step-00000004.safetensors"
    newest.write_bytes(newest.read_bytes()[:600])
    monkeypatch.setattr(symcl.cli, "relaunch_with_torchrun", lambda *a, **kw: pytest.fail("relaunched"))
    assert toy.main([*common, "--resume", "--nproc", "2"]) == 2
    assert "step-00000002.safetensors: written by 1 process(es)" in capsys.readouterr().err


def test_a_used_folder_without_resume_is_refused_before_the_data_is_read(monkeypatch, tmp_path, capsys):
    from symcl import toy

    common = ["--out", str(tmp_path), "--steps", "4", "--checkpoint-every", "2", "--eval-every", "0", "--quiet"]
    assert toy.main(common) == 0
    monkeypatch.setattr(toy, "RingBlobs", lambda *a, **kw: pytest.fail("the data was read before the refusal"))
    assert toy.main(common) == 2
    assert "holds the checkpoints of an earlier run (newest step-00000004.safetensors)" in capsys.readouterr().err


class _Terminal(io.StringIO):
    def isatty(self):
        return True


@pytest.mark.parametrize("terminal", [True, False])
def test_interrupted_starts_a_new_line_on_a_terminal(monkeypatch, terminal):
    from symcl.cli import run_guarded

    stderr = _Terminal() if terminal else io.StringIO()
    monkeypatch.setattr(sys, "stderr", stderr)

    def interrupted():
        stderr.write("training:  36%|###6      | 73/200")  # a progress bar, without its newline
        raise KeyboardInterrupt

    assert run_guarded(interrupted) == 130
    expected = "\nsymcl: interrupted\n" if terminal else "symcl: interrupted\n"
    assert stderr.getvalue() == "training:  36%|###6      | 73/200" + expected


def test_the_used_folder_refusal_names_the_flag_only(monkeypatch, tmp_path, capsys):
    from symcl import toy

    common = ["--out", str(tmp_path), "--steps", "2", "--checkpoint-every", "2", "--eval-every", "0", "--quiet"]
    assert toy.main(common) == 0
    assert toy.main(common) == 2
    err = capsys.readouterr().err
    assert "continue it with --resume, or write this run to another folder" in err and "resume=True" not in err

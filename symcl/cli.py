"""The ``symcl`` command line. Thin: parse, call a library function, write files.

Command groups are plugged in through the ``symcl.commands`` entry-point group: each
entry is a ``register(subparsers)`` function (the domains register ``dna``, ``crystal``
and ``protein``), so this core module never imports a domain.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import signal
import sys
import threading
import warnings
from collections.abc import Callable
from importlib.metadata import entry_points
from pathlib import Path
from typing import NoReturn

import torch

import symcl
from symcl.distributed.context import exit_without_finalising, is_distributed, launched_by_torchrun
from symcl.distributed.launch import (
    another_rank_reported,
    in_relaunched_worker,
    relaunch_with_torchrun,
    report_error,
    restarted_by_torchrun,
)
from symcl.errors import Terminated, TrainingError, UserInputError
from symcl.training.config import DEFAULT_WARMUP_STEPS, MAX_SEED, TrainConfig
from symcl.training.loop import refuse_earlier_run, refuse_other_process_count

USER_ERRORS = (UserInputError, FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError)


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (and exit 2), like every other user error.

    Subcommand parsers inherit the class, so the whole command tree answers this way.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Before Python 3.13 argparse reads "--gap-open -1.5e1" as an option named -1.5e1; a
        # negative number in any spelling float() reads (-1.e2, -inf) is a value here, which
        # the option's type then checks (setting it is harmless where unused).
        self._negative_number_matcher = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$|^-(inf|infinity|nan)$", re.I)

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="symcl",
        description="Symmetry-aware contrastive learning for crystals, DNA and proteins.",
    )
    parser.add_argument("--version", action="version", version=f"symcl {symcl.__version__}")
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    for entry in sorted(entry_points(group="symcl.commands"), key=lambda e: e.name):
        entry.load()(subparsers)
    parser.set_defaults(handler=lambda args: parser.print_help())
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parse_command_line(build_parser(), argv)
    return run_guarded(lambda: args.handler(args))


def parse_command_line(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """Parse ``argv`` (None: the process's command line) and keep it, for a torchrun relaunch."""
    args = parser.parse_args(argv)
    args.command_line = list(sys.argv[1:] if argv is None else argv)
    return args


def run_guarded(run: Callable[[], int | None]) -> int:
    """Run a command: user errors print one line (exit 2), training failures too (exit 1).

    An integer returned by ``run`` is the exit status (e.g. that of a torchrun relaunch).
    A torchrun worker ends here, without Python's finalisation (see
    :func:`~symcl.distributed.exit_without_finalising`).
    """
    with warnings.catch_warnings():  # restores Python's own printing afterwards
        warnings.showwarning = _print_warning
        status = _status_of(run)
    if launched_by_torchrun() and is_distributed():
        exit_without_finalising(status)
    return status


def _print_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """A warning on the command line is one line, without the source line that raised it."""
    print(f"symcl: warning: {message}", file=sys.stderr if file is None else file)


def _terminate(signum: int, frame: object) -> NoReturn:
    raise Terminated


def _status_of(run: Callable[[], int | None]) -> int:
    # SIGTERM unwinds like Ctrl-C, so a file being written leaves no temporary file behind.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        status = run()
    except Terminated:
        _report_stop("symcl: terminated")
        return 128 + signal.SIGTERM
    except USER_ERRORS as error:
        report_error(str(error))
        return 2
    except TrainingError as error:
        report_error(str(error))
        return 1
    except MemoryError as error:  # numpy names the size it could not allocate
        report_error(f"out of memory ({error}); a smaller --batch-size or input needs less")
        return 1
    except KeyboardInterrupt:
        _report_stop("symcl: interrupted")
        return 130
    except Exception:
        if another_rank_reported():  # its failure broke this rank's collective; the parent prints its cause
            return 1
        raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    return status if isinstance(status, int) else 0


def _report_stop(message: str) -> None:
    if not in_relaunched_worker():  # the parent of relaunched workers says it once for all
        # On a terminal the cursor is still on the progress bar's line (or after the echoed ^C).
        print(("\n" if sys.stderr.isatty() else "") + message, file=sys.stderr)


def add_command_group(subparsers, name: str, help: str) -> argparse._SubParsersAction:
    """Add a command group such as ``symcl dna``; returns the subparsers for its commands."""
    group = subparsers.add_parser(name, help=help, description=help)
    group.set_defaults(handler=lambda args: group.print_help())
    return group.add_subparsers(title="commands", metavar="COMMAND")


def add_training_arguments(parser: argparse.ArgumentParser, *, steps: int = 1000, batch_size: int = 128) -> None:
    """The flags every ``train`` command shares."""
    parser.add_argument(
        "--out",
        required=True,
        type=output_directory,
        metavar="DIR",
        help="output directory (model, config, history, checkpoints)",
    )
    parser.add_argument("--steps", type=_positive_int, default=steps, help=f"optimiser steps (default {steps})")
    parser.add_argument(
        "--batch-size", type=int_at_least(2), default=batch_size, help=f"samples per step (default {batch_size})"
    )
    parser.add_argument("--lr", type=positive_float32, default=1e-3, help="peak learning rate (default 1e-3)")
    parser.add_argument(
        "--warmup-steps",
        type=_non_negative_int,
        default=None,
        metavar="K",
        help=f"steps of linear learning-rate warm-up (default {DEFAULT_WARMUP_STEPS}, or a tenth of --steps when "
        "that is fewer)",
    )
    parser.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--checkpoint-every",
        type=_non_negative_int,
        default=100,
        metavar="K",
        help="steps between checkpoints; 0 keeps only the final one (default 100)",
    )
    parser.add_argument(
        "--eval-every",
        type=_non_negative_int,
        default=100,
        metavar="K",
        help="steps between evaluations; 0 disables them (default 100)",
    )
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument(
        "--nproc",
        type=_positive_int,
        default=1,
        metavar="N",
        help="train with N processes under torchrun (DDP; gloo on CPU, nccl on CUDA)",
    )
    parser.add_argument(
        "--max-restarts",
        type=_non_negative_int,
        default=0,
        metavar="R",
        help="with --nproc: restart the workers up to R times after a failure, resuming",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def relaunch_if_distributed(args: argparse.Namespace, module: str) -> int | None:
    """Refuse what can be refused before the data is read; with --nproc > 1 (or --max-restarts),
    rerun this command under torchrun and return its status.

    Every ``train`` command calls it first, so a folder that holds an earlier run's
    checkpoints, without --resume, is refused before any data work. Returns None when
    this process should train itself: a plain single-process run, or a torchrun worker.
    ``module`` is what ``python -m`` runs, e.g. "symcl.cli".
    """
    if launched_by_torchrun():  # checked by the parent; a restarted worker resumes
        return None
    if not args.resume:  # and the restarted workers would resume whatever the folder holds
        refuse_earlier_run(Path(args.out), "--resume")
    if args.nproc == 1 and args.max_restarts == 0:
        return None
    # What the workers would refuse is refused here, in one line, rather than in every
    # worker under torchrun's traceback (and again after each restart).
    resolve_device(args.device)
    if args.batch_size % args.nproc:
        raise UserInputError(f"--batch-size {args.batch_size} must be a multiple of --nproc {args.nproc}")
    if args.resume:
        refuse_other_process_count(Path(args.out), args.nproc)
    return relaunch_with_torchrun(module, args.command_line, nproc=args.nproc, max_restarts=args.max_restarts)


def wants_resume(args: argparse.Namespace) -> bool:
    """--resume, or a worker that torchrun restarted after a failure."""
    return args.resume or restarted_by_torchrun()


def train_config_from(args: argparse.Namespace) -> TrainConfig:
    """A TrainConfig from the common training flags."""
    return TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        warmup_steps=args.warmup_steps,  # None: 50, or a tenth of the steps (a short run still peaks)
        seed=args.seed,
        checkpoint_every=args.checkpoint_every,
        eval_every=args.eval_every,
        device=resolve_device(args.device),
    )


def fill_encoder_options(args: argparse.Namespace, options: dict[str, tuple[object, tuple[str, ...]]]) -> None:
    """Fill the encoder-specific options left unset; refuse one given for an encoder it does not shape.

    `options` maps an option's destination to its default and the encoders it applies to; its
    parser default is None, so that a value given can be told from the default.
    """
    for dest, (default, encoders) in options.items():
        if getattr(args, dest) is None:
            setattr(args, dest, default)
        elif args.encoder not in encoders:
            flag = "--" + dest.replace("_", "-")
            raise UserInputError(
                f"{flag} applies to --encoder {' or '.join(encoders)} only; it would be ignored with "
                f"--encoder {args.encoder}"
            )


def refuse_a_file_given_twice(paths: list[str]) -> None:
    """Refuse a training file given twice (by any path to it): its records would train against themselves.

    Record ids may repeat across files (contig_1 in each assembly); the same file twice may not.
    """
    first: dict[object, str] = {}
    for path in paths:
        key = _file_identity(path)
        if key in first:
            raise UserInputError(f"{path}: given twice (also as {first[key]}); each training file once")
        first[key] = path


def refuse_writing_over_an_input(output: str, inputs: list[str], option: str = "-o") -> None:
    """Refuse an output path that is one of the inputs (by any path to it): writing it would destroy the input."""
    written = _file_identity(output)
    for path in inputs:
        if _file_identity(path) == written:
            raise UserInputError(f"{option} {output}: is the input file {path}; choose another output path")


def _file_identity(path: str) -> object:
    """The file itself, so that a hard link or a symbolic link to it is the same file."""
    try:
        info = os.stat(path)
        return info.st_dev, info.st_ino
    except OSError:  # a file not there yet (or missing: the reader reports it) is known by its path
        return os.path.realpath(path)


def resolve_device(name: str) -> str:
    """Check a --device value; "auto" picks CUDA when present."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return name
    if name == "cuda" or (name.startswith("cuda:") and name[5:].isdigit()):
        if not torch.cuda.is_available():
            raise UserInputError(f"--device {name}: CUDA is not available on this machine; use --device cpu")
        return name
    raise UserInputError(f"--device must be cpu, cuda, cuda:N or auto. Got {name!r} instead.")


def _positive_int(text: str) -> int:
    return int_at_least(1)(text)


def _non_negative_int(text: str) -> int:
    return int_at_least(0)(text)


def int_at_least(low: int) -> Callable[[str], int]:
    """An argparse ``type`` accepting integers >= ``low``, with a one-line error otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be an integer >= {low}, got {value}")
        return value

    return parse


def seed_value(text: str) -> int:
    """An argparse ``type`` for --seed: an integer in [0, 2**32 - 1], what every generator here accepts."""
    value = int_at_least(0)(text)
    if value > MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be an integer in [0, 2**32 - 1], got {value}")
    return value


def positive_float(text: str) -> float:
    """An argparse ``type`` accepting finite numbers > 0, with a one-line error otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text}")
    return value


def positive_float32(text: str) -> float:
    """An argparse ``type`` for a training number (learning rate): > 0 and held by float32.

    Training runs in float32: a learning rate of 1e39 overflows in the optimiser (a
    traceback).
    """
    value = positive_float(text)
    low, high = torch.finfo(torch.float32).tiny, torch.finfo(torch.float32).max
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be a number in [{low:.2g}, {high:.2g}] (float32), got {text}")
    return value


def softmax_temperature(text: str) -> float:
    """An argparse ``type`` for an InfoNCE temperature: a number in [1e-4, 100].

    The logits are cosines divided by the temperature, and so are their gradients: far
    below 1e-4 the gradient norm overflows float32 (1e-30 stopped training with "gradient
    norm is inf"); far above 100 every pair looks alike and nothing is learned. Useful
    values lie around 0.05-0.5.
    """
    value = positive_float(text)
    if not 1e-4 <= value <= 100:
        raise argparse.ArgumentTypeError(f"must be a number in [0.0001, 100] (typically 0.05-0.5), got {text}")
    return value


def non_negative_float(text: str) -> float:
    """An argparse ``type`` accepting finite numbers >= 0, with a one-line error otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number >= 0, got {text!r}") from None
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def float_in(low: float, high: float) -> Callable[[str], float]:
    """An argparse ``type`` accepting numbers in [low, high], with a one-line error otherwise."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a number in [{low:g}, {high:g}], got {text!r}") from None
        if not low <= value <= high:  # also refuses NaN
            raise argparse.ArgumentTypeError(f"must be a number in [{low:g}, {high:g}], got {text}")
        return value

    return parse


def output_file(text: str) -> str:
    """An argparse ``type`` for a file to write: not a folder, and no file where its folder should be."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder; give the path of a file to write")
    _check_folder_possible(path.parent, text)
    return text


def output_directory(text: str) -> str:
    """An argparse ``type`` for a folder to write into (created if needed): no file in the way."""
    _check_folder_possible(Path(text), text)
    return text


def _check_folder_possible(folder: Path, text: str) -> None:
    """Raise if ``folder``, or the nearest of its parents that exists, is not a folder."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise argparse.ArgumentTypeError(f"cannot write {text!r}: {str(candidate)!r} is a file, not a folder")
            return


if __name__ == "__main__":
    sys.exit(main())

"""``symcl demo``: all three domains end to end on shipped data, ending in a report."""

from __future__ import annotations

import argparse

from symcl.cli import output_directory, seed_value


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run all three domains on shipped data and write a report",
        description="Run dna, crystal and protein end to end with the shipped pretrained models and data, "
        "and write DIR/report.html and DIR/report.md with figures, a metrics table and the command that "
        "reproduces each part. About a minute on 2 CPU cores; --quick about 20 seconds.",
    )
    parser.add_argument(
        "--out",
        default="symcl-demo",
        type=output_directory,
        metavar="DIR",
        help="output directory (default symcl-demo)",
    )
    parser.add_argument("--quick", action="store_true", help="smaller inputs (about 20 seconds)")
    parser.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("dna", "crystal", "protein"),
        default=("dna", "crystal", "protein"),
        help="which parts to run (default all three)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace) -> None:
    from .run import run_demo

    paths = run_demo(args.out, quick=args.quick, seed=args.seed, parts=args.parts, progress=not args.quiet)
    print(f"symcl demo: report written to {paths['report.html']} and {paths['report.md']}")

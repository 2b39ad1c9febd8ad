"""The ``symcl`` command line. Thin: parse, call a library function, write files."""

from __future__ import annotations

import argparse
import sys

import symcl


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="symcl",
        description="Symmetry-aware contrastive learning for crystals, DNA and proteins.",
    )
    parser.add_argument("--version", action="version", version=f"symcl {symcl.__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())

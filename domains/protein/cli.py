"""``symcl protein``: the command group of the protein domain.

- ``symcl protein distances FILE --method M -o OUT.tsv``: all-vs-all distances, a square
  TSV whose header row and first column are the record ids in input order.
- ``symcl protein tree FILE --method M -o OUT.nwk``: neighbour-joining tree, Newick.

FILE is FASTA (aligned or not), Stockholm or Clustal, optionally gzipped. Alignments
(Stockholm, Clustal, or FASTA whose records all have the same length and contain gaps)
are compared column by column; ``--realign`` aligns every pair instead, ``--aligned``
insists on column mode (and fails on rows of different lengths).
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from symcl.atomic import atomic_write
from symcl.cli import add_command_group
from symcl.errors import UserInputError

from .alignment import GAP_EXTEND, GAP_OPEN, make_aligner
from .distance import distance_matrix, saturation_message
from .formulas import MAX_DISTANCE, METHODS
from .reader import FORMATS, ProteinSequences, read_sequences
from .tree import nj_tree, write_newick


def register(subparsers) -> None:
    sub = add_command_group(subparsers, "protein", "alignment-distance regression for protein families")

    distances = sub.add_parser(
        "distances",
        help="all-vs-all alignment distances as a square TSV",
        description="All-vs-all evolutionary distances of a protein family (the classical, alignment route).",
    )
    _add_distance_arguments(distances)
    distances.add_argument("-o", "--out", required=True, metavar="OUT.tsv", help="output TSV (square matrix)")
    distances.set_defaults(handler=run_distances)

    tree = sub.add_parser(
        "tree",
        help="neighbour-joining tree from alignment distances, as Newick",
        description="Neighbour-joining tree (Bio.Phylo) of a protein family from alignment distances.",
    )
    _add_distance_arguments(tree)
    tree.add_argument("-o", "--out", required=True, metavar="OUT.nwk", help="output Newick file")
    tree.set_defaults(handler=run_tree)


def run_distances(args: argparse.Namespace) -> None:
    family = _read(args)
    distances = _distances(args, family)
    atomic_write(args.out, lambda tmp: write_tsv(tmp, family.ids, distances))
    _say(args, f"wrote {len(family)} x {len(family)} {args.method} distances to {args.out}")


def run_tree(args: argparse.Namespace) -> None:
    family = _read(args)
    if len(family) < 3:
        raise UserInputError(f"{args.file}: a tree needs at least 3 sequences; the file has {len(family)}")
    distances = _distances(args, family)
    write_newick(nj_tree(distances, family.ids), args.out)
    _say(args, f"wrote the neighbour-joining tree of {len(family)} sequences ({args.method} distances) to {args.out}")


def write_tsv(path, ids: tuple[str, ...] | list[str], distances: np.ndarray) -> None:
    """Write a square distance matrix as TSV: header ``id`` + ids, then one row per id."""
    with open(path, "w") as handle:
        handle.write("\t".join(["id", *ids]) + "\n")
        for rid, row in zip(ids, distances, strict=True):
            handle.write("\t".join([rid, *(f"{value:.6f}" for value in row)]) + "\n")


def _read(args: argparse.Namespace) -> ProteinSequences:
    aligned = True if args.aligned else False if args.realign else None
    return read_sequences(args.file, format=args.format, aligned=aligned)


def _distances(args: argparse.Namespace, family: ProteinSequences) -> np.ndarray:
    if not math.isfinite(args.max_distance) or args.max_distance <= 0:
        raise UserInputError(f"--max-distance must be a finite number > 0. Got {args.max_distance} instead.")
    try:
        aligner = make_aligner(gap_open=args.gap_open, gap_extend=args.gap_extend)
    except ValueError as error:
        raise UserInputError(f"--gap-open/--gap-extend: {error}") from None
    distances, saturated = distance_matrix(
        family,
        args.method,
        aligner=aligner,
        max_distance=args.max_distance,
        n_jobs=args.jobs,
        progress=not args.quiet,
        return_saturated=True,
    )
    if saturated.any():
        print(
            f"symcl: warning: {saturation_message(saturated, family.ids, args.method, args.max_distance)}",
            file=sys.stderr,
        )
    return distances


def _add_distance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="protein family: FASTA (aligned or not), Stockholm or Clustal")
    parser.add_argument(
        "--method", choices=METHODS, default="scoredist", help="distance (default scoredist, calibrated to JTT)"
    )
    parser.add_argument("--format", choices=FORMATS, default=None, help="input format (default: from the content)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--aligned", action="store_true", help="the input is an alignment: use its columns, never realign"
    )
    mode.add_argument("--realign", action="store_true", help="remove gaps and align every pair (BLOSUM62)")
    parser.add_argument(
        "--gap-open", type=float, default=GAP_OPEN, help=f"score of a gap's first residue (default {GAP_OPEN:g})"
    )
    parser.add_argument(
        "--gap-extend",
        type=float,
        default=GAP_EXTEND,
        help=f"score of each further gap residue (default {GAP_EXTEND:g})",
    )
    parser.add_argument(
        "--max-distance",
        type=float,
        default=MAX_DISTANCE,
        help=f"cap for saturated pairs, substitutions per site (default {MAX_DISTANCE:g})",
    )
    parser.add_argument(
        "--jobs", type=_positive_int, default=None, metavar="N", help="worker processes (default: all CPUs)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar or summary line (warnings are still printed)"
    )


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {value}")
    return value

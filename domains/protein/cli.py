"""``symcl protein``: the command group of the protein domain.

- ``symcl protein distances FILE --method M -o OUT.tsv``: all-vs-all distances, a square
  TSV whose header row and first column are the record ids in input order. ``--method
  spectrum`` compares spaced k-mer spectra instead of aligning (alignment-free, fast).
- ``symcl protein tree FILE [--method M | --model [DIR]] -o OUT.nwk``: neighbour-joining
  tree, Newick, from alignment distances (default Scoredist), from spectrum distances
  (``--method spectrum``, no alignment) or from a trained model's predicted distances
  (``--model`` alone: the shipped pretrained model).
- ``symcl protein train FILE... --out DIR``: train the Siamese distance regressor on
  the files' families (one family per file) plus simulated families.
- ``symcl protein embed FILE [--model DIR] -o OUT.npz``: one embedding per record
  (default: the shipped pretrained model).

FILE is FASTA (aligned or not), Stockholm or Clustal, optionally gzipped. Alignments
(Stockholm, Clustal, or FASTA whose records all have the same length and contain gaps)
are compared column by column; ``--realign`` aligns every pair instead, ``--aligned``
insists on column mode (and fails on rows of different lengths).

Pairs compared over fewer than ``--min-columns`` columns (default 20; with ``--method
spectrum`` or ``--model``, sequences shorter than that many residues) keep their distance
and are reported on one ``symcl: warning:`` line naming the sequences in most of them.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

import numpy as np

from symcl.atomic import atomic_write
from symcl.cli import (
    add_command_group,
    add_training_arguments,
    int_at_least,
    output_file,
    refuse_writing_over_an_input,
)
from symcl.errors import UserInputError
from symcl.sources import record_paths, resumable_sources

from .alignment import GAP_EXTEND, GAP_OPEN, make_aligner
from .anchored import DEFAULT_ANCHORS
from .distance import MIN_COLUMNS, distance_matrix, saturation_message
from .formulas import MAX_DISTANCE, METHODS
from .model import HUBER_DELTA
from .reader import FORMATS, ProteinSequences, read_sequences
from .spectrum import spectrum_distances
from .tree import nj_tree, write_newick
from .workers import ProgressBar

#: The ``--method`` of the alignment-free route (:mod:`~symcl.domains.protein.spectrum`).
SPECTRUM = "spectrum"

#: The value of ``--model`` given without a directory: the shipped pretrained model.
PRETRAINED = object()

#: The options that shape one encoder only: their defaults and the encoders they apply to.
ENCODER_OPTIONS = {"kmer_sizes": ([1, 2, 3], ("kmer",)), "hidden": (256, ("kmer",)), "blocks": (3, ("cnn",))}


def register(subparsers) -> None:
    sub = add_command_group(subparsers, "protein", "alignment-distance regression for protein families")

    distances = sub.add_parser(
        "distances",
        help="all-vs-all alignment (or spectrum) distances as a square TSV",
        description="All-vs-all evolutionary distances of a protein family (the classical routes: alignment, or "
        "--method spectrum without alignment).",
    )
    _add_distance_arguments(distances)
    _add_method_argument(distances, alignment_free=True)
    _add_output_argument(distances, "OUT.tsv", "output TSV (square matrix)")
    distances.set_defaults(handler=run_distances)

    tree = sub.add_parser(
        "tree",
        help="neighbour-joining tree from alignment, spectrum or predicted distances, as Newick",
        description="Neighbour-joining tree (vectorised numpy, written with Bio.Phylo) of a protein family, "
        "from alignment distances (--method, default scoredist; spectrum: alignment-free) or from the distances "
        "predicted by a trained model (--model DIR; --model alone: the shipped pretrained model).",
    )
    _add_distance_arguments(tree)
    route = tree.add_mutually_exclusive_group()
    _add_method_argument(route, default=None, alignment_free=True)
    route.add_argument(
        "--model",
        metavar="DIR",
        nargs="?",
        const=PRETRAINED,
        help="predicted distances (no alignment) of a model directory from 'symcl protein train'; "
        "'--model' alone uses the shipped pretrained model (after FILE, since it would take FILE as DIR: "
        "'symcl protein tree FILE --model -o OUT.nwk')",
    )
    tree.add_argument("--batch-size", type=int_at_least(1), default=64, help="with --model: sequences per forward pass")
    tree.add_argument("--device", default="cpu", help="with --model: cpu, cuda, cuda:N or auto (default cpu)")
    _add_output_argument(tree, "OUT.nwk", "output Newick file")
    tree.set_defaults(handler=run_tree)

    _add_train(sub)
    _add_embed(sub)


def _add_output_argument(parser: argparse.ArgumentParser, metavar: str, help: str) -> None:
    # -o/--output as in every other command; --out, the first spelling, still works
    parser.add_argument(
        "-o", "--output", "--out", dest="out", required=True, type=output_file, metavar=metavar, help=help
    )


def run_distances(args: argparse.Namespace) -> None:
    family = _read(args)
    distances = _distances(args, family)
    atomic_write(args.out, lambda tmp: write_tsv(tmp, family.ids, distances, progress=not args.quiet))
    _say(args, f"wrote {len(family)} x {len(family)} {args.method} distances to {args.out}")


def run_tree(args: argparse.Namespace) -> None:
    family = _read(args)
    if len(family) < 3:
        raise UserInputError(f"{args.file}: a tree needs at least 3 sequences; the file has {len(family)}")
    if args.model is not None:
        from symcl.cli import resolve_device

        if args.anchors is not None:
            raise UserInputError("--anchors applies to alignment distances (--method), not to --model")

        from .model import load_model, predicted_distance_matrix, pretrained_directory

        _check_max_distance(args)
        directory = pretrained_directory() if args.model is PRETRAINED else args.model
        model = load_model(directory).to(resolve_device(args.device))
        distances = predicted_distance_matrix(
            model,
            family,
            batch_size=args.batch_size,
            max_distance=args.max_distance,
            min_length=args.min_columns,
            progress=not args.quiet,
        )
        what = f"distances predicted by {directory}"
    else:
        args.method = args.method or "scoredist"
        distances = _distances(args, family)
        what = f"{args.method} distances"
    write_newick(nj_tree(distances, family.ids, progress=not args.quiet), args.out)
    _say(args, f"wrote the neighbour-joining tree of {len(family)} sequences ({what}) to {args.out}")


def write_tsv(path, ids: tuple[str, ...] | list[str], distances: np.ndarray, *, progress: bool = False) -> None:
    """Write a square distance matrix as TSV: header ``id`` + ids, then one row per id, values as ``%.6f``."""
    # One %-format call per row (the same digits as f"{value:.6f}") instead of one per value.
    if np.shape(distances) != (len(ids), len(ids)):
        raise ValueError(
            f"The 'distances' parameter of write_tsv must be square with one row per id ({len(ids)}). "
            f"Got shape {np.shape(distances)} instead."
        )
    row_format = "\t".join(["%s", *["%.6f"] * len(ids)]) + "\n"
    with (
        open(path, "w") as handle,
        ProgressBar(total=len(ids), desc="writing", unit="row", disable=not progress) as bar,
    ):
        handle.write("\t".join(["id", *ids]) + "\n")
        for rid, row in zip(ids, distances, strict=True):
            handle.write(row_format % (rid, *row.tolist()))
            bar.update()


def _read(args: argparse.Namespace) -> ProteinSequences:
    refuse_writing_over_an_input(args.out, [args.file])
    aligned = True if args.aligned else False if args.realign else None
    return read_sequences(args.file, format=args.format, aligned=aligned)


def _check_max_distance(args: argparse.Namespace) -> None:
    if not math.isfinite(args.max_distance) or args.max_distance <= 0:
        raise UserInputError(f"--max-distance must be a finite number > 0. Got {args.max_distance} instead.")


def _distances(args: argparse.Namespace, family: ProteinSequences) -> np.ndarray:
    _check_max_distance(args)
    if args.method == SPECTRUM:
        if args.anchors is not None:
            raise UserInputError("--anchors applies to alignment distances, not to --method spectrum")
        distances, saturated = spectrum_distances(
            family,
            max_distance=args.max_distance,
            min_length=args.min_columns,
            return_saturated=True,
            progress=not args.quiet,
        )
        _warn_saturated(saturated, family, args)
        return distances
    if args.anchors is not None and family.aligned:
        raise UserInputError(
            f"{args.file}: --anchors needs unaligned sequences, but the file is read as an alignment (its columns "
            "are used as they are); add --realign to align to anchors instead"
        )
    try:
        aligner = make_aligner(gap_open=args.gap_open, gap_extend=args.gap_extend)
    except ValueError as error:
        raise UserInputError(f"--gap-open/--gap-extend: {error}") from None
    distances, saturated = distance_matrix(
        family,
        args.method,
        aligner=aligner,
        max_distance=args.max_distance,
        anchors=args.anchors,
        n_jobs=args.jobs,
        progress=not args.quiet,
        min_columns=args.min_columns,
        return_saturated=True,
    )
    _warn_saturated(saturated, family, args)
    return distances


def _warn_saturated(saturated: np.ndarray, family: ProteinSequences, args: argparse.Namespace) -> None:
    if saturated.any():
        print(
            f"symcl: warning: {saturation_message(saturated, family.ids, args.method, args.max_distance)}",
            file=sys.stderr,
        )


def _add_method_argument(parser, default: str | None = "scoredist", alignment_free: bool = False) -> None:
    text = "alignment distance (default scoredist, calibrated to JTT)"
    if alignment_free:
        text += ", or 'spectrum': alignment-free, from shared spaced k-mers (fast and approximate; gaps removed)"
    choices = (*METHODS, SPECTRUM) if alignment_free else METHODS
    parser.add_argument("--method", choices=choices, default=default, help=text)


def _gap_score(text: str) -> float:
    """An argparse ``type`` for a gap score: a finite number <= 0 (a positive one would reward gaps)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number <= 0, got {text!r}") from None
    if not (math.isfinite(value) and value <= 0):
        raise argparse.ArgumentTypeError(f"must be a finite number <= 0 (a positive score rewards gaps), got {text}")
    return value


def _add_distance_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="protein family: FASTA (aligned or not), Stockholm or Clustal")
    parser.add_argument("--format", choices=FORMATS, default=None, help="input format (default: from the content)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument(
        "--aligned", action="store_true", help="the input is an alignment: use its columns, never realign"
    )
    mode.add_argument("--realign", action="store_true", help="remove gaps and align every pair (BLOSUM62)")
    parser.add_argument(
        "--gap-open", type=_gap_score, default=GAP_OPEN, help=f"score of a gap's first residue (default {GAP_OPEN:g})"
    )
    parser.add_argument(
        "--gap-extend",
        type=_gap_score,
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
        "--min-columns",
        type=int_at_least(0),
        default=MIN_COLUMNS,
        metavar="N",
        help=f"warn about pairs compared over fewer than N aligned columns (with --method spectrum or --model: "
        f"sequences shorter than N residues), whose distances are noise; they are kept (default {MIN_COLUMNS}, "
        "0: never)",
    )
    parser.add_argument(
        "--anchors",
        type=int_at_least(1),
        default=None,
        metavar="K",
        help="approximate and fast: align each sequence to K anchor sequences of the file instead of aligning "
        f"every pair (K*N alignments), and read each pair off these star alignments (e.g. {DEFAULT_ANCHORS}; "
        "unaligned input, one family)",
    )
    parser.add_argument(
        "--jobs", type=int_at_least(1), default=None, metavar="N", help="worker processes (default: all CPUs)"
    )
    parser.add_argument(
        "--quiet", action="store_true", help="no progress bar or summary line (warnings are still printed)"
    )


def _add_train(sub) -> None:
    parser = sub.add_parser(
        "train",
        help="train the Siamese distance regressor (real families + simulated ones)",
        description="Train a protein encoder whose embedding distances predict alignment distances. Each "
        "FILE is one family; its all-vs-all distances (--method) are computed once, then pairs are drawn "
        "stratified by distance, plus cross-family pairs at the saturation cap. --simulated adds families "
        "evolved under LG + gamma along random trees.",
    )
    parser.add_argument(
        "inputs", nargs="*", metavar="FILE", help="protein families (FASTA aligned or not, Stockholm, Clustal)"
    )
    add_training_arguments(parser, steps=2000, batch_size=64)
    targets = parser.add_argument_group("targets")
    _add_method_argument(targets)
    targets.add_argument("--realign", action="store_true", help="align every pair even when a file is an alignment")
    targets.add_argument(
        "--max-distance",
        type=float,
        default=MAX_DISTANCE,
        help=f"saturation cap, substitutions per site (default {MAX_DISTANCE:g})",
    )
    targets.add_argument(
        "--anchors",
        type=int_at_least(1),
        default=None,
        metavar="K",
        help="targets of unaligned families (or with --realign) from star alignments to K anchor sequences "
        "(K*N alignments) instead of aligning every pair; alignments keep their columns",
    )
    targets.add_argument("--jobs", type=int_at_least(1), default=None, metavar="N", help="alignment worker processes")
    simulated = parser.add_argument_group("simulated families")
    simulated.add_argument(
        "--simulated", type=int_at_least(0), default=200, metavar="N", help="simulated families (default 200)"
    )
    simulated.add_argument(
        "--simulated-sizes",
        type=int_at_least(1),
        nargs=2,
        default=(8, 32),
        metavar=("MIN", "MAX"),
        help="sequences per simulated family (default 8 32)",
    )
    simulated.add_argument(
        "--simulated-lengths",
        type=int_at_least(1),
        nargs=2,
        default=(80, 300),
        metavar=("MIN", "MAX"),
        help="length of simulated sequences in aa (default 80 300)",
    )
    simulated.add_argument(
        "--simulated-gaps",
        type=float,
        default=0.0,
        metavar="F",
        help="turn up to F of each simulated sequence's ends, and internal stretches, into gaps "
        "(length variation and indels like real families; default 0)",
    )
    pairs = parser.add_argument_group("pairs and loss")
    pairs.add_argument(
        "--cross-family-fraction",
        type=float,
        default=0.15,
        help="share of cross-family pairs, target = the cap (default 0.15)",
    )
    pairs.add_argument(
        "--huber-delta",
        type=float,
        default=HUBER_DELTA,
        help=f"Huber threshold in log1p units (default {HUBER_DELTA:g})",
    )
    pairs.add_argument(
        "--contrastive-weight",
        type=float,
        default=0.0,
        help="weight of the auxiliary InfoNCE term on near pairs (default 0: off)",
    )
    pairs.add_argument(
        "--near-distance",
        type=float,
        default=0.2,
        help="pairs closer than this are positives of the contrastive term (default 0.2)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--encoder",
        choices=("cnn", "kmer"),
        default="cnn",
        help="cnn: residue CNN (ProteinCNN); kmer: bag of learned 1-3-mer embeddings (ProteinKmerBag) (default cnn)",
    )
    model.add_argument("--dim", type=int_at_least(1), default=64, help="embedding dimension (default 64)")
    model.add_argument(
        "--channels", type=int_at_least(1), default=64, help="CNN channels, or k-mer table width (default 64)"
    )
    model.add_argument(
        "--kmer-sizes",
        type=int_at_least(1),
        nargs="+",
        default=None,
        metavar="K",
        help="with --encoder kmer: k-mer lengths, each <= 4 (default 1 2 3)",
    )
    model.add_argument(
        "--hidden",
        type=int_at_least(0),
        default=None,
        help="with --encoder kmer: hidden width of the MLP head, 0 for a linear head (default 256)",
    )
    model.add_argument(
        "--blocks", type=int_at_least(0), default=None, help="with --encoder cnn: dilated residual blocks (default 3)"
    )
    model.add_argument(
        "--segments",
        type=int_at_least(1),
        default=16,
        help="pooled stretches by relative position (default 16; 1 = plain mean pooling)",
    )
    parser.set_defaults(handler=run_train)


def _add_embed(sub) -> None:
    parser = sub.add_parser(
        "embed",
        help="embed the records of a protein file",
        description="One embedding per record, written as an .npz with the arrays ids and embeddings.",
    )
    parser.add_argument("file", metavar="FILE", help="protein sequences: FASTA (aligned or not), Stockholm or Clustal")
    parser.add_argument("-o", "--output", required=True, type=output_file, metavar="OUT.npz", help="output .npz file")
    parser.add_argument(
        "--model", metavar="DIR", help="model directory from 'symcl protein train' (default: pretrained)"
    )
    parser.add_argument("--format", choices=FORMATS, default=None, help="input format (default: from the content)")
    parser.add_argument(
        "--batch-size", type=int_at_least(1), default=64, help="sequences per forward pass (default 64)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar or summary line")
    parser.set_defaults(handler=run_embed)


def run_train(args: argparse.Namespace) -> int | None:
    from symcl.cli import (
        fill_encoder_options,
        refuse_a_file_given_twice,
        relaunch_if_distributed,
        train_config_from,
        wants_resume,
    )
    from symcl.training import seed_everything

    from .encoder import ProteinCNN
    from .kmer import MAX_KMER_SIZE
    from .kmer_encoder import ProteinKmerBag
    from .model import train
    from .pairs import PairSampler, family_distances, simulated_families

    fill_encoder_options(args, ENCODER_OPTIONS)
    relaunched = relaunch_if_distributed(args, "symcl.cli")  # --nproc N: rerun this command under torchrun
    if relaunched is not None:
        return relaunched
    config = train_config_from(args)
    _check_max_distance(args)
    if not args.inputs and not args.simulated:
        raise UserInputError("no training data: give protein files, or simulated families with --simulated N")
    refuse_a_file_given_twice(args.inputs)  # its sequences would be cross-family pairs, trained as saturated
    for name, (low, high) in (
        ("--simulated-sizes", args.simulated_sizes),
        ("--simulated-lengths", args.simulated_lengths),
    ):
        if low > high or (name == "--simulated-sizes" and low < 2):
            raise UserInputError(f"{name} must satisfy MIN <= MAX (and sizes MIN >= 2). Got {low} {high} instead.")
    if not 0 <= args.simulated_gaps < 0.5:
        raise UserInputError(f"--simulated-gaps must be in [0, 0.5). Got {args.simulated_gaps} instead.")
    if not 0 <= args.cross_family_fraction < 1:
        raise UserInputError(f"--cross-family-fraction must be in [0, 1). Got {args.cross_family_fraction} instead.")
    for flag, value, strict in (
        ("--huber-delta", args.huber_delta, True),
        ("--near-distance", args.near_distance, True),
        ("--contrastive-weight", args.contrastive_weight, False),
    ):
        if not (math.isfinite(value) and (value > 0 if strict else value >= 0)):
            rule = "> 0" if strict else ">= 0"
            raise UserInputError(f"{flag} must be a finite number {rule}. Got {value} instead.")
    kmer_sizes = args.kmer_sizes
    if args.encoder == "kmer" and (max(kmer_sizes) > MAX_KMER_SIZE or len(set(kmer_sizes)) != len(kmer_sizes)):
        raise UserInputError(
            f"--kmer-sizes must be distinct integers in [1, {MAX_KMER_SIZE}]. Got {kmer_sizes} instead."
        )
    sources = resumable_sources(args.inputs, args.out, wants_resume(args), "protein")
    # a family is named by its file's name, not its path as typed: the names are part of the
    # run's metadata, which a resume compares (a run begun before the fingerprints keeps the paths)
    as_typed = sources == list(args.inputs)
    main_process = os.environ.get("RANK", "0") == "0"
    families = []
    for path in args.inputs:
        family = read_sequences(path, aligned=False if args.realign else None)
        if len(family) < 2:
            raise UserInputError(f"{path}: a training family needs at least 2 sequences; the file has {len(family)}")
        families.append(
            family_distances(
                family,
                args.method,
                name=path if as_typed else Path(path).name,
                max_distance=args.max_distance,
                anchors=args.anchors,
                n_jobs=args.jobs,
                progress=main_process and not args.quiet,
            )
        )
    if args.simulated:
        families += simulated_families(
            args.simulated,
            np.random.default_rng(args.seed),
            sizes=tuple(args.simulated_sizes),
            lengths=tuple(args.simulated_lengths),
            method=args.method,
            max_distance=args.max_distance,
            gaps=args.simulated_gaps,
        )
    sampler = PairSampler(families, cross_family_fraction=args.cross_family_fraction, max_distance=args.max_distance)
    seed_everything(args.seed)  # the model's initial weights depend on the seed only
    if args.encoder == "kmer":
        model = ProteinKmerBag(
            dim=args.dim,
            kmer_sizes=args.kmer_sizes,
            channels=args.channels,
            segments=args.segments,
            hidden=args.hidden,
        )
    else:
        model = ProteinCNN(dim=args.dim, channels=args.channels, blocks=args.blocks, segments=args.segments)
    train(
        model,
        sampler,
        config,
        delta=args.huber_delta,
        contrastive_weight=args.contrastive_weight,
        near_distance=args.near_distance,
        out_dir=args.out,
        resume=wants_resume(args),
        progress=not args.quiet,
        metadata={
            "method": args.method,
            "anchors": args.anchors,
            "sources": sources,  # fingerprints: a resume must see the same files, however spelled
            "simulated_families": args.simulated,
        },
    )
    record_paths(args.out, "protein", args.inputs)
    if main_process:
        print(
            f"trained a protein distance encoder on {len(args.inputs)} file(s) and {args.simulated} simulated "
            f"families -> {args.out}",
            file=sys.stderr,
        )
    return None


def run_embed(args: argparse.Namespace) -> None:
    from symcl.cli import resolve_device

    from .model import embed_sequences, load_model, pretrained_directory

    refuse_writing_over_an_input(args.output, [args.file])
    family = read_sequences(args.file, format=args.format)
    device = resolve_device(args.device)
    model = load_model(args.model if args.model is not None else pretrained_directory()).to(device)
    embeddings = embed_sequences(model, family, batch_size=args.batch_size, progress=not args.quiet)

    def write(tmp) -> None:
        with open(tmp, "wb") as handle:
            np.savez(handle, ids=np.array(family.ids, dtype=str), embeddings=embeddings)

    atomic_write(args.output, write)
    _say(args, f"embedded {len(family)} sequences ({embeddings.shape[1]} dimensions) -> {args.output}")


def _say(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(message, file=sys.stderr)

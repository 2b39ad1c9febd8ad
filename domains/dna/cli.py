"""``symcl dna``: the command group of the dna domain.

- ``symcl dna train FASTA... --out DIR``: self-supervised training, no labels.
- ``symcl dna embed FASTA [--model DIR] -o OUT.npz``: one embedding per record.
- ``symcl dna bin FASTA --bins N -o BINS.tsv``: contig -> bin by clustering.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

import numpy as np
from tqdm.auto import tqdm

from symcl.cli import (
    add_command_group,
    add_training_arguments,
    float_in,
    int_at_least,
    output_file,
    refuse_writing_over_an_input,
    seed_value,
    softmax_temperature,
    train_config_from,
)
from symcl.errors import UserInputError

_KMER_ENCODERS = ("codon_phase", "kmer")
_CNN_ENCODERS = ("strand_invariant", "plain")

#: The options that shape some encoders only: their defaults and the encoders they apply to.
ENCODER_OPTIONS = {
    "kmer_sizes": ([3, 4, 5], _KMER_ENCODERS),
    "hidden": (256, _KMER_ENCODERS),
    "out_dim": (64, _KMER_ENCODERS),
    "dim": (64, _CNN_ENCODERS),
}


def register(subparsers) -> None:
    sub = add_command_group(subparsers, "dna", "strand-invariant DNA embeddings for metagenomics")
    _add_train(sub)
    _add_embed(sub)
    _add_bin(sub)


def _add_train(sub) -> None:
    parser = sub.add_parser(
        "train",
        help="train a DNA encoder self-supervised (reverse-complement and fragment views)",
        description="Train a DNA encoder on sequence files, without labels. Each file counts as one "
        "genome for the evaluation labels. Records shorter than --window are skipped and reported.",
    )
    parser.add_argument("inputs", nargs="+", metavar="FASTA", help="FASTA/FASTQ/GenBank files, plain or gzipped")
    add_training_arguments(parser, steps=1000, batch_size=128)
    views = parser.add_argument_group("views")
    views.add_argument("--window", type=int_at_least(1), default=1000, help="window length in bp (default 1000)")
    views.add_argument(
        "--fragment-lengths",
        type=int_at_least(1),
        nargs=2,
        metavar=("MIN", "MAX"),
        default=None,
        help="fragment (view) lengths in bp, at most --window (default: 150 to --window)",
    )
    views.add_argument("--whole-window", action="store_true", help="views are whole windows, not fragments")
    views.add_argument(
        "--rc-probability",
        type=float_in(0, 1),
        default=1.0,
        help="probability that the two views are on opposite strands (default 1.0)",
    )
    views.add_argument(
        "--substitution-rate", type=float_in(0, 0.5), default=0.0, help="per-base substitution rate (default 0)"
    )
    views.add_argument("--indel-rate", type=float_in(0, 0.5), default=0.0, help="per-base indel rate (default 0)")
    views.add_argument(
        "--exclusion-bp",
        type=int_at_least(0),
        default=None,
        help="windows of one record closer than this (bp) are not negatives (default: --window)",
    )
    model = parser.add_argument_group("model")
    model.add_argument(
        "--encoder",
        choices=("codon_phase", "kmer", "strand_invariant", "plain"),
        default="codon_phase",
        help="codon_phase: canonical k-mer embeddings pooled per codon phase, strand-invariant by construction "
        "(default); kmer: the same pooled over all positions, fastest; strand_invariant: conjoined CNN "
        "head(h(x) + h(rc(x))); plain: CNN that learns invariance from the views",
    )
    model.add_argument(
        "--kmer-sizes",
        type=int_at_least(1),
        nargs="+",
        default=None,
        metavar="K",
        help="k-mer lengths of the codon_phase and kmer encoders, each 1..8 (default 3 4 5)",
    )
    model.add_argument(
        "--channels", type=int_at_least(1), default=64, help="channels per k-mer table, or CNN channels (default 64)"
    )
    model.add_argument(
        "--hidden",
        type=int_at_least(0),
        default=None,
        help="codon_phase and kmer: hidden width of the MLP on the pooled bags (default 256; kmer: 0 = none)",
    )
    model.add_argument(
        "--out-dim",
        type=int_at_least(0),
        default=None,
        help="codon_phase and kmer: embedding width (default 64; kmer: 0 = the pooled bag itself)",
    )
    model.add_argument(
        "--dim", type=int_at_least(1), default=None, help="strand_invariant and plain: embedding width (default 64)"
    )
    model.add_argument(
        "--projection",
        type=int_at_least(0),
        default=None,
        help="width of the projection head the loss sees, dropped after training "
        "(default 256 for the k-mer encoders, 0 = none for the CNNs, which end in their own head)",
    )
    model.add_argument("--temperature", type=softmax_temperature, default=0.1, help="InfoNCE temperature (default 0.1)")
    parser.set_defaults(handler=_train)


def _add_embed(sub) -> None:
    parser = sub.add_parser(
        "embed",
        help="embed the records of a FASTA/FASTQ/GenBank file",
        description="Embed every record window by window and average the windows. Windows without the "
        "model's shortest k-mer in A/C/G/T (N gaps) are left out; records without one anywhere are skipped and "
        "reported. Writes an .npz with the arrays ids, embeddings and lengths; --per-window adds window_record, "
        "window_start, window_end (0-based, end-exclusive bp) and window_embeddings.",
    )
    parser.add_argument("input", metavar="FASTA", help="FASTA/FASTQ/GenBank file, plain or gzipped")
    parser.add_argument("-o", "--output", required=True, type=output_file, metavar="OUT.npz", help="output .npz file")
    parser.add_argument("--model", metavar="DIR", help="model directory from 'symcl dna train' (default: pretrained)")
    parser.add_argument("--window", type=int_at_least(1), help="window length in bp (default: the training window)")
    parser.add_argument("--stride", type=int_at_least(1), help="maximum step between windows in bp (default: window)")
    parser.add_argument(
        "--min-length", type=int_at_least(1), default=1, help="skip (and report) records shorter than this (bp)"
    )
    parser.add_argument("--per-window", action="store_true", help="also write every window's embedding and coordinates")
    parser.add_argument(
        "--batch-size", type=int_at_least(1), default=256, help="windows per forward pass (default 256)"
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_embed)


def _add_bin(sub) -> None:
    parser = sub.add_parser(
        "bin",
        help="group contigs into bins (putative genomes) by clustering their embeddings",
        description="Embed the contigs of at least --min-length bp (shorter ones are skipped and reported), "
        "cluster them into --bins bins (default: the number of best silhouette, with every number's score printed) and write a TSV with the columns contig and bin.",
    )
    parser.add_argument("input", metavar="FASTA", help="contigs: FASTA/FASTQ/GenBank file, plain or gzipped")
    parser.add_argument(
        "-o", "--output", required=True, type=output_file, metavar="BINS.tsv", help="output TSV (contig, bin)"
    )
    parser.add_argument(
        "--bins",
        type=int_at_least(1),
        help="number of bins (default: the number in 2-20 with the best silhouette score, one bin for fewer than "
        "3 contigs; k-means only)",
    )
    parser.add_argument("--model", metavar="DIR", help="model directory from 'symcl dna train' (default: pretrained)")
    parser.add_argument(
        "--features",
        choices=("embedding", "tnf"),
        default="embedding",
        help="cluster the model's embeddings (default) or the TNF baseline (no model needed)",
    )
    parser.add_argument(
        "--method", choices=("kmeans", "agglomerative"), default="kmeans", help="clustering (default kmeans)"
    )
    parser.add_argument(
        "--min-length",
        type=int_at_least(1),
        default=1000,
        help="bin only contigs of at least this length (default 1000 bp)",
    )
    parser.add_argument("--window", type=int_at_least(1), help="window length in bp (default: the training window)")
    parser.add_argument("--seed", type=seed_value, default=0, help="k-means seed (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.set_defaults(handler=_bin)


def _train(args: argparse.Namespace) -> int | None:
    from symcl.cli import fill_encoder_options, refuse_a_file_given_twice, relaunch_if_distributed, wants_resume
    from symcl.training import seed_everything

    from .encoders import ENCODERS
    from .models import train
    from .views import DnaViews

    fill_encoder_options(args, ENCODER_OPTIONS)
    relaunched = relaunch_if_distributed(args, "symcl.cli")  # --nproc N: rerun this command under torchrun
    if relaunched is not None:
        return relaunched
    config = train_config_from(args)
    refuse_a_file_given_twice(args.inputs)  # its records would be each other's negatives
    fragments = tuple(args.fragment_lengths or (min(150, args.window), args.window))
    if fragments[1] > args.window or fragments[0] > fragments[1]:
        raise UserInputError(
            f"--fragment-lengths must satisfy MIN <= MAX <= --window ({args.window}). Got {fragments[0]} {fragments[1]} instead."
        )
    shortest = min(args.kmer_sizes) if args.encoder in _KMER_ENCODERS else 1
    if min(fragments[0], args.window) < shortest:  # a view without a k-mer embeds as every other such view
        raise UserInputError(
            f"--fragment-lengths MIN and --window must be at least the shortest k-mer ({shortest} bp), or the "
            f"encoder sees nothing in a view. Got {fragments[0]} and {args.window} instead."
        )
    records, labels = [], []
    for label, path in enumerate(args.inputs):
        # require_one=False: a file without a long enough record is checked over all files below
        for record in _read(path, min_length=args.window, require_one=False, progress=not args.quiet):
            records.append(record)
            labels.append(label)
    if not records:
        raise UserInputError(f"no record of at least --window {args.window} bp in {', '.join(args.inputs)}")
    try:
        views = DnaViews(
            records,
            labels=labels,
            window=args.window,
            fragment_lengths=None if args.whole_window else fragments,
            rc_probability=args.rc_probability,
            substitution_rate=args.substitution_rate,
            indel_rate=args.indel_rate,
            exclusion_bp=args.exclusion_bp,
        )
    except ValueError as error:
        raise UserInputError(str(error)) from None
    if args.encoder in _KMER_ENCODERS:
        options = {
            "kmer_sizes": args.kmer_sizes,
            "channels": args.channels,
            "hidden": args.hidden,
            "out_dim": args.out_dim,
        }
        projection = 256 if args.projection is None else args.projection
    else:
        options = {"dim": args.dim, "channels": args.channels}
        projection = args.projection or 0
    seed_everything(args.seed)  # the model's initial weights depend on the seed only
    try:
        model = ENCODERS[args.encoder](**options)
    except ValueError as error:
        raise UserInputError(str(error)) from None
    train(
        model,
        views,
        config,
        temperature=args.temperature,
        projection=projection,
        out_dir=args.out,
        resume=wants_resume(args),
        progress=not args.quiet,
        sources=list(args.inputs),
    )
    if os.environ.get("RANK", "0") == "0":  # one line, also under torchrun
        print(f"trained a {args.encoder} DNA encoder on {len(records)} records -> {args.out}", file=sys.stderr)
    return None


def _embed(args: argparse.Namespace) -> None:
    from .embedding import embed_sequences, save_embeddings

    refuse_writing_over_an_input(args.output, [args.input])
    model, window = _model_and_window(args)
    if args.stride is not None and args.stride > window:
        raise UserInputError(f"--stride must be at most the window ({window} bp). Got {args.stride} instead.")
    records = _read(  # streamed; the records the model sees nothing in are skipped and named
        args.input,
        min_length=args.min_length,
        shortest_kmer=_shortest_kmer(model),
        skip_unreadable=True,
        progress=not args.quiet,  # the file's bytes: a bar with a total, unlike bp of a stream
    )
    result = embed_sequences(
        model, records, window=window, stride=args.stride, batch_size=args.batch_size, per_window=args.per_window
    )
    save_embeddings(args.output, result)
    print(f"embedded {len(result.ids)} records ({int(result.lengths.sum())} bp) -> {args.output}", file=sys.stderr)


def _bin(args: argparse.Namespace) -> None:
    from .binning import bin_contigs, save_bins
    from .embedding import embed_sequences

    refuse_writing_over_an_input(args.output, [args.input])
    if args.features == "tnf" and args.model is not None:
        raise UserInputError(f"--model {args.model}: TNF features need no model; drop --model or --features tnf")
    if args.method != "kmeans" and args.bins is None:  # before minutes of reading and embedding
        raise UserInputError(f"--method {args.method} needs a number of bins (--bins); only k-means chooses one")
    model, window = (None, None) if args.features == "tnf" else _model_and_window(args)
    # streamed: one contig is in memory at a time, as for embed
    # Records the features see nothing in are skipped and named on either route: with its
    # pseudocount, TNF would give them a uniform profile and a made-up bin.
    records = _read(
        args.input,
        min_length=args.min_length,
        shortest_kmer=_TNF_K if model is None else _shortest_kmer(model),
        reader="TNF" if model is None else "the model",
        skip_unreadable=True,
        progress=not args.quiet,
    )
    if args.features == "tnf":
        features, ids = _tnf_and_ids(records)
    else:
        result = embed_sequences(model, records, window=window)  # the file bar above shows the progress
        ids, features = result.ids, result.embeddings
    if args.bins is not None and len(ids) < args.bins:
        raise UserInputError(
            f"{args.input}: {len(ids)} contig(s) of at least {args.min_length} bp, fewer than --bins {args.bins}"
        )
    if args.bins is None:
        _choose_and_save(args, ids, features)
        return
    with warnings.catch_warnings():  # fewer distinct bins than --bins is reported below, in one line
        warnings.filterwarnings("ignore", message="Number of distinct clusters")
        bins = bin_contigs(features, args.bins, method=args.method, seed=args.seed, progress=not args.quiet)
    save_bins(args.output, ids, bins)
    found = len(set(bins.tolist()))
    note = f" (--bins {args.bins}: the contigs did not separate further)" if found < args.bins else ""
    print(f"binned {len(ids)} contigs into {found} bins{note} -> {args.output}", file=sys.stderr)


def _choose_and_save(args: argparse.Namespace, ids: list[str], features: np.ndarray) -> None:
    """Bin with the number of best silhouette; report every number's score, and a close runner-up."""
    from .binning import SILHOUETTE_MARGIN, choose_bins, runner_up, save_bins

    if not args.quiet:
        _note_the_search_for_k(len(ids))
    bins, scores = choose_bins(features, seed=args.seed, progress=not args.quiet)
    save_bins(args.output, ids, bins)
    found = len(set(bins.tolist()))
    note = " (chosen by silhouette)" if scores else " (fewer than 3 contigs: one bin)"
    print(f"binned {len(ids)} contigs into {found} bins{note} -> {args.output}", file=sys.stderr)
    if not scores:
        return
    table = ", ".join(f"k={k} {score:.3f}" for k, score in scores.items())
    print(f"symcl: note: silhouette score by number of bins: {table}", file=sys.stderr)
    second = runner_up(scores, SILHOUETTE_MARGIN)
    if second is not None:
        print(_close_call_message(scores, found, second, SILHOUETTE_MARGIN), file=sys.stderr)


def _close_call_message(scores: dict[int, float], chosen: int, second: int, margin: float) -> str:
    return (
        f"symcl: warning: the silhouette of {second} bins ({scores[second]:.3f}) is within {margin} of "
        f"the chosen {chosen} ({scores[chosen]:.3f}), so the number of bins is uncertain; compare with "
        f"--bins {second}, or give the number you expect"
    )


def _note_the_search_for_k(n_contigs: int) -> None:
    """Say what runs next: k-means for every k, silent for minutes at 50k contigs."""
    from .binning import auto_bin_candidates

    ks = auto_bin_candidates(n_contigs)
    if ks:
        print(
            f"symcl: note: choosing the number of bins: k-means for k = {ks[0]}-{ks[-1]} on {n_contigs} contigs, "
            "scored by silhouette (give --bins to skip this)...",
            file=sys.stderr,
        )


def _tnf_and_ids(records) -> tuple[np.ndarray, list[str]]:
    """TNF binning features of a stream of records, one in memory at a time, and their ids."""
    from .binning import tnf_binning_features

    ids: list[str] = []

    def named():
        for record in records:
            ids.append(record.id)
            yield record

    return tnf_binning_features(named()), ids


def _model_and_window(args: argparse.Namespace):
    """The model of --model (or the pretrained one) on --device, and the window: --window or the training one."""
    from symcl.cli import resolve_device

    from .models import load_model, pretrained_directory

    device = resolve_device(args.device)
    directory = args.model if args.model is not None else pretrained_directory()
    model = load_model(directory).to(device)
    window = args.window or model.training_window or 1000
    if window < _shortest_kmer(model):
        raise UserInputError(
            f"--window {window}: must be at least the model's shortest k-mer ({_shortest_kmer(model)} bp), or the "
            "model sees nothing in a window"
        )
    return model, window


_UNAMBIGUOUS = np.zeros(256, dtype=bool)  # indexed by ASCII code: a lookup costs 1 byte per base
_UNAMBIGUOUS[np.frombuffer(b"ACGTUacgtu", dtype=np.uint8)] = True  # U reads as T
_SCAN_CHUNK = 1 << 20  # bases looked up at a time: a chromosome-size record costs no more memory


_TNF_K = 4  # TNF reads tetranucleotides


def _shortest_kmer(model) -> int:
    """The fewest bases in a row that a model can read anything from (1 without k-mers; TNF: no model)."""
    return 1 if model is None else min(getattr(model, "config", {}).get("kmer_sizes", [1]))


def _has_run(seq: np.ndarray, k: int, chunk: int = _SCAN_CHUNK) -> bool:
    """Whether ``seq`` (uint8 ASCII) holds k unambiguous bases in a row; scanned chunk by chunk."""
    run = 0  # unambiguous bases at the end of the chunks before
    for start in range(0, len(seq), chunk):
        ambiguous = np.flatnonzero(~_UNAMBIGUOUS[seq[start : start + chunk]])
        size = min(chunk, len(seq) - start)
        if ambiguous.size == 0:
            run += size
        elif max(run + int(ambiguous[0]), int(np.diff(ambiguous).max(initial=1)) - 1) >= k:
            return True
        else:
            run = size - 1 - int(ambiguous[-1])
        if run >= k:
            return True
    return False


def _lacking(k: int, reader: str = "the model") -> str:
    if k <= 1:
        return "no A, C, G, T or U"
    kmer = "the model's shortest k-mer" if reader == "the model" else f"the k-mer of {reader}"
    return f"no {k} A/C/G/T/U in a row ({kmer})"


def _unreadable_message(path: str, ids: list[str], count: int, k: int, skipped: bool, reader: str) -> str:
    """One line naming the records a model (or TNF) sees nothing in."""
    names = ", ".join(ids) + (", ..." if count > len(ids) else "")
    lacking = _lacking(k, reader)
    if skipped:
        return f"symcl: note: {path}: skipped {count} record(s) with {lacking}, in which {reader} sees nothing: {names}"
    return (
        f"symcl: warning: {path}: {count} record(s) have {lacking}, so their embeddings say nothing about them: {names}"
    )


def _read(
    path: str,
    *,
    min_length: int,
    require_one: bool = True,
    shortest_kmer: int = 1,
    reader: str = "the model",
    skip_unreadable: bool = False,
    progress: bool = False,
):
    """Stream the records of ``path``; print the skipped short records as one line to stderr.

    With ``progress``, a bar shows how much of the file has been read (of the compressed
    bytes, for a gzipped file): for the commands that read a whole file before they start.

    With ``require_one``, a file without a record of ``--min-length`` is an error naming both.
    Records without ``shortest_kmer`` unambiguous bases in a row are unreadable: ``reader``
    (a model, or TNF) sees nothing in them. With ``skip_unreadable`` (embed_sequences refuses
    them) they are skipped and named in a note, else named in a warning (they all get the
    same embedding).
    """
    from .reader import ReadSummary, read_records

    summary = ReadSummary()
    unreadable: list[str] = []  # the first five ids
    n_unreadable = 0
    quiet = os.environ.get("RANK", "0") != "0"  # under torchrun, rank 0 alone reports
    size = os.path.getsize(path) if os.path.isfile(path) else None  # read_records names a missing file
    bar = tqdm(
        total=size, desc=os.path.basename(path), unit="B", unit_scale=True, disable=quiet or not progress, delay=1.0
    )
    with bar:
        for record in read_records(path, min_length=min_length, summary=summary, warn=False):  # reported here
            bar.update(summary.bytes_read - bar.n)
            if not _has_run(record.seq, shortest_kmer):
                n_unreadable += 1
                unreadable += [record.id][: 5 - len(unreadable)]
                if skip_unreadable:
                    continue
            yield record
        bar.update((size or 0) - bar.n)  # the last record's read-ahead ends at the file's end
    if n_unreadable and not quiet:
        message = _unreadable_message(path, unreadable, n_unreadable, shortest_kmer, skip_unreadable, reader)
        print(message, file=sys.stderr)
    if require_one and summary.n_read and skip_unreadable and n_unreadable == summary.n_read:
        raise UserInputError(f"{path}: every record has {_lacking(shortest_kmer, reader)}; there is nothing to embed")
    if require_one and summary.n_read == 0:
        raise UserInputError(
            f"{path}: no record is at least --min-length {min_length} bp long ({summary.n_skipped} shorter)"
        )
    if summary.n_skipped and not quiet:
        print(f"symcl: note: {summary.skipped_message()}", file=sys.stderr)

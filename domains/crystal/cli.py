"""``symcl crystal``: the command group of the crystal domain.

- ``symcl crystal simulate --material MoS2 ... -o OUTDIR``: a simulated HAADF image
  (image.npy, image.png) and its ground truth (ground_truth.csv, columns.csv).
- ``symcl crystal train --out DIR``: self-supervised training on lattice-translation views.
- ``symcl crystal embed IMAGE --pixel-size A [--model DIR] -o OUTDIR``: sites.csv,
  embeddings.npz and overlay.png.
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

from symcl.cli import (
    add_command_group,
    add_training_arguments,
    float_in,
    int_at_least,
    non_negative_float,
    output_directory,
    positive_float,
    seed_value,
    softmax_temperature,
    train_config_from,
)
from symcl.errors import UserInputError

from .images import CALIBRATED_FORMATS, MAX_IMAGE_PIXELS
from .sites import PLAUSIBLE_SPACING


def register(subparsers) -> None:
    sub = add_command_group(subparsers, "crystal", "lattice-translation embeddings of microscopy defects")
    _add_simulate(sub)
    _add_train(sub)
    _add_embed(sub)


def _add_simulate(sub) -> None:
    parser = sub.add_parser(
        "simulate",
        help="simulate a HAADF-STEM image of a crystal with defects, and its ground truth",
        description="Simulate an incoherent Z-contrast (HAADF-STEM) image of a crystal built with ase, with "
        "point defects, and write image.npy, image.png, ground_truth.csv (one row per defect), columns.csv "
        "(one row per atomic column) and simulation.json to OUTDIR.",
    )
    parser.add_argument(
        "-o", "--output", required=True, type=output_directory, metavar="OUTDIR", help="output directory"
    )
    crystal = parser.add_mutually_exclusive_group()
    crystal.add_argument(
        "--material",
        default="MoS2",
        help="MoS2, WS2, MoSe2, graphene, hBN, SrTiO3, SrTiO3[110], an fcc element (Au, Pt, ...) (default MoS2)",
    )
    crystal.add_argument("--structure", metavar="FILE", help="a structure file read by ase (CIF, POSCAR, xyz) instead")
    parser.add_argument(
        "--zone-axis",
        type=int,
        nargs=3,
        default=(0, 0, 1),
        metavar=("U", "V", "W"),
        help="beam direction [uvw] (default 0 0 1)",
    )
    parser.add_argument(
        "--thickness", type=int_at_least(1), help="beam periods per column (default: 1 for 2-D, 5 bulk)"
    )
    parser.add_argument(
        "--size",
        type=int_at_least(8),
        nargs=2,
        default=(256, 256),
        metavar=("H", "W"),
        help="image size, px (default 256 256)",
    )
    parser.add_argument("--pixel-size", type=positive_float, default=0.2, help="Å/px (default 0.2)")
    parser.add_argument("--defects", type=int_at_least(0), default=5, help="number of random defects (default 5)")
    parser.add_argument(
        "--defect-kinds",
        nargs="+",
        default=None,
        metavar="KIND",
        help="kinds of the random defects: vacancy substitution antisite adatom (default: all)",
    )
    parser.add_argument(
        "--rotation", type=float, default=0.0, help="in-plane rotation of the crystal, degrees (default 0)"
    )
    micro = parser.add_argument_group("microscope")
    micro.add_argument("--dose", type=positive_float, default=1e5, help="e-/Å² (default 1e5)")
    micro.add_argument("--probe-fwhm", type=positive_float, default=0.9, help="probe FWHM, Å (default 0.9)")
    micro.add_argument("--gamma", type=positive_float, default=1.7, help="Z-contrast exponent (default 1.7)")
    micro.add_argument("--background", type=non_negative_float, default=0.02, help="background fraction (default 0.02)")
    micro.add_argument("--read-noise", type=non_negative_float, default=1.0, help="read noise, counts (default 1)")
    micro.add_argument("--jitter", type=non_negative_float, default=0.0, help="scan-line jitter std, Å (default 0)")
    micro.add_argument(
        "--drift",
        type=float,
        nargs=2,
        default=(0.0, 0.0),
        metavar=("DX", "DY"),
        help="drift per frame, Å (default 0 0)",
    )
    parser.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    parser.set_defaults(handler=_simulate)


def _add_train(sub) -> None:
    parser = sub.add_parser(
        "train",
        help="train a patch encoder on simulated lattice-translation views",
        description="Train a patch encoder self-supervised: the positive pair is a defect and the same defect "
        "a lattice vector away (re-centred, or off-centre), in independently imaged copies of the crystal.",
    )
    add_training_arguments(parser, steps=2000, batch_size=256)
    views = parser.add_argument_group("views")
    views.add_argument(
        "--materials",
        nargs="+",
        default=["MoS2", "graphene", "SrTiO3"],
        metavar="NAME",
        help="crystals to draw from (default MoS2 graphene SrTiO3)",
    )
    views.add_argument(
        "--kinds",
        nargs="+",
        default=None,
        metavar="KIND",
        help="defect kinds drawn, pristine counted as one: pristine vacancy substitution antisite adatom (default: "
        "all; a single-element crystal such as graphene has no antisite, so drop it to train on one alone)",
    )
    views.add_argument("--patch-size", type=int_at_least(16), default=48, help="patch edge, px (default 48)")
    views.add_argument("--pixel-size", type=positive_float, default=0.3, help="Å/px of the patches (default 0.3)")
    views.add_argument(
        "--offcentre-probability",
        type=float_in(0, 1),
        default=0.5,
        help="probability that a view's window is shifted by a lattice vector (default 0.5)",
    )
    views.add_argument("--rotations", action="store_true", help="add the point-group rotations of the lattice")
    views.add_argument(
        "--random-orientation",
        action="store_true",
        help="turn every simulated crystal by a random in-plane angle (orientation-free embeddings)",
    )
    views.add_argument(
        "--probe-fwhm",
        type=positive_float,
        nargs=2,
        default=(0.8, 1.1),
        metavar=("LOW", "HIGH"),
        help="range of the probe FWHM, Å (default 0.8 1.1)",
    )
    views.add_argument(
        "--dose",
        type=positive_float,
        nargs=2,
        default=(1e5, 2e6),
        metavar=("LOW", "HIGH"),
        help="range of the dose, e-/Å², drawn log-uniformly (default 1e5 2e6)",
    )
    views.add_argument(
        "--dose-exclude",
        type=positive_float,
        nargs=2,
        action="append",
        default=[],
        metavar=("LOW", "HIGH"),
        help="a dose band, e-/Å², never drawn (repeatable), e.g. to hold out evaluation doses",
    )
    views.add_argument(
        "--jitter", type=non_negative_float, default=0.1, help="largest scan-line jitter std, Å (default 0.1)"
    )
    views.add_argument(
        "--jitter-exclude",
        type=positive_float,
        nargs=2,
        action="append",
        default=[],
        metavar=("LOW", "HIGH"),
        help="a jitter-std band, Å, never drawn (repeatable), e.g. to hold out an evaluation jitter",
    )
    views.add_argument(
        "--equivalent-positives", action="store_true", help="equivalent sites are positives, not just non-negatives"
    )
    model = parser.add_argument_group("model")
    model.add_argument("--dim", type=int_at_least(1), default=64, help="embedding dimension (default 64)")
    model.add_argument("--channels", type=int_at_least(1), default=16, help="CNN stem channels (default 16)")
    model.add_argument(
        "--members",
        type=int_at_least(1),
        default=1,
        help="train this many encoders side by side, each on its own loss, and embed with all of them "
        "(their unit embeddings concatenated; --dim is the total width) (default 1)",
    )
    model.add_argument("--temperature", type=softmax_temperature, default=0.1, help="InfoNCE temperature (default 0.1)")
    parser.set_defaults(handler=_train)


def _add_embed(sub) -> None:
    parser = sub.add_parser(
        "embed",
        help="find atomic columns in an image and embed a patch around each",
        description="Find the atomic columns of an atomic-resolution image (.npy, .tif, .png; .dm3/.dm4/.emd "
        "with rosettasciio), embed a patch around each with a trained encoder, score anomalies and cluster "
        "the sites. Writes sites.csv, embeddings.npz and overlay.png to OUTDIR.",
    )
    parser.add_argument("input", metavar="IMAGE", help="the image file")
    parser.add_argument(
        "-o", "--output", required=True, type=output_directory, metavar="OUTDIR", help="output directory"
    )
    parser.add_argument(
        "--pixel-size",
        type=positive_float,
        help="Å/px of the image (required unless the file records it: DM3/DM4/EMD, calibrated TIFF); "
        "given, it wins over the file's",
    )
    parser.add_argument(
        "--model", metavar="DIR", help="model directory from 'symcl crystal train' (default: pretrained)"
    )
    parser.add_argument("--spacing", type=positive_float, help="nearest column spacing, Å (default: estimated)")
    parser.add_argument("--threshold", type=float, default=0.2, help="relative peak threshold in (0, 1) (default 0.2)")
    parser.add_argument("--clusters", type=int_at_least(1), help="number of clusters (default: by silhouette)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=256, help="patches per forward pass")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N or auto (default cpu)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=_embed)


def _simulate(args: argparse.Namespace) -> None:
    from .simulate import simulate, write_simulation
    from .structures import PartialOccupancyWarning, read_structure

    height, width = args.size
    if height * width > MAX_IMAGE_PIXELS:  # the columns' render needs several float copies of the frame
        raise UserInputError(
            f"--size {height} {width}: at most {MAX_IMAGE_PIXELS:,} pixels (e.g. 8192 x 8192) per image; "
            "simulate several smaller images instead"
        )
    with warnings.catch_warnings(record=True) as notes:  # printed below in one line each
        warnings.simplefilter("always", PartialOccupancyWarning)
        material = read_structure(args.structure) if args.structure else args.material
    for note in notes:
        print(f"symcl: warning: {note.message}", file=sys.stderr)
    options = {} if args.defect_kinds is None else {"defect_kinds": args.defect_kinds}
    try:
        result = simulate(
            material,
            shape=tuple(args.size),
            pixel_size=args.pixel_size,
            defects=args.defects,
            zone_axis=tuple(args.zone_axis),
            thickness=args.thickness,
            rotation=args.rotation,
            gamma=args.gamma,
            probe_fwhm=args.probe_fwhm,
            dose=args.dose,
            background=args.background,
            read_noise=args.read_noise,
            jitter=args.jitter,
            drift=tuple(args.drift),
            rng=args.seed,
            **options,
        )
    except ValueError as error:  # bad option values, named in the message
        raise UserInputError(str(error)) from None
    write_simulation(result, args.output, seed=args.seed)
    print(
        f"simulated {result.crystal.name} {args.size[0]}x{args.size[1]} px at {args.pixel_size} Å/px with "
        f"{len(result.defects)} defect(s) -> {args.output}",
        file=sys.stderr,
    )


def _train(args: argparse.Namespace) -> int | None:
    from symcl.cli import relaunch_if_distributed, wants_resume
    from symcl.training import seed_everything

    from .encoders import PatchCNN, PatchEnsemble
    from .models import train
    from .views import LatticeTranslationViews

    relaunched = relaunch_if_distributed(args, "symcl.cli")  # --nproc N: rerun this command under torchrun
    if relaunched is not None:
        return relaunched
    config = train_config_from(args)
    kinds = {} if args.kinds is None else {"kinds": tuple(args.kinds)}
    try:
        views = LatticeTranslationViews(
            tuple(args.materials),
            **kinds,
            patch_size=args.patch_size,
            pixel_size=args.pixel_size,
            offcentre_probability=args.offcentre_probability,
            rotations=args.rotations,
            random_orientation=args.random_orientation,
            probe_fwhm=tuple(args.probe_fwhm),
            dose=tuple(args.dose),
            dose_exclude=[tuple(band) for band in args.dose_exclude],
            jitter=args.jitter,
            jitter_exclude=[tuple(band) for band in args.jitter_exclude],
            equivalent_positives=args.equivalent_positives,
        )
    except ValueError as error:
        raise UserInputError(str(error)) from None
    seed_everything(args.seed)  # the model's initial weights depend on the seed only
    shape = {"dim": args.dim, "channels": args.channels, "patch_size": args.patch_size, "pixel_size": args.pixel_size}
    try:
        model = PatchEnsemble(members=args.members, **shape) if args.members > 1 else PatchCNN(**shape)
    except ValueError as error:
        raise UserInputError(str(error)) from None
    train(
        model,
        views,
        config,
        temperature=args.temperature,
        out_dir=args.out,
        resume=wants_resume(args),
        progress=not args.quiet,
    )
    if os.environ.get("RANK", "0") == "0":  # one line, also under torchrun
        print(f"trained a crystal patch encoder on {', '.join(args.materials)} -> {args.out}", file=sys.stderr)
    return None


def _embed(args: argparse.Namespace) -> None:
    from symcl.cli import resolve_device

    from .analysis import analyse_image, save_analysis
    from .images import MultiPageWarning, read_image
    from .models import load_model, pretrained_directory

    if not 0 < args.threshold < 1:
        raise UserInputError(f"--threshold must be in (0, 1). Got {args.threshold} instead.")
    device = resolve_device(args.device)
    directory = args.model if args.model is not None else pretrained_directory()
    model = load_model(directory).to(device)
    with warnings.catch_warnings(record=True) as notes:  # printed below in one line each
        warnings.simplefilter("always", MultiPageWarning)
        image, recorded = read_image(args.input)
    for note in notes:
        print(f"symcl: warning: {note.message}", file=sys.stderr)
    pixel_size = args.pixel_size if args.pixel_size is not None else recorded  # --pixel-size wins over the file
    if pixel_size is None:
        raise UserInputError(
            f"{args.input}: the file records no pixel size; pass --pixel-size in Å/px. symcl reads one from "
            f"{CALIBRATED_FORMATS}"
        )
    try:
        result = analyse_image(
            model,
            image,
            pixel_size,
            spacing=args.spacing,
            threshold=args.threshold,
            n_clusters=args.clusters,
            batch_size=args.batch_size,
            device=device,
            progress=not args.quiet,
        )
    except ValueError as error:
        raise UserInputError(f"{args.input}: {error}") from None
    spacing = result.sites.spacing
    if args.spacing is None and not PLAUSIBLE_SPACING[0] <= spacing <= PLAUSIBLE_SPACING[1]:
        # Neighbouring projected columns of crystals lie about 1.4-6 Å apart; far outside that, the pixel size is wrong.
        print(
            f"symcl: warning: {args.input}: the columns are {spacing:.2g} Å apart at --pixel-size {pixel_size:g} Å/px, "
            f"outside the usual {PLAUSIBLE_SPACING[0]:g}-{PLAUSIBLE_SPACING[1]:g} Å; check --pixel-size",
            file=sys.stderr,
        )
    save_analysis(result, args.output, image=image)
    print(
        f"found {len(result)} sites in {int(result.cluster.max()) + 1} cluster(s) in {args.input} -> {args.output}",
        file=sys.stderr,
    )

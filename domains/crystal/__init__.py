"""crystal: lattice-translation embeddings of microscopy defects (issue 5).

A defect moved by a lattice vector is the same defect, so it and its translated copy
are a free positive pair. This package builds crystals with ase, projects them to
atomic columns, places defects, simulates incoherent Z-contrast (HAADF-STEM) images,
draws lattice-translation views for contrastive training, and analyses real images::

    from symcl.domains import crystal

    sim = crystal.simulate("MoS2", shape=(256, 256), pixel_size=0.2, defects=5, rng=0)
    sim.image, sim.defect_table()                        # counts (H, W), ground truth

    views = crystal.LatticeTranslationViews(("MoS2", "graphene", "SrTiO3"))
    model = crystal.PatchCNN()                           # GroupNorm, per-patch normalised
    # crystal.train(model, views, TrainConfig(...), out_dir="runs/crystal")

    sites = crystal.find_sites(image, pixel_size=0.093)  # sub-pixel column positions
    result = crystal.analyse_image(model, image, pixel_size=0.093)
    crystal.save_analysis(result, "out/", image=image)   # sites.csv, embeddings.npz, overlay.png

On the command line: ``symcl crystal simulate``, ``symcl crystal train`` and
``symcl crystal embed``.
"""

from .analysis import (
    SiteAnalysis,
    analyse_image,
    anomaly_scores,
    cluster_sites,
    embed_patches,
    most_anomalous,
    plot_overlay,
    save_analysis,
)
from .defects import (
    ADATOMS,
    DEFECT_KINDS,
    DOPANTS,
    KINDS,
    Defect,
    PlacedDefect,
    antisite_source,
    atomic_number,
    defect_outcomes,
    remove_atoms,
    substitute,
)
from .encoders import ENCODERS, PatchCNN, PatchEnsemble, build_encoder, normalise_patches
from .images import MultiPageWarning, check_image, read_image
from .imaging import (
    Imaging,
    detector_noise,
    drift_positions,
    expected_counts,
    render_columns,
    render_image,
    shift_rows,
)
from .models import load_model, load_pretrained, pretrained_directory, read_model_config, train
from .padding import estimate_lattice, pad_periodic
from .simulate import Columns, SimulatedImage, simulate, write_simulation
from .sites import Sites, cut_patches, deduplicate, estimate_spacing, find_sites, refine_positions, resample
from .structures import (
    MATERIALS,
    PartialOccupancyWarning,
    ProjectedCrystal,
    build_structure,
    column_intensity,
    column_positions,
    hollow_sites,
    lattice_rotations,
    project,
    projected_crystal,
    read_structure,
    translation_classes,
)
from .views import MIN_FIELD_OF_VIEW, LatticeTranslationViews, ViewParams

__all__ = [
    "ADATOMS",
    "DEFECT_KINDS",
    "DOPANTS",
    "ENCODERS",
    "KINDS",
    "MATERIALS",
    "MIN_FIELD_OF_VIEW",
    "MultiPageWarning",
    "PartialOccupancyWarning",
    "Columns",
    "Defect",
    "Imaging",
    "LatticeTranslationViews",
    "PatchCNN",
    "PatchEnsemble",
    "PlacedDefect",
    "ProjectedCrystal",
    "SimulatedImage",
    "SiteAnalysis",
    "Sites",
    "ViewParams",
    "analyse_image",
    "anomaly_scores",
    "antisite_source",
    "atomic_number",
    "build_encoder",
    "build_structure",
    "check_image",
    "cluster_sites",
    "column_intensity",
    "column_positions",
    "cut_patches",
    "deduplicate",
    "defect_outcomes",
    "detector_noise",
    "drift_positions",
    "embed_patches",
    "estimate_lattice",
    "estimate_spacing",
    "expected_counts",
    "find_sites",
    "hollow_sites",
    "lattice_rotations",
    "load_model",
    "load_pretrained",
    "most_anomalous",
    "normalise_patches",
    "pad_periodic",
    "plot_overlay",
    "pretrained_directory",
    "project",
    "projected_crystal",
    "read_image",
    "read_model_config",
    "read_structure",
    "refine_positions",
    "remove_atoms",
    "render_columns",
    "render_image",
    "resample",
    "save_analysis",
    "shift_rows",
    "simulate",
    "substitute",
    "train",
    "translation_classes",
    "write_simulation",
]

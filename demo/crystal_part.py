"""Demo, crystal: a simulated MoS2 micrograph with defects, its sites embedded, clustered and scored."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from symcl.domains import crystal

from .report import Figure, Metric, Section, save_figure

MATERIAL = "MoS2"
PIXEL_SIZE = 0.2  # Å/px, finer than the model's patches: analyse_image resamples
MATCH_RADIUS = 0.6  # Å: a found site belongs to the nearest true column within this distance


def site_truth(sim: crystal.SimulatedImage, positions_px: np.ndarray) -> np.ndarray:
    """The ground-truth class of each found site: a defect kind, or "pristine <sublattice>".

    Sites farther than :data:`MATCH_RADIUS` from every true column are "unmatched".
    """
    from scipy.spatial import cKDTree

    columns = sim.columns
    distance, nearest = cKDTree(columns.pixels).query(positions_px)
    labels = []
    for d, j in zip(distance * sim.pixel_size, nearest, strict=True):
        if d > MATCH_RADIUS:
            labels.append("unmatched")
        elif columns.defect[j] >= 0:
            labels.append(sim.defects[columns.defect[j]].kind)
        else:
            labels.append(f"pristine sublattice {columns.sublattice[j]}")
    return np.asarray(labels)


def translation_invariance(model, n_pairs: int, seed: int) -> dict[str, float]:
    """Median cosine between lattice-translated views of one defect, and between different kinds."""
    config = getattr(model, "config", {})
    views = crystal.LatticeTranslationViews(
        (MATERIAL,), patch_size=int(config.get("patch_size", 48)), pixel_size=float(config.get("pixel_size", 0.3))
    )
    batch = views.sample(n_pairs, torch.Generator().manual_seed(seed))
    z1 = crystal.embed_patches(model, batch.view1.numpy()[:, 0])
    z2 = crystal.embed_patches(model, batch.view2.numpy()[:, 0])
    z1 /= np.linalg.norm(z1, axis=1, keepdims=True)
    z2 /= np.linalg.norm(z2, axis=1, keepdims=True)
    kinds = batch.labels.numpy()
    cross = z1 @ z1.T
    different = kinds[:, None] != kinds[None, :]
    return {
        "same": float(np.median(np.sum(z1 * z2, axis=1))),
        "different": float(np.median(cross[different])) if different.any() else float("nan"),
    }


def run_crystal(out_dir: Path, *, quick: bool, seed: int) -> Section:
    """Simulate a micrograph, find and embed its sites, cluster them, score them, draw the overlay."""
    started = time.perf_counter()
    part = out_dir / "crystal"
    model = crystal.load_pretrained()
    size, n_defects = (256, 10) if quick else (512, 40)
    sim = crystal.simulate(MATERIAL, shape=(size, size), pixel_size=PIXEL_SIZE, defects=n_defects, rng=seed)
    crystal.write_simulation(sim, part / "simulation")
    result = crystal.analyse_image(model, sim.image, PIXEL_SIZE, progress=True)
    files = crystal.save_analysis(result, part, image=sim.image)
    truth = site_truth(sim, result.sites.positions)
    matched = truth != "unmatched"
    is_defect = np.array([not t.startswith("pristine") for t in truth]) & matched
    ari = adjusted_rand_score(truth[matched], result.cluster[matched])
    auroc = (
        roc_auc_score(is_defect[matched], result.anomaly[matched])
        if 0 < is_defect.sum() < matched.sum()
        else float("nan")
    )
    invariance = translation_invariance(model, 128 if quick else 512, seed)
    metrics = [
        Metric(
            "sites found", f"{len(result)} ({int(matched.sum())} on true columns)", f"{len(sim.defects)} defects placed"
        ),
        Metric("cluster ARI vs ground truth (defect kind / sublattice)", f"{ari:.3f}", "1 = perfect, 0 = chance"),
        Metric("anomaly AUROC, defect vs pristine sites", f"{auroc:.3f}", "0.5 = chance"),
        Metric("median cosine, same defect lattice-translated", f"{invariance['same']:.3f}", "target >= 0.95"),
        Metric("median cosine, different defect kinds", f"{invariance['different']:.3f}", "target < 0.7"),
    ]
    kinds, counts = np.unique(truth, return_counts=True)
    summary = (
        f"A {size}x{size}-px HAADF-STEM image of {MATERIAL} at {PIXEL_SIZE} Å/px was simulated with "
        f"{len(sim.defects)} random defects (vacancies, substitutions, antisites, adatoms), then analysed like a "
        f"real micrograph: atomic columns found by peak finding, a patch cut at each, embedded with the shipped "
        f"pretrained encoder, scored for anomaly (distance from the pristine mode) and clustered. Sites by true "
        f"class: {', '.join(f'{k} {c}' for k, c in zip(kinds, counts, strict=True))}. Translation invariance is measured on "
        f"pairs of lattice-translated views of the same defect."
    )
    figures = [
        Figure(str(files["overlay.png"].relative_to(out_dir)), "Sites coloured by cluster over the simulated image."),
        Figure(
            str(_plot_anomaly(part / "anomaly.png", sim, result, is_defect).relative_to(out_dir)),
            "Anomaly score of every site; true defect columns ringed.",
        ),
    ]
    simulation = part / "simulation"
    commands = [
        f"symcl crystal simulate --material {MATERIAL} --size {size} {size} --pixel-size {PIXEL_SIZE} "
        f"--defects {n_defects} --seed {seed} -o {simulation}",
        f"symcl crystal embed {simulation / 'image.npy'} --pixel-size {PIXEL_SIZE} -o {part / 'embed'}",
    ]
    return Section(
        "crystal: defects in a simulated micrograph",
        summary,
        metrics,
        figures,
        commands,
        time.perf_counter() - started,
    )


def _plot_anomaly(path: Path, sim, result, is_defect: np.ndarray) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(sim.image, cmap="gray")
    xy = result.sites.positions
    points = ax.scatter(xy[:, 0], xy[:, 1], c=result.anomaly, cmap="inferno", s=10)
    ax.scatter(xy[is_defect, 0], xy[is_defect, 1], facecolors="none", edgecolors="cyan", s=80, linewidths=1)
    figure.colorbar(points, ax=ax, shrink=0.8, label="anomaly score")
    ax.set_axis_off()
    return save_figure(figure, path)

"""Demo, crystal: a simulated MoS2 micrograph with defects, its sites embedded, clustered and scored."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import adjusted_rand_score, roc_auc_score

from symcl.domains import crystal

from .report import Figure, Metric, Section, new_figure, save_figure

MATERIAL = "MoS2"
PIXEL_SIZE = 0.2  # Å/px, finer than the model's patches: analyse_image resamples
MATCH_RADIUS = 0.6  # Å: a found site belongs to the nearest true column within this distance


def site_truth(
    sim: crystal.SimulatedImage, positions_px: np.ndarray, patch_radius: float
) -> tuple[np.ndarray, np.ndarray]:
    """The ground-truth class of each found site, and whether a defect lies in its patch.

    Parameters
    ----------
    positions_px : ndarray
        float (N, 2) site positions (x, y) in px of ``sim.image``.
    patch_radius : float
        Å; a pristine site closer than this to a defect sees the defect in its patch.

    Returns
    -------
    labels : ndarray of str
        A defect kind, "pristine sublattice <i>", or "unmatched" for a site farther than
        :data:`MATCH_RADIUS` from every true column.
    near_defect : ndarray of bool
        Pristine sites with a defect inside their patch (the encoder sees the defect there
        too, so these are neither clean pristine nor defects).
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
    labels = np.asarray(labels)
    defects_px = np.array([(d.x_px, d.y_px) for d in sim.defects]).reshape(-1, 2)
    to_defect = cKDTree(defects_px).query(positions_px)[0] * sim.pixel_size if len(defects_px) else np.inf
    near_defect = np.char.startswith(labels, "pristine") & (to_defect < patch_radius)
    return labels, near_defect


def translation_invariance(model, settings: dict, n_pairs: int, seed: int, offcentre: float) -> dict[str, float]:
    """Median cosine between lattice-translated views of one defect, and between different kinds.

    The views are those the model was trained on (``settings``, from its ``config.json``),
    restricted to the demo's material, with the window shifted so the defect sits
    off-centre in a fraction ``offcentre`` of them (the issue's views (b); 0: views (a)).
    """
    config = getattr(model, "config", {})
    size = {"patch_size": int(config.get("patch_size", 48)), "pixel_size": float(config.get("pixel_size", 0.3))}
    views = crystal.LatticeTranslationViews.from_settings(
        settings, materials=(MATERIAL,), offcentre_probability=offcentre, **size
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


def run_crystal(out_dir: Path, *, quick: bool, seed: int, progress: bool = True) -> Section:
    """Simulate a micrograph, find and embed its sites, cluster them, score them, draw the overlay."""
    started = time.perf_counter()
    part = out_dir / "crystal"
    model = crystal.load_pretrained()
    view_settings = crystal.read_model_config(crystal.pretrained_directory())["crystal"]["views"]
    size, n_defects = (384, 22) if quick else (512, 40)
    sim = crystal.simulate(MATERIAL, shape=(size, size), pixel_size=PIXEL_SIZE, defects=n_defects, rng=seed)
    crystal.write_simulation(sim, part / "simulation")
    result = crystal.analyse_image(model, sim.image, PIXEL_SIZE, progress=progress)
    files = crystal.save_analysis(result, part, image=sim.image)
    config = getattr(model, "config", {})
    patch_radius = 0.5 * float(config.get("patch_size", 48)) * float(config.get("pixel_size", 0.3))
    truth, near_defect = site_truth(sim, result.sites.positions, patch_radius)
    matched = truth != "unmatched"
    is_defect = ~np.char.startswith(truth, "pristine") & matched
    ari = adjusted_rand_score(truth[matched], result.cluster[matched])
    auroc = _auroc(is_defect, result.anomaly, matched & ~near_defect)
    auroc_all = _auroc(is_defect, result.anomaly, matched)
    n_pairs = 128 if quick else 512
    invariance, shifted = (
        translation_invariance(model, view_settings, n_pairs, seed, offcentre) for offcentre in (0.0, 1.0)
    )
    # a small sample of one material: the benchmark's figure over every material is the one to judge by
    sample = f"{MATERIAL} only, {n_pairs} pairs; README's bench_crystal row (every material) is the one that counts"
    metrics = [
        Metric(
            "sites found",
            f"{len(result)} ({int(matched.sum())} on true columns, {int(is_defect.sum())} at defects)",
            f"{len(sim.defects)} defects placed",
        ),
        Metric(
            f"cluster ARI vs ground truth (defect kind / sublattice), {len(np.unique(result.cluster))} clusters",
            f"{ari:.3f}",
            "1 = perfect, 0 = chance",
        ),
        Metric(
            "anomaly AUROC, defect vs clean pristine sites",
            f"{auroc:.3f}",
            f"{auroc_all:.3f} counting the {int(near_defect.sum())} defect neighbours as pristine",
        ),
        Metric(
            "median cosine, same defect lattice-translated, window re-centred",
            f"{invariance['same']:.3f}",
            f"target >= 0.95; {sample}",
        ),
        Metric(
            "median cosine, same defect lattice-translated, window shifted (defect off-centre)",
            f"{shifted['same']:.3f}",
            f"target >= 0.95; {sample}; the shipped model is not trained for it",
        ),
        Metric("median cosine, different defect kinds", f"{invariance['different']:.3f}", "target < 0.7"),
    ]
    kinds, per_kind = np.unique(truth, return_counts=True)
    counts = edge_and_rings(sim, result, is_defect)
    summary = (
        f"A {size}x{size}-px HAADF-STEM image of {MATERIAL} at {PIXEL_SIZE} Å/px was simulated with "
        f"{len(sim.defects)} random defects (vacancies, substitutions, antisites, adatoms), then analysed like a "
        f"real micrograph: atomic columns found by peak finding, a patch cut at each, embedded with the shipped "
        f"pretrained encoder, scored for anomaly (distance from the pristine mode) and clustered. Sites by true "
        f"class: {', '.join(f'{k} {c}' for k, c in zip(kinds, per_kind, strict=True))}. Translation invariance is measured on "
        f"{n_pairs} pairs of lattice-translated views of the same {MATERIAL} defect, with the window re-centred on "
        f"the moved defect and with the window shifted so that the defect sits off-centre: a small sample of one "
        f"material, where benchmarks/bench_crystal.py scores every material (its row in the README is the one "
        f"to judge the model by). A pristine column next to a defect "
        f"has the defect inside its patch, so such columns are left out of the clean anomaly AUROC. "
        + _edge_and_rings_text(counts)
    )
    figures = [
        Figure(
            str(files["overlay.png"].relative_to(out_dir)),
            "Sites coloured by cluster over the simulated image; red rings: the most anomalous interior sites (see the "
            "text for which are defects).",
        ),
        Figure(
            str(_plot_anomaly(part / "anomaly.png", sim, result, is_defect).relative_to(out_dir)),
            "Anomaly score of every site (log colour scale); true defect columns ringed in cyan. Pristine columns "
            "next to a defect score high too: the defect lies inside their patch.",
        ),
    ]
    simulation = part / "simulation"
    commands = [
        shlex.join(
            ["symcl", "crystal", "simulate", "--material", MATERIAL, "--size", str(size), str(size)]
            + ["--pixel-size", str(PIXEL_SIZE), "--defects", str(n_defects), "--seed", str(seed), "-o", str(simulation)]
        ),
        shlex.join(
            ["symcl", "crystal", "embed", str(simulation / "image.npy"), "--pixel-size", str(PIXEL_SIZE)]
            + ["-o", str(part)]  # sites.csv, embeddings.npz, overlay.png, as the demo wrote them
        ),
    ]
    details = {
        "image_px": size,
        "pixel_size_angstrom": PIXEL_SIZE,
        "defects_placed": len(sim.defects),
        "sites_by_true_class": {str(k): int(c) for k, c in zip(kinds, per_kind, strict=True)},
        **counts,
        "translation_invariance": {"recentred": invariance, "offcentre": shifted},
    }
    return Section(
        "crystal: defects in a simulated micrograph",
        summary,
        metrics,
        figures,
        commands,
        time.perf_counter() - started,
        details,
    )


def edge_and_rings(sim, result, is_defect: np.ndarray) -> dict:
    """How many sites are edge sites, and what the overlay's red rings (interior sites only) are."""
    from scipy.spatial import cKDTree

    edge = result.edge.astype(bool)
    ringed = crystal.most_anomalous(result)  # the overlay's rings
    defects_px = np.array([(d.x_px, d.y_px) for d in sim.defects]).reshape(-1, 2)
    to_defect = cKDTree(defects_px).query(result.sites.positions[ringed])[0] * sim.pixel_size
    others = ~is_defect[ringed]
    return {
        "sites": len(edge),
        "edge_sites": int(edge.sum()),
        "edge_defect_sites": int((edge & is_defect).sum()),
        "defect_sites": int(is_defect.sum()),
        "ringed_defects": int((~others).sum()),
        "ringed_others": int(others.sum()),
        "ringed_others_to_defect_angstrom": [round(float(d), 2) for d in to_defect[others]],
    }


def _edge_and_rings_text(counts: dict) -> str:
    distances = counts["ringed_others_to_defect_angstrom"]
    near = f" {min(distances):.1f}-{max(distances):.1f} Å from a defect" if distances else ""
    rings = counts["ringed_defects"] + counts["ringed_others"]
    return (
        f"{counts['edge_sites']} of the {counts['sites']} sites ({100 * counts['edge_sites'] / counts['sites']:.0f} %), "
        f"{counts['edge_defect_sites']} of the {counts['defect_sites']} defect sites among them, lie within half a "
        f"patch of the image border (edge sites, their patch partly padded); the overlay rings in red the {rings} "
        f"most anomalous interior sites: {counts['ringed_defects']} defects and {counts['ringed_others']} other "
        f"columns{near}, whose patches contain the defect."
    )


def _auroc(positive: np.ndarray, score: np.ndarray, chosen: np.ndarray) -> float:
    positive, score = positive[chosen], score[chosen]
    return float(roc_auc_score(positive, score)) if 0 < positive.sum() < len(positive) else float("nan")


def _plot_anomaly(path: Path, sim, result, is_defect: np.ndarray) -> Path:
    from matplotlib.colors import LogNorm

    figure, ax = new_figure(figsize=(6.5, 6))
    ax.imshow(sim.image, cmap="gray")
    xy = result.sites.positions
    # log scale: pristine sites score about 0.2, defects 20-150, which a linear scale draws alike
    scores, floor = _log_floored(result.anomaly)
    points = ax.scatter(xy[:, 0], xy[:, 1], c=scores, cmap="inferno", norm=LogNorm(vmin=floor), s=10)
    ax.scatter(
        xy[is_defect, 0],
        xy[is_defect, 1],
        facecolors="none",
        edgecolors="cyan",
        s=80,
        linewidths=1,
        label=f"true defect ({int(is_defect.sum())})",
    )
    figure.colorbar(points, ax=ax, shrink=0.8, label=f"anomaly score (log scale; below {floor:.2g} drawn at it)")
    ax.set_title(f"Anomaly score of {len(xy)} sites, {MATERIAL}")
    ax.legend(loc="upper right", fontsize=8, framealpha=0.8)
    ax.set_axis_off()
    return save_figure(figure, path)


def _log_floored(scores: np.ndarray) -> tuple[np.ndarray, float]:
    """Scores raised to a floor (a log scale cannot show 0): the 1st percentile of the positive ones."""
    positive = scores[scores > 0]
    floor = float(np.percentile(positive, 1)) if len(positive) else 1.0
    return np.maximum(scores, floor), floor

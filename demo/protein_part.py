"""Demo, protein: predicted versus alignment distances on shipped real families, and their NJ trees."""

from __future__ import annotations

import shlex
import time
from pathlib import Path

import numpy as np
from scipy.stats import pearsonr, spearmanr

from symcl.atomic import atomic_write
from symcl.data import data_path
from symcl.domains import protein
from symcl.domains.protein.cli import write_tsv

from .report import Figure, Metric, Section, new_figure, save_figure

METHOD = "scoredist"
SIMULATED_SIZE = 200  # sequences of the simulated family of the full demo (19,900 pairs to align)
# The shipped families: three the pretrained model was trained on, and Pkinase, which it never saw.
FAMILIES = ("globins45.fa", "RRM_1.fa", "COX2_TM.fa", "Pkinase.fa")


def compare_family(model, seqs, name: str, out: Path, *, progress: bool = True, method_scale: bool = True) -> dict:
    """Both routes on one family: distances, timings, correlation, NJ trees and their RF distance.

    ``seqs`` (a ProteinSequences) is aligned pairwise even when its rows come from an
    alignment, so the timing is that of the alignment route. With ``method_scale`` the
    family is aligned a second time for Kimura distances: the RF between their NJ tree and
    Scoredist's shows how far the choice of distance alone moves the tree.
    """
    started = time.perf_counter()
    aligned = protein.distance_matrix(seqs, METHOD, aligned=False, progress=progress)
    align_seconds = time.perf_counter() - started
    started = time.perf_counter()
    predicted = protein.predicted_distance_matrix(model, seqs)
    embed_seconds = time.perf_counter() - started
    started = time.perf_counter()
    free = protein.spectrum_distances(seqs)
    spectrum_seconds = time.perf_counter() - started
    upper = np.triu_indices(len(seqs), k=1)
    tree_aligned = protein.nj_tree(aligned, seqs.ids)
    tree_predicted = protein.nj_tree(predicted, seqs.ids)
    kimura_rf = None
    if method_scale:
        kimura = protein.distance_matrix(seqs, "kimura", aligned=False, progress=False, return_saturated=True)[0]
        kimura_rf = protein.robinson_foulds(tree_aligned, protein.nj_tree(kimura, seqs.ids))
    tree_free = protein.nj_tree(free, seqs.ids)
    # the files the reproduce lines name, so that they exist beside the commands' own
    atomic_write(out / f"{name}_{METHOD}.tsv", lambda tmp: write_tsv(tmp, seqs.ids, aligned))
    protein.write_newick(tree_aligned, out / f"{name}_{METHOD}.nwk")
    protein.write_newick(tree_predicted, out / f"{name}_predicted.nwk")
    protein.write_newick(tree_free, out / f"{name}_spectrum.nwk")
    return {
        "spectrum_spearman": float(spearmanr(aligned[upper], free[upper]).statistic),
        "spectrum_rf": protein.robinson_foulds(tree_aligned, tree_free),
        "spectrum_seconds": spectrum_seconds,
        "name": name,
        "n": len(seqs),
        "aligned": aligned[upper],
        "predicted": predicted[upper],
        "spearman": float(spearmanr(aligned[upper], predicted[upper]).statistic),
        "pearson": float(pearsonr(aligned[upper], predicted[upper]).statistic),
        "rf": protein.robinson_foulds(tree_aligned, tree_predicted),
        "kimura_rf": kimura_rf,
        "align_seconds": align_seconds,
        "embed_seconds": embed_seconds,
        "trees": (tree_aligned, tree_predicted),
    }


def _training_families(model_dir: Path) -> set[str]:
    """The names of the real families a model directory's config.json says it was trained on."""
    sources = protein.read_model_config(model_dir).get("protein", {}).get("sources", [])
    return {_family_name(source) for source in sources}


# Suffixes a family file may carry: compression, sequence formats, and "aligned".
_FAMILY_FILE_SUFFIXES = {".gz", ".bz2", ".xz", ".fa", ".fasta", ".faa", ".fas", ".sto", ".stk", ".aln", ".aligned"}


def _family_name(path: str | Path) -> str:
    """A family file's name without its file suffixes: globins45.aligned.fa.gz -> globins45, PF00069.24.fa -> PF00069.24."""
    path = Path(path)
    while path.suffix.lower() in _FAMILY_FILE_SUFFIXES:
        path = path.with_suffix("")
    return path.name


def _family_metrics(r: dict) -> list[Metric]:
    embedded, aligned = _seconds(r["embed_seconds"]), _seconds(r["align_seconds"])
    ratio = float(aligned) / max(float(embedded), 1e-9)  # from the times as shown, so that it agrees with them
    role = f", {r['role']}" if "role" in r else ""
    return [
        Metric(
            f"{r['name']} ({r['n']} seqs{role}): Spearman predicted vs Scoredist",
            f"{r['spearman']:.3f}",
            f"Pearson {r['pearson']:.3f}",
        ),
        Metric(
            f"{r['name']}: normalised RF, NJ trees",
            f"{r['rf']:.2f}",
            "" if r["kimura_rf"] is None else f"Kimura vs Scoredist trees (the method alone): {r['kimura_rf']:.2f}",
        ),
        Metric(
            f"{r['name']}: all-vs-all time",
            f"{embedded} s embedded",
            f"{aligned} s aligned ({ratio:.0f}x)",
        ),
        Metric(
            f"{r['name']}: spectrum route (no alignment, no training), Spearman vs Scoredist",
            f"{r['spectrum_spearman']:.3f}",
            f"NJ tree RF {r['spectrum_rf']:.2f}, {_seconds(r['spectrum_seconds'])} s",
        ),
    ]


def _seconds(seconds: float) -> str:
    """Three significant digits, so that a ratio of two times agrees with the times shown."""
    return f"{float(f'{seconds:.3g}'):g}"


def simulated_family(model, n: int, out: Path, *, seed: int, progress: bool) -> tuple[dict, list[Metric]]:
    """A new LG+Γ family with a known tree: both routes timed in full, both NJ trees against the truth."""
    family = protein.simulate_family(n, 300, seed, name="simulated")
    protein.write_newick(family.tree, out / "simulated_true_tree.nwk")
    fasta = "".join(f">{i}\n{s}\n" for i, s in zip(family.sequences.ids, family.sequences.sequences, strict=True))
    atomic_write(out / "simulated_family.fa", lambda tmp: tmp.write_text(fasta))
    result = compare_family(model, family.sequences, "simulated", out, progress=progress, method_scale=False)
    truth = {
        label: protein.robinson_foulds(tree, family.tree)
        for label, tree in zip(("Scoredist", "predicted"), result["trees"], strict=True)
    }
    metric = Metric(
        f"simulated ({n} seqs): normalised RF of the NJ tree to the true tree",
        f"predicted {truth['predicted']:.2f}",
        f"Scoredist {truth['Scoredist']:.2f}",
    )
    return result, [metric]


def run_protein(out_dir: Path, *, quick: bool, seed: int, progress: bool = True) -> Section:
    """Alignment (Scoredist) and predicted distances on shipped families; scatter, Spearman, trees, timings."""
    started = time.perf_counter()
    part = out_dir / "protein"
    part.mkdir(parents=True, exist_ok=True)
    model = protein.load_pretrained()
    names = ("globins45.fa",) if quick else FAMILIES
    trained_on = _training_families(protein.pretrained_directory())
    results = [
        compare_family(
            model,
            protein.read_sequences(data_path("protein", name), aligned=False),
            _family_name(name),
            part,
            progress=progress,
        )
        for name in names
    ]
    for r in results:
        r["role"] = "a training family" if r["name"] in trained_on else "held out"
    metrics = [metric for r in results for metric in _family_metrics(r)]
    if not quick:
        result, truth = simulated_family(model, SIMULATED_SIZE, part, seed=seed, progress=progress)
        results.append(result)
        metrics += _family_metrics(result) + truth
    figures = [
        Figure(
            str(_plot_scatter(part / "protein_scatter.png", results).relative_to(out_dir)),
            "Predicted versus alignment (Scoredist) distance for every pair.",
        ),
        Figure(
            str(_plot_trees(part / "protein_trees.png", results[0]).relative_to(out_dir)),
            f"NJ trees of {results[0]['name']}: from alignment distances (left) and predicted distances (right).",
        ),
    ]
    summary = (
        f"For each shipped real family ({', '.join(_family_name(name) for name in names)}), all pairwise distances were "
        f"computed twice: by aligning every pair (Biopython PairwiseAligner, BLOSUM62, Scoredist) and by "
        f"embedding each sequence once with the shipped pretrained Siamese encoder and taking distances between "
        f"embeddings. Neighbour-joining trees were built from both and compared with the normalised "
        f"Robinson-Foulds distance. The alignment-free spectrum route (shared spaced k-mers, no training) is "
        f"scored the same way. The pretrained model was trained on "
        f"{', '.join(sorted(trained_on)) or 'none of these families'} (data/protein/model/README.md), so its "
        f"figures there flatter it; a family it never saw (Pkinase, in the full demo) shows what to expect on "
        f"yours, and benchmarks/bench_protein.py scores 9 held-out families."
        + (
            ""
            if quick
            else f" A new simulated family ({SIMULATED_SIZE} sequences of 300 aa evolved under LG+Γ along a random "
            f"tree) times both routes on a larger family ({SIMULATED_SIZE * (SIMULATED_SIZE - 1) // 2:,} pairs) and shows how "
            f"close each NJ tree comes to the true tree."
        )
    )
    fasta = data_path("protein", names[0])
    stem = _family_name(names[0])
    commands = [
        shlex.join(
            ["symcl", "protein", "distances", str(fasta), "--method", METHOD, "-o", str(part / f"{stem}_{METHOD}.tsv")]
        ),
        shlex.join(
            ["symcl", "protein", "tree", str(fasta), "--method", METHOD, "-o", str(part / f"{stem}_{METHOD}.nwk")]
        ),
        shlex.join(
            ["symcl", "protein", "tree", str(fasta), "--model", str(protein.pretrained_directory())]
            + ["-o", str(part / f"{stem}_predicted.nwk")]
        ),
        shlex.join(
            ["symcl", "protein", "tree", str(fasta), "--method", "spectrum", "-o", str(part / f"{stem}_spectrum.nwk")]
        ),
    ]
    return Section(
        "protein: fast distances and trees",
        summary,
        metrics,
        figures,
        commands,
        time.perf_counter() - started,
    )


def _plot_scatter(path: Path, results: list[dict]) -> Path:
    figure, ax = new_figure(figsize=(5.5, 5))
    # The largest family first and faint, so that it does not hide the small ones.
    for r in sorted(results, key=lambda r: len(r["aligned"]), reverse=True):
        many = len(r["aligned"]) > 5000
        ax.scatter(
            r["aligned"],
            r["predicted"],
            s=3 if many else 8,
            alpha=0.15 if many else 0.7,
            label=f"{r['name']}{', ' + r['role'] if 'role' in r else ''} (Spearman {r['spearman']:.2f})",
        )
    top = max(max(r["aligned"].max(), r["predicted"].max()) for r in results)
    ax.plot([0, top], [0, top], color="grey", linewidth=1, label="y = x (perfect agreement)")
    ax.set_xlabel("alignment distance, Scoredist (substitutions per site)")
    ax.set_ylabel("predicted distance, embeddings (substitutions per site)")
    ax.legend(fontsize=8)
    return save_figure(figure, path)


def _plot_trees(path: Path, result: dict) -> Path:
    from Bio import Phylo
    from matplotlib.text import Text

    figure, axes = new_figure(2, figsize=(12, max(5, result["n"] * 0.2)))
    for ax, tree, title in zip(axes, result["trees"], ("alignment (Scoredist)", "predicted"), strict=True):
        tree.ladderize()
        Phylo.draw(tree, axes=ax, do_show=False, label_func=lambda clade: clade.name or "")
        ax.set_title(f"NJ, {title}")
        ax.set_xlabel("branch length (substitutions per site)")
        ax.set_ylabel("")
        ax.set_yticks([])  # Phylo numbers the taxa on this axis; the numbers mean nothing
    # one x scale for both panels, so that their branch lengths compare by eye
    right = max(ax.get_xlim()[1] for ax in axes)
    for ax in axes:
        ax.set_xlim(0, right)
    labels = set(axes[0].texts) | set(axes[1].texts)
    for text in figure.findobj(Text):
        if text in labels:
            text.set_fontsize(7)
    return save_figure(figure, path)

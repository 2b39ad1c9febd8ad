"""Demo, dna: strand-invariant embeddings of real genome fragments, binned next to TNF."""

from __future__ import annotations

import shlex
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

import symcl
from symcl.atomic import atomic_write
from symcl.data import data_path
from symcl.domains import dna

from .report import Figure, Metric, Section, new_figure, save_figure

# The shipped genomes (data/dna/README.md has the provenance), with the names the figures use.
GENOMES = (
    ("phiX174.fa.gz", "phage phiX174"),
    ("pPCP1.fa.gz", "Y. pestis pPCP1"),
    ("human_mito.fa.gz", "human mitochondrion"),
    ("ecoli_K12_MG1655_slice.fa.gz", "E. coli K-12"),
    ("saureus_N315_slice.fa.gz", "S. aureus N315"),
    ("rdenitrificans_OCh114_slice.fa.gz", "R. denitrificans"),
)


def cut_fragments(
    length: int, rng: np.random.Generator
) -> tuple[list[tuple[str, np.ndarray]], np.ndarray, tuple[str, ...]]:
    """Non-overlapping ``length``-bp tiles of every shipped genome, each on a random strand.

    Returns
    -------
    fragments : list of (id, uint8 sequence)
    labels : ndarray
        int64 (n,), index into ``names`` of each fragment's genome.
    names : tuple of str
    """
    fragments, labels = [], []
    for label, (file, _) in enumerate(GENOMES):
        for record in dna.read_records(data_path("dna", file)):
            for start in range(0, len(record.seq) - length + 1, length):
                seq = record.seq[start : start + length]
                flipped = bool(rng.random() < 0.5)
                if flipped:
                    seq = dna.reverse_complement(seq)
                strand = "-" if flipped else "+"
                fragments.append((f"{record.id}:{start + 1}-{start + length}({strand})", seq))
                labels.append(label)
    return fragments, np.asarray(labels, dtype=np.int64), tuple(name for _, name in GENOMES)


def run_dna(out_dir: Path, *, quick: bool, seed: int, progress: bool = True) -> Section:
    """Embed fragments of random strand, check strand invariance, bin them beside TNF."""
    started = time.perf_counter()
    part = out_dir / "dna"
    part.mkdir(parents=True, exist_ok=True)
    model = dna.load_pretrained()
    lengths = (1000,) if quick else (500, 1000, 2000)
    rng = np.random.default_rng(seed)
    metrics, scores, commands, invariance = [], {}, [], {}
    for length in lengths:
        fragments, labels, names = cut_fragments(length, rng)
        fasta = _write_fasta(part / f"fragments_{length}bp.fa", fragments, labels, names)
        embedded = dna.embed_sequences(model, fragments, progress=progress)  # the CLI's window: the training one
        learned = embedded.embeddings
        baseline, ari, knn = _bin_both_routes(part, length, fragments, embedded, labels, len(names), seed)
        scores[length] = (ari, knn)
        commands += _bin_commands(fasta, part, length, len(names), seed)
        invariance[length] = dna.strand_invariance(model, fragments, window=length)
        metrics += _length_metrics(length, len(fragments), ari, knn)
    worst = _worst_invariance(invariance.values())
    every = "the fragments" if len(lengths) == 1 else "the fragments of every length"
    metrics.insert(
        0, Metric(f"max |emb(x) - emb(revcomp x)|, {every}", f"{worst['max_abs_diff']:.2e}", "target <= 1e-5")
    )
    figures = [
        _plot_maps(part / "dna_embedding_map.png", learned, baseline, labels, names, length),
        _plot_scores(part / "dna_binning.png", scores),
    ]
    summary = (
        f"The six shipped genomes (a phage, a plasmid, a mitochondrion and 20-kb slices of three bacteria) "
        f"were cut into non-overlapping fragments of {', '.join(map(str, lengths))} bp, each reverse-complemented "
        f"with probability 0.5, and embedded with the shipped pretrained encoder. Reverse-complementing every "
        f"fragment, at every length, changes its embedding by at most {worst['max_abs_diff']:.2e} (matched "
        f"cosine at least {worst['matched']:.4f}; median cosine of unrelated fragments at most "
        f"{worst['unrelated']:.3f}). The fragments were "
        f"then clustered into {len(names)} bins (k-means on cosine) and scored against their genome of origin "
        f"with the adjusted Rand index, beside the classic canonical tetranucleotide frequencies (TNF), "
        f"taken as `symcl dna bin --features tnf` clusters them (centred log-ratios, each standardised over the "
        f"fragments; the nearest-neighbour accuracy and the map use the same features). "
        f"This is a demonstration, not a held-out test: the pretrained encoder was trained on parts of the "
        f"E. coli, S. aureus and R. denitrificans genomes, including half of the S. aureus and R. denitrificans "
        f"slices (data/dna/model/README.md); benchmarks/bench_dna.py scores it on blocks it never saw."
    )
    return Section(
        "dna: strand-invariant genome fragments",
        summary,
        metrics,
        [Figure(str(f.relative_to(out_dir)), c) for f, c in figures],
        commands,
        time.perf_counter() - started,
        {"fragment_lengths": list(lengths), "bins": len(names), "strand_invariance_by_length": invariance},
    )


def _bin_both_routes(part: Path, length: int, fragments, embedded, labels: np.ndarray, n_bins: int, seed: int):
    """Bin the embeddings and the TNF as `symcl dna bin` does, write both bin files, score both.

    Returns the TNF features and the ARI and 1-NN accuracy of each route ("learned", "TNF").
    """
    learned = embedded.embeddings
    baseline = dna.tnf_binning_features([seq for _, seq in fragments])
    ids = [fragment_id for fragment_id, _ in fragments]
    bins = {"learned": bin_as_cli(learned, n_bins, seed), "TNF": bin_as_cli(baseline, n_bins, seed)}
    # the files the reproduce lines write, so that they can be compared with the commands' own
    dna.save_embeddings(part / f"embeddings_{length}bp.npz", embedded)
    dna.save_bins(part / f"bins_{length}bp.tsv", ids, bins["learned"])
    dna.save_bins(part / f"bins_tnf_{length}bp.tsv", ids, bins["TNF"])
    ari = {key: adjusted_rand_score(labels, found) for key, found in bins.items()}
    # 1-NN: at 2 kb phiX174 gives 2 fragments, too few for a 5-NN vote ever to name it
    knn = {"learned": symcl.knn_accuracy(learned, labels, k=1), "TNF": symcl.knn_accuracy(baseline, labels, k=1)}
    return baseline, ari, knn


def _length_metrics(length: int, n_fragments: int, ari: dict, knn: dict) -> list[Metric]:
    return [
        Metric(f"binning ARI, {length} bp ({n_fragments} fragments)", f"{ari['learned']:.3f}", f"TNF {ari['TNF']:.3f}"),
        Metric(
            f"genome nearest-neighbour (1-NN) accuracy, {length} bp", f"{knn['learned']:.3f}", f"TNF {knn['TNF']:.3f}"
        ),
    ]


def _worst_invariance(scores) -> dict[str, float]:
    """The worst of several :func:`dna.strand_invariance` results: largest change, least matched cosine."""
    scores = list(scores)
    return {
        "max_abs_diff": max(s["max_abs_diff"] for s in scores),
        "matched": min(s["matched"] for s in scores),
        "unrelated": max(s["unrelated"] for s in scores),
    }


def bin_as_cli(features: np.ndarray, n_bins: int, seed: int) -> np.ndarray:
    """The bins ``symcl dna bin --bins n_bins --seed seed`` gives for these features."""
    with warnings.catch_warnings():  # fewer distinct bins than asked shows in the ARI
        warnings.filterwarnings("ignore", message="Number of distinct clusters")
        return dna.bin_contigs(features, n_bins, method="kmeans", seed=seed)


def _bin_commands(fasta: Path, part: Path, length: int, n_bins: int, seed: int) -> list[str]:
    """The commands that write this length's embeddings and both bin files, as the demo did."""
    # `dna bin` skips contigs under 1000 bp unless told otherwise
    shorter = ["--min-length", str(length)] if length < 1000 else []
    bins = ["--bins", str(n_bins), "--seed", str(seed), *shorter]
    return [
        shlex.join(["symcl", "dna", "embed", str(fasta), "-o", str(part / f"embeddings_{length}bp.npz")]),
        shlex.join(["symcl", "dna", "bin", str(fasta), *bins, "-o", str(part / f"bins_{length}bp.tsv")]),
        shlex.join(
            [
                "symcl",
                "dna",
                "bin",
                str(fasta),
                *bins,
                "--features",
                "tnf",
                "-o",
                str(part / f"bins_tnf_{length}bp.tsv"),
            ]
        ),
    ]


def _write_fasta(path: Path, fragments, labels: np.ndarray, names: tuple[str, ...]) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "w") as handle:
            for (fragment_id, seq), label in zip(fragments, labels, strict=True):
                handle.write(f">{fragment_id} {names[label]}\n{bytes(seq).decode('ascii')}\n")

    return atomic_write(path, write)


def _plot_maps(path: Path, learned, baseline, labels, names, length: int) -> tuple[Path, str]:
    from sklearn.decomposition import PCA

    figure, axes = new_figure(2, figsize=(11, 4.5))
    for ax, (title, x) in zip(
        axes, (("symcl pretrained encoder", learned), ("TNF (standardised log-ratios)", baseline)), strict=True
    ):
        x = np.asarray(x, dtype=np.float64)
        x = x / np.linalg.norm(x, axis=1, keepdims=True).clip(1e-12)
        pca = PCA(n_components=2, random_state=0)
        xy = pca.fit_transform(x)
        for label, name in enumerate(names):
            chosen = labels == label
            ax.scatter(xy[chosen, 0], xy[chosen, 1], s=14, label=name, alpha=0.8)
        ax.set_title(f"{title}, {length}-bp fragments")
        explained = 100 * pca.explained_variance_ratio_
        ax.set_xlabel(f"PC 1 ({explained[0]:.0f} % of variance)")
        ax.set_ylabel(f"PC 2 ({explained[1]:.0f} % of variance)")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1].legend(fontsize=8, loc="best")
    return save_figure(figure, path), f"PCA of {length}-bp fragment embeddings, coloured by genome of origin."


def _plot_scores(path: Path, scores: dict[int, tuple[dict, dict]]) -> tuple[Path, str]:
    lengths = sorted(scores)
    positions = np.arange(len(lengths))
    figure, ax = new_figure(figsize=(6, 3.5))
    for offset, key, label in ((-0.2, "learned", "learned"), (0.2, "TNF", "TNF (standardised log-ratios)")):
        ax.bar(positions + offset, [scores[n][0][key] for n in lengths], width=0.4, label=label)
    ax.set_xticks(positions, [f"{n} bp" for n in lengths])
    ax.set_ylabel("binning ARI")
    ax.set_ylim(0, 1.2)  # room above the bars for the legend
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.legend(loc="upper left", ncols=2, fontsize=9)
    return save_figure(figure, path), "Binning ARI against the true genomes by fragment length: learned vs TNF."

"""Short trainings of DNA encoder recipes, scored like bench_dna.py's seen panel (issue 4).

Run from the repository root, e.g.::

    python benchmarks/bench_dna_recipe.py --encoder codon_phase --steps 400            # about 1.5 minutes
    python benchmarks/bench_dna_recipe.py --encoder kmer --steps 400                   # the phase-blind bag
    python benchmarks/bench_dna_recipe.py --encoder codon_phase --steps 2000 --weight-decay 0.05
    python benchmarks/bench_dna_recipe.py --steps 1000 --debias-tau-plus 0.1          # loss and view options
    python benchmarks/bench_dna_recipe.py --models data/dna/model DIR1 DIR2            # trained models, and concatenated
    python benchmarks/bench_dna_recipe.py --steps 1000 --second-view-lengths 1000 3000  # view variants
    python benchmarks/bench_dna_recipe.py --steps 1000 --pairs-per-window 2

With ``--models`` nothing is trained: each model directory is scored, and so is the
concatenation of their unit-length embeddings (an ensemble of independently trained
encoders, as ``symcl crystal train --members`` builds for the crystal domain).

This is how the recipe notes of data/dna/model/README.md were measured. The encoder is
trained self-supervised on the train blocks of the 9 seen genomes (``bench_dna.py``'s
split), then a logistic-regression probe is fitted on embeddings of train-block
fragments and scored on test-block fragments, with ``bench_dna.py``'s fragments (same
seeds, 600 / 300 per genome) and probe; TNF is scored beside it in the same run. It
needs ``../shared/data/dna`` (or ``--data DIR``) and is skipped with a message without it.
One torch thread.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dna as bench  # noqa: E402  (the benchmark's split, fragments and probe)

from symcl.domains import dna  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=bench.DEFAULT_DATA)
    parser.add_argument("--encoder", choices=("codon_phase", "kmer"), default="codon_phase")
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--kmer-sizes", type=int, nargs="+", default=[3, 4, 5])
    parser.add_argument("--channels", type=int, default=64)
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--out-dim", type=int, default=64)
    parser.add_argument("--fragment-lengths", type=int, nargs=2, default=[150, 500])
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--temperature", type=float, default=0.1)
    parser.add_argument("--debias-tau-plus", type=float, default=0.0, help="debiased InfoNCE class prior")
    parser.add_argument("--hard-negative-beta", type=float, default=0.0, help="hard-negative concentration")
    parser.add_argument("--queue-size", type=int, default=0, help="negatives queue entries")
    parser.add_argument("--substitution-rate", type=float, default=0.0, help="per-base substitutions in the views")
    parser.add_argument("--indel-rate", type=float, default=0.0, help="per-base indels in the views")
    parser.add_argument("--seed", type=int, default=0, help="seed of the initial weights and of the batches")
    parser.add_argument("--exclusion-bp", type=int, default=None, help="DnaViews exclusion_bp (default: the window)")
    parser.add_argument(
        "--second-view-lengths", type=int, nargs=2, help="draw the second view's fragment from these lengths (bp)"
    )
    parser.add_argument(
        "--pairs-per-window",
        type=int,
        default=1,
        help="positive pairs per window in a batch, all positives of each other",
    )
    parser.add_argument("--models", type=Path, nargs="+", help="score these trained model directories instead")
    args = parser.parse_args()
    if not (args.data / "manifest.tsv").exists():
        print(f"bench_dna_recipe: skipped: no genomes at {args.data} (manifest.tsv missing); pass --data DIR")
        return 0

    torch.set_num_threads(1)
    seen = bench.seen_keys(bench.read_manifest(args.data))
    genomes = {key: bench.load_genome(args.data, key) for key in seen}
    if args.models:
        models = {str(directory): dna.load_model(directory) for directory in args.models}
        results: dict = {"settings": {"models": list(models), "data": str(args.data)}}
    else:
        started = time.perf_counter()
        models = {"trained": train_recipe(args, genomes, seen)}
        results = {"settings": vars(args) | {"data": str(args.data)}, "train_s": time.perf_counter() - started}
    results["scores"] = score(models, genomes, seen)
    print("| features | probe 150 bp | probe 500 bp |\n|---|---|---|")
    for name, row in results["scores"].items():
        print(f"| {name} | {row[150]:.3f} | {row[500]:.3f} |")
    if "train_s" in results:
        print(f"\ntraining: {results['train_s']:.0f} s ({args.steps} steps)")
    print(json.dumps(results))
    return 0


def train_recipe(args: argparse.Namespace, genomes: dict, seen: list[str]) -> torch.nn.Module:
    """The encoder of the recipe in ``args``, trained self-supervised on the train blocks."""
    from symcl.training import TrainConfig, seed_everything

    records = [record for key in seen for record in bench.block_runs(genomes[key], genomes[key].train)]
    views = VariantViews(
        records,
        second_view_lengths=args.second_view_lengths,
        pairs_per_window=args.pairs_per_window,
        window=10_000,
        fragment_lengths=tuple(args.fragment_lengths),
        rc_probability=0.5,
        substitution_rate=args.substitution_rate,
        indel_rate=args.indel_rate,
        exclusion_bp=args.exclusion_bp,
    )
    seed_everything(args.seed)
    model = dna.build_encoder(
        {
            "kind": args.encoder,
            "kmer_sizes": args.kmer_sizes,
            "channels": args.channels,
            "hidden": args.hidden,
            "out_dim": args.out_dim,
        }
    )
    config = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        warmup_steps=min(50, args.steps // 10),
        eval_every=0,
        checkpoint_every=0,
        seed=args.seed,
    )
    dna.train(
        model,
        views,
        config,
        temperature=args.temperature,
        projection=256,
        debias_tau_plus=args.debias_tau_plus,
        hard_negative_beta=args.hard_negative_beta,
        queue_size=args.queue_size,
        progress=False,
    )
    return model.eval()


class VariantViews(dna.DnaViews):
    """DnaViews with two recipe variants measured in data/dna/model/README.md (neither ships).

    ``second_view_lengths``: view 2's fragment length is drawn from this range instead of
    ``fragment_lengths`` (a short fragment paired with a long one). ``pairs_per_window``
    K: a batch of B pairs holds B / K windows, each cut into K pairs whose 2K views are all
    positives of each other (``ViewBatch.groups``, the supervised-contrastive form of
    InfoNCE); the other windows stay negatives, with the usual exclusion window.
    """

    def __init__(self, records, *, second_view_lengths=None, pairs_per_window: int = 1, **settings):
        super().__init__(records, **settings)
        if pairs_per_window < 1:
            raise ValueError(f"--pairs-per-window must be >= 1. Got {pairs_per_window} instead.")
        self.second_view_lengths = second_view_lengths
        self.pairs_per_window = pairs_per_window

    @property
    def view_length(self) -> int:
        return max(super().view_length, self.second_view_lengths[1] if self.second_view_lengths else 0)

    def draw_params(self, batch_size: int, rng: np.random.Generator):
        params = super().draw_params(batch_size, rng)
        if self.second_view_lengths:
            low, high = self.second_view_lengths
            params.fragment_length[1] = rng.integers(low, high + 1, size=batch_size)
            params.fragment_start[1] = rng.integers(0, self.window - params.fragment_length[1] + 1)
        windows = batch_size // self.pairs_per_window
        params.record[:] = np.resize(params.record[:windows], batch_size)
        params.start[:] = np.resize(params.start[:windows], batch_size)
        return params

    def sample(self, batch_size: int, generator: torch.Generator):
        batch = super().sample(batch_size, generator)
        if self.pairs_per_window == 1:
            return batch
        windows = batch_size // self.pairs_per_window
        return dataclasses.replace(batch, groups=torch.arange(batch_size) % windows)


def score(models: dict[str, torch.nn.Module], genomes: dict, seen: list[str]) -> dict[str, dict[int, float]]:
    """Probe accuracy at 150 and 500 bp of each model, of their concatenation (if several) and of TNF."""
    from symcl import linear_probe

    scores: dict[str, dict[int, float]] = {}
    for length in (150, 500):
        train, test, train_y, test_y = bench.labelled_fragments(genomes, seen, length, 600, 300)
        features = {name: (bench.embed(m, train, 10_000), bench.embed(m, test, 10_000)) for name, m in models.items()}
        if len(models) > 1:  # the ensemble: every member's unit embeddings side by side
            features["concatenated"] = tuple(
                np.concatenate([unit(pair[split]) for pair in features.values()], axis=1) for split in (0, 1)
            )
        features["TNF"] = (bench.tnf(train), bench.tnf(test))
        for name, (train_x, test_x) in features.items():
            scores.setdefault(name, {})[length] = linear_probe(train_x, train_y, test_x, test_y)
    return scores


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


if __name__ == "__main__":
    sys.exit(main())

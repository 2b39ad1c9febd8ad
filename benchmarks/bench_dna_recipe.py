"""Short trainings of DNA encoder recipes, scored like bench_dna.py's seen panel (issue 4).

Run from the repository root, e.g.::

    python benchmarks/bench_dna_recipe.py --encoder codon_phase --steps 400            # about 1.5 minutes
    python benchmarks/bench_dna_recipe.py --encoder kmer --steps 400                   # the phase-blind bag
    python benchmarks/bench_dna_recipe.py --encoder codon_phase --steps 2000 --weight-decay 0.05
    python benchmarks/bench_dna_recipe.py --steps 1000 --debias-tau-plus 0.1          # loss and view options

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
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dna as bench  # noqa: E402  (the benchmark's split, fragments and probe)


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
    args = parser.parse_args()
    if not (args.data / "manifest.tsv").exists():
        print(f"bench_dna_recipe: skipped: no genomes at {args.data} (manifest.tsv missing); pass --data DIR")
        return 0

    from symcl import linear_probe
    from symcl.domains import dna
    from symcl.training import TrainConfig, seed_everything

    torch.set_num_threads(1)
    seen = bench.seen_keys(bench.read_manifest(args.data))
    genomes = {key: bench.load_genome(args.data, key) for key in seen}
    records = [record for key in seen for record in bench.block_runs(genomes[key], genomes[key].train)]
    views = dna.DnaViews(
        records,
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
    started = time.perf_counter()
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
    results = {"settings": vars(args) | {"data": str(args.data)}, "train_s": time.perf_counter() - started}
    model.eval()
    for length in (150, 500):
        train, test, train_y, test_y = [], [], [], []
        for label, key in enumerate(seen):
            genome_train, genome_test = bench.train_test_fragments(genomes[key], length, 600, 300)
            train += genome_train
            test += genome_test
            train_y += [label] * 600
            test_y += [label] * 300
        train_y, test_y = np.array(train_y), np.array(test_y)
        results[f"probe {length} bp"] = linear_probe(bench.embed(model, train, 10_000), train_y,
                                                     bench.embed(model, test, 10_000), test_y)  # fmt: skip
        results[f"TNF probe {length} bp"] = linear_probe(bench.tnf(train), train_y, bench.tnf(test), test_y)
    print("| measure | value |\n|---|---|")
    for name in ("probe 150 bp", "TNF probe 150 bp", "probe 500 bp", "TNF probe 500 bp"):
        print(f"| {name} | {results[name]:.3f} |")
    print(f"| training | {results['train_s']:.0f} s ({args.steps} steps) |")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

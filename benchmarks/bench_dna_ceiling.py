"""How much genome-of-origin signal k-mer composition holds: supervised Markov-chain classifiers (issue 4).

Run from the repository root::

    python benchmarks/bench_dna_ceiling.py      # about 1.5 minutes on one CPU core

A reference for the issue's accuracy targets, not a target itself. On the seen panel of
``bench_dna.py`` (same genomes, 10-kb block split, fragments, seeds and probe), it scores
side by side in one run:

* **Markov-chain classifiers** of order 3, 5 and 7 (k = 4, 6, 8), one per genome,
  fitted *with labels* on every base of the genome's train blocks, both strands
  (Laplace pseudocount 1). A test fragment goes to the genome whose chain gives it the
  highest log-likelihood (the classic composition classifier of read binners and of
  Phymm's interpolated Markov models, here without interpolation). They see all
  16 Mbp of train blocks with their labels, where the probes below see 600 labelled
  fragments per genome.
* **the shipped model's architecture trained with labels**: the same encoder
  configuration as ``dna.load_pretrained()`` (fresh weights, seed 0) and a linear layer
  onto the genomes, trained by cross-entropy on fragments of 150-500 bp (one length per
  batch) cut at random from the train blocks on a random strand, the genome drawn
  uniformly; batches of 256, AdamW (lr 2e-3, weight decay 1e-4), 5 % warm-up then
  cosine decay, for 200 and for 1,000 steps. Scored twice: its own linear layer on the
  test fragments, and the probe below refitted on its embeddings. It tells whether the
  labels themselves, given to the same network, would reach the targets.
* the logistic-regression probe on canonical TNF (``dna.tnf``), the issue's baseline;
* the same probe on the shipped model's embeddings (``dna.load_pretrained()``).

Fragments of 150 and 500 bp (the lengths of the +0.10 targets), 300 test fragments per
genome, each reverse-complemented with probability 0.5. Needs ``../shared/data/dna``
(or ``--data DIR``); skipped with a message without it. Writes
``benchmarks/results/bench_dna_ceiling.json``.
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

RESULTS = Path(__file__).resolve().parent / "results" / "bench_dna_ceiling.json"
ORDERS = (3, 5, 7)  # Markov order = k - 1
LENGTHS = (150, 500)
N_TRAIN, N_TEST = 600, 300  # fragments per genome, as bench_dna_recipe.py
SUPERVISED_STEPS = (200, 1000)
SUPERVISED_LENGTHS = (150, 500)  # fragment lengths of the supervised training, as for the shipped model


def kmers(seq, k: int) -> np.ndarray:
    """The (non-canonical) k-mer index at every position of ``seq`` whose k bases are all A/C/G/T."""
    from symcl.domains import dna
    from symcl.domains.dna.kmer_encoder import kmer_classes

    classes = kmer_classes(dna.alphabet.to_codes(seq)[None], k, canonical=False)[0]
    return classes[classes < 4**k]


def markov_log_probabilities(records, k: int) -> np.ndarray:
    """log P(last base | the k - 1 before it), shape (4**k,), from both strands of ``records``."""
    from symcl.domains import dna

    counts = np.ones(4**k)  # Laplace pseudocount
    for _, seq in records:
        for strand in (seq, dna.reverse_complement(seq)):
            counts += np.bincount(kmers(strand, k), minlength=4**k)
    counts = counts.reshape(-1, 4)
    return np.log(counts / counts.sum(axis=1, keepdims=True)).ravel()


def markov_accuracy(tables: np.ndarray, fragments: list, labels: np.ndarray, k: int) -> float:
    """Accuracy of the maximum-likelihood genome under each genome's chain (``tables``: genomes x 4**k)."""
    predicted = np.array([np.argmax(tables[:, kmers(fragment, k)].sum(axis=1)) for fragment in fragments])
    return float((predicted == labels).mean())


def train_supervised(genomes: list, config: dict, steps: int, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """An encoder of ``config`` and a linear layer onto ``genomes``, trained by cross-entropy on train-block fragments."""
    from symcl.domains import dna

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    encoder = dna.build_encoder(config)
    head = torch.nn.Linear(encoder.dim, len(genomes))
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps, pct_start=0.05)
    for _ in range(steps):
        length = int(rng.integers(SUPERVISED_LENGTHS[0], SUPERVISED_LENGTHS[1] + 1))
        labels = np.sort(rng.integers(0, len(genomes), size=256))
        batch = []
        for label, count in zip(*np.unique(labels, return_counts=True), strict=True):
            genome = genomes[label]
            batch += [dna.alphabet.to_codes(f) for f in bench.fragments(genome, genome.train, length, count, rng)]
        loss = torch.nn.functional.cross_entropy(
            head(encoder(torch.from_numpy(np.stack(batch)))), torch.from_numpy(labels)
        )
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return encoder.eval(), head.eval()


def head_accuracy(head: torch.nn.Module, embeddings: np.ndarray, labels: np.ndarray) -> float:
    """Accuracy of the supervised encoder's own linear layer on its ``embeddings`` of the test fragments."""
    with torch.no_grad():
        logits = head(torch.from_numpy(embeddings))
    return float((logits.argmax(dim=1).numpy() == labels).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=bench.DEFAULT_DATA)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if not (args.data / "manifest.tsv").exists():
        print(f"bench_dna_ceiling: skipped: no genomes at {args.data} (manifest.tsv missing); pass --data DIR")
        return 0

    from symcl import linear_probe
    from symcl.domains import dna

    torch.set_num_threads(1)
    started = time.perf_counter()
    seen = bench.seen_keys(bench.read_manifest(args.data))
    genomes = {key: bench.load_genome(args.data, key) for key in seen}
    model = dna.load_pretrained()
    tables = {
        order: np.stack(
            [markov_log_probabilities(bench.block_runs(genomes[key], genomes[key].train), order + 1) for key in seen]
        )
        for order in ORDERS
    }
    supervised = {
        steps: train_supervised([genomes[key] for key in seen], model.config, steps) for steps in SUPERVISED_STEPS
    }
    results: dict = {
        "genomes": seen,
        "orders": list(ORDERS),
        "supervised_steps": list(SUPERVISED_STEPS),
        "accuracy": {},
    }
    for length in LENGTHS:
        train, test, train_y, test_y = bench.labelled_fragments(genomes, seen, length, N_TRAIN, N_TEST)
        row = {f"Markov order {order}": markov_accuracy(tables[order], test, test_y, order + 1) for order in ORDERS}
        for steps, (encoder, head) in supervised.items():
            test_z = bench.embed(encoder, test, 10_000)  # scored by its own layer and by the probe
            row[f"supervised encoder, {steps} steps: its linear layer"] = head_accuracy(head, test_z, test_y)
            row[f"supervised encoder, {steps} steps: probe"] = linear_probe(
                bench.embed(encoder, train, 10_000), train_y, test_z, test_y
            )
        row["TNF probe"] = linear_probe(bench.tnf(train), train_y, bench.tnf(test), test_y)
        row["pretrained model probe"] = linear_probe(
            bench.embed(model, train, 10_000), train_y, bench.embed(model, test, 10_000), test_y
        )
        results["accuracy"][length] = row
    results["wall_s"] = time.perf_counter() - started

    names = list(results["accuracy"][LENGTHS[0]])
    print(f"genome of origin, seen panel ({len(seen)} genomes, {N_TEST} test fragments each)\n")
    print("| classifier | " + " | ".join(f"{length} bp" for length in LENGTHS) + " |")
    print("|---|" + "---|" * len(LENGTHS))
    for name in names:
        print(f"| {name} | " + " | ".join(f"{results['accuracy'][length][name]:.3f}" for length in LENGTHS) + " |")
    tnf_target = " / ".join(f"{results['accuracy'][length]['TNF probe'] + 0.10:.3f}" for length in LENGTHS)
    print(f"\nthe issue's target, TNF probe + 0.10: {tnf_target}")
    print(f"wall time {results['wall_s']:.0f} s")
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

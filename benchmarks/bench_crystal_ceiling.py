"""What labels would reach on bench_crystal's defect kinds: the shipped network trained supervised (issue 5).

Run from the repository root::

    python benchmarks/bench_crystal_ceiling.py            # about 7 minutes on the 2-core machine
    python benchmarks/bench_crystal_ceiling.py --quick    # smoke run: 30 steps, a few images
    python benchmarks/bench_crystal_ceiling.py --channels 32   # a wider network than the shipped one

A reference for the defect-kind targets (probe and 5-NN accuracy >= 0.95 at the held-out
doses), not a target itself. It asks whether the shipped model's low-dose shortfall comes
from the self-supervised objective or from the network and its input. Side by side in
one run, on ``bench_crystal.py``'s test images (same seeds, so the same images; doses 5e4
and 5e6 e-/Å², jitter 0.15 Å, 80 images per material):

* **the shipped network trained with labels**: a fresh ``PatchCNN`` of the shipped
  model's shape (seed 0; ``--channels`` widens it) and a linear layer onto the 5 kinds,
  trained by cross-entropy on both views of ``LatticeTranslationViews`` batches drawn
  with the shipped model's own training settings (its ``config.json``: materials, doses
  and their excluded bands, jitter, probe sizes, orientation), so on the same simulated
  data as the shipped model, labelled; batches of 256 samples (512 patches), AdamW
  (lr 2e-3, weight decay 1e-4), 5 % warm-up then cosine decay. Scored by its own linear
  layer, and like the shipped model by ``bench_crystal``'s probe and 5-NN fitted on
  unit-length embeddings of its fitting images (doses 1.5e5 / 5e5 / 1.5e6, jitter 0.05 Å);
* the shipped self-supervised model (``crystal.load_pretrained()``), probe and 5-NN;
* ``bench_crystal``'s ideal observer, whose accuracy is the ceiling of any classifier.

Writes ``benchmarks/results/bench_crystal_ceiling.json``.
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
import bench_crystal as bench  # noqa: E402  (the benchmark's test images, probe, 5-NN and ideal observer)

RESULTS = Path(__file__).resolve().parent / "results" / "bench_crystal_ceiling.json"


def train_supervised(views, shape: dict, steps: int, seed: int = 0) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A ``PatchCNN`` of ``shape`` and a linear layer onto the kinds, trained by cross-entropy on both views."""
    from symcl.domains.crystal.encoders import PatchCNN

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    encoder = PatchCNN(**shape)
    head = torch.nn.Linear(shape["dim"], len(views.kinds))
    optimizer = torch.optim.AdamW([*encoder.parameters(), *head.parameters()], lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=steps, pct_start=0.05)
    for _ in range(steps):
        batch = views.sample(256, generator)
        patches = torch.cat([batch.view1, batch.view2])
        loss = torch.nn.functional.cross_entropy(head(encoder(patches)), batch.labels.repeat(2))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return encoder.eval(), head.eval()


def head_accuracy(head: torch.nn.Module, test_x: np.ndarray, kinds: tuple[str, ...], test_kinds: np.ndarray) -> float:
    """Accuracy of the supervised network's own linear layer on its test embeddings."""
    with torch.no_grad():
        predicted = head(torch.from_numpy(test_x)).argmax(dim=1).numpy()
    return float(np.mean(np.asarray(kinds)[predicted] == test_kinds))


def report(results: dict) -> str:
    steps, channels = results["settings"]["steps"], results["settings"]["shape"]["channels"]
    lines = [
        "| model | dose 5e4: head / probe / 5-NN | dose 5e6: head / probe / 5-NN |",
        "|---|---|---|",
    ]
    rows = {
        "shipped model, self-supervised": "shipped",
        f"PatchCNN, {channels} channels, trained with the kind labels, {steps} steps": "supervised",
    }
    for label, key in rows.items():
        cells = []
        for name in bench.HELD_OUT:
            s = results["tests"][name][key]
            head = f"{s['head']:.3f}" if "head" in s else "-"
            cells.append(f"{head} / {s['probe']:.3f} / {s['knn']:.3f}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    ceiling = " | ".join(f"{results['tests'][name]['ideal_ceiling']:.3f}" for name in bench.HELD_OUT)
    lines.append(f"| ideal observer (accuracy ceiling) | {ceiling} |")
    n = " / ".join(str(results["tests"][name]["n_test"]) for name in bench.HELD_OUT)
    lines.append(
        f"\ntest patches {n}; fitting patches {results['n_fit']}; "
        f"supervised training {results['train_s']:.0f} s; wall time {results['wall_s']:.0f} s"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1500, help="supervised training steps (default 1500)")
    parser.add_argument("--channels", type=int, help="CNN stem channels (default: the shipped model's)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 30 steps and a few images")
    args = parser.parse_args()
    from symcl.domains import crystal

    started = time.perf_counter()
    torch.set_num_threads(1)
    shipped = crystal.load_pretrained()
    settings = crystal.read_model_config(crystal.pretrained_directory())["crystal"]["views"]
    shape = {key: shipped.config[key] for key in ("dim", "channels", "patch_size", "pixel_size")}
    shape["channels"] = args.channels or shape["channels"]
    views = crystal.LatticeTranslationViews.from_settings(settings)
    steps = 30 if args.quick else args.steps
    trained = time.perf_counter()
    encoder, head = train_supervised(views, shape, steps)
    results: dict = {"settings": {"steps": steps, "shape": shape, "quick": args.quick}}
    results["train_s"] = time.perf_counter() - trained
    print(f"supervised training done at {time.perf_counter() - started:.0f} s", file=sys.stderr)

    n_fit, n_test = (8, 4) if args.quick else (120, 80)  # bench_crystal's numbers of images per material
    size = (shape["patch_size"], shape["pixel_size"])
    fit = bench.fitting_set(n_fit, *size)
    results["n_fit"] = len(fit["kinds"])
    models = {"shipped": shipped, "supervised": encoder}
    fit_x = {name: bench.unit(bench.embed(model, fit["patches"])) for name, model in models.items()}  # once each
    results["tests"] = {}
    for name in bench.HELD_OUT:
        test = bench.simulated_set(bench.TEST_CONDITIONS[name], bench.test_seeds(name, n_test), *size)
        test_x = {key: bench.embed(model, test["patches"]) for key, model in models.items()}
        # Like bench_crystal: probe and 5-NN on unit-length embeddings (the linear layer reads them as they are).
        row = {
            key: bench.probe_and_knn(fit_x[key], fit["kinds"], bench.unit(test_x[key]), test["kinds"])[0]
            for key in models
        }
        row["supervised"]["head"] = head_accuracy(head, test_x["supervised"], views.kinds, test["kinds"])
        results["tests"][name] = row | {
            "n_test": len(test["kinds"]),
            "ideal_ceiling": bench.ideal_summary(test)["accuracy_ceiling"],
        }
    results["wall_s"] = time.perf_counter() - started
    print(report(results))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

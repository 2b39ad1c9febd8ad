"""Engine overhead: one ``symcl.training.fit`` run against a bare hand-written loop.

Both train the same toy encoder (``symcl.toy``) on the same batches with the same
optimiser (AdamW, warm-up + cosine, gradient clipping) and objective (InfoNCE with a
negatives queue). The bare loop is what one would write by hand; ``fit`` adds its
callbacks (history, progress bar, and optionally checkpoints). Runs alternate and the
median over the repeats is reported, with the ratio to the bare loop. Time is this
process's CPU time (``time.process_time``) with one torch thread: the engine overhead
is Python-side work, and CPU time keeps other jobs on a shared machine out of the
ratio (checkpoint writes that wait on the disk are thus not fully counted).

Target (issue 3): fit / bare <= 1.10.

Command::

    python benchmarks/bench_engine.py            # 300 steps x 7 repeats
    python benchmarks/bench_engine.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from symcl.toy import RingBlobs, mlp_encoder
from symcl.training import TrainConfig, contrastive_objective, fit, seed_everything
from symcl.training.schedule import warmup_cosine

RESULTS = Path(__file__).parent / "results" / "bench_engine.json"


def make_run(config: TrainConfig):
    seed_everything(config.seed)
    views = RingBlobs(length=32)
    model = mlp_encoder(32, dim=64, hidden=256)
    return model, views, contrastive_objective(64, temperature=0.2, queue_size=1024)


def bare_loop(config: TrainConfig) -> float:
    """The hand-written baseline: the same work, no engine."""
    model, views, objective = make_run(config)
    generator = torch.Generator().manual_seed(config.seed)
    params = list(model.parameters()) + list(objective.parameters())
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
    scheduler = warmup_cosine(optimizer, config.effective_warmup_steps, config.steps)
    losses = []
    start = time.process_time()
    for _ in range(config.steps):
        batch = views.sample(config.batch_size, generator)
        loss = objective(model(batch.view1), model(batch.view2), batch)
        losses.append(loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(params, config.grad_clip)
        optimizer.step()
        scheduler.step()
    return time.process_time() - start


def engine(config: TrainConfig, *, progress: bool, checkpoints: bool) -> float:
    model, views, objective = make_run(config)
    with tempfile.TemporaryDirectory() as out, open(os.devnull, "w") as sink, contextlib.redirect_stderr(sink):
        start = time.process_time()
        fit(model, views, objective, config, out_dir=out if checkpoints else None, progress=progress)
        return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    steps, repeats = (40, 3) if args.quick else (300, 7)
    config = TrainConfig(steps=steps, batch_size=256, eval_every=0, checkpoint_every=0, warmup_steps=10)
    with_checkpoints = TrainConfig(**{**vars(config), "checkpoint_every": 50})
    variants = {
        "bare loop": lambda: bare_loop(config),
        "fit (history)": lambda: engine(config, progress=False, checkpoints=False),
        "fit (history + progress bar)": lambda: engine(config, progress=True, checkpoints=False),
        "fit (+ checkpoint every 50 steps)": lambda: engine(with_checkpoints, progress=True, checkpoints=True),
    }
    bare_loop(TrainConfig(**{**vars(config), "steps": 10}))  # warm-up
    times = {name: [] for name in variants}
    for _ in range(repeats):  # interleaved, so drifts in machine load hit all variants alike
        for name, run in variants.items():
            times[name].append(run())

    base = statistics.median(times["bare loop"])
    rows = []
    print(
        f"Engine overhead: {steps} steps, batch 256, CPU time over {repeats} runs, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread, load average {os.getloadavg()[0]:.2f}\n"
    )
    print("| variant | median CPU s | ms/step | ratio vs bare | min CPU s | min ratio |")
    print("|---|---|---|---|---|---|")
    for name, samples in times.items():
        median = statistics.median(samples)
        rows.append({"variant": name, "median_s": median, "ratio": median / base, "samples": samples})
        fastest = min(samples)
        print(
            f"| {name} | {median:.3f} | {1000 * median / steps:.2f} | {median / base:.3f} "
            f"| {fastest:.3f} | {fastest / min(times['bare loop']):.3f} |"
        )
    ratio = statistics.median(times["fit (history + progress bar)"]) / base
    verdict = "PASS" if ratio <= 1.10 else "FAIL"
    print(f"\nTarget fit (history + progress bar) / bare <= 1.10: {ratio:.3f} {verdict}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"steps": steps, "repeats": repeats, "rows": rows, "ratio": ratio}, indent=2))
    print(f"JSON: {RESULTS}")


if __name__ == "__main__":
    main()

"""Distributed training without cheating: gradient equivalence, batch-norm leak, gloo overhead.

1. Gradient equivalence: a batch-norm encoder with InfoNCE (negatives queue, exclusion
   masks, groups, hard negatives) on 2 gloo processes, against the same global batch in
   one process. Reports the max abs difference of the loss and of every gradient after
   DDP averaging, in float32 and float64. Target: <= 1e-6.
2. Batch-norm leak (:func:`symcl.distributed.leak.bn_leak`): device-probe accuracy with
   per-device vs synchronised batch norm, 2 ranks, at 4, 16 and 64 samples per rank.
   Targets: >= 0.9 and <= 0.6.
3. CPU gloo overhead: toy training throughput (samples/s) with 1 and 2 processes at the
   same global batch, on this machine. A speed-up is not expected on 2 cores.

Command::

    python benchmarks/bench_distributed.py           # full
    python benchmarks/bench_distributed.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from safetensors.torch import load_file, save_file
from torch import nn

from symcl import InfoNCE, NegativeQueue
from symcl.distributed import SyncBatchNorm
from symcl.distributed.leak import bn_leak

RESULTS = Path(__file__).parent / "results" / "bench_distributed.json"
N_GLOBAL, DIM_IN, DIM = 64, 32, 16


def _setup(dtype):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(DIM_IN, 64), SyncBatchNorm(64), nn.ReLU(), nn.Linear(64, DIM)).to(dtype)
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(N_GLOBAL, DIM_IN, generator=g).to(dtype)
    x2 = x1 + 0.3 * torch.randn(N_GLOBAL, DIM_IN, generator=g).to(dtype)
    local_excludes = torch.rand(2, N_GLOBAL // 2, N_GLOBAL // 2, generator=g) < 0.2
    groups = torch.randint(0, 20, (N_GLOBAL,), generator=g)
    queue = NegativeQueue(128, DIM).to(dtype)
    queue.enqueue(torch.randn(100, DIM, generator=g).to(dtype), torch.randint(0, 20, (100,), generator=g))
    loss_fn = InfoNCE(0.1, queue=queue, hard_negative_beta=0.5)
    return model, loss_fn, x1, x2, local_excludes, groups


def _worker(rank: int, init_file: str, out_dir: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    try:
        for dtype in (torch.float32, torch.float64):
            model, loss_fn, x1, x2, local_excludes, groups = _setup(dtype)
            model = nn.parallel.DistributedDataParallel(model)
            mine = slice(rank * N_GLOBAL // 2, (rank + 1) * N_GLOBAL // 2)
            loss = loss_fn(model(x1[mine]), model(x2[mine]), exclude=local_excludes[rank], groups=groups[mine])
            loss.backward()
            value = loss.detach().clone()
            dist.all_reduce(value)
            grads = {k: p.grad for k, p in model.module.named_parameters()}
            save_file({"loss": value / 2, **grads}, os.path.join(out_dir, f"{dtype}.{rank}.safetensors"))
    finally:
        dist.destroy_process_group()


def gradient_equivalence() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        mp.spawn(_worker, args=(os.path.join(tmp, "init"), tmp), nprocs=2, join=True)
        worst = {}
        for dtype in (torch.float32, torch.float64):
            model, loss_fn, x1, x2, local_excludes, groups = _setup(dtype)
            exclude = torch.block_diag(*local_excludes.to(torch.uint8)).bool()
            loss = loss_fn(model(x1), model(x2), exclude=exclude, groups=groups)
            loss.backward()
            reference = {"loss": loss.detach(), **{k: p.grad for k, p in model.named_parameters()}}
            diffs = [
                (load_file(os.path.join(tmp, f"{dtype}.{rank}.safetensors"))[k] - v).abs().max().item()
                for rank in range(2)
                for k, v in reference.items()
            ]
            worst[str(dtype).removeprefix("torch.")] = max(diffs)
        return worst


def throughput(nproc: int, steps: int, batch: int) -> float:
    """Samples/s of toy training; the start-up cost is removed by a second, shorter run."""

    def run(n_steps: int) -> float:
        with tempfile.TemporaryDirectory() as out:
            command = [sys.executable, "-m", "symcl.toy", "--out", out, "--steps", str(n_steps), "--nproc",
                       str(nproc), "--batch-size", str(batch), "--eval-every", "0", "--checkpoint-every", "0",
                       "--quiet"]  # fmt: skip
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True)
            return time.perf_counter() - start

    short, long = run(steps // 5), run(steps)
    return (steps - steps // 5) * batch / (long - short)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(2)

    equivalence = gradient_equivalence()
    leak = {
        per_rank: bn_leak(
            steps=60 if args.quick else 300, batch_per_rank=per_rank, probe_batches=5 if args.quick else 20
        )
        for per_rank in (4, 16, 64)
    }
    steps = 50 if args.quick else 400
    rates = {n: throughput(n, steps, 256) for n in (1, 2)}

    print(f"Distributed benchmark: torch {torch.__version__}, gloo on CPU, {os.cpu_count()} cores\n")
    print("| measure | value | target | verdict |")
    print("|---|---|---|---|")
    for dtype, diff in equivalence.items():
        verdict = "PASS" if diff <= 1e-6 else "FAIL"
        print(f"| max abs diff, 2 ranks vs full batch ({dtype}) | {diff:.2e} | <= 1e-6 | {verdict} |")
    for per_rank, result in leak.items():
        per_device, synced = result["per_device"], result["synchronised"]
        print(f"| device-probe accuracy, per-device BN, {per_rank} samples/rank | {per_device:.3f} | >= 0.9 | "
              f"{'PASS' if per_device >= 0.9 else 'FAIL'} |")  # fmt: skip
        print(f"| device-probe accuracy, synchronised BN, {per_rank} samples/rank | {synced:.3f} | <= 0.6 | "
              f"{'PASS' if synced <= 0.6 else 'FAIL'} |")  # fmt: skip
    print(f"| toy training, 1 process | {rates[1]:.0f} samples/s | report | - |")
    print(f"| toy training, 2 processes (gloo) | {rates[2]:.0f} samples/s ({rates[2] / rates[1]:.2f}x) | report | - |")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"equivalence": equivalence, "leak": leak, "throughput": rates}, indent=2))
    print(f"\nJSON: {RESULTS}")


if __name__ == "__main__":
    main()

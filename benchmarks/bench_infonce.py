"""Speed and memory of ``symcl.info_nce`` against reference NT-Xent implementations.

Run from the repository root::

    python benchmarks/bench_infonce.py          # full run, 3 to 5 minutes on 2 CPU cores
    python benchmarks/bench_infonce.py --quick  # smoke run, small sizes only (under a minute)

What it measures, for embeddings z1, z2 of shape (N, d) with d = 128 and temperature 0.1:

* First, that every implementation gives the same loss (|Δ| <= 1e-4) and gradient
  (relative max |Δ| <= 1e-4) as the naive baseline at a small batch; the run stops if not.
* The median wall time of one forward + backward pass (after warm-up iterations) and the
  peak memory of that work, for 2N in {512, 2048, 8192}, side by side for

  - ``naive``: a textbook NT-Xent written below (normalise, exp(sim / τ), mask the
    diagonal, sum the denominator, -log(positive / denominator), mean over 2N anchors);
    the baseline of every ratio;
  - ``symcl``: ``symcl.info_nce`` (dense path);
  - ``lightly``: ``lightly.loss.NTXentLoss``, when importable;
  - ``pytorch-metric-learning``: its ``NTXentLoss``, when importable, only at 2N <= 512
    because it materialises O((2N)³) pair tensors.

* ``symcl.info_nce`` with ``chunk_size`` at 2N = 8192 and 2N = 32768, and the dense path at
  2N = 16384, from which the dense 2N = 32768 peak is extrapolated (never run: the dense
  path scales as (2N)², and one 32768² float32 matrix alone is 4.3 GB).

Every (implementation, size) runs in its own subprocess (this script with ``--worker``), so
implementations cannot contaminate each other. Its peak memory is the peak resident set size
during the timed loop minus the resident set size after imports and input setup. Linux only:
the peak is the kernel's ``VmHWM``, reset after setup through ``/proc/self/clear_refs``;
``ru_maxrss`` cannot be used because in a child it also holds the parent's peak, carried
over through fork + exec. Torch uses 2 threads. MB and GB are 10⁶ and 10⁹ bytes.

It prints a markdown table, the targets with PASS/FAIL, and writes everything to
``benchmarks/results/bench_infonce.json``. Targets: dense 2N = 8192 time <= 0.6 × lightly's
(<= 0.85 × naive's when lightly is not importable) and peak memory <= naive's; chunked
2N = 32768 peak memory <= 3 GB.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

TEMPERATURE = 0.1
NUM_THREADS = 2
MB = 1e6
GB = 1e9
CHECK_TOLERANCE = 1e-4
WORKER_TIMEOUT_S = 900
BUSY_LOAD = 0.5  # 1-minute load average above which the report warns of noisy timings
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "bench_infonce.json"

NAIVE, SYMCL, LIGHTLY, PML = "naive", "symcl", "lightly", "pytorch-metric-learning"
IMPLEMENTATIONS = (NAIVE, SYMCL, LIGHTLY, PML)
OPTIONAL_DISTRIBUTIONS = ("lightly", "pytorch-metric-learning")

LossFn = Callable[[Tensor, Tensor], Tensor]


@dataclass(frozen=True)
class Config:
    """Batch sizes (2N, the number of anchors) and dimensions of one benchmark run."""

    dim: int
    check_two_n: int
    dense_sizes: tuple[int, ...]
    target_two_n: int
    extrapolation_two_n: int
    chunked_two_n: int
    chunk_size: int
    chunked_budget_bytes: float
    # pytorch-metric-learning's NTXentLoss builds (2N) x 2N(2N-2) float tensors: 0.5 GB each
    # at 2N = 512, 34 GB each at 2N = 2048.
    pml_max_two_n: int


FULL = Config(
    dim=128,
    check_two_n=256,
    dense_sizes=(512, 2048, 8192),
    target_two_n=8192,
    extrapolation_two_n=16384,
    chunked_two_n=32768,
    chunk_size=2048,
    chunked_budget_bytes=3 * GB,
    pml_max_two_n=512,
)
QUICK = Config(
    dim=128,
    check_two_n=128,
    dense_sizes=(256, 512),
    target_two_n=512,
    extrapolation_two_n=1024,
    chunked_two_n=4096,
    chunk_size=512,
    chunked_budget_bytes=3 * GB,
    pml_max_two_n=256,
)


@dataclass(frozen=True)
class Case:
    """One measurement: an implementation at a batch size, dense or chunked."""

    impl: str
    two_n: int
    dim: int
    chunk_size: int | None = None

    @property
    def label(self) -> str:
        return self.impl if self.chunk_size is None else f"{self.impl} (chunk {self.chunk_size})"


# ---------------------------------------------------------------------------------------
# Implementations


def naive_nt_xent(z1: Tensor, z2: Tensor, temperature: float = TEMPERATURE) -> Tensor:
    """Textbook NT-Xent (SimCLR): the baseline every ratio is relative to."""
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    two_n = z.shape[0]
    exp_sim = torch.exp(z @ z.T / temperature)
    exp_sim = exp_sim.masked_fill(torch.eye(two_n, dtype=torch.bool), 0.0)
    denominator = exp_sim.sum(dim=1)
    partner = torch.arange(two_n).roll(two_n // 2)  # anchor a pairs with (a + N) mod 2N
    positive = exp_sim[torch.arange(two_n), partner]
    return -torch.log(positive / denominator).mean()


def build_loss(impl: str, chunk_size: int | None = None) -> LossFn:
    """The loss function ``(z1, z2) -> scalar`` of ``impl``; raises if it cannot be imported."""
    if chunk_size is not None and impl != SYMCL:
        raise ValueError(f"Only {SYMCL} takes a chunk size, not {impl}.")
    if impl == NAIVE:
        return naive_nt_xent
    if impl == SYMCL:
        from symcl import info_nce

        return lambda z1, z2: info_nce(z1, z2, temperature=TEMPERATURE, chunk_size=chunk_size)
    if impl == LIGHTLY:
        from lightly.loss import NTXentLoss

        return NTXentLoss(temperature=TEMPERATURE)
    if impl == PML:
        from pytorch_metric_learning.losses import NTXentLoss

        pml_loss = NTXentLoss(temperature=TEMPERATURE)

        def pml_nt_xent(z1: Tensor, z2: Tensor) -> Tensor:
            labels = torch.arange(z1.shape[0]).repeat(2)  # the two views share a label
            return pml_loss(torch.cat([z1, z2]), labels)

        return pml_nt_xent
    raise ValueError(f"Unknown implementation {impl!r}; expected one of {IMPLEMENTATIONS}.")


def unavailable_reasons() -> dict[str, str]:
    """Why each implementation that cannot be built here is skipped."""
    reasons = {}
    for impl in IMPLEMENTATIONS:
        try:
            build_loss(impl)
        except Exception as error:  # an optional package may fail with any error on import
            reasons[impl] = f"{type(error).__name__}: {error}"
    return reasons


def make_inputs(two_n: int, dim: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Two correlated views (N, d) that require gradients."""
    generator = torch.Generator().manual_seed(seed)
    z1 = torch.randn(two_n // 2, dim, generator=generator)
    z2 = z1 + 0.5 * torch.randn(two_n // 2, dim, generator=generator)
    return z1.requires_grad_(), z2.requires_grad_()


# ---------------------------------------------------------------------------------------
# Equivalence check


def check_equivalence(impls: list[str], config: Config) -> list[dict]:
    """Loss and gradient of every implementation (and symcl chunked) against the naive one."""
    cases = [Case(impl, config.check_two_n, config.dim) for impl in impls]
    cases.append(Case(SYMCL, config.check_two_n, config.dim, chunk_size=config.check_two_n // 4))
    reference_loss, reference_grad = _loss_and_grad(Case(NAIVE, config.check_two_n, config.dim))
    rows = []
    for case in cases:
        loss, grad = _loss_and_grad(case)
        loss_diff = abs(loss - reference_loss)
        grad_diff = float((grad - reference_grad).abs().max() / reference_grad.abs().max())
        rows.append(
            {
                "implementation": case.label,
                "loss": loss,
                "abs_loss_diff": loss_diff,
                "rel_max_grad_diff": grad_diff,
                "ok": loss_diff <= CHECK_TOLERANCE and grad_diff <= CHECK_TOLERANCE,
            }
        )
    return rows


def _loss_and_grad(case: Case) -> tuple[float, Tensor]:
    """Loss of one case on the check inputs, and its gradient w.r.t. both views, stacked."""
    z1, z2 = make_inputs(case.two_n, case.dim, seed=1)
    loss = build_loss(case.impl, case.chunk_size)(z1, z2)
    loss.backward()
    return loss.item(), torch.cat([z1.grad, z2.grad])


# ---------------------------------------------------------------------------------------
# Worker: runs in its own process, one case per process


def repeats_for(two_n: int) -> tuple[int, int]:
    """(warm-up iterations, timed iterations) for a batch size; one pass at 32768 takes ~25 s."""
    if two_n <= 2048:
        return 3, 11
    if two_n <= 8192:
        return 1, 3
    return 1, 1


def rss_bytes(field: str = "VmRSS") -> int:
    """This process's current (``VmRSS``) or peak (``VmHWM``) resident set size."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024  # reported in kB
    raise RuntimeError(f"{field} not found in /proc/self/status")


def reset_peak_rss() -> None:
    """Restart the kernel's peak resident set size (VmHWM) from the current one."""
    Path("/proc/self/clear_refs").write_text("5")


def run_worker(case: Case) -> dict:
    """Time forward + backward of one case; peak memory is measured from after setup."""
    torch.set_num_threads(NUM_THREADS)
    loss_fn = build_loss(case.impl, case.chunk_size)
    z1, z2 = make_inputs(case.two_n, case.dim)
    warmup, repeats = repeats_for(case.two_n)
    reset_peak_rss()
    baseline = rss_bytes()
    times = []
    for iteration in range(warmup + repeats):
        z1.grad = z2.grad = None
        start = time.perf_counter()
        loss = loss_fn(z1, z2)
        loss.backward()
        if iteration >= warmup:
            times.append(time.perf_counter() - start)
    return {
        "median_s": statistics.median(times),
        "times_s": times,
        "warmup": warmup,
        "peak_rss_increase_bytes": rss_bytes("VmHWM") - baseline,
        "loss": loss.item(),
    }


def measure(case: Case) -> dict:
    """Run one case in a fresh subprocess and return its measurement (or its error)."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        case.impl,
        "--two-n",
        str(case.two_n),
        "--dim",
        str(case.dim),
    ]
    if case.chunk_size is not None:
        command += ["--chunk-size", str(case.chunk_size)]
    print(f"  measuring {case.label:<24} 2N={case.two_n:<6}", end="", flush=True)
    result = {**asdict(case), "label": case.label}
    try:
        process = subprocess.run(command, capture_output=True, text=True, timeout=WORKER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(" timed out")
        return {**result, "error": f"timed out after {WORKER_TIMEOUT_S} s"}
    if process.returncode != 0:
        error = (process.stderr.strip().splitlines() or [f"exit status {process.returncode}"])[-1]
        print(f" failed: {error}")
        return {**result, "error": error}
    result.update(json.loads(process.stdout.strip().splitlines()[-1]))
    print(f" {result['median_s'] * 1e3:9.1f} ms  {result['peak_rss_increase_bytes'] / MB:8.1f} MB")
    return result


# ---------------------------------------------------------------------------------------
# Plan, estimate, targets


def plan(impls: list[str], config: Config) -> tuple[list[Case], list[str]]:
    """The cases to measure, and notes on the ones skipped on purpose."""
    cases, notes = [], []
    for two_n in config.dense_sizes:
        for impl in impls:
            if impl == PML and two_n > config.pml_max_two_n:
                notes.append(
                    f"{PML} skipped at 2N={two_n}: its O((2N)³) pair tensors would need "
                    f"{_pml_tensor_bytes(two_n) / GB:.1f} GB each."
                )
                continue
            cases.append(Case(impl, two_n, config.dim))
    cases.append(Case(SYMCL, config.target_two_n, config.dim, chunk_size=config.chunk_size))
    cases.append(Case(SYMCL, config.extrapolation_two_n, config.dim))
    cases.append(Case(SYMCL, config.chunked_two_n, config.dim, chunk_size=config.chunk_size))
    return cases, notes


def _pml_tensor_bytes(two_n: int) -> float:
    """Bytes of one (positive pairs) x (negative pairs) float32 tensor of pytorch-metric-learning."""
    return 4.0 * two_n * two_n * (two_n - 2)


def estimate_dense(results: list[dict], config: Config) -> dict:
    """Dense symcl at the chunked size, extrapolated as a + b (2N)² from the two largest runs."""
    sizes = (config.target_two_n, config.extrapolation_two_n)
    small, large = (_find(results, SYMCL, two_n) for two_n in sizes)
    matrix_bytes = 4.0 * config.chunked_two_n**2
    estimate = {"two_n": config.chunked_two_n, "one_matrix_bytes": matrix_bytes}
    if small is None or large is None:
        return estimate

    def extrapolate(key: str) -> float:  # the line a + b (2N)² through both measurements
        slope = (large[key] - small[key]) / (sizes[1] ** 2 - sizes[0] ** 2)
        return large[key] + slope * (config.chunked_two_n**2 - sizes[1] ** 2)

    peak = extrapolate("peak_rss_increase_bytes")
    return {
        **estimate,
        "from_two_n": list(sizes),
        "median_s": extrapolate("median_s"),
        "peak_rss_increase_bytes": peak,
        "matrices": peak / matrix_bytes,
    }


def evaluate_targets(results: list[dict], config: Config) -> list[dict]:
    """PASS/FAIL of the issue's targets, with the numbers behind them."""
    size = config.target_two_n
    symcl, naive = _find(results, SYMCL, size), _find(results, NAIVE, size)
    lightly = _find(results, LIGHTLY, size)
    if lightly is not None:
        time_target = _ratio_target(f"dense 2N={size} time vs {LIGHTLY}", symcl, lightly, "median_s", 0.6)
    else:
        time_target = _ratio_target(
            f"dense 2N={size} time vs {NAIVE} ({LIGHTLY} not measured)", symcl, naive, "median_s", 0.85
        )
    chunked = _find(results, SYMCL, config.chunked_two_n, config.chunk_size)
    budget = config.chunked_budget_bytes
    chunked_target = {
        "target": f"chunked 2N={config.chunked_two_n} peak memory",
        "bound": f"<= {budget / GB:.0f} GB",
        "value": None if chunked is None else f"{chunked['peak_rss_increase_bytes'] / GB:.2f} GB",
        "pass": chunked is not None and chunked["peak_rss_increase_bytes"] <= budget,
    }
    return [
        time_target,
        _ratio_target(f"dense 2N={size} peak memory vs {NAIVE}", symcl, naive, "peak_rss_increase_bytes", 1.0),
        chunked_target,
    ]


def _ratio_target(name: str, result: dict | None, reference: dict | None, key: str, bound: float) -> dict:
    """``result[key] <= bound * reference[key]``, shown as both numbers and their ratio."""
    if result is None or reference is None:
        return {"target": name, "bound": f"<= {bound:g}x", "value": None, "pass": False}
    scale, unit = (1e3, "ms") if key == "median_s" else (1 / MB, "MB")
    value = f"{result[key] * scale:.1f} / {reference[key] * scale:.1f} {unit} = {_ratio(result, reference, key)}x"
    return {
        "target": name,
        "bound": f"<= {bound:g}x",
        "value": value,
        "pass": result[key] <= bound * reference[key],
    }


def _find(results: list[dict], impl: str, two_n: int, chunk_size: int | None = None) -> dict | None:
    """The successful measurement of a case, or None."""
    for result in results:
        if (result["impl"], result["two_n"], result["chunk_size"]) == (impl, two_n, chunk_size):
            return None if "error" in result else result
    return None


# ---------------------------------------------------------------------------------------
# Report


def format_check(rows: list[dict]) -> str:
    """The equivalence check as a markdown table."""
    lines = [
        f"| implementation | loss | abs loss diff vs {NAIVE} | rel max grad diff vs {NAIVE} | ok |",
        "|---|---:|---:|---:|:---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['implementation']} | {row['loss']:.6f} | {row['abs_loss_diff']:.1e} | "
            f"{row['rel_max_grad_diff']:.1e} | {'yes' if row['ok'] else 'NO'} |"
        )
    return "\n".join(lines)


def format_results(results: list[dict], estimate: dict) -> str:
    """One row per measurement, with time and memory ratios to naive and lightly."""
    lines = [
        "| 2N | implementation | median fwd+bwd (ms) | min (ms) | runs | peak memory (MB) | "
        f"time / {NAIVE} | memory / {NAIVE} | time / {LIGHTLY} | memory / {LIGHTLY} |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for result in sorted(results, key=lambda r: (r["two_n"], r["chunk_size"] is not None)):
        if "error" in result:
            lines.append(f"| {result['two_n']} | {result['label']} | failed: {result['error']} ||||||||")
            continue
        naive = _find(results, NAIVE, result["two_n"])
        lightly = _find(results, LIGHTLY, result["two_n"])
        lines.append(
            f"| {result['two_n']} | {result['label']} | {result['median_s'] * 1e3:.1f} | "
            f"{min(result['times_s']) * 1e3:.1f} | {len(result['times_s'])} | "
            f"{result['peak_rss_increase_bytes'] / MB:.1f} | "
            f"{_ratio(result, naive, 'median_s')} | {_ratio(result, naive, 'peak_rss_increase_bytes')} | "
            f"{_ratio(result, lightly, 'median_s')} | {_ratio(result, lightly, 'peak_rss_increase_bytes')} |"
        )
    if "peak_rss_increase_bytes" in estimate:
        lines.append(
            f"| {estimate['two_n']} | {SYMCL} (dense, ESTIMATED, not run) | "
            f"~{estimate['median_s'] * 1e3:.0f} | — | — | ~{estimate['peak_rss_increase_bytes'] / MB:.0f} | "
            "— | — | — | — |"
        )
    return "\n".join(lines)


def _ratio(result: dict, reference: dict | None, key: str) -> str:
    """``result[key] / reference[key]`` to two decimals, or a dash when undefined."""
    if reference is None or reference[key] <= 0:
        return "—"
    return f"{result[key] / reference[key]:.2f}"


def format_targets(targets: list[dict]) -> str:
    """The targets with PASS/FAIL as a markdown table."""
    lines = ["| target | bound | measured | result |", "|---|---|---|:---:|"]
    for target in targets:
        lines.append(
            f"| {target['target']} | {target['bound']} | {target['value'] or 'not measured'} | "
            f"{'PASS' if target['pass'] else 'FAIL'} |"
        )
    return "\n".join(lines)


def format_estimate(estimate: dict, chunked: dict | None) -> str:
    """The analytic matrix size and the extrapolated dense peak, labelled as estimates."""
    text = (
        f"One {estimate['two_n']}x{estimate['two_n']} float32 matrix is "
        f"{estimate['one_matrix_bytes'] / GB:.2f} GB (analytic)."
    )
    if "peak_rss_increase_bytes" in estimate:
        basis = " and ".join(map(str, estimate["from_two_n"]))
        text += (
            f" ESTIMATED dense symcl peak at 2N={estimate['two_n']}: "
            f"~{estimate['peak_rss_increase_bytes'] / GB:.1f} GB (~{estimate['matrices']:.1f} such matrices), "
            f"extrapolated as a + b (2N)² through the dense runs at 2N = {basis}; not run."
        )
        if chunked is not None and chunked["peak_rss_increase_bytes"] > 0:
            ratio = estimate["peak_rss_increase_bytes"] / chunked["peak_rss_increase_bytes"]
            text += f" That is ~{ratio:.0f}x the measured chunked peak."
    return text


def environment(reasons: dict[str, str]) -> dict:
    """Versions of the software measured, and why optional implementations are missing."""
    versions = {"python": platform.python_version(), "torch": torch.__version__}
    for distribution in OPTIONAL_DISTRIBUTIONS:
        try:
            versions[distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[distribution] = None
    return {
        "versions": versions,
        "threads": NUM_THREADS,
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg()[0],
        "unavailable": reasons,
    }


def run_benchmark(config: Config, output: Path) -> int:
    """Check equivalence, measure every case, print the report and write the JSON."""
    torch.set_num_threads(NUM_THREADS)
    reasons = unavailable_reasons()
    impls = [impl for impl in IMPLEMENTATIONS if impl not in reasons]
    env = environment(reasons)
    print(
        f"torch {torch.__version__}, {NUM_THREADS} threads on {env['cpus']} CPUs "
        f"(load average {env['load_average_at_start']:.2f} at start), d={config.dim}, temperature={TEMPERATURE}"
    )
    if env["load_average_at_start"] > BUSY_LOAD:
        print("NOTE: other processes are using the CPUs; timings will be noisy (see the min column).")
    for impl, reason in reasons.items():
        print(f"NOTE: {impl} is not importable, skipped: {reason}")

    print(f"\n## Equivalence check (2N={config.check_two_n})\n")
    check = check_equivalence(impls, config)
    print(format_check(check))
    if not all(row["ok"] for row in check):
        print("\nImplementations disagree; timings would compare different losses. Stopping.")
        return 1

    print("\n## Measurements (each in its own subprocess)\n")
    cases, notes = plan(impls, config)
    results = [measure(case) for case in cases]
    estimate = estimate_dense(results, config)
    targets = evaluate_targets(results, config)
    chunked = _find(results, SYMCL, config.chunked_two_n, config.chunk_size)

    print("\n## Forward + backward\n")
    print(format_results(results, estimate))
    print()
    for note in [*notes, format_estimate(estimate, chunked)]:
        print(f"NOTE: {note}")
    if config is QUICK:
        print("NOTE: --quick run: targets are checked at reduced sizes, not the issue's sizes.")
    print("\n## Targets\n")
    print(format_targets(targets))

    output.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "config": asdict(config),
        "quick": config is QUICK,
        "environment": env,
        "equivalence": check,
        "results": results,
        "notes": notes,
        "dense_estimate": estimate,
        "targets": targets,
    }
    output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nWrote {output}")
    return 0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only (smoke run)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results path")
    # Internal: one measurement in this process (used by the parent run).
    parser.add_argument("--worker", choices=IMPLEMENTATIONS, help=argparse.SUPPRESS)
    parser.add_argument("--two-n", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--dim", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--chunk-size", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker is not None:
        print(json.dumps(run_worker(Case(args.worker, args.two_n, args.dim, args.chunk_size))))
        return 0
    return run_benchmark(QUICK if args.quick else FULL, args.output)


if __name__ == "__main__":
    sys.exit(main())

"""Code run inside spawned gloo processes by the distributed tests.

Each worker builds the same model and global batch from a seed, keeps its rank's
slice, and writes what it computed to ``out_dir`` for the test to compare.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.distributed as dist
from safetensors.torch import save_file
from torch import nn
from torch.utils.data import TensorDataset

from symcl import InfoNCE, LearnableTemperature, NegativeQueue
from symcl.distributed import SyncBatchNorm, average_gradients, exit_without_finalising
from symcl.views import ViewBatch

N_GLOBAL, DIM_IN, DIM = 8, 6, 5
OPTIONS = {
    "plain": dict(),
    "all": dict(hard_negative_beta=0.5, debias_tau_plus=0.05, chunk_size=3),
    "learnable temperature": dict(learnable=True),
    "nearby samples excluded": dict(nearby=True),
}
EXCLUSION_DISTANCE = 4


@contextmanager
def gloo_group(rank: int, world: int, init_file: str) -> Iterator[None]:
    """The block runs in a gloo process group; at its end every rank waits for the others, then leaves.

    The barrier keeps a rank from tearing gloo down while another still talks to it.
    """
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        yield
        dist.barrier()
    finally:
        dist.destroy_process_group()


def make_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(DIM_IN, 16), SyncBatchNorm(16), nn.ReLU(), nn.Linear(16, DIM)).double()


def make_batch():
    g = torch.Generator().manual_seed(1)
    x1 = torch.randn(N_GLOBAL, DIM_IN, generator=g, dtype=torch.float64)
    x2 = x1 + 0.3 * torch.randn(N_GLOBAL, DIM_IN, generator=g, dtype=torch.float64)
    local_excludes = torch.rand(2, N_GLOBAL // 2, N_GLOBAL // 2, generator=g) < 0.4
    groups = torch.randint(0, 3, (N_GLOBAL,), generator=g)
    bank = torch.randn(6, DIM, generator=g, dtype=torch.float64)
    bank_groups = torch.randint(0, 3, (6,), generator=g)
    # (source, position): pairs on different ranks are close too, which the ranks' own masks miss
    locations = torch.stack(
        [torch.randint(0, 2, (N_GLOBAL,), generator=g), torch.randint(0, 6, (N_GLOBAL,), generator=g)], 1
    )
    return x1, x2, local_excludes, groups, bank, bank_groups, locations


def nearby_options(options: dict, locations) -> dict:
    """The loss's keyword arguments for the samples' locations, when the option asks for them."""
    return dict(locations=locations, exclusion_distance=EXCLUSION_DISTANCE) if options.get("nearby") else {}


def make_loss(options: dict, bank, bank_groups) -> InfoNCE:
    queue = NegativeQueue(16, DIM).double()
    queue.enqueue(bank, bank_groups)
    options = dict(options)
    options.pop("nearby", None)
    temperature = LearnableTemperature(0.2).double() if options.pop("learnable", False) else 0.2
    return InfoNCE(temperature, queue=queue, **options)


def global_negatives_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    with gloo_group(rank, world, init_file):
        x1, x2, local_excludes, groups, bank, bank_groups, locations = make_batch()
        n = N_GLOBAL // world
        mine = slice(rank * n, (rank + 1) * n)
        for name, options in OPTIONS.items():
            model = nn.parallel.DistributedDataParallel(make_model())
            loss_fn = make_loss(options, bank, bank_groups)
            nearby = nearby_options(options, locations[mine])
            loss = loss_fn(
                model(x1[mine]), model(x2[mine]), exclude=local_excludes[rank], groups=groups[mine], **nearby
            )
            loss.backward()
            average_gradients(loss_fn.parameters())  # as fit does: DDP owns only the model
            value = loss.detach().clone()
            dist.all_reduce(value)
            results = {f"grad.{k}": p.grad for k, p in model.module.named_parameters()}
            results |= {f"objective_grad.{k}": p.grad for k, p in loss_fn.named_parameters()}
            results["loss"] = value / world
            results["queue"] = loss_fn.queue.negatives()
            results["running_mean"] = model.module[1].running_mean
            save_file(
                {k: v.contiguous() for k, v in results.items()}, os.path.join(out_dir, f"{name}.rank{rank}.safetensors")
            )
    exit_without_finalising(0)  # skips a gloo teardown race of torch (see its docstring)


def embed_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """Embeds 11 samples (an uneven split) as an array, a list of samples and an (input, label) dataset."""
    import symcl

    with gloo_group(rank, world, init_file):
        torch.manual_seed(0)
        model = nn.Linear(4, 3)
        data = torch.arange(44, dtype=torch.float32).view(11, 4)
        results = {
            "array": torch.from_numpy(symcl.embed(model, data, batch_size=2, progress=False)),
            "list": torch.from_numpy(symcl.embed(model, list(data), batch_size=2, progress=False)),
            "dataset": torch.from_numpy(
                symcl.embed(model, TensorDataset(data, torch.arange(11)), batch_size=2, progress=False)
            ),
        }
        save_file(results, os.path.join(out_dir, f"embed.rank{rank}.safetensors"))
    exit_without_finalising(0)  # skips a gloo teardown race of torch (see its docstring)


def protein_batch():
    """z1, z2 (8, 5) float64 and a batch whose near pairs fall unevenly on the two ranks."""
    g = torch.Generator().manual_seed(2)
    z1, z2 = (torch.randn(N_GLOBAL, DIM, generator=g, dtype=torch.float64) for _ in range(2))
    target = torch.tensor([0.05, 0.1, 0.15, 0.9, 0.02, 3.0, 3.0, 0.12])  # 3 near on rank 0, 2 on rank 1
    family = torch.tensor([0, 1, 0, 2, 0, 1, 2, 1])
    locations = torch.stack([family, torch.zeros_like(family)], 1)
    return z1, z2, target, family, locations


def protein_batch_for(rows, target, family, locations) -> ViewBatch:
    return ViewBatch(
        None,
        None,
        exclude=family[rows][:, None] == family[rows][None, :],
        target=target[rows],
        locations=locations[rows],
        exclusion_distance=1,
    )


def protein_contrastive_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    from symcl.domains.protein import DistanceRegression

    with gloo_group(rank, world, init_file):
        z1, z2, target, family, locations = protein_batch()
        n = N_GLOBAL // world
        mine = slice(rank * n, (rank + 1) * n)
        a, b = z1[mine].clone().requires_grad_(), z2[mine].clone().requires_grad_()
        loss = DistanceRegression(contrastive_weight=1.0)(a, b, protein_batch_for(mine, target, family, locations))
        loss.backward()
        results = {"loss": loss.detach(), "grad1": a.grad, "grad2": b.grad}
        save_file(
            {k: v.contiguous() for k, v in results.items()}, os.path.join(out_dir, f"protein.rank{rank}.safetensors")
        )
    exit_without_finalising(0)  # skips a gloo teardown race of torch (see its docstring)


def sync_batchnorm_float32_worker(rank: int, world: int, init_file: str, out_dir: str) -> None:
    """float32 features far from zero against their spread; each rank normalises its half with SyncBatchNorm."""
    with gloo_group(rank, world, init_file):
        features = float32_features_far_from_zero()
        half = features.shape[0] // world
        out = SyncBatchNorm(features.shape[1])(features[rank * half : (rank + 1) * half])
        mismatch = ""
        try:  # ranks sending tensors of different widths must be refused on every rank
            from symcl.distributed import gather

            gather(torch.zeros(2, 3 + rank))
        except ValueError as error:
            mismatch = str(error)
        save_file({"out": out.detach()}, os.path.join(out_dir, f"bn.rank{rank}.safetensors"))
        with open(os.path.join(out_dir, f"gather.rank{rank}.txt"), "w") as handle:
            handle.write(mismatch)
    exit_without_finalising(0)  # skips a gloo teardown race of torch (see its docstring)


def float32_features_far_from_zero() -> torch.Tensor:
    generator = torch.Generator().manual_seed(4)
    return (torch.randn(256, 4, generator=generator) + 4000.0).float()

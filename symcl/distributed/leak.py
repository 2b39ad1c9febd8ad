"""The batch-norm leak: can a linear probe tell which device an embedding came from?

With per-device batch norm, every embedding carries the statistics of the sub-batch it
was normalised with. A contrastive model trained with global negatives learns to use
that signature, since a sample's positive always shares its device and most negatives
do not. Synchronised batch norm gives every sample the same statistics, and the
signature disappears.

The check runs in one process: :class:`SimulatedDevices` splits each batch into
``ranks`` sub-batches and normalises each with its own statistics, which is exactly
what per-device batch norm does on ``ranks`` real devices; without the split the
statistics are those of the global batch, as with :class:`~symcl.distributed.SyncBatchNorm`
(whose equivalence to a single global batch is tested across real gloo processes).
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from torch import Tensor, nn
from tqdm.auto import tqdm

from symcl.objectives import info_nce
from symcl.toy import RingBlobs


class SimulatedDevices(nn.Module):
    """Runs ``model`` on ``ranks`` equal sub-batches, as ``ranks`` devices would, and concatenates."""

    def __init__(self, model: nn.Module, ranks: int):
        super().__init__()
        self.model, self.ranks = model, ranks

    def forward(self, x: Tensor) -> Tensor:
        return torch.cat([self.model(part) for part in x.chunk(self.ranks)])


def bn_leak(
    *,
    ranks: int = 2,
    batch_per_rank: int = 64,
    steps: int = 300,
    probe_batches: int = 20,
    seed: int = 0,
    progress: bool = False,
) -> dict[str, float]:
    """Device-probe accuracy of an encoder trained with per-device vs synchronised batch norm.

    Trains the same small batch-norm encoder twice on the toy ring data (``symcl.toy``)
    with InfoNCE over the global batch of ``ranks * batch_per_rank`` samples, each
    device embedding both views of its samples in one pass as in SimCLR: once with
    per-device statistics, once with synchronised ones. Then, for held-out global
    batches, the same 256 probe samples are embedded once per device, normalised with
    that device's batch statistics (with synchronised statistics, all devices share
    the global ones). A logistic regression fitted on 128 of the samples predicts, for
    the other 128, which device's statistics they carry. Chance is ``1 / ranks``.

    Returns
    -------
    dict
        ``per_device`` and ``synchronised`` probe accuracies, and ``chance``.
    """
    if ranks < 2:
        raise ValueError(f"The 'ranks' parameter of bn_leak must be >= 2. Got {ranks} instead.")
    return {
        "per_device": _probe_after_training(ranks, ranks, batch_per_rank, steps, probe_batches, seed, progress),
        "synchronised": _probe_after_training(1, ranks, batch_per_rank, steps, probe_batches, seed, progress),
        "chance": 1.0 / ranks,
    }


def _probe_after_training(
    stat_groups: int, ranks: int, batch_per_rank: int, steps: int, probe_batches: int, seed: int, progress: bool
) -> float:
    torch.manual_seed(seed)
    views = RingBlobs(length=32, seed=seed)
    encoder = nn.Sequential(
        nn.Linear(32, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 64), nn.BatchNorm1d(64), nn.ReLU(),
        nn.Linear(64, 16),
    )  # fmt: skip
    model = SimulatedDevices(encoder, stat_groups)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    for _ in tqdm(range(steps), desc="bn-leak", disable=not progress):
        batch = views.sample(ranks * batch_per_rank, generator)
        # As in SimCLR, each device embeds both views of its samples in one pass.
        pairs = torch.stack([batch.view1, batch.view2], dim=1).reshape(2 * len(batch.view1), -1)
        z = model(pairs).reshape(len(batch.view1), 2, -1)
        loss = info_nce(z[:, 0], z[:, 1], temperature=0.1)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return _device_probe(model, views, ranks, batch_per_rank, probe_batches, seed)


@torch.no_grad()
def _device_probe(
    model: SimulatedDevices, views: RingBlobs, ranks: int, batch_per_rank: int, probe_batches: int, seed: int
) -> float:
    """Embed the same probe samples with each device's batch statistics; can a probe tell them apart?"""
    generator = torch.Generator().manual_seed(seed + 12345)
    encoder, per_device = model.model, model.ranks > 1
    accuracies = []
    for _ in range(probe_batches):
        batch = views.sample(ranks * batch_per_rank, generator).view1
        probe = views.sample(256, generator).view1
        embeddings = []
        for part in batch.chunk(ranks) if per_device else [batch] * ranks:
            _adopt_batch_statistics(encoder, part)
            z = encoder.eval()(probe)
            embeddings.append((z / z.norm(dim=1, keepdim=True)).numpy())
        train = np.arange(256) < 128  # the probe is scored on samples it never saw
        x_train = np.concatenate([z[train] for z in embeddings])
        x_test = np.concatenate([z[~train] for z in embeddings])
        y = np.repeat(np.arange(ranks), 128)
        accuracies.append(LogisticRegression(max_iter=2000).fit(x_train, y).score(x_test, y))
    return float(np.mean(accuracies))


def _adopt_batch_statistics(encoder: nn.Module, batch: Tensor) -> None:
    """Set every batch-norm layer's running statistics to those of ``batch`` (momentum 1)."""
    layers = [m for m in encoder.modules() if isinstance(m, nn.BatchNorm1d)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 1.0
    encoder.train()(batch)
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum

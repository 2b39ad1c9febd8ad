"""With 2 gloo processes, protein's contrastive term equals the single-process one."""

import pytest
import torch
import torch.multiprocessing as mp
from dist_workers import N_GLOBAL, protein_batch, protein_batch_for, protein_contrastive_worker
from safetensors.torch import load_file

from symcl.domains.protein import DistanceRegression


@pytest.mark.slow
def test_two_ranks_give_the_full_batch_loss_and_gradients(tmp_path):
    mp.spawn(protein_contrastive_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    z1, z2, target, family, locations = protein_batch()
    a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
    loss = DistanceRegression(contrastive_weight=1.0)(a, b, protein_batch_for(slice(None), target, family, locations))
    loss.backward()
    ranks = [load_file(str(tmp_path / f"protein.rank{r}.safetensors")) for r in range(2)]
    # What DDP would see: the ranks' losses and gradients averaged (each rank holds its rows).
    assert abs(sum(r["loss"].item() for r in ranks) / 2 - loss.item()) <= 1e-9
    half = N_GLOBAL // 2
    for r, got in enumerate(ranks):
        rows = slice(r * half, (r + 1) * half)
        torch.testing.assert_close(got["grad1"] / 2, a.grad[rows], rtol=0, atol=1e-9)
        torch.testing.assert_close(got["grad2"] / 2, b.grad[rows], rtol=0, atol=1e-9)

"""With 2 gloo processes, loss and gradients equal the single-process full batch."""

import pytest
import torch
import torch.multiprocessing as mp
from dist_workers import OPTIONS, global_negatives_worker, make_batch, make_loss, make_model, nearby_options
from safetensors.torch import load_file


def _single_process(options):
    x1, x2, local_excludes, groups, bank, bank_groups, locations = make_batch()
    model = make_model()
    loss_fn = make_loss(options, bank, bank_groups)
    exclude = torch.block_diag(*local_excludes.to(torch.uint8)).bool()
    loss = loss_fn(model(x1), model(x2), exclude=exclude, groups=groups, **nearby_options(options, locations))
    loss.backward()
    grads = {f"grad.{k}": p.grad for k, p in model.named_parameters()}
    grads |= {f"objective_grad.{k}": p.grad for k, p in loss_fn.named_parameters()}
    return loss.detach(), grads, loss_fn.queue.negatives(), model[1]


@pytest.mark.slow
def test_two_ranks_match_the_full_batch_to_1e_6(tmp_path):
    mp.spawn(global_negatives_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for name, options in OPTIONS.items():
        loss, grads, queue, batch_norm = _single_process(options)
        for rank in range(2):
            got = load_file(str(tmp_path / f"{name}.rank{rank}.safetensors"))
            assert abs(got["loss"].item() - loss.item()) <= 1e-6, name
            assert got.keys() >= grads.keys()  # the model's and the objective's own (a learnable temperature)
            for key, grad in grads.items():
                assert (got[key] - grad).abs().max().item() <= 1e-6, (name, key)
            # The queue was filled with the gathered keys: the same on both ranks.
            torch.testing.assert_close(got["queue"], queue, rtol=0, atol=1e-12)
            torch.testing.assert_close(got["running_mean"], batch_norm.running_mean, rtol=0, atol=1e-12)

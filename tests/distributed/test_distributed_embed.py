import torch
import torch.multiprocessing as mp
from dist_workers import embed_worker
from safetensors.torch import load_file
from torch import nn


def test_sharded_embedding_is_merged_in_input_order_on_every_rank(tmp_path):
    mp.spawn(embed_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    with torch.no_grad():
        expected = model(torch.arange(44, dtype=torch.float32).view(11, 4))
    for rank in range(2):
        got = load_file(str(tmp_path / f"embed.rank{rank}.safetensors"))
        for key in ("array", "list", "dataset"):
            torch.testing.assert_close(got[key], expected)


def test_sync_batchnorm_in_float32_matches_full_batch_norm_and_gather_refuses_other_shapes(tmp_path):
    from dist_workers import float32_features_far_from_zero, sync_batchnorm_float32_worker

    mp.spawn(sync_batchnorm_float32_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    features = float32_features_far_from_zero()
    expected = nn.functional.batch_norm(features.double(), None, None, training=True).float()
    got = torch.cat([load_file(str(tmp_path / f"bn.rank{rank}.safetensors"))["out"] for rank in range(2)])
    torch.testing.assert_close(got, expected, atol=2e-3, rtol=0)  # E[x²] - E[x]² gave errors near 1.5
    for rank in range(2):
        message = (tmp_path / f"gather.rank{rank}.txt").read_text()
        assert message.startswith("All ranks must gather tensors of one shape and dtype. Got shapes [(2, 3), (2, 4)]")


def test_converting_to_sync_batchnorm_keeps_mode_and_frozen_parameters():
    from symcl.distributed import convert_sync_batchnorm

    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4)).eval()
    model[1].weight.requires_grad_(False)
    weight = model[1].weight
    converted = convert_sync_batchnorm(model)
    assert not converted[1].training and converted[1].weight is weight and not converted[1].weight.requires_grad

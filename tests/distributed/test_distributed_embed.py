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
        for key in ("array", "list"):
            torch.testing.assert_close(got[key], expected)

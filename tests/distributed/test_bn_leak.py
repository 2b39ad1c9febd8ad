import pytest
import torch
from torch import nn

from symcl.distributed.leak import SimulatedDevices, bn_leak


def test_simulated_devices_normalise_each_sub_batch_on_its_own():
    norm = SimulatedDevices(nn.BatchNorm1d(3, affine=False), ranks=2).train()
    x = torch.randn(8, 3) + torch.tensor([[5.0]] * 4 + [[-5.0]] * 4)
    out = norm(x)
    torch.testing.assert_close(out[:4].mean(0), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out[4:].mean(0), torch.zeros(3), atol=1e-5, rtol=0)


def test_per_device_batch_norm_leaks_the_device_and_synchronised_does_not():
    result = bn_leak(ranks=2, batch_per_rank=4, steps=20, probe_batches=2)
    assert result["chance"] == 0.5
    assert result["synchronised"] == pytest.approx(0.5)  # one set of statistics: nothing to find
    assert result["per_device"] > 0.7


def test_bn_leak_needs_two_ranks():
    with pytest.raises(ValueError, match="'ranks' parameter of bn_leak must be >= 2. Got 1"):
        bn_leak(ranks=1)

"""The shared sequence-encoder layers."""

import pytest
import torch

from symcl.layers import ChannelNorm, ResidualBlock, check_sizes


def test_channel_norm_normalises_each_position_over_channels():
    x = torch.randn(3, 8, 11) * 5 + 2
    y = ChannelNorm(8)(x)
    assert torch.allclose(y.mean(dim=1), torch.zeros(3, 11), atol=1e-5)
    assert torch.allclose(y.var(dim=1, unbiased=False), torch.ones(3, 11), atol=1e-3)


def test_residual_block_keeps_length_and_only_adds_at_sequence_positions():
    torch.manual_seed(0)
    block = ResidualBlock(4, kernel_size=5, dilation=2)
    x = torch.randn(2, 4, 9)
    mask = torch.ones(2, 1, 9)
    mask[1, :, 6:] = 0
    y = block(x, mask)
    assert y.shape == x.shape
    assert torch.equal(y[1, :, 6:], x[1, :, 6:])
    assert not torch.equal(y[0], x[0])


def test_residual_block_output_does_not_depend_on_the_padding():
    torch.manual_seed(0)
    block = ResidualBlock(4, kernel_size=5, dilation=2)
    with torch.no_grad():  # a trained norm has a bias; a fresh one's zero would hide a leak
        block.norm.norm.bias.normal_()
    x = torch.randn(1, 4, 6)
    padded = torch.cat([x, torch.zeros(1, 4, 5)], dim=2)
    mask = torch.cat([torch.ones(1, 1, 6), torch.zeros(1, 1, 5)], dim=2)
    torch.testing.assert_close(block(padded, mask)[..., :6], block(x, torch.ones(1, 1, 6)), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("sizes", "odd", "message"),
    [
        ((("dim", 0, 1),), (), "'dim' parameter of Enc must be an integer >= 1. Got 0 instead."),
        ((("dim", True, 1),), (), "'dim' parameter of Enc must be an integer >= 1. Got True instead."),
        ((("kernel_size", 4, 1),), ("kernel_size",), "'kernel_size' parameter of Enc must be odd"),
    ],
)
def test_check_sizes_names_parameter_rule_and_value(sizes, odd, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_sizes("Enc", sizes, odd=odd)


def test_check_sizes_accepts_valid_sizes_and_returns_plain_ints():
    import numpy as np

    sizes = check_sizes("Enc", (("blocks", 0, 0), ("kernel_size", np.int64(9), 1)), odd=("kernel_size",))
    assert sizes == [0, 9] and all(type(size) is int for size in sizes)

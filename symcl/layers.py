"""Layers shared by the domains' 1-D sequence encoders (DNA and protein CNNs).

Both work on padded batches of shape (B, C, L) with a mask (B, 1, L) that is 1 at
sequence positions and 0 at padding; nothing here uses batch statistics, so an
embedding never depends on the other sequences in its batch.
"""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of each position. Shape: (B, C, L) -> (B, C, L)."""

    def __init__(self, channels: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


class ResidualBlock(nn.Module):
    """Pre-norm residual block ``x + conv(gelu(norm(x)))``, dilated 'same' convolution, padding kept at 0."""

    def __init__(self, channels: int, kernel_size: int, dilation: int):
        super().__init__()
        self.norm = ChannelNorm(channels)
        self.conv = nn.Conv1d(channels, channels, kernel_size, dilation=dilation, padding=dilation * (kernel_size // 2))

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        """Shapes: x (B, C, L), mask (B, 1, L) -> (B, C, L), zero at padding."""
        return x + self.conv(F.gelu(self.norm(x))) * mask

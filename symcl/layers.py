"""Layers shared by the domains' 1-D sequence encoders (DNA and protein CNNs).

Both work on padded batches of shape (B, C, L) with a mask (B, 1, L) that is 1 at
sequence positions and 0 at padding; nothing here uses batch statistics, so an
embedding never depends on the other sequences in its batch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from torch import Tensor, nn
from torch.nn import functional as F

from symcl.checks import as_integer


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
        # The norm's bias makes gelu(norm(0)) non-zero at padding: masked, or the
        # convolution would read it into the sequence's last positions.
        return x + self.conv(F.gelu(self.norm(x)) * mask) * mask


def check_sizes(owner: str, sizes: Iterable[tuple[str, object, int]], *, odd: Collection[str] = ()) -> list[int]:
    """Check the integer size options of a layer or encoder; returns them as Python ints.

    Parameters
    ----------
    owner : str
        The class whose constructor is checked, for the message.
    sizes : iterable of (name, value, minimum)
        Each value must be an integer (a Python or numpy one, not a bool) >= its minimum.
    odd : collection of str
        Names whose value must also be odd (centred convolution windows).

    Returns
    -------
    list of int
        The values in the order given, as plain ints (JSON-ready for the model's config).

    Raises
    ------
    ValueError
        Naming the parameter, the rule and the value.
    """
    checked = []
    for name, value, low in sizes:
        number = as_integer(value)
        if number is None or number < low:
            raise ValueError(f"The '{name}' parameter of {owner} must be an integer >= {low}. Got {value!r} instead.")
        if name in odd and number % 2 == 0:
            raise ValueError(f"The '{name}' parameter of {owner} must be odd (a centred window). Got {value} instead.")
        checked.append(number)
    return checked

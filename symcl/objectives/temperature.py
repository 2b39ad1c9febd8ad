"""A learnable softmax temperature, log-parameterised and clamped (CLIP style)."""

from __future__ import annotations

import math

import torch
from torch import nn


class LearnableTemperature(nn.Module):
    """Softmax temperature learned jointly with the encoder.

    The parameter is ``log(tau)``, so gradient steps are multiplicative and the
    temperature stays positive. The parameter is clamped to ``[minimum, maximum]``; CLIP
    (Radford et al. 2021) clamps its logit scale at 100, i.e. a temperature of 0.01,
    because smaller values make the softmax unstable.

    Pass the module wherever a float temperature is accepted, e.g.
    ``info_nce(z1, z2, temperature=LearnableTemperature())``.

    Parameters
    ----------
    initial : float
        Starting temperature (0.07 as in CLIP and MoCo).
    minimum, maximum : float
        The safe range the temperature is clamped to.
    """

    def __init__(self, initial: float = 0.07, *, minimum: float = 0.01, maximum: float = 1.0):
        super().__init__()
        if not (math.isfinite(minimum) and math.isfinite(maximum) and 0 < minimum < maximum):
            raise ValueError(
                "The 'minimum' and 'maximum' parameters of LearnableTemperature must satisfy "
                f"0 < minimum < maximum. Got minimum={minimum!r}, maximum={maximum!r} instead."
            )
        if not (math.isfinite(initial) and minimum <= initial <= maximum):
            raise ValueError(
                "The 'initial' parameter of LearnableTemperature must lie in "
                f"[{minimum}, {maximum}]. Got {initial!r} instead."
            )
        self.minimum = float(minimum)
        self.maximum = float(maximum)
        self.log_temperature = nn.Parameter(torch.tensor(math.log(initial)))

    def forward(self) -> torch.Tensor:
        """Return the current temperature as a 0-dim tensor that carries gradients."""
        # Project the parameter itself back into range, as CLIP does after each step:
        # clamping only the value would give it zero gradient there, and it could never
        # come back once a step had pushed it out.
        low, high = math.log(self.minimum), math.log(self.maximum)
        if not low <= self.log_temperature.item() <= high:
            with torch.no_grad():
                self.log_temperature.clamp_(low, high)
        return self.log_temperature.exp()

    def extra_repr(self) -> str:
        return f"value={float(self()):.4g}, minimum={self.minimum}, maximum={self.maximum}"

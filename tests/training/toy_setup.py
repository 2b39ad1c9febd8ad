"""Small training set-ups shared by the engine tests."""

import torch
from torch import nn

from symcl import alignment
from symcl.toy import RingBlobs, mlp_encoder
from symcl.training import TrainConfig, contrastive_objective, seed_everything


def toy_run(steps=60, **config_overrides):
    """Model, views, objective (queue + learnable temperature) and config, freshly seeded."""
    seed_everything(0)
    views = RingBlobs(n_classes=4, length=16)
    model = mlp_encoder(16, dim=8, hidden=32)
    objective = contrastive_objective(8, temperature=0.2, learnable_temperature=True, queue_size=48)
    settings = dict(steps=steps, batch_size=16, eval_every=10, eval_batch_size=64, checkpoint_every=10, warmup_steps=5)
    settings.update(config_overrides)
    return model, views, objective, TrainConfig(**settings)


class AlignmentOnly(nn.Module):
    """An objective without negatives: it improves alignment by collapsing everything."""

    def forward(self, z1, z2, batch):
        return alignment(z1, z2)


class NaNAt(nn.Module):
    """Wraps an objective and returns NaN from the given (1-based) step on."""

    def __init__(self, objective, step):
        super().__init__()
        self.objective, self.step, self.calls = objective, step, 0

    def forward(self, z1, z2, batch):
        self.calls += 1
        loss = self.objective(z1, z2, batch)
        return loss * torch.nan if self.calls >= self.step else loss


class NaNGradientAt(NaNAt):
    """Wraps an objective whose loss stays finite but whose gradients are NaN from the given step on."""

    def forward(self, z1, z2, batch):
        self.calls += 1
        loss = self.objective(z1, z2, batch)
        if self.calls < self.step:
            return loss
        return loss + (z1 - z1.detach()).square().sum().sqrt()  # adds 0; its gradient at 0 is NaN

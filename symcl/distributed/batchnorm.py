"""Batch normalisation with statistics over the global batch, on CPU (gloo) and CUDA.

Per-device batch norm lets a contrastive model tell negatives apart by the statistics
of the device they were computed on, instead of by their content. Synchronising the
statistics removes that signature. ``torch.nn.SyncBatchNorm`` refuses CPU tensors, so
CPU runs use :class:`SyncBatchNorm` below, which all-reduces the per-channel sums.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from symcl.distributed.context import world_size

_TORCH_BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


class _AllReduceSum(torch.autograd.Function):
    """Sum over ranks; its gradient is again a sum over ranks (every rank uses the total)."""

    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        x = x.clone()
        dist.all_reduce(x, op=dist.ReduceOp.SUM)
        return x

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        grad = grad.clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        return grad


class SyncBatchNorm(nn.Module):
    """Batch norm over the union of all ranks' batches; a plain batch norm in one process.

    Accepts (N, C), (N, C, L) and (N, C, H, W) inputs, and has the parameters and
    buffers of ``torch.nn.BatchNorm*d`` under the same names, so weights move freely
    between the two. Running statistics use the unbiased global variance.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1, affine: bool = True):
        super().__init__()
        self.num_features, self.eps, self.momentum, self.affine = num_features, eps, momentum, affine
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features))
            self.bias = nn.Parameter(torch.zeros(num_features))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(
                f"SyncBatchNorm expects an input of shape (N, {self.num_features}, ...). Got {tuple(x.shape)} instead."
            )
        if not self.training or world_size() == 1:
            if self.training:
                self.num_batches_tracked += 1
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, self.training, self.momentum, self.eps
            )
        dims = [0] + list(range(2, x.dim()))
        channels = x.shape[1]
        shape = [1, channels] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / channels], dtype=x.dtype, device=x.device)
        # Two passes (the mean, then the squared deviations from it): E[x²] - E[x]² loses
        # every digit in float32 when the mean is large against the spread.
        sums = _AllReduceSum.apply(torch.cat([x.sum(dims), count]))
        total = sums[-1]
        mean = sums[:channels] / total
        centred = x - mean.view(shape)
        var = _AllReduceSum.apply((centred * centred).sum(dims)) / total
        with torch.no_grad():
            self.num_batches_tracked += 1
            self.running_mean.lerp_(mean.to(self.running_mean.dtype), self.momentum)
            self.running_var.lerp_((var * total / (total - 1)).to(self.running_var.dtype), self.momentum)
        out = centred * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def convert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every BatchNorm layer by a synchronised one, keeping its parameters.

    CUDA modules get ``torch.nn.SyncBatchNorm``; CPU modules get :class:`SyncBatchNorm`.
    """
    on_cuda = any(p.is_cuda for p in module.parameters())
    if on_cuda:
        return nn.SyncBatchNorm.convert_sync_batchnorm(module)
    return _convert_cpu(module)


def _convert_cpu(module: nn.Module) -> nn.Module:
    if isinstance(module, _TORCH_BATCH_NORMS):
        if not module.track_running_stats or module.momentum is None:
            raise ValueError(f"convert_sync_batchnorm needs running statistics with a fixed momentum. Got {module}.")
        synced = SyncBatchNorm(module.num_features, module.eps, module.momentum, module.affine)
        synced.load_state_dict(module.state_dict())
        synced = synced.to(module.running_mean.device, module.running_mean.dtype)
        if module.affine:  # the same Parameter objects: frozen stays frozen, an optimiser keeps them
            synced.weight, synced.bias = module.weight, module.bias
        return synced.train(module.training)
    for name, child in module.named_children():
        module.add_module(name, _convert_cpu(child))
    return module

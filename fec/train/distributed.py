"""Process-group set-up for torchrun, and batch norm over the global batch on any backend.

torchrun (or `fec-train --nproc N`, which wraps it) sets RANK, WORLD_SIZE and LOCAL_RANK; NCCL is used
on CUDA, gloo on CPU. PyTorch's SyncBatchNorm only runs on GPUs, so on CPU we use `GlobalBatchNorm`,
which all-reduces the batch statistics with a differentiable collective: with either, N processes
compute exactly what one process computes on the same global batch.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
from torch import nn


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistributedContext:
    """Join the process group torchrun describes in the environment; a single process needs none."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext()
    context = DistributedContext(int(os.environ["RANK"]), world_size, int(os.environ.get("LOCAL_RANK", "0")))
    if device_type == "cuda":
        torch.cuda.set_device(context.local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device_type == "cuda" else "gloo")
    return context


def shutdown_distributed() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def any_rank(flag: bool, context: DistributedContext) -> bool:
    """True on every rank when `flag` is true on any rank (keeps stop decisions in step)."""
    if not context.enabled:
        return flag
    value = torch.tensor([1.0 if flag else 0.0], device=collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item())


def collective_device() -> torch.device:
    """Where a tensor for a collective of this process group must live: NCCL reduces only CUDA tensors (a CPU
    tensor fails with "No backend type associated with device type cpu"), gloo CPU ones."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class GlobalBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm (1d or 2d) whose training statistics cover the batch of every process (works with gloo)."""

    def _check_input_dim(self, features: torch.Tensor) -> None:
        if features.dim() not in (2, 3, 4):
            raise ValueError(f"expected 2D, 3D or 4D input, got {features.dim()}D")

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return super().forward(features)
        channels = features.shape[1]
        reduce_dims = [0, *range(2, features.dim())]
        shape = [1, channels] + [1] * (features.dim() - 2)
        local_count = torch.full((1,), features.numel() / channels, device=features.device, dtype=features.dtype)
        # Two passes (mean, then squared deviations) like the native kernel: E[x^2] - E[x]^2 loses
        # precision to cancellation, which small batches then amplify step after step.
        totals = _sum_over_processes(torch.cat([features.sum(reduce_dims), local_count]))
        count = totals[-1]
        mean = totals[:channels] / count
        centered = features - mean.view(shape)
        var = _sum_over_processes(centered.pow(2).sum(reduce_dims)) / count
        self._update_running_stats(mean.detach(), var.detach() * count / (count - 1))
        normalized = centered / torch.sqrt(var.view(shape) + self.eps)
        return normalized * self.weight.view(shape) + self.bias.view(shape)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        self.num_batches_tracked += 1
        self.running_mean.lerp_(mean, self.momentum)
        self.running_var.lerp_(unbiased_var, self.momentum)


def _sum_over_processes(values: torch.Tensor) -> torch.Tensor:
    """All-reduce (sum) whose backward all-reduces the gradient too."""
    with warnings.catch_warnings():  # deprecated for a private module, but still the public autograd-aware op
        warnings.simplefilter("ignore", FutureWarning)
        return dist_nn.all_reduce(values)


def convert_batch_norm(model: nn.Module, device_type: str) -> nn.Module:
    """Swap batch norms for their all-process variant: SyncBatchNorm on CUDA, GlobalBatchNorm on CPU."""
    if device_type == "cuda":
        return nn.SyncBatchNorm.convert_sync_batchnorm(model)
    for name, child in model.named_children():
        if type(child) in (nn.BatchNorm1d, nn.BatchNorm2d):
            replacement = GlobalBatchNorm(child.num_features, child.eps, child.momentum)
            replacement.load_state_dict(child.state_dict())
            setattr(model, name, replacement)
        else:
            convert_batch_norm(child, device_type)
    return model

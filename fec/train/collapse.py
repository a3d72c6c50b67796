"""When fec-train warns that the embeddings collapsed: a spread under COLLAPSED_SPREAD at a validation, once
batch norm's running statistics describe the data.

Validation runs the model in eval mode, where batch norm normalises with its running statistics. They start
at mean 0 and variance 1 and move towards the data's by `momentum` (PyTorch's default 0.1) each training
step, so for the first few tens of steps eval mode normalises with the wrong statistics and the embeddings
look collapsed whatever the weights do. Measured on the demo recipe (AMD EPYC Zen 3, seed 0): validation
spread 0.001 at step 10 and 0.06 at step 20, then 0.46 at step 30 and 0.78 at step 40 (train mode at step
0: 1.30). A collapse judged before the statistics settle is theirs, not the embeddings'.
"""

from __future__ import annotations

import math

import torch

from fec.metrics import COLLAPSED_SPREAD

SETTLED_RESIDUAL = 0.05  # running statistics count as settled when their initial values weigh less than this


def batch_norm_settling_steps(model: torch.nn.Module) -> int:
    """Training steps until every batch norm's running statistics keep less than SETTLED_RESIDUAL of their initial
    values (29 at momentum 0.1); 0 without batch norm, or with a cumulative average (momentum None)."""
    steps = 0
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm) and module.track_running_stats:
            momentum = module.momentum
            if momentum is not None and 0 < momentum < 1:
                steps = max(steps, math.ceil(math.log(SETTLED_RESIDUAL) / math.log(1 - momentum)))
    return steps


def collapse_warning(step: int, spread: float, settled_at: int, standardize_input: bool) -> str | None:
    """The warning line for a validation at `step` whose embeddings have `spread`, or None: no collapse, or
    batch norm's statistics not yet settled (before step `settled_at`). NaN or infinite embeddings are no plateau but
    a diverged run, at any step."""
    if not math.isfinite(spread):
        return (f"step {step}: the embeddings are not finite numbers (NaN or infinity): training has diverged; restart "
                "with a lower lr, a longer warmup_steps or grad_clip above 0")
    if spread >= COLLAPSED_SPREAD or step < settled_at:
        return None
    first_fix = "" if standardize_input else "standardize_input=true, "
    return (f"step {step}: the embeddings have (nearly) collapsed to one point (mean squared pair distance "
            f"{spread:.3f} < {COLLAPSED_SPREAD}), where the triplet loss barely moves them; early in a run this "
            "plateau is common and usually left within a few hundred steps; if validation accuracy stays near 33%, "
            f"restart with {first_fix}a longer warmup_steps, a larger batch_size or a lower lr")

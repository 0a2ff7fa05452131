"""Optimizers, learning-rate schedules and the learning-rate range test used by the classifier trainer."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

OPTIMIZERS = ("sgd", "adam", "adagrad")
SCHEDULES = ("constant", "step", "cosine", "onecycle")


def make_optimizer(
    name: str, params, lr: float, momentum: float = 0.9, weight_decay: float = 0.0
) -> torch.optim.Optimizer:
    import torch

    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def make_scheduler(
    name: str, optimizer: torch.optim.Optimizer, epochs: int, steps_per_epoch: int, step_epoch: int = 0
) -> torch.optim.lr_scheduler.LRScheduler:
    """A scheduler stepped once per batch.

    step: x0.1 once, at `step_epoch` (0 = half the epochs, as hESCnet); cosine: to 0 over the stage;
    onecycle: Smith & Topin's one-cycle policy peaking at the optimizer's learning rate.
    """
    import torch

    total = max(1, epochs * steps_per_epoch)
    if name == "constant":
        return torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    if name == "step":
        at = step_epoch if step_epoch > 0 else max(1, epochs // 2)
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[at * steps_per_epoch], gamma=0.1)
    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    if name == "onecycle":
        lr = optimizer.param_groups[0]["lr"]
        cycle_momentum = (
            "momentum" in optimizer.defaults
            and optimizer.defaults.get("momentum", 0) > 0
            or "betas" in optimizer.defaults
        )
        # total + 1: the schedule's last point (its lowest rate) is reached by the stage's last step.
        return torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=lr, total_steps=total + 1, cycle_momentum=cycle_momentum
        )
    raise ValueError(f"unknown schedule {name!r}; choose one of {', '.join(SCHEDULES)}")


def find_lr(
    model: torch.nn.Module,
    make_opt: Callable,
    batches,
    loss_fn: Callable,
    start: float = 1e-6,
    end: float = 1.0,
    smoothing: float = 0.9,
) -> tuple[float, list[float], list[float]]:
    """Learning-rate range test (Smith 2017): raise the rate exponentially over `batches`, on a copy of
    the model, and pick the rate where the smoothed loss falls fastest. Returns (lr, lrs, losses)."""
    import torch

    probe = copy.deepcopy(model).train()
    batches = list(batches)
    n = max(2, len(batches))
    opt = make_opt(probe.parameters(), start)
    factor = (end / start) ** (1 / (n - 1))
    lrs, losses, avg, best = [], [], 0.0, math.inf
    for i, (x, y) in enumerate(batches):
        lr = start * factor**i
        for g in opt.param_groups:
            g["lr"] = lr
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(probe(x), y)
        if not torch.isfinite(loss):
            break
        loss.backward()
        opt.step()
        avg = smoothing * avg + (1 - smoothing) * float(loss.detach())
        smoothed = avg / (1 - smoothing ** (i + 1))  # bias-corrected running mean
        lrs.append(lr)
        losses.append(smoothed)
        best = min(best, smoothed)
        if smoothed > 4 * best:  # diverged: the rest of the sweep says nothing
            break
    if len(losses) < 3:
        return start, lrs, losses
    # Steepest descent of the smoothed loss against log(lr), ignoring the first and last points.
    slopes = [
        (losses[i + 1] - losses[i - 1]) / math.log(lrs[i + 1] / lrs[i - 1]) for i in range(1, len(lrs) - 1)
    ]
    i = min(range(len(slopes)), key=slopes.__getitem__) + 1
    return float(lrs[i]), lrs, losses

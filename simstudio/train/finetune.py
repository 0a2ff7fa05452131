"""Fine-tuning that keeps what pretraining gave: L2-SP, frozen first blocks, and batches that mix real and
synthetic images at a set ratio.

A model pretrained on shortcut-free simulated images and then fine-tuned on real ones relearns the real
set's camera shortcut (issue 18: 0.921 in distribution but 0.531 at another clinic). These are the
standard remedies, each one setting of `ClassifierConfig`:
- L2-SP (Li, Grandvalet & Davoine, ICML 2018): penalise the squared distance of the weights to the
  pretrained ones, alpha/2 ||w - w0||^2 over the backbone and beta/2 ||w - w0||^2 over the head. The
  paper's head is new and gets beta/2 ||w||^2; here the head was pretrained on the same classes, so it is
  pulled toward its pretrained weights instead.
- freezing the first N blocks (their weights and batch-norm statistics stay as pretrained);
- mixed fine-tuning: every fine-tune batch holds real and synthetic images at `ratio`.
"""

from __future__ import annotations

import math

import torch
from torch import nn

# Li et al. 2018, section 5: alpha = 0.1 (distance to the starting point), beta = 0.01 (the head).
L2SP_ALPHA_DEFAULT = 0.1
L2SP_BETA_DEFAULT = 0.01


def head_module(model: nn.Module) -> nn.Module:
    """The classification head: the model's last Linear layer (smallcnn `head`, resnet `fc`)."""
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError(f"{type(model).__name__} has no Linear layer to treat as its head")
    return linears[-1]


def split_parameters(model: nn.Module) -> tuple[list[str], list[str]]:
    """(backbone, head) parameter names."""
    head = {id(p) for p in head_module(model).parameters()}
    backbone, top = [], []
    for name, p in model.named_parameters():
        (top if id(p) in head else backbone).append(name)
    return backbone, top


def reference_weights(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of every parameter: the starting point L2-SP pulls toward."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def l2sp_penalty(model: nn.Module, reference: dict[str, torch.Tensor], alpha: float, beta: float) -> torch.Tensor:
    """alpha/2 * sum over backbone ||w - w0||^2 + beta/2 * sum over head ||w - w0||^2 (float32)."""
    backbone, head = split_parameters(model)
    params = dict(model.named_parameters())
    total = None
    for names, weight in ((backbone, alpha), (head, beta)):
        if weight == 0:
            continue
        sq = sum(((params[n].float() - reference[n].to(params[n].device).float()) ** 2).sum() for n in names
                 if params[n].requires_grad)
        if isinstance(sq, torch.Tensor):
            term = 0.5 * weight * sq
            total = term if total is None else total + term
    if total is None:
        return torch.zeros((), device=next(model.parameters()).device)
    return total


def model_blocks(model: nn.Module) -> list[list[nn.Module]]:
    """The model's blocks in input-to-output order, head excluded: smallcnn's conv blocks (a block starts
    at each Conv2d of its `body`), else the top-level children that hold parameters (resnet: conv1, bn1,
    layer1..4)."""
    head = head_module(model)
    body = getattr(model, "body", None)
    if isinstance(body, nn.Sequential):
        blocks: list[list[nn.Module]] = []
        for m in body:
            if isinstance(m, nn.Conv2d) or not blocks:
                blocks.append([])
            blocks[-1].append(m)
        return blocks
    return [[m] for m in model.children()
            if m is not head and any(True for _ in m.parameters()) and head not in list(m.modules())]


def freeze_first_blocks(model: nn.Module, n: int) -> list[nn.Module]:
    """Stop training the first `n` blocks (requires_grad off); returns their modules, which the trainer
    keeps in eval mode so their batch-norm statistics stay as pretrained too."""
    if n <= 0:
        return []
    blocks = model_blocks(model)
    if n > len(blocks):
        raise ValueError(f"freeze_blocks = {n}, but {type(model).__name__} has {len(blocks)} blocks "
                         "before its head")
    frozen = [m for block in blocks[:n] for m in block]
    for m in frozen:
        for p in m.parameters():
            p.requires_grad_(False)
    return frozen


def mixed_batches(order: torch.Tensor, n_extra: int, batch_size: int, ratio: float,
                  generator: torch.Generator) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Batches of (real rows, synthetic rows) holding `ratio` synthetic images each: round(ratio * batch)
    synthetic and the rest real; an epoch is one pass over the real rows in `order`, the synthetic rows
    drawn without replacement from a fresh permutation (wrapping around when they run out). The last,
    shorter batch keeps the ratio as nearly as whole images allow."""
    k = synthetic_per_batch(batch_size, ratio)
    per_real = batch_size - k
    perm = torch.randperm(n_extra, generator=generator)
    out, used = [], 0
    for start in range(0, len(order), per_real):
        real = order[start:start + per_real]
        kk = k if len(real) == per_real else int(round(len(real) * ratio / (1 - ratio)))
        if len(real) + kk < 2:
            break
        take = torch.arange(used, used + kk) % n_extra
        used += kk
        out.append((real, perm[take]))
    return out


def synthetic_per_batch(batch_size: int, ratio: float) -> int:
    """Synthetic images in a full mixed batch; at least one of each source."""
    if not 0 < ratio < 1:
        raise ValueError(f"the synthetic share of a fine-tune batch must be in (0, 1), got {ratio}")
    k = int(round(batch_size * ratio))
    k = min(max(k, 1), batch_size - 1)
    if not math.isclose(k / batch_size, ratio, abs_tol=0.5 / batch_size):
        raise ValueError(f"batch_size {batch_size} cannot hold a synthetic share of {ratio:g}")
    return k

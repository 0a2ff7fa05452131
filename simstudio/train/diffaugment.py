"""Differentiable augmentation for data-efficient GAN training (Zhao, Liu, Lin, Zhu & Han 2020,
"Differentiable augmentation for data-efficient GAN training").

The same random colour / translation / cutout transform family is applied to real and generated images
before D (and inside G's loss, so gradients flow through it); D then cannot simply memorise a small real
set. Paper policy for few-shot data: "color,translation,cutout"; translation 1/8 and cutout 1/2 of the side.
Images are in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

POLICIES = ("color", "translation", "cutout")


def diff_augment(x: torch.Tensor, policy: str) -> torch.Tensor:
    """Apply each comma-separated op of `policy` ("" = identity) with fresh randomness per image."""
    for op in parse_policy(policy):
        x = _OPS[op](x)
    return x


def parse_policy(policy: str) -> list[str]:
    ops = [p.strip() for p in (policy or "").split(",") if p.strip()]
    unknown = [p for p in ops if p not in POLICIES]
    if unknown:
        raise ValueError(f"unknown DiffAugment op(s) {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    return ops


def _color(x: torch.Tensor) -> torch.Tensor:
    b = x.shape[0]
    x = x + (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) - 0.5)  # brightness
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) * 2) + mean  # saturation
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (torch.rand(b, 1, 1, 1, device=x.device, dtype=x.dtype) + 0.5) + mean  # contrast


def _translation(x: torch.Tensor, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by up to ratio·side pixels, filling with zeros (grey in [-1, 1])."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    ty = torch.randint(-sh, sh + 1, (b, 1, 1), device=x.device)
    tx = torch.randint(-sw, sw + 1, (b, 1, 1), device=x.device)
    gy = torch.arange(h, device=x.device).view(1, h, 1)
    gx = torch.arange(w, device=x.device).view(1, 1, w)
    y = (gy + ty + 1).clamp(0, h + 1)  # +1: index into the zero-padded image
    xx = (gx + tx + 1).clamp(0, w + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    bi = torch.arange(b, device=x.device).view(b, 1, 1)
    return padded.permute(0, 2, 3, 1)[bi, y, xx].permute(0, 3, 1, 2)


def _cutout(x: torch.Tensor, ratio: float = 0.5) -> torch.Tensor:
    """Zero one random square of ratio·side per image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), device=x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), device=x.device)
    gy = torch.arange(h, device=x.device).view(1, h, 1)
    gx = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((gy - cy).abs() * 2 < ch) & ((gx - cx).abs() * 2 < cw)
    return x * (~inside).unsqueeze(1).to(x.dtype)


_OPS = {"color": _color, "translation": _translation, "cutout": _cutout}

"""Training augmentations as named presets, applied to a whole torch batch on its own device.

Every random draw comes from the `generator` passed in, so a seed reproduces an epoch exactly. Geometric
steps are one affine warp per image (flip, rotation, shear and scale composed into a single matrix and
sampled once with `grid_sample`, reflecting at the border so rotated corners are skin, not black).

Presets, matching the three augmentation schemes of the papers plus "none" and "full":
- "none": unchanged.
- "flip_rotate": horizontal/vertical flips + a rotation by any angle (a dermoscopy image has no "up").
- "flip_rotate_shear": the above + shear up to 0.2.
- "crop64_flip": a random 64x64 crop + flips; the output is 64x64.
- "full": flips, rotation, shear, scale 0.9-1.1 and a mild colour jitter (brightness, contrast,
  saturation +-10 %).
- "acquisition": each image photographed again by the simulator's acquisition layers
  (simstudio/sim/acquisition.py: colour cast, vignette, field stop, hair, ruler, bubbles, glare,
  blur/sharpening, noise, JPEG), drawn from one distribution for every class so the camera stops
  naming the label; "acquisition+<preset>" runs it first, then the geometric preset.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

GEOMETRIC_PRESETS = ("none", "flip_rotate", "flip_rotate_shear", "crop64_flip", "full")
ACQUISITION = "acquisition"
PRESETS = GEOMETRIC_PRESETS + (ACQUISITION,) + tuple(f"{ACQUISITION}+{p}" for p in GEOMETRIC_PRESETS[1:])
CROP_SIZE = 64


def split_preset(preset: str) -> tuple[bool, str]:
    """(whether the acquisition layers run, the geometric preset) of a preset name."""
    if preset == ACQUISITION:
        return True, "none"
    head, plus, rest = preset.partition("+")
    if plus and head == ACQUISITION:
        return True, rest
    return False, preset


def augment_batch(x: torch.Tensor, preset: str, generator: torch.Generator | None = None,
                  acquisition_strength: float = 1.0) -> torch.Tensor:
    """Augment a batch (B, 3, H, W): float in [0, 1] (or uint8, returned as uint8) with preset `preset`.
    `acquisition_strength` scales the acquisition layers' rates (sim.acquisition.sample_acquisition)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown augmentation preset {preset!r}; one of {', '.join(PRESETS)}")
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected a batch shaped (B, 3, H, W), got {tuple(x.shape)}")
    acquire, preset = split_preset(preset)
    if x.shape[0] == 0 or (preset == "none" and not acquire):
        return x
    as_uint8 = x.dtype == torch.uint8
    if acquire:
        x = _acquisition(x, generator, acquisition_strength)
        if preset == "none":
            return x if as_uint8 else x.float().div_(255.0)
    xf = x.float() / 255.0 if as_uint8 or acquire else x
    if preset == "crop64_flip":
        out = _flip(_random_crop(xf, CROP_SIZE, generator), generator)
    else:
        shear = 0.2 if preset in ("flip_rotate_shear", "full") else 0.0
        scale = 0.1 if preset == "full" else 0.0
        out = _affine(xf, generator, shear=shear, scale=scale)
        if preset == "full":
            out = _colour_jitter(out, generator, 0.1)
    if as_uint8:
        return (out.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return out


# -- private helpers ----------------------------------------------------------------------------------

def _acquisition(x: torch.Tensor, generator, strength: float) -> torch.Tensor:
    """The acquisition layers on every image (numpy + OpenCV on the CPU), one seed per image drawn from
    `generator`; returns uint8 (B, 3, H, W) on x's device."""
    import numpy as np

    from simstudio.sim.acquisition import apply_acquisition, sample_acquisition

    seeds = torch.randint(0, 2**31 - 1, (x.shape[0],), generator=generator).tolist()
    u8 = x if x.dtype == torch.uint8 else (x.detach().float().clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    arr = u8.permute(0, 2, 3, 1).cpu().numpy()
    out = np.stack([apply_acquisition(im, sample_acquisition(s, strength), s)
                    for im, s in zip(arr, seeds, strict=True)])
    return torch.from_numpy(out).permute(0, 3, 1, 2).to(x.device)


def _rand(n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    # Draw on the CPU so a CPU generator drives a batch on any device; the numbers are tiny.
    return torch.rand(n, generator=generator).to(device)


def _affine(x: torch.Tensor, generator, shear: float, scale: float) -> torch.Tensor:
    b, device = x.shape[0], x.device
    angle = _rand(b, generator, device) * 2 * math.pi
    flip_x = torch.where(_rand(b, generator, device) < 0.5, -1.0, 1.0)
    flip_y = torch.where(_rand(b, generator, device) < 0.5, -1.0, 1.0)
    sh = (_rand(b, generator, device) * 2 - 1) * shear
    sc = 1.0 + (_rand(b, generator, device) * 2 - 1) * scale
    cos, sin = torch.cos(angle), torch.sin(angle)
    # theta maps output coords to input coords: rotation @ shear @ flip / scale.
    rot = torch.stack([torch.stack([cos, -sin], 1), torch.stack([sin, cos], 1)], 1)
    shear_m = torch.zeros(b, 2, 2, device=device)
    shear_m[:, 0, 0] = 1
    shear_m[:, 0, 1] = sh
    shear_m[:, 1, 1] = 1
    flip = torch.zeros(b, 2, 2, device=device)
    flip[:, 0, 0] = flip_x
    flip[:, 1, 1] = flip_y
    lin = rot @ shear_m @ flip / sc[:, None, None]
    theta = torch.cat([lin, torch.zeros(b, 2, 1, device=device)], 2).to(x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def _flip(x: torch.Tensor, generator) -> torch.Tensor:
    b, device = x.shape[0], x.device
    h = (_rand(b, generator, device) < 0.5)[:, None, None, None]
    v = (_rand(b, generator, device) < 0.5)[:, None, None, None]
    x = torch.where(h, x.flip(3), x)
    return torch.where(v, x.flip(2), x)


def _random_crop(x: torch.Tensor, size: int, generator) -> torch.Tensor:
    b, _, h, w = x.shape
    if h < size or w < size:
        raise ValueError(f"crop64_flip needs images of at least {size}x{size} px, got {h}x{w}")
    ys = (torch.rand(b, generator=generator) * (h - size + 1)).long().clamp(max=h - size)
    xs = (torch.rand(b, generator=generator) * (w - size + 1)).long().clamp(max=w - size)
    corners = zip(ys.tolist(), xs.tolist(), strict=True)
    return torch.stack([x[i, :, y:y + size, x0:x0 + size] for i, (y, x0) in enumerate(corners)])


def _colour_jitter(x: torch.Tensor, generator, strength: float) -> torch.Tensor:
    b, device = x.shape[0], x.device
    bright = 1 + (_rand(b, generator, device) * 2 - 1) * strength
    contrast = 1 + (_rand(b, generator, device) * 2 - 1) * strength
    sat = 1 + (_rand(b, generator, device) * 2 - 1) * strength
    x = x * bright[:, None, None, None]
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    x = (x - mean) * contrast[:, None, None, None] + mean
    gray = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3])
    x = (x - gray) * sat[:, None, None, None] + gray
    return x.clamp(0, 1)

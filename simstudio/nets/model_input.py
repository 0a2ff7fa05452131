"""Turning uint8 images into model input the same way in training, prediction and explanation."""

from __future__ import annotations

import numpy as np
import torch

from simstudio.nets.registry import normalisation_for


def to_model_input(
    images, normalisation: dict | None = None, device: str | torch.device = "cpu", channels_last: bool = False
) -> torch.Tensor:
    """uint8 (N, H, W, 3) array or tensor -> float (N, 3, H, W), scaled and normalised per channel."""
    x = torch.as_tensor(np.ascontiguousarray(images)) if not isinstance(images, torch.Tensor) else images
    if x.ndim == 3:
        x = x.unsqueeze(0)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"expected uint8 images (N, H, W, 3), got shape {tuple(x.shape)}")
    x = x.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    return normalise(x, normalisation, channels_last=channels_last)


def normalise(
    x: torch.Tensor, normalisation: dict | None = None, channels_last: bool = False
) -> torch.Tensor:
    """float (N, 3, H, W) in [0, scale] -> (x / scale - mean) / std."""
    norm = normalisation or normalisation_for("")
    mean = torch.tensor(norm["mean"], device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(norm["std"], device=x.device).view(1, 3, 1, 1)
    x = (x / float(norm.get("scale", 255.0)) - mean) / std
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def cam_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The layer whose activation map Grad-CAM reads: the last convolutional block of each network."""
    from simstudio.nets.torchvision_models import TorchvisionClassifier

    if isinstance(model, TorchvisionClassifier):
        bb = model.backbone
        return bb.Mixed_7c if hasattr(bb, "Mixed_7c") else bb.layer4
    body = getattr(model, "body", None)
    if isinstance(body, torch.nn.Sequential):
        # Before the last max-pool, for twice the resolution of the final map.
        return body[-2] if isinstance(body[-1], torch.nn.MaxPool2d) else body[-1]
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        raise ValueError(f"{type(model).__name__} has no convolutional layer for Grad-CAM")
    return convs[-1]

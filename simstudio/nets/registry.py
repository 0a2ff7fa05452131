"""Build a classifier by name; know which image sizes each one takes; fetch ImageNet weights or say
clearly why not."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported only when a model is built, so the CLI's --help stays fast
    from torch import nn

MODEL_NAMES = ("smallcnn", "hescnet", "resnet18", "resnet50", "inception_v3")

# Default training side in px per model (what the papers used; hescnet's paper input is 64x64,
# Inception-v3 was designed for 299x299).
MODEL_INPUT_SIZES = {"smallcnn": 64, "hescnet": 64, "resnet18": 128, "resnet50": 224, "inception_v3": 299}

# (smallest, largest) side each model accepts; None = no upper bound. hescnet's fully connected layer
# is sized for 64x64; Inception-v3's auxiliary head needs a 17x17 map, i.e. at least 299 px input.
_SIZE_LIMITS = {
    "smallcnn": (16, None),
    "hescnet": (64, 64),
    "resnet18": (32, None),
    "resnet50": (32, None),
    "inception_v3": (299, None),
}

_TORCHVISION_WEIGHTS = {
    "resnet18": "ResNet18_Weights",
    "resnet50": "ResNet50_Weights",
    "inception_v3": "Inception_V3_Weights",
}

# Inputs are scaled to [0, 1] and normalised with ImageNet's channel statistics for every model, so
# pretrained and scratch models read images the same way.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class PretrainedWeightsUnavailable(FileNotFoundError):
    """ImageNet weights were asked for but are neither cached nor downloadable (offline machine)."""


def build_model(name: str, num_classes: int, pretrained: bool = False) -> nn.Module:
    """A classifier with `forward(x) -> logits` and `features(x) -> (B, D)`; x is (B, 3, H, W) normalised.

    `pretrained=True` loads torchvision's ImageNet weights (torch hub cache, downloaded where a network
    exists). When they cannot be had it raises `PretrainedWeightsUnavailable` naming the missing file;
    it never falls back to random init on its own.
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    if num_classes < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got {num_classes}")
    if name == "smallcnn":
        if pretrained:
            raise ValueError(
                "smallcnn has no pretrained weights; use pretrained=False or a torchvision model"
            )
        from simstudio.nets.smallcnn import SmallCNN

        return SmallCNN(num_classes)
    if name == "hescnet":
        if pretrained:
            raise ValueError("hescnet has no pretrained weights; use pretrained=False or a torchvision model")
        from simstudio.nets.hescnet import HESCNet

        return HESCNet(num_classes)
    from simstudio.nets.torchvision_models import build_torchvision

    return build_torchvision(name, num_classes, imagenet_weights(name) if pretrained else None)


def check_input_size(name: str, size: int) -> None:
    """Raise a clear ValueError when model `name` cannot take `size` x `size` images."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}")
    lo, hi = _SIZE_LIMITS[name]
    if size < lo or (hi is not None and size > hi):
        takes = f"exactly {lo}x{lo}" if lo == hi else f"at least {lo}x{lo}"
        raise ValueError(
            f"{name} takes {takes} px images, not {size}x{size}; "
            f"set the image size to {MODEL_INPUT_SIZES[name]} (its default)"
        )


def normalisation_for(name: str) -> dict:
    """How images are turned into model input: x = (uint8 / 255 - mean) / std per channel."""
    return {"scale": 255.0, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD)}


def imagenet_weights(name: str):
    """torchvision's ImageNet weights enum for `name`, available in the torch hub cache, or a clear error."""
    import torch
    from torchvision import models

    weights = getattr(models, _TORCHVISION_WEIGHTS[name]).IMAGENET1K_V1
    cache = Path(torch.hub.get_dir()) / "checkpoints"
    cached = cache / Path(weights.url).name
    if cached.is_file():
        return weights
    # Probe the server with a short timeout first: torch hub's own download has none and would hang
    # on a firewalled machine instead of failing fast.
    try:
        urllib.request.urlopen(urllib.request.Request(weights.url, method="HEAD"), timeout=10).close()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise PretrainedWeightsUnavailable(
            f"ImageNet weights for {name} are not available: {cached} is missing and {weights.url} could "
            f"not be reached ({reason}). Copy that file into {cache} from a machine with a network, or "
            f"train from random initialisation instead (pretrained=False; CLI: leave out --pretrained; "
            f"app: untick 'ImageNet weights')."
        ) from None
    return weights

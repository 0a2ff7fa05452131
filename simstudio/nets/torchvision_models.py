"""ResNet-18/50 and Inception-v3 from torchvision, with their classifier head split off so that
`.features(x)` returns the pooled penultimate features and `forward(x)` the logits."""

from __future__ import annotations

import torch
from torch import nn


class TorchvisionClassifier(nn.Module):
    """A torchvision backbone with `fc` replaced by Identity and a fresh `head` for our classes.

    Inception-v3 in training mode also returns its auxiliary logits, as torchvision does
    (`InceptionOutputs(logits, aux_logits)`); the training loop adds 0.4 x their loss (Szegedy et al. 2016).
    """

    def __init__(self, backbone: nn.Module, num_classes: int):
        super().__init__()
        in_features = backbone.fc.in_features
        backbone.fc = nn.Identity()
        aux = getattr(backbone, "AuxLogits", None)
        if aux is not None:
            aux.fc = nn.Linear(aux.fc.in_features, num_classes)
        self.backbone = backbone
        self.head = nn.Linear(in_features, num_classes)
        self.feature_dim = in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        out = self.backbone(x)
        return out.logits if isinstance(out, tuple) else out

    def forward(self, x: torch.Tensor):
        out = self.backbone(x)
        if isinstance(out, tuple):  # Inception-v3 while training: (features, aux logits)
            return type(out)(self.head(out.logits), out.aux_logits)
        return self.head(out)


def build_torchvision(name: str, num_classes: int, weights) -> TorchvisionClassifier:
    """Build `name` with ImageNet `weights` (a torchvision Weights enum member, or None for random init)."""
    from torchvision import models

    if name == "inception_v3":
        # transform_input re-normalises ImageNet-normalised input the way Google's weights expect.
        backbone = models.inception_v3(
            weights=None, aux_logits=True, init_weights=weights is None, transform_input=weights is not None
        )
    else:
        backbone = getattr(models, name)(weights=None)
    if weights is not None:
        backbone.load_state_dict(weights.get_state_dict(progress=True, check_hash=True))
    return TorchvisionClassifier(backbone, num_classes)

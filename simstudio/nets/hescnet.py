"""`hescnet`: the VGG-style classifier of the hESCnet paper (64x64 input, 3x3 conv + BN + ReLU blocks with
max-pools, then two 4096-unit fully connected layers with dropout)."""

from __future__ import annotations

import torch
from torch import nn

# VGG-style stages: (channels, convs) per stage, each stage ending in a 2x2 max-pool: 64 -> 4 px.
STAGES = ((64, 2), (128, 2), (256, 2), (512, 2))
INPUT_SIZE = 64


class HESCNet(nn.Module):
    """Fixed 64x64 input: the first fully connected layer is sized for the 512x4x4 map it sees there."""

    def __init__(self, num_classes: int, dropout: float = 0.5, hidden: int = 4096):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for c_out, n_convs in STAGES:
            for _ in range(n_convs):
                layers += [
                    nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                    nn.BatchNorm2d(c_out),
                    nn.ReLU(inplace=True),
                ]
                c_in = c_out
            layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        side = INPUT_SIZE // 2 ** len(STAGES)
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(c_in * side * side, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout),
        )
        self.head = nn.Linear(hidden, num_classes)
        self.feature_dim = hidden

    def features(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            raise ValueError(
                f"hescnet takes {INPUT_SIZE}x{INPUT_SIZE} images, got {x.shape[-2]}x{x.shape[-1]}"
            )
        return self.fc(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

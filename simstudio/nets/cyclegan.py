"""CycleGAN networks (Zhu, Park, Isola & Efros 2017, "Unpaired image-to-image translation using
cycle-consistent adversarial networks").

Paper defaults: ResNet-block generators (c7s1-64, d128, d256, 6 residual blocks at 128 px / 9 at 256 px,
u128, u64, c7s1-3) with instance norm and reflection padding; 70×70 PatchGAN discriminators (C64-C128-
C256-C512, LeakyReLU 0.2, no norm on the first layer); weights N(0, 0.02). The history pool of 50
generated images that D trains on (Shrivastava et al. 2017) lives here too because it is part of the
method, not of one loop.
"""

from __future__ import annotations

import torch
from torch import nn


class ResnetGenerator(nn.Module):
    """images (B, nc, H, W) in [-1, 1] → translated images of the same shape; H, W divisible by 4."""

    def __init__(self, nc: int = 3, ngf: int = 64, n_blocks: int = 6):
        super().__init__()
        self.ngf, self.n_blocks = ngf, n_blocks
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(nc, ngf, 7, bias=True),
                                   nn.InstanceNorm2d(ngf), nn.ReLU(True)]
        ch = ngf
        for _ in range(2):  # d128, d256
            layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1, bias=True), nn.InstanceNorm2d(ch * 2), nn.ReLU(True)]
            ch *= 2
        layers += [ResnetBlock(ch) for _ in range(n_blocks)]
        for _ in range(2):  # u128, u64
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1, bias=True),
                       nn.InstanceNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(ch, nc, 7), nn.Tanh()]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ResnetBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=True), nn.InstanceNorm2d(ch), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3, bias=True), nn.InstanceNorm2d(ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.block(x)


class PatchDiscriminator(nn.Module):
    """images → a map of real/fake logits, one per overlapping patch (70×70 receptive field at n_layers=3)."""

    def __init__(self, nc: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(nc, ndf, 4, 2, 1), nn.LeakyReLU(0.2, True)]
        ch = ndf
        for i in range(1, n_layers + 1):
            out = ndf * min(2 ** i, 8)
            stride = 2 if i < n_layers else 1
            layers += [nn.Conv2d(ch, out, 4, stride, 1, bias=True), nn.InstanceNorm2d(out),
                       nn.LeakyReLU(0.2, True)]
            ch = out
        layers += [nn.Conv2d(ch, 1, 4, 1, 1)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class ImagePool:
    """History of generated images: D sees a 50/50 mix of fresh fakes and older ones from the pool,
    which damps the oscillation between G and D (pool size 50 in the paper)."""

    def __init__(self, size: int = 50, generator: torch.Generator | None = None):
        self.size = size
        self.images: list[torch.Tensor] = []
        self.generator = generator

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size <= 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif torch.rand(1, generator=self.generator).item() < 0.5:
                i = int(torch.randint(0, self.size, (1,), generator=self.generator).item())
                out.append(self.images[i].clone())
                self.images[i] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)

    def state(self) -> torch.Tensor:
        """The pool as one tensor (for checkpoints); empty (0, …) when nothing is stored yet."""
        return torch.cat(self.images, 0).cpu() if self.images else torch.empty(0)

    def load_state(self, images: torch.Tensor, device: torch.device | str = "cpu") -> None:
        self.images = [img.unsqueeze(0).to(device) for img in images] if images.numel() else []


def linear_decay(epoch: int, n_epochs: int, n_epochs_decay: int) -> float:
    """LR multiplier: 1 for the first `n_epochs`, then linearly to 0 over `n_epochs_decay` (paper:
    100 + 100)."""
    if epoch < n_epochs or n_epochs_decay <= 0:
        return 1.0
    return max(0.0, 1.0 - (epoch - n_epochs + 1) / float(n_epochs_decay + 1))

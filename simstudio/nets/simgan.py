"""SimGAN networks (Shrivastava et al., "Learning from simulated and unsupervised images through
adversarial training", CVPR 2017): a fully convolutional refiner that changes a simulated image only
locally, a discriminator that scores local patches, and the history buffer of refined images.

Paper refiner: a 3x3 convolution to 64 feature maps, 4 ResNet blocks (two 3x3 convolutions of 64 maps
each), then a 1x1 convolution to the image. Here the 1x1 output goes through tanh and is added to the
input (a residual starting at zero: an untrained refiner returns its input). `down=2` runs the blocks at
half resolution beside a full-resolution 3x3 path, a quarter of the work per block, for CPU presets.

Paper discriminator: a small convnet whose output is a w x h map of real/refined logits, one per patch,
so the adversarial loss is the sum of local losses (no global artefacts from one image-level score).
No batch norm anywhere: a sample's output depends on that sample only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = nn.Conv2d(ch, ch, 3, padding=1)
        self.conv2 = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class Refiner(nn.Module):
    """Images (B, 3, H, W) in [-1, 1] -> refined images, same shape: x + tanh(1x1 conv(features)),
    clamped to [-1, 1]. H and W divisible by `down`."""

    def __init__(self, nf: int = 64, n_blocks: int = 4, down: int = 1, nc: int = 3, skip_ch: int = 8):
        super().__init__()
        if down not in (1, 2):
            raise ValueError(f"refiner down must be 1 or 2, got {down}")
        self.nf, self.n_blocks, self.down = nf, n_blocks, down
        self.stem = nn.Conv2d(nc, nf, 3, stride=down, padding=1)
        self.blocks = nn.Sequential(*[ResBlock(nf) for _ in range(n_blocks)])
        # at half resolution a full-resolution 3x3 path keeps pixel-level detail reachable
        self.skip = nn.Conv2d(nc, skip_ch, 3, padding=1) if down > 1 else None
        self.head = nn.Conv2d(nf + (skip_ch if down > 1 else 0), nc, 1)
        nn.init.zeros_(self.head.weight)  # tanh(0) = 0: training starts from the identity
        nn.init.zeros_(self.head.bias)

    def residual(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(F.relu(self.stem(x)))
        if self.down > 1:
            h = F.interpolate(h, scale_factor=self.down, mode="nearest")
            h = torch.cat([h, F.relu(self.skip(x))], 1)
        return torch.tanh(self.head(h))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x + self.residual(x)).clamp(-1.0, 1.0)


class LocalDiscriminator(nn.Module):
    """Images (B, 3, H, W) -> (B, 1, H/4, W/4) logits, one per local patch (receptive field 15 px at
    n_layers=3; each extra layer adds a stride-2 stage)."""

    def __init__(self, ndf: int = 64, n_layers: int = 3, nc: int = 3):
        super().__init__()
        layers: list[nn.Module] = []
        ch_in, ch = nc, ndf
        for i in range(n_layers):
            stride = 2 if i < 2 or i >= 3 else 1
            layers += [nn.Conv2d(ch_in, ch, 3, stride=stride, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            ch_in, ch = ch, min(ch * 2, ndf * 4)
        layers += [nn.Conv2d(ch_in, ch_in, 1), nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(ch_in, 1, 1)]
        self.main = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)


class HistoryBuffer:
    """The discriminator's memory of earlier refiner output (SimGAN section 2.3): half of each D batch
    comes from the buffer, and after each step half a batch of the new refined images replaces randomly
    chosen stored ones, so D keeps rejecting artefacts the refiner produced earlier and the two do not
    chase each other round in circles. Draws come from `generator`, so a checkpointed buffer resumes
    exactly."""

    def __init__(self, size: int, generator: torch.Generator):
        self.size = int(size)
        self.generator = generator
        self.images: torch.Tensor | None = None   # (n <= size, 3, H, W), detached

    def __len__(self) -> int:
        return 0 if self.images is None else len(self.images)

    def mix(self, refined: torch.Tensor) -> torch.Tensor:
        """D's batch of refined images: the first half of `refined` plus as many stored ones (once the
        buffer holds that many), then half of `refined` goes into the buffer."""
        refined = refined.detach()
        if self.size <= 0:
            return refined
        half = len(refined) // 2
        stored = len(self)
        if stored >= half and half > 0:
            pick = torch.randint(0, stored, (len(refined) - half,), generator=self.generator)
            out = torch.cat([refined[:half], self.images[pick.to(self.images.device)]], 0)
        else:
            out = refined
        self._add(refined[half:] if half > 0 else refined)
        return out

    def _add(self, new: torch.Tensor) -> None:
        new = new.clone()
        if self.images is None:
            self.images = new[:self.size]
            new = new[self.size:]
        room = self.size - len(self.images)
        if room > 0 and len(new):
            self.images = torch.cat([self.images, new[:room]], 0)
            new = new[room:]
        if len(new):
            slots = torch.randperm(self.size, generator=self.generator)[:len(new)]
            self.images[slots.to(self.images.device)] = new

    def state(self) -> torch.Tensor:
        return self.images.cpu() if self.images is not None else torch.empty(0)

    def load_state(self, images: torch.Tensor, device: torch.device | str = "cpu") -> None:
        self.images = images.to(device) if images.numel() else None

"""ACGAN: a class-conditional DCGAN whose discriminator also predicts the class (Odena, Olah & Shlens
2017, "Conditional image synthesis with auxiliary classifier GANs").

G gets z concatenated with a learned class embedding; D shares one convolutional trunk between the
real/fake logit and an auxiliary class head, so both losses shape the same features. Layers otherwise
follow the DCGAN of `simstudio.nets.dcgan` (same sizes, BN, ReLU/tanh in G, LeakyReLU 0.2 in D);
the paper's dropout in D is an option (0 by default, as in the DCGAN layout).
"""

from __future__ import annotations

import torch
from torch import nn

from simstudio.nets.dcgan import DCGANDiscriminator, DCGANGenerator


class ACGANGenerator(nn.Module):
    """(z (B, nz), labels (B,)) → images (B, nc, size, size) in [-1, 1]."""

    def __init__(self, num_classes: int, nz: int = 100, ngf: int = 64, image_size: int = 64, nc: int = 3):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"ACGAN needs at least 2 classes, got {num_classes}")
        self.num_classes, self.nz = num_classes, nz
        self.embed = nn.Embedding(num_classes, nz)
        self.body = DCGANGenerator(nz=2 * nz, ngf=ngf, image_size=image_size, nc=nc)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        z = z.flatten(1)
        return self.body(torch.cat([z, self.embed(labels)], dim=1))


class ACGANDiscriminator(nn.Module):
    """images → (real/fake logit (B,), class logits (B, num_classes))."""

    def __init__(self, num_classes: int, ndf: int = 64, image_size: int = 64, nc: int = 3,
                 dropout: float = 0.0):
        super().__init__()
        self.num_classes = num_classes
        trunk = DCGANDiscriminator(ndf=ndf, image_size=image_size, nc=nc)
        self.features = trunk.features
        ch = trunk.feature_channels
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.adv_head = nn.Conv2d(ch, 1, 4, 1, 0, bias=False)
        self.class_head = nn.Conv2d(ch, num_classes, 4, 1, 0, bias=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.dropout(self.features(x))
        return self.adv_head(h).flatten(), self.class_head(h).flatten(1)

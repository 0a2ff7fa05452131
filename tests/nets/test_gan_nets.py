"""GAN networks: output shapes at every supported size, the DCGAN init, the CycleGAN history pool and
learning-rate decay."""

import pytest
import torch

from simstudio.nets.acgan import ACGANDiscriminator, ACGANGenerator
from simstudio.nets.cyclegan import ImagePool, PatchDiscriminator, ResnetGenerator, linear_decay
from simstudio.nets.dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init, fold_batchnorm


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_dcgan_shapes_at_each_size(size):
    G = DCGANGenerator(nz=100, ngf=8, image_size=size)
    D = DCGANDiscriminator(ndf=8, image_size=size)
    x = G(torch.randn(3, 100))
    assert x.shape == (3, 3, size, size)
    assert x.min() >= -1 and x.max() <= 1  # tanh output
    assert D(x).shape == (3,)
    assert G(torch.randn(2, 100, 1, 1)).shape == (2, 3, size, size)  # (B, nz, 1, 1) as in the paper


def test_dcgan_64_is_the_reference_architecture():
    """At 64 px and ngf 64 the generator is the pytorch/examples DCGAN layer for layer (no pooling,
    no dense layers, BN everywhere but G's output and D's input)."""
    G = DCGANGenerator(nz=100, ngf=64, image_size=64)
    convs = [m for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(c.in_channels, c.out_channels, c.stride[0]) for c in convs] == [
        (100, 512, 1), (512, 256, 2), (256, 128, 2), (128, 64, 2), (64, 3, 2)]
    D = DCGANDiscriminator(ndf=64, image_size=64)
    convs = [m for m in D.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [(c.in_channels, c.out_channels) for c in convs] == [
        (3, 64), (64, 128), (128, 256), (256, 512), (512, 1)]
    modules = list(G.modules()) + list(D.modules())
    assert not any(isinstance(m, (torch.nn.Linear, torch.nn.MaxPool2d)) for m in modules)
    assert isinstance(D.features[1], torch.nn.LeakyReLU) and D.features[1].negative_slope == 0.2
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in D.modules()) == 3
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in G.modules()) == 4


def test_folded_batchnorm_generator_gives_the_same_images():
    torch.manual_seed(0)
    G = DCGANGenerator(nz=16, ngf=8, image_size=32)
    dcgan_init(G)
    with torch.no_grad():
        for _ in range(3):  # non-trivial running statistics
            G(torch.randn(16, 16))
    G.eval()
    folded = fold_batchnorm(G)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    z = torch.randn(8, 16)
    with torch.no_grad():
        assert torch.allclose(folded(z), G(z), atol=1e-6)


def test_unsupported_size_is_refused():
    with pytest.raises(ValueError, match="image size must be one of"):
        DCGANGenerator(image_size=48)


def test_dcgan_init_draws_from_n0_002():
    torch.manual_seed(0)
    G = DCGANGenerator(ngf=32, image_size=64)
    dcgan_init(G)
    w = torch.cat([m.weight.flatten() for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)])
    assert abs(w.mean().item()) < 1e-3 and abs(w.std().item() - 0.02) < 1e-3
    bn = [m for m in G.modules() if isinstance(m, torch.nn.BatchNorm2d)][0]
    assert abs(bn.weight.mean().item() - 1) < 0.01 and bn.bias.abs().max().item() == 0


@pytest.mark.parametrize("size", [16, 32, 64, 128])
def test_acgan_shapes_and_class_head(size):
    G = ACGANGenerator(num_classes=3, nz=32, ngf=8, image_size=size)
    D = ACGANDiscriminator(num_classes=3, ndf=8, image_size=size, dropout=0.5)
    x = G(torch.randn(4, 32), torch.tensor([0, 1, 2, 1]))
    assert x.shape == (4, 3, size, size)
    adv, cls = D(x)
    assert adv.shape == (4,) and cls.shape == (4, 3)


def test_acgan_generator_depends_on_the_class():
    torch.manual_seed(0)
    G = ACGANGenerator(num_classes=2, nz=16, ngf=8, image_size=16).eval()
    z = torch.randn(1, 16)
    assert not torch.allclose(G(z, torch.tensor([0])), G(z, torch.tensor([1])))


@pytest.mark.parametrize("size,patch", [(32, 2), (64, 6), (128, 14)])
def test_cyclegan_shapes(size, patch):
    G = ResnetGenerator(ngf=8, n_blocks=2)
    D = PatchDiscriminator(ndf=8, n_layers=3)
    x = torch.rand(2, 3, size, size) * 2 - 1
    assert G(x).shape == x.shape
    assert D(x).shape == (2, 1, patch, patch)  # one logit per overlapping 70×70 patch at 256 px


def test_patch_discriminator_receptive_field_is_70px():
    """One patch logit sees a 70×70 window of the image (convolutions only: instance norm, which mixes
    a whole feature map, is taken out to trace the field)."""
    D = PatchDiscriminator(ndf=4, n_layers=3).eval()
    for i, m in enumerate(D.model):
        if isinstance(m, torch.nn.InstanceNorm2d):
            D.model[i] = torch.nn.Identity()
    x = torch.zeros(1, 3, 256, 256, requires_grad=True)
    D(x)[0, 0, 15, 15].backward()
    rows = x.grad.abs().sum(dim=(0, 1, 3)).nonzero().flatten()
    assert rows.max() - rows.min() + 1 == 70


def test_image_pool_keeps_50_and_mixes_history():
    pool = ImagePool(size=50, generator=torch.Generator().manual_seed(0))
    first = torch.zeros(50, 3, 4, 4)
    assert torch.equal(pool.query(first), first)  # filling up: fresh images pass through
    fresh = torch.arange(1, 201, dtype=torch.float32).view(200, 1, 1, 1).expand(200, 3, 4, 4)
    out = pool.query(fresh)
    from_history = (out[:, 0, 0, 0] != fresh[:, 0, 0, 0]).sum().item()
    assert 70 < from_history < 130  # about half come from the history (p = 0.5 each)
    assert len(pool.images) == 50
    restored = ImagePool(50)
    restored.load_state(pool.state())
    assert torch.equal(restored.state(), pool.state())


def test_linear_lr_decay():
    assert [linear_decay(e, 100, 100) for e in (0, 99)] == [1.0, 1.0]
    assert linear_decay(100, 100, 100) == pytest.approx(100 / 101)
    assert linear_decay(199, 100, 100) == pytest.approx(1 / 101)
    values = [linear_decay(e, 2, 4) for e in range(6)]
    assert values == sorted(values, reverse=True) and values[-1] > 0

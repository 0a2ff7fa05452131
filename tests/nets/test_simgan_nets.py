"""SimGAN networks: an untrained refiner returns its input (zero residual), its output keeps the input's
shape at full and half resolution, the discriminator scores local patches, and the history buffer mixes
stored refined images with new ones and survives a checkpoint."""

import torch

from simstudio.nets.simgan import HistoryBuffer, LocalDiscriminator, Refiner


def test_untrained_refiner_is_the_identity_at_either_resolution():
    x = torch.rand(3, 3, 32, 32) * 2 - 1
    for down in (1, 2):
        R = Refiner(nf=8, n_blocks=2, down=down)
        assert torch.equal(R(x), x)
        assert R.residual(x).abs().max() == 0


def test_refiner_output_is_a_bounded_residual_of_the_input():
    torch.manual_seed(0)
    R = Refiner(nf=8, n_blocks=1, down=2)
    torch.nn.init.normal_(R.head.weight, 0, 1.0)
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    y = R(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert ((y - x).abs() <= 1 + 1e-6).all() and (y - x).abs().mean() > 0.01


def test_discriminator_gives_one_logit_per_patch():
    D = LocalDiscriminator(ndf=8, n_layers=3)
    assert D(torch.zeros(2, 3, 64, 64)).shape == (2, 1, 16, 16)
    assert LocalDiscriminator(ndf=8, n_layers=2)(torch.zeros(1, 3, 32, 32)).shape == (1, 1, 8, 8)


def test_history_buffer_mixes_old_and_new_refined_images():
    buf = HistoryBuffer(8, torch.Generator().manual_seed(0))
    old = torch.zeros(8, 3, 4, 4)
    buf.mix(old)
    buf.mix(old)        # the buffer now holds old images only
    assert len(buf) == 8 and torch.equal(buf.images, torch.zeros_like(buf.images))
    new = torch.ones(8, 3, 4, 4)
    batch = buf.mix(new)
    assert batch.shape == new.shape
    means = batch.mean((1, 2, 3))
    assert (means == 1).sum() == 4 and (means == 0).sum() == 4  # half current, half from history
    stored = buf.images.mean((1, 2, 3))
    assert (stored == 1).sum() == 4 and (stored == 0).sum() == 4  # half a batch replaced old ones


def test_history_buffer_state_round_trip_continues_identically():
    a = HistoryBuffer(6, torch.Generator().manual_seed(1))
    for i in range(3):
        a.mix(torch.full((4, 3, 2, 2), float(i)))
    b = HistoryBuffer(6, torch.Generator())
    b.load_state(a.state())
    b.generator.set_state(a.generator.get_state())
    x = torch.full((4, 3, 2, 2), 9.0)
    assert torch.equal(a.mix(x), b.mix(x)) and torch.equal(a.images, b.images)


def test_empty_buffer_passes_the_batch_through():
    buf = HistoryBuffer(0, torch.Generator())
    x = torch.rand(4, 3, 2, 2)
    assert torch.equal(buf.mix(x), x)

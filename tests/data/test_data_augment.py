import pytest
import torch

from simstudio.data.augment import PRESETS, augment_batch


def _batch(b=4, size=72):
    g = torch.Generator().manual_seed(0)
    return torch.rand(b, 3, size, size, generator=g)


@pytest.mark.parametrize("preset", PRESETS)
def test_presets_keep_range_and_a_seed_reproduces_them(preset):
    x = _batch()
    a = augment_batch(x, preset, torch.Generator().manual_seed(7))
    b = augment_batch(x, preset, torch.Generator().manual_seed(7))
    assert torch.equal(a, b)
    assert a.shape == ((4, 3, 64, 64) if preset.endswith("crop64_flip") else x.shape)
    assert a.min() >= 0 and a.max() <= 1
    if preset != "none":
        assert not torch.equal(a, augment_batch(x, preset, torch.Generator().manual_seed(8)))


def test_none_is_identity_and_uint8_stays_uint8():
    x = _batch()
    assert augment_batch(x, "none") is x
    u = (x * 255).to(torch.uint8)
    out = augment_batch(u, "flip_rotate", torch.Generator().manual_seed(1))
    assert out.dtype == torch.uint8 and out.shape == u.shape


def test_flips_and_rotations_move_pixels_without_inventing_black_corners():
    x = torch.full((8, 3, 32, 32), 0.5)
    x[:, 0, :, :16] = 1.0  # left half red
    out = augment_batch(x, "flip_rotate", torch.Generator().manual_seed(3))
    assert out[:, 1:].min() > 0.45  # reflection padding: no black corners
    assert abs(out[:, 0].mean().item() - x[:, 0].mean().item()) < 0.05


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="unknown augmentation preset 'mixup'"):
        augment_batch(_batch(), "mixup")
    with pytest.raises(ValueError, match=r"\(B, 3, H, W\)"):
        augment_batch(torch.rand(3, 8, 8), "full")
    with pytest.raises(ValueError, match="at least 64x64"):
        augment_batch(_batch(size=32), "crop64_flip")

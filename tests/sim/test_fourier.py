"""Fourier domain adaptation: β = 0 and an image's own spectrum change nothing, the fast small-DFT and
wide-window paths equal the full-FFT formulation of the paper, the change stays in the low frequencies,
and a batch is byte-identical per seed with its real image drawn regardless of class."""

import numpy as np
import pytest

from simstudio.sim.fourier import (
    BETA_DEFAULT,
    fda_batch,
    fda_reference,
    fda_transfer,
    window_half_width,
)


def images(n, size=64, seed=0, lo=0, hi=256):
    return np.random.default_rng(seed).integers(lo, hi, (n, size, size, 3), dtype=np.uint8)


def test_beta_zero_returns_the_input():
    src, tgt = images(4), images(4, seed=1)
    assert np.array_equal(fda_transfer(src, tgt, 0.0), src)
    assert np.array_equal(fda_transfer(src[0], tgt[0], 0.0), src[0])


@pytest.mark.parametrize("beta", [0.01, 0.05, 0.09])
def test_the_image_itself_as_target_returns_it(beta):
    src = images(6, size=128)
    assert np.array_equal(fda_transfer(src, src, beta), src)


@pytest.mark.parametrize("beta", [0.01, 0.03, 0.09, 0.2])  # 0.2: b = 25, the FFT path
def test_fast_paths_equal_the_full_fft_formulation(beta):
    src, tgt = images(8, size=128), images(8, size=128, seed=1, lo=100, hi=200)
    fast, ref = fda_transfer(src, tgt, beta), fda_reference(src, tgt, beta)
    diff = np.abs(fast.astype(int) - ref.astype(int))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3  # float32 vs float64 rounding only
    assert np.abs(fast.astype(int) - src.astype(int)).mean() > 1  # and it did change the images


def test_the_target_mean_colour_comes_across_and_the_detail_stays():
    src = images(1, size=64)[0]
    tgt = np.full_like(src, 0)
    tgt[..., 0] = 200  # a red real image
    out = fda_transfer(src, tgt, BETA_DEFAULT).astype(float)
    # the DC term is the mean: red up, green/blue down (clipped at 0)
    assert out[..., 0].mean() > src[..., 0].mean() + 20
    # high-frequency detail (pixel-to-pixel differences) is the source's
    hp_src = np.diff(src.astype(float), axis=0)[..., 0]
    hp_out = np.diff(out, axis=0)[..., 0]
    assert np.corrcoef(hp_src.ravel(), hp_out.ravel())[0, 1] > 0.9


def test_window_grows_with_beta_and_size():
    assert window_half_width(0.0, 128, 128) == -1
    assert window_half_width(0.01, 64, 64) == 0    # DC only
    assert window_half_width(0.01, 128, 128) == 1
    assert window_half_width(0.09, 128, 128) == 11
    with pytest.raises(ValueError, match="beta"):
        window_half_width(0.7, 64, 64)


def test_batch_is_byte_identical_per_seed_and_draws_from_the_whole_pool():
    sims, pool = images(64, size=32), images(10, size=32, seed=3)
    a, pa = fda_batch(sims, pool, 0.05, seed=7)
    b, pb = fda_batch(sims, pool, 0.05, seed=7)
    c, pc = fda_batch(sims, pool, 0.05, seed=8)
    assert a.tobytes() == b.tobytes() and np.array_equal(pa, pb)
    assert not np.array_equal(pa, pc)
    assert set(pa.tolist()) == set(range(10))  # every real image can be drawn: no class restriction
    for i in (0, 17, 63):
        assert np.array_equal(a[i], fda_transfer(sims[i], pool[pa[i]], 0.05))


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="uint8"):
        fda_transfer(np.zeros((8, 8, 3)), np.zeros((8, 8, 3)), 0.01)
    with pytest.raises(ValueError, match="share a size"):
        fda_batch(images(2, 32), images(2, 16), 0.01)

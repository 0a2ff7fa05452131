"""Fourier domain adaptation (Yang & Soatto, "FDA: Fourier domain adaptation for semantic segmentation",
CVPR 2020): replace the low-frequency amplitude spectrum of a simulated image with that of a real one and
keep the simulated phase, so the lesion's geometry (phase) stays and the real photo's colour cast,
illumination fall-off and low-frequency texture (amplitude near DC) come across. No training.

The window is the centred square of half-width b = floor(β · min(H, W)) around DC in the shifted
spectrum, (2b+1)² coefficients per channel, as in the authors' code (`FDA_source_to_target_np`); β = 0
swaps nothing and returns the input unchanged.

Speed without changing the maths: only those (2b+1)² coefficients change, so instead of two full FFTs per
channel the coefficients are computed with small DFT matrices (K × H and W × K, K = 2b+1) and the change
is added back the same way: O(K·H·W) per channel instead of O(H·W·log HW), equal to the full-FFT result
up to float rounding (see `fda_reference`). Wider windows use real FFTs over the non-negative half of
the spectrum.
"""

from __future__ import annotations

import numpy as np

BETA_DEFAULT = 0.01   # the authors' code default (L = 0.01); the paper's range is 0.01-0.09
BETA_RANGE = (0.0, 0.5)  # above 0.5 the window would pass the Nyquist frequency
# Up to this window half-width the small-DFT path is cheaper than real FFTs (measured at 128 px, one core:
# 0.4-0.6 ms vs 1.4-1.8 ms per image for b = 3, 6 and 11, i.e. beta 0.03, 0.05 and 0.09).
DFT_MAX_HALF_WIDTH = 16


def window_half_width(beta: float, height: int, width: int) -> int:
    """b of the (2b+1)² low-frequency window, or -1 for β = 0 (no window)."""
    check_beta(beta)
    if beta == 0:
        return -1
    return int(np.floor(min(height, width) * beta))


def check_beta(beta: float) -> float:
    if not isinstance(beta, (int, float, np.floating)) or not BETA_RANGE[0] <= float(beta) <= BETA_RANGE[1]:
        raise ValueError(f"FDA beta = {beta!r} is out of range: expected a number in "
                         f"[{BETA_RANGE[0]}, {BETA_RANGE[1]}] (the paper uses 0.01-0.09)")
    return float(beta)


def fda_transfer(source: np.ndarray, target: np.ndarray, beta: float = BETA_DEFAULT) -> np.ndarray:
    """`source` (H, W, 3) or (N, H, W, 3) uint8 with the low-frequency amplitude of `target` (same shape)."""
    src, tgt = _check_pair(source, target)
    single = src.ndim == 3
    if single:
        src, tgt = src[None], tgt[None]
    b = window_half_width(beta, src.shape[1], src.shape[2])
    if b < 0:
        out = src.copy()
    else:
        with _one_blas_thread():
            out = _transfer(src, tgt, b) if b <= DFT_MAX_HALF_WIDTH else _transfer_fft(src, tgt, b)
    return out[0] if single else out


def fda_batch(sources: np.ndarray, pool: np.ndarray, beta: float = BETA_DEFAULT, seed: int = 0,
              batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
    """Each source image gets the amplitude of a real image drawn at random from `pool` (uniformly, with
    replacement, whatever either image's class: no label is read). Returns (refined uint8 images, the pool
    row each one used). Byte-identical for the same inputs and seed."""
    sources, pool = np.asarray(sources), np.asarray(pool)
    if pool.ndim != 4 or len(pool) == 0:
        raise ValueError("FDA needs at least one real image to draw amplitudes from")
    if sources.ndim != 4 or sources.shape[1:] != pool.shape[1:]:
        raise ValueError(f"simulated and real images must share a size: {sources.shape[1:]} vs {pool.shape[1:]}")
    picks = np.random.default_rng(seed).integers(0, len(pool), len(sources))
    out = np.empty_like(sources)
    for i in range(0, len(sources), batch):
        sl = slice(i, i + batch)
        out[sl] = fda_transfer(sources[sl], pool[picks[sl]], beta)
    return out, picks


def fda_reference(source: np.ndarray, target: np.ndarray, beta: float = BETA_DEFAULT) -> np.ndarray:
    """The authors' formulation with full FFTs (slow; the check of `fda_transfer`)."""
    src, tgt = _check_pair(source, target)
    b = window_half_width(beta, src.shape[-3], src.shape[-2])
    if b < 0:
        return src.copy()
    fs = np.fft.fftshift(np.fft.fft2(src.astype(np.float64), axes=(-3, -2)), axes=(-3, -2))
    ft = np.fft.fftshift(np.fft.fft2(tgt.astype(np.float64), axes=(-3, -2)), axes=(-3, -2))
    amp, pha = np.abs(fs), np.angle(fs)
    h, w = src.shape[-3], src.shape[-2]
    ch, cw = h // 2, w // 2
    amp[..., ch - b:ch + b + 1, cw - b:cw + b + 1, :] = np.abs(ft)[..., ch - b:ch + b + 1, cw - b:cw + b + 1, :]
    back = np.fft.ifft2(np.fft.ifftshift(amp * np.exp(1j * pha), axes=(-3, -2)), axes=(-3, -2)).real
    return np.clip(np.rint(back), 0, 255).astype(np.uint8)


# -- private helpers ---------------------------------------------------------------------------------

def _check_pair(source, target) -> tuple[np.ndarray, np.ndarray]:
    src, tgt = np.asarray(source), np.asarray(target)
    if src.dtype != np.uint8 or tgt.dtype != np.uint8:
        raise ValueError(f"FDA takes uint8 images, got {src.dtype} and {tgt.dtype}")
    if src.shape != tgt.shape or src.ndim not in (3, 4) or src.shape[-1] != 3:
        raise ValueError(f"FDA needs two RGB images (or batches) of one shape, got {src.shape} and {tgt.shape}")
    return src, tgt


def _one_blas_thread():
    """The products here are small (K x H by H x 3W): BLAS threads only contend, and on a shared machine
    spinning threads made beta 0.09 thirty times slower in CPU time (18.7 vs 0.6 ms per image)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn brings it; without it BLAS keeps its own setting
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


_BASES: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}


def _basis(n: int, b: int) -> tuple[np.ndarray, np.ndarray]:
    """cos and sin rows (each (K, n)) of the DFT for frequencies -b..b of an n-point signal: the forward
    transform is cos - i·sin, the inverse cos + i·sin (transposed)."""
    key = (n, b)
    if key not in _BASES:
        angle = 2 * np.pi * np.arange(-b, b + 1)[:, None] * np.arange(n)[None, :] / n
        _BASES[key] = (np.cos(angle), np.sin(angle))
    return _BASES[key]


def _coefficients(x: np.ndarray, ch, sh, cw, sw) -> np.ndarray:
    """Low-frequency DFT coefficients (N, K, K, C) of float images (N, H, W, C). Rows first, as one
    matrix product over (H) x (W*C) with no transpose of the image; then the small (K, W, C) side."""
    n, h, w, c = x.shape
    flat = x.reshape(n, h, w * c)
    a_re = (ch @ flat).reshape(n, -1, w, c)          # (N, K, W, C)
    a_im = -(sh @ flat).reshape(n, -1, w, c)
    # (a_re + i a_im) times (cw - i sw) over W, on the small (K, C, W) arrays
    a_re, a_im = a_re.transpose(0, 1, 3, 2), a_im.transpose(0, 1, 3, 2)   # (N, K, C, W)
    re = a_re @ cw.T + a_im @ sw.T
    im = a_im @ cw.T - a_re @ sw.T
    return (re + 1j * im).transpose(0, 1, 3, 2)                          # (N, K, K, C)


def _transfer(src: np.ndarray, tgt: np.ndarray, b: int, chunk: int = 32) -> np.ndarray:
    """Chunks of `chunk` images keep the float temporaries in cache (a 512-image float64 batch at 128 px
    is 200 MB per array, and elementwise passes over it dominated the time)."""
    n, h, w, c = src.shape
    ch, sh = (m.astype(np.float32) for m in _basis(h, b))
    cw, sw = (m.astype(np.float32) for m in _basis(w, b))
    out = np.empty_like(src)
    for i in range(0, n, chunk):
        xs = src[i:i + chunk].astype(np.float32)
        xt = tgt[i:i + chunk].astype(np.float32)
        cs = _coefficients(xs, ch, sh, cw, sw).astype(np.complex128)
        ct = _coefficients(xt, ch, sh, cw, sw).astype(np.complex128)
        mag = np.abs(cs)
        # new coefficient = |target| * e^{i phase(source)}; where the source coefficient is 0 its phase is 0
        unit = np.divide(cs, mag, out=np.ones_like(cs), where=mag > 0)
        delta = ((np.abs(ct) - mag) * unit) / (h * w)        # (N, K, K, C)
        # the inverse over the window: Re[(ch + i sh)^T delta (cw + i sw)]
        d_re, d_im = delta.real.astype(np.float32), delta.imag.astype(np.float32)
        d_re, d_im = d_re.transpose(0, 1, 3, 2), d_im.transpose(0, 1, 3, 2)   # (N, K, C, K)
        m_re = np.ascontiguousarray((d_re @ cw - d_im @ sw).transpose(0, 1, 3, 2))  # (N, K, W, C)
        m_im = np.ascontiguousarray((d_re @ sw + d_im @ cw).transpose(0, 1, 3, 2))
        k = m_re.shape[1]
        change = ch.T @ m_re.reshape(-1, k, w * c) - sh.T @ m_im.reshape(-1, k, w * c)
        xs += change.reshape(xs.shape)
        np.rint(xs, out=xs)
        np.clip(xs, 0, 255, out=xs)
        out[i:i + chunk] = xs
    return out


def _transfer_fft(src: np.ndarray, tgt: np.ndarray, b: int, chunk: int = 32) -> np.ndarray:
    """Wide windows: rfft2 holds frequencies rows -b..b (wrapped) x columns 0..b of the window; the
    negative columns are their conjugates, so changing these is the full centred window."""
    n, h, w, c = src.shape
    rows = np.r_[0:b + 1, h - b:h]
    out = np.empty_like(src)
    for i in range(0, n, chunk):
        fs = np.fft.rfft2(src[i:i + chunk].astype(np.float32), axes=(1, 2))
        ft = np.fft.rfft2(tgt[i:i + chunk].astype(np.float32), axes=(1, 2))
        win_s = fs[:, rows, :b + 1]
        mag = np.abs(win_s)
        unit = np.divide(win_s, mag, out=np.ones_like(win_s), where=mag > 0)
        fs[:, rows, :b + 1] = np.abs(ft[:, rows, :b + 1]) * unit
        back = np.fft.irfft2(fs, s=(h, w), axes=(1, 2))
        out[i:i + chunk] = np.clip(np.rint(back), 0, 255)
    return out

"""Preprocessing from the dermoscopy literature, each step optional, applied once when the cache is built.

Order: fit to the working square -> hair removal -> colour constancy -> bilateral filter -> gamma.
Hair removal and colour constancy see the full-resolution-looking image first; the filter and the
gamma curve come last so they act on what the network will see. All steps take and return RGB uint8.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

import cv2
import numpy as np

FIT_MODES = ("resize", "crop", "pad")


@dataclass
class Preprocessing:
    """What is done to every image before it is cached. Defaults: plain resize, nothing else."""

    size: int = 128
    # "resize" keeps the whole field of view (a centre crop can cut off the border the ABCD rules read).
    fit: str = "resize"
    bilateral: bool = False
    bilateral_d: int = 9  # OpenCV's documented example values (d=9, sigma 75/75)
    bilateral_sigma_color: float = 75.0
    bilateral_sigma_space: float = 75.0
    gamma: float = 1.0  # 1.0 = off; the SimDeepL preprocessing used G = 1.5 (brightens mid-tones)
    hair_removal: bool = False
    hair_kernel: int = 0  # black-hat kernel side in px at the working size; 0 = size/25 (9 px at 224)
    shades_of_gray: bool = False
    shades_of_gray_p: int = 6  # Minkowski norm p = 6, Barata et al. 2015 for dermoscopy

    def validate(self) -> Preprocessing:
        if not 8 <= int(self.size) <= 2048:
            raise ValueError(f"size must be between 8 and 2048 px, got {self.size}")
        if self.fit not in FIT_MODES:
            raise ValueError(f"fit must be one of {', '.join(FIT_MODES)}, got {self.fit!r}")
        if not 0.1 <= float(self.gamma) <= 10:
            raise ValueError(f"gamma must be between 0.1 and 10 (1 = off), got {self.gamma}")
        if self.bilateral and not (1 <= int(self.bilateral_d) <= 31):
            raise ValueError(f"bilateral d must be between 1 and 31 px, got {self.bilateral_d}")
        if self.bilateral and (self.bilateral_sigma_color <= 0 or self.bilateral_sigma_space <= 0):
            raise ValueError("bilateral sigmas must be > 0")
        if self.hair_kernel < 0:
            raise ValueError(f"hair kernel must be >= 0 px, got {self.hair_kernel}")
        if self.shades_of_gray and not 1 <= self.shades_of_gray_p <= 32:
            raise ValueError(f"Shades-of-Gray p must be between 1 and 32, got {self.shades_of_gray_p}")
        return self

    def key(self) -> str:
        """A short stable hash of every setting that changes the pixels (part of the cache key)."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]

    def describe(self) -> str:
        steps = [f"{self.fit} to {self.size}px"]
        if self.hair_removal:
            steps.append("hair removal")
        if self.shades_of_gray:
            steps.append(f"Shades of Gray p={self.shades_of_gray_p}")
        if self.bilateral:
            steps.append(f"bilateral d={self.bilateral_d} σc={self.bilateral_sigma_color:g} "
                         f"σs={self.bilateral_sigma_space:g}")
        if self.gamma != 1.0:
            steps.append(f"gamma {self.gamma:g}")
        return ", ".join(steps)


def preprocess_image(img: np.ndarray, pre: Preprocessing) -> np.ndarray:
    """Apply every enabled step of `pre` to one RGB uint8 image; returns (size, size, 3) uint8."""
    out = fit_square(img, pre.size, pre.fit)
    if pre.hair_removal:
        out = remove_hair(out, pre.hair_kernel or None)
    if pre.shades_of_gray:
        out = shades_of_gray(out, pre.shades_of_gray_p)
    if pre.bilateral:
        out = bilateral_filter(out, pre.bilateral_d, pre.bilateral_sigma_color, pre.bilateral_sigma_space)
    if pre.gamma != 1.0:
        out = gamma_correct(out, pre.gamma)
    return out


def fit_square(img: np.ndarray, size: int, mode: str = "resize") -> np.ndarray:
    """Make a (size, size, 3) image: 'resize' squashes, 'crop' takes the centre square, 'pad' letterboxes
    with black (keeps everything and the aspect ratio)."""
    h, w = img.shape[:2]
    if mode == "crop" and h != w:
        side = min(h, w)
        y0, x0 = (h - side) // 2, (w - side) // 2
        img = img[y0:y0 + side, x0:x0 + side]
    elif mode == "pad" and h != w:
        side = max(h, w)
        canvas = np.zeros((side, side, 3), np.uint8)
        y0, x0 = (side - h) // 2, (side - w) // 2
        canvas[y0:y0 + h, x0:x0 + w] = img
        img = canvas
    elif mode not in FIT_MODES:
        raise ValueError(f"fit must be one of {', '.join(FIT_MODES)}, got {mode!r}")
    h, w = img.shape[:2]
    if (h, w) == (size, size):
        return np.ascontiguousarray(img)
    # Area averaging when shrinking (no aliasing), bicubic when enlarging.
    interp = cv2.INTER_AREA if h >= size and w >= size else cv2.INTER_CUBIC
    return cv2.resize(np.ascontiguousarray(img), (size, size), interpolation=interp)


def gamma_correct(img: np.ndarray, gamma: float) -> np.ndarray:
    """out = 255 * (in / 255) ** (1 / gamma): gamma > 1 brightens mid-tones (G = 1.5 as in SimDeepL),
    gamma < 1 darkens them; black and white stay put."""
    if gamma <= 0:
        raise ValueError(f"gamma must be > 0, got {gamma}")
    lut = np.clip(255.0 * (np.arange(256) / 255.0) ** (1.0 / gamma) + 0.5, 0, 255).astype(np.uint8)
    return cv2.LUT(img, lut)


def bilateral_filter(img: np.ndarray, d: int = 9, sigma_color: float = 75.0,
                     sigma_space: float = 75.0) -> np.ndarray:
    """Edge-preserving smoothing (Tomasi & Manduchi 1998): averages only similar-coloured neighbours, so
    skin texture and noise fade while the lesion border stays sharp."""
    return cv2.bilateralFilter(np.ascontiguousarray(img), int(d), float(sigma_color), float(sigma_space))


def remove_hair(img: np.ndarray, kernel: int | None = None, threshold: int = 10,
                inpaint_radius: int = 3) -> np.ndarray:
    """DullRazor-style hair removal (Lee et al. 1997): a black-hat transform finds thin dark lines, which
    are thresholded into a mask and filled from their surroundings by inpainting (Telea)."""
    return inpaint_mask(img, hair_mask(img, kernel, threshold), inpaint_radius)


def hair_mask(img: np.ndarray, kernel: int | None = None, threshold: int = 10) -> np.ndarray:
    """uint8 mask (255 = hair) of thin dark structures narrower than the kernel."""
    side = kernel or max(3, round(min(img.shape[:2]) / 25))
    side += 1 - side % 2  # odd
    gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    se = cv2.getStructuringElement(cv2.MORPH_CROSS, (side, side))
    blackhat = cv2.morphologyEx(gray, cv2.MORPH_BLACKHAT, se)
    _, mask = cv2.threshold(blackhat, threshold, 255, cv2.THRESH_BINARY)
    return cv2.dilate(mask, np.ones((3, 3), np.uint8))


def inpaint_mask(img: np.ndarray, mask: np.ndarray, radius: int = 3) -> np.ndarray:
    if not mask.any():
        return img.copy()
    return cv2.inpaint(np.ascontiguousarray(img), mask, radius, cv2.INPAINT_TELEA)


def shades_of_gray_all(images: np.ndarray, p: int = 6) -> np.ndarray:
    """`shades_of_gray` on each image of a (N, H, W, 3) stack (each image gets its own illuminant)."""
    return np.stack([shades_of_gray(np.asarray(im), p) for im in images]) if len(images) else np.asarray(images)


def shades_of_gray(img: np.ndarray, p: int = 6) -> np.ndarray:
    """Shades-of-Gray colour constancy (Finlayson & Trezzi 2004): estimate the illuminant as the
    Minkowski p-norm mean of each channel and rescale channels so it becomes neutral grey."""
    x = img.astype(np.float32) / 255.0
    illum = np.power(np.mean(np.power(x.reshape(-1, 3), p), axis=0), 1.0 / p)
    illum = illum / (np.linalg.norm(illum) + 1e-8)
    gain = 1.0 / (illum * np.sqrt(3.0) + 1e-8)
    return np.clip(x * gain * 255.0 + 0.5, 0, 255).astype(np.uint8)

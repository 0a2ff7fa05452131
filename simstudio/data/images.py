"""Decoding any image file to an RGB uint8 array, with a reason when it cannot be read.

Real downloads hold grayscale scans, RGBA PNGs, 16-bit TIFFs, phone JPEGs with an EXIF rotation, and files
cut short by a failed transfer. All of them come out as (H, W, 3) uint8 RGB, upright, or as a short reason
why not. OpenCV decodes first (fast, applies the EXIF orientation, can decode JPEGs at 1/2, 1/4, 1/8 scale);
Pillow is the fallback for formats OpenCV lacks.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".jpe", ".bmp", ".tif", ".tiff", ".webp", ".gif",
                              ".ppm", ".pgm"})

# cv2 flags that decode a JPEG at 1/n of its size straight from the DCT coefficients (much cheaper).
_REDUCED_FLAGS = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4,
                  8: cv2.IMREAD_REDUCED_COLOR_8}


class ImageDecodeError(ValueError):
    """A file that looks like an image but cannot be decoded; the message is the reason shown to users."""


def is_image_name(name: str) -> bool:
    """True for image extensions; hidden files and macOS resource forks (`._x.jpg`) are not images."""
    base = name.rsplit("/", 1)[-1]
    if base.startswith("."):
        return False
    return Path(base).suffix.lower() in IMAGE_EXTENSIONS


def decode_image(data: bytes, min_side: int = 0) -> np.ndarray:
    """Bytes of an image file -> (H, W, 3) uint8 RGB, upright (EXIF orientation applied).

    `min_side`: the side the caller will resize to; JPEGs are then decoded at the largest 1/2, 1/4 or 1/8
    reduction whose short side still covers it, which makes a big import several times faster.
    Raises `ImageDecodeError` with a reason (empty, truncated, not an image, ...).
    """
    return decode_with_size(data, min_side)[0]


def decode_with_size(data: bytes, min_side: int = 0) -> tuple[np.ndarray, tuple[int, int]]:
    """`decode_image` plus the file's own (width, height), which a reduced JPEG decode no longer shows."""
    if not data:
        raise ImageDecodeError("empty file (0 bytes)")
    kind = sniff_format(data)
    if kind == "jpeg":
        _check_jpeg_complete(data)
    elif kind == "png":
        _check_png_complete(data)
    buf = np.frombuffer(data, np.uint8)
    img = None
    header = _jpeg_size(data) if kind == "jpeg" and min_side > 0 else None
    if header is not None:
        img = cv2.imdecode(buf, _REDUCED_FLAGS[_reduction_factor(header, min_side)])
    if img is None:
        img = cv2.imdecode(buf, cv2.IMREAD_COLOR)  # gray -> 3 channels, alpha dropped, 16 bit -> 8 bit
    if img is None:
        img = _decode_with_pillow(data, kind)
    else:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    h, w = img.shape[:2]
    if header is None:
        return img, (w, h)
    # The header gives the stored size; OpenCV has applied the EXIF rotation, so swap when it did.
    sw, sh = header
    return img, ((sh, sw) if (h > w) != (sh > sw) else (sw, sh))


def read_image(path: str | Path, min_side: int = 0) -> np.ndarray:
    """Read and decode one file (see `decode_image`)."""
    return decode_image(Path(path).read_bytes(), min_side)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header only, or None when unreadable; cheap enough to run on every file."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1) if hasattr(im, "getexif") else 1
    except Exception:
        return None
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def sniff_format(data: bytes) -> str:
    """The container format from the magic bytes (not the extension, which downloads often get wrong)."""
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return "unknown"


def _check_jpeg_complete(data: bytes) -> None:
    # A JPEG cut short still half-decodes in libjpeg (grey bottom rows, one warning on stderr), so look
    # for the end-of-image marker after the last start-of-scan: inside scan data 0xFF is always stuffed.
    first_sos = data.find(b"\xff\xda")
    if first_sos < 0:
        raise ImageDecodeError("truncated JPEG (cut off before the image data)")
    if data.rstrip(b"\0\r\n ").endswith(b"\xff\xd9"):
        return  # the usual case, checked without scanning the whole file
    if data.find(b"\xff\xd9", data.rfind(b"\xff\xda")) < 0:
        raise ImageDecodeError("truncated JPEG (no end-of-image marker)")


def _check_png_complete(data: bytes) -> None:
    if data.rfind(b"IEND") < 0:
        raise ImageDecodeError("truncated PNG (no IEND chunk)")


# Start-of-frame markers (baseline, progressive, lossless, arithmetic); C4/C8/CC are other tables.
_SOF_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) as stored, from the start-of-frame segment: a few dozen bytes read, no decoder."""
    i, n = 2, len(data)
    while i + 9 < n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _SOF_MARKERS:
            h, w = int.from_bytes(data[i + 5:i + 7], "big"), int.from_bytes(data[i + 7:i + 9], "big")
            return (w, h) if w and h else None
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        i += 2 + int.from_bytes(data[i + 2:i + 4], "big")
    return None


def _reduction_factor(size: tuple[int, int], min_side: int) -> int:
    short = min(size)
    for factor in (8, 4, 2):
        if short // factor >= min_side:
            return factor
    return 1


def _decode_with_pillow(data: bytes, kind: str) -> np.ndarray:
    from PIL import Image, ImageOps

    try:
        with Image.open(io.BytesIO(data)) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.float64)
                top = 65535.0 if arr.max() > 255 else 255.0
                arr = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
                return np.ascontiguousarray(np.repeat(arr[:, :, None], 3, axis=2))
            return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))
    except Exception as exc:
        if kind == "unknown":
            raise ImageDecodeError("not an image (unrecognised file format)") from None
        raise ImageDecodeError(f"corrupt {kind.upper()} ({type(exc).__name__}: {exc})") from None

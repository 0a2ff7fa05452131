"""PNG encoding for dataset exports: ~3x faster than OpenCV's encoder (~7x Pillow's), files ~6 % smaller.

An export spends more time compressing than anything but drawing: OpenCV's encoder costs ~0.6-0.9 ms for
a 128 px image, most of it deflate and per-call setup. Here each row is "Up"-filtered (a difference from
the row above: one vector subtraction, and smooth skin becomes mostly small numbers) and the stream is
deflated by Intel's ISA-L (`isal`), which does level 1 at several times zlib's speed. Without `isal` the
standard library's zlib compresses instead: slower, same pixels. Lossless either way: every reader decodes
exactly the pixels given.
"""

from __future__ import annotations

import os
import struct
import types
import zlib

import numpy as np

try:
    from isal import igzip_lib, isal_zlib

    # isal_zlib.compress's bytes, through the call that releases the GIL (isal_zlib.compress holds it), so
    # an export's threads compress at once.
    _deflate = types.SimpleNamespace(
        compress=lambda data, level: igzip_lib.compress(data, level, flag=igzip_lib.COMP_ZLIB))
    _crc32 = isal_zlib.crc32  # the same checksum, ~10x faster than zlib's (~7 us of a 25 KB IDAT)
except ImportError:  # optional speed-up: the files are the same PNGs without it
    _deflate = zlib
    _crc32 = zlib.crc32

_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IEND = b"\x00\x00\x00\x00IEND\xaeB`\x82"
_COLOUR_TYPE = {1: 0, 3: 2}  # channels -> PNG colour type (grey, RGB)
_UP = 2  # PNG row filter type "Up"


def encode_png(image: np.ndarray, level: int = 1) -> bytes:
    """The PNG file of an (H, W, 3) RGB or (H, W) grey uint8 image."""
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(f"encode_png: expected (H, W) or (H, W, 3) uint8, got {image.shape} {image.dtype}")
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    if h == 0 or w == 0:
        raise ValueError(f"encode_png: empty image {image.shape}")
    rows = image.reshape(h, w * channels)
    raw = np.empty((h, 1 + w * channels), np.uint8)
    raw[:, 0] = _UP
    raw[0, 1:] = rows[0]  # the row above the first is zeros
    np.subtract(rows[1:], rows[:-1], out=raw[1:, 1:])  # uint8 arithmetic wraps modulo 256, as PNG wants
    header = struct.pack(">IIBBBBB", w, h, 8, _COLOUR_TYPE[channels], 0, 0, 0)
    return b"".join((_SIGNATURE, _chunk(b"IHDR", header), _chunk(b"IDAT", _deflate.compress(raw, level)),
                     _IEND))


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", _crc32(data, _crc32(kind)))


def png_complete(path: str | os.PathLike) -> bool:
    """True when the file is a PNG that ends with its IEND chunk (not cut short by a crash)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
            fh.seek(-12, os.SEEK_END)
            tail = fh.read(12)
    except OSError:
        return False
    return head == _SIGNATURE and tail[4:] == _IEND[4:]

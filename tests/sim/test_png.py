"""The export's PNG encoder: every reader gets back exactly the pixels, with or without ISA-L."""

import io
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from simstudio.sim import png
from simstudio.sim.params import LesionParams
from simstudio.sim.render import render_lesion


def _images():
    rng = np.random.default_rng(0)
    yield render_lesion(LesionParams(), 64, 3)[0]
    yield rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # odd sizes, every byte value
    yield np.zeros((1, 1, 3), np.uint8)
    yield np.full((5, 7, 3), 255, np.uint8)


@pytest.mark.parametrize("deflate", ["isal", "zlib"])
def test_pngs_decode_to_the_same_pixels_in_opencv_and_pillow(deflate, monkeypatch):
    if deflate == "zlib":
        monkeypatch.setattr(png, "_deflate", zlib)
    elif png._deflate is zlib:
        pytest.skip("isal is not installed")
    for rgb in _images():
        data = png.encode_png(rgb)
        with Image.open(io.BytesIO(data)) as im:
            im.load()  # checks every chunk's CRC and the zlib stream
            assert im.mode == "RGB"
            assert np.array_equal(np.asarray(im), rgb)
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(bgr[:, :, ::-1], rgb)


def test_grey_images_and_bad_input():
    grey = np.arange(60, dtype=np.uint8).reshape(6, 10)
    with Image.open(io.BytesIO(png.encode_png(grey))) as im:
        assert im.mode == "L"
        assert np.array_equal(np.asarray(im), grey)
    with pytest.raises(ValueError, match="uint8"):
        png.encode_png(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        png.encode_png(np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="empty"):
        png.encode_png(np.zeros((0, 4, 3), np.uint8))


def test_isal_files_are_the_bytes_isal_zlib_compress_gives():
    # The encoder deflates through the ISA-L call that releases the GIL; exports made before it must
    # not change by a byte.
    isal_zlib = pytest.importorskip("isal.isal_zlib")
    rng = np.random.default_rng(1)
    for raw in [rgb.tobytes() for rgb in _images()] + [rng.integers(0, k, n, dtype=np.uint8).tobytes()
                                                      for k in (2, 40, 256) for n in (0, 999, 49280, 300000)]:
        assert png._deflate.compress(raw, 1) == isal_zlib.compress(raw, 1)

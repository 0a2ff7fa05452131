import io

import numpy as np
import pytest
from PIL import Image
from tiny_images import image_bytes

from simstudio.data.images import ImageDecodeError, decode_image, decode_with_size, is_image_name


def _encode(arr, fmt="PNG", **kw) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, fmt, **kw)
    return buf.getvalue()


def test_grayscale_rgba_and_16_bit_come_out_rgb_uint8():
    gray = np.tile(np.arange(0, 256, 8, dtype=np.uint8), (32, 1))
    out = decode_image(_encode(gray))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 1], gray)

    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[..., 3] = 128
    out = decode_image(_encode(rgba))
    assert out.shape == (16, 16, 3) and (out[..., 0] == 200).all() and (out[..., 2] == 0).all()

    deep = (np.arange(32 * 32).reshape(32, 32) * 64).astype(np.uint16)  # up to 65472
    out = decode_image(_encode(deep))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert abs(int(out.max()) - 255) <= 1 and np.array_equal(out[..., 0], out[..., 2])


def test_exif_rotation_is_applied():
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    data = _encode(arr, "JPEG", exif=exif.tobytes(), quality=95)
    out, (w, h) = decode_with_size(data)
    assert out.shape[:2] == (40, 20) and (w, h) == (20, 40)
    assert out[:15].mean() > 200 and out[25:].mean() < 50  # white half now on top


def test_corrupt_truncated_and_non_images_give_reasons():
    jpeg = image_bytes(1, size=64, fmt="JPEG")
    with pytest.raises(ImageDecodeError, match="truncated JPEG"):
        decode_image(jpeg[: len(jpeg) // 2])
    png = image_bytes(2, size=64)
    with pytest.raises(ImageDecodeError, match="truncated PNG"):
        decode_image(png[: len(png) // 2])
    with pytest.raises(ImageDecodeError, match="empty"):
        decode_image(b"")
    with pytest.raises(ImageDecodeError, match="not an image"):
        decode_image(b"name,label\nx,y\n")


def test_reduced_jpeg_decode_still_covers_the_target_and_reports_full_size():
    data = image_bytes(3, size=256, fmt="JPEG")
    out, (w, h) = decode_with_size(data, min_side=64)
    assert (w, h) == (256, 256)
    assert min(out.shape[:2]) >= 64 and out.shape[0] < 256  # decoded at 1/2 or 1/4


def test_only_image_names_count():
    assert is_image_name("a/b/ISIC_1.JPG") and is_image_name("x.tiff")
    for name in ("README.md", "labels.csv", ".DS_Store", "._x.jpg", "notes.txt"):
        assert not is_image_name(name)

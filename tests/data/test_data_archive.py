import stat
import zipfile

import pytest
from tiny_images import image_bytes

from simstudio.data.archive import UnsafeArchiveError, extract_zip


def _zip(path, members):
    """members: {name: bytes}; a name ending in '@link' becomes a symlink to the bytes (as text)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            if name.endswith("@link"):
                info = zipfile.ZipInfo(name[:-5])
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
                zf.writestr(info, data)
            else:
                zf.writestr(name, data)
    return path


def test_a_good_zip_is_extracted_without_macos_forks(tmp_path):
    z = _zip(tmp_path / "ok.zip", {"data/benign/a.png": image_bytes(1),
                                   "data/malignant/b.png": image_bytes(2),
                                   "__MACOSX/data/._a.png": b"fork"})
    written = extract_zip(z, tmp_path / "out")
    assert sorted(written) == ["data/benign/a.png", "data/malignant/b.png"]
    assert (tmp_path / "out/data/benign/a.png").read_bytes() == image_bytes(1)
    assert not (tmp_path / "out/__MACOSX").exists()


@pytest.mark.parametrize("name, reason", [
    ("../../evil.png", "outside the archive"),
    ("benign/../../evil.png", "outside the archive"),
    ("/etc/evil.png", "absolute path"),
    ("C:/evil.png", "absolute path"),
])
def test_path_traversal_is_refused_and_nothing_is_written(tmp_path, name, reason):
    z = _zip(tmp_path / "evil.zip", {"benign/a.png": image_bytes(1), name: b"x"})
    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_zip(z, tmp_path / "out" / "inner")
    assert not (tmp_path / "out").exists()
    assert not (tmp_path / "evil.png").exists()


def test_symlinks_are_refused(tmp_path):
    z = _zip(tmp_path / "link.zip", {"benign/a.png": image_bytes(1),
                                     "benign/passwd.png@link": b"/etc/passwd"})
    with pytest.raises(UnsafeArchiveError, match="symbolic link"):
        extract_zip(z, tmp_path / "out")


def test_zip_bomb_and_limits(tmp_path):
    bomb = _zip(tmp_path / "bomb.zip", {"benign/a.png": b"\0" * (20 * 1024 * 1024)})
    assert bomb.stat().st_size < 100_000
    with pytest.raises(UnsafeArchiveError, match="zip bomb"):
        extract_zip(bomb, tmp_path / "out")
    with pytest.raises(UnsafeArchiveError, match="more than the limit"):
        extract_zip(bomb, tmp_path / "out", max_bytes=1024 * 1024, max_ratio=10**9)
    many = _zip(tmp_path / "many.zip", {f"c/{i}.png": image_bytes(i) for i in range(6)})
    with pytest.raises(UnsafeArchiveError, match="6 files, more than the limit of 5"):
        extract_zip(many, tmp_path / "out", max_files=5)


def test_not_a_zip(tmp_path):
    p = tmp_path / "fake.zip"
    p.write_text("hello")
    with pytest.raises(ValueError, match="not a zip archive"):
        extract_zip(p, tmp_path / "out")

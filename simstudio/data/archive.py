"""Safe zip extraction for uploaded datasets.

An upload is untrusted: a member may try to write outside the target (`../x`, `/etc/x`), be a symbolic
link to a server file, or be a zip bomb (a few KB that inflate to many GB). The whole archive is checked
before anything is written and refused with the reason; while extracting, the bytes actually written are
counted too, because the sizes a zip declares can lie.
"""

from __future__ import annotations

import os
import stat
import zipfile
from pathlib import Path, PurePosixPath

MAX_FILES = 100_000
MAX_BYTES = 8 * 1024**3  # 8 GiB uncompressed: ISIC 2019 (25k JPEGs) is about 9 GB at full size
MAX_RATIO = 200  # an image file compresses a few times at most; 200x is a bomb, not a photo
_COPY_CHUNK = 1 << 20


class UnsafeArchiveError(ValueError):
    """The archive was refused; the message names the member and the reason."""


def extract_zip(zip_path: str | os.PathLike, dest: str | os.PathLike, max_files: int = MAX_FILES,
                max_bytes: int = MAX_BYTES, max_ratio: float = MAX_RATIO) -> list[str]:
    """Extract `zip_path` into `dest` (created) after checking every member; returns the files written.

    Refused (UnsafeArchiveError, nothing written): absolute or `..` paths, links and other special files,
    more than `max_files` files, more than `max_bytes` uncompressed, any member inflating more than
    `max_ratio` times, encrypted members. macOS resource forks (`__MACOSX/`) are left out.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    if not zip_path.is_file():
        raise FileNotFoundError(f"no such zip file: {zip_path}")
    if not zipfile.is_zipfile(zip_path):
        raise ValueError(f"{zip_path.name} is not a zip archive")
    with zipfile.ZipFile(zip_path) as zf:
        members = _checked_members(zf, max_files, max_bytes, max_ratio)
        dest.mkdir(parents=True, exist_ok=True)
        root = dest.resolve()
        written: list[str] = []
        total = 0
        for info, rel in members:
            target = root / rel
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_COPY_CHUNK):
                    total += len(chunk)
                    if total > max_bytes:
                        raise UnsafeArchiveError(f"{zip_path.name} inflates past {_human(max_bytes)} "
                                                 f"(at {rel}): refused as a zip bomb")
                    out.write(chunk)
            written.append(rel)
    return written


# -- private helpers ----------------------------------------------------------------------------------

def _checked_members(zf: zipfile.ZipFile, max_files: int, max_bytes: int, max_ratio: float
                     ) -> list[tuple[zipfile.ZipInfo, str]]:
    infos = zf.infolist()
    files = [i for i in infos if not i.is_dir()]
    if len(files) > max_files:
        raise UnsafeArchiveError(f"archive holds {len(files)} files, more than the limit of {max_files}")
    declared = sum(i.file_size for i in files)
    if declared > max_bytes:
        raise UnsafeArchiveError(f"archive inflates to {_human(declared)}, more than the limit of "
                                 f"{_human(max_bytes)}")
    out = []
    for info in infos:
        name = info.filename
        rel = _safe_relative(name)
        mode = info.external_attr >> 16
        if mode and stat.S_ISLNK(mode):
            raise UnsafeArchiveError(f"archive member {name!r} is a symbolic link: links are refused")
        if mode and not info.is_dir() and stat.S_IFMT(mode) not in (0, stat.S_IFREG):
            raise UnsafeArchiveError(f"archive member {name!r} is not a regular file")
        if info.flag_bits & 0x1:
            raise UnsafeArchiveError(f"archive member {name!r} is encrypted")
        if not info.is_dir() and info.compress_size > 0 and info.file_size / info.compress_size > max_ratio:
            ratio = info.file_size // info.compress_size
            raise UnsafeArchiveError(f"archive member {name!r} inflates {ratio}x: refused as a zip bomb")
        if rel is None:
            continue  # __MACOSX resource forks
        out.append((info, rel))
    return out


def _safe_relative(name: str) -> str | None:
    """The member's path inside the target, or UnsafeArchiveError for absolute / traversing paths."""
    clean = name.replace("\\", "/")
    p = PurePosixPath(clean)
    if clean.startswith("/") or (len(clean) > 1 and clean[1] == ":"):
        raise UnsafeArchiveError(f"archive member {name!r} has an absolute path: refused")
    if ".." in p.parts:
        raise UnsafeArchiveError(f"archive member {name!r} points outside the archive ('..'): refused")
    parts = [q for q in p.parts if q not in ("", ".")]
    if not parts:
        return None
    if parts[0] == "__MACOSX":
        return None
    return "/".join(parts)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024:
            return f"{n:.0f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"

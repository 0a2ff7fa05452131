"""Decode + preprocess every image once into a uint8 array on disk, then memory-map it.

A cache entry is a folder: `images.npy` (N, S, S, 3) uint8, `index.csv` (file, sha1, width, height) in row
order, `skipped.csv` (file, reason) and `done.json` written last, so a half-built entry is never used.
Its name is a hash of the root, the file list (with each file's byte size and mtime) and the
preprocessing, so any change to the files or the settings builds a new entry.

Building runs on a process pool (one worker per core). Each worker writes its rows straight into the
memory-mapped output file, so pixels never travel between processes and the parent's memory stays flat.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from simstudio.data.images import ImageDecodeError, decode_with_size
from simstudio.data.preprocess import Preprocessing, preprocess_image
from simstudio.runs import atomic_write_json, atomic_write_text

# Below this many images a process pool costs more to start (~0.5 s per worker) than it saves.
POOL_MIN_IMAGES = 200
CHUNK = 64


@dataclass
class CacheEntry:
    path: Path  # the entry's folder
    files: list[str]  # decoded files, row order
    hashes: list[str]  # sha1 of each file's bytes
    sizes: list[tuple[int, int]]  # (width, height) of each source image
    skipped: list[tuple[str, str]]  # (file, reason) for files that could not be decoded
    size: int

    @property
    def images_path(self) -> Path:
        return self.path / "images.npy"

    def images(self) -> np.ndarray:
        """The cached images, memory-mapped read-only (pages load on access, so RAM stays small)."""
        return np.load(self.images_path, mmap_mode="r")


def cache_key(root: str | os.PathLike, files: list[str], pre: Preprocessing) -> str:
    """Hash of root + (file, bytes, mtime) for every file + preprocessing; a missing file is an error."""
    h = hashlib.sha1()
    root = Path(root).resolve()
    h.update(str(root).encode())
    for rel in files:
        try:
            st = os.stat(root / rel)
        except FileNotFoundError:
            raise FileNotFoundError(f"image {rel} is no longer in {root}") from None
        h.update(f"\0{rel}\0{st.st_size}\0{st.st_mtime_ns}".encode())
    h.update(pre.key().encode())
    return h.hexdigest()[:16]


def open_cache(folder: str | os.PathLike) -> CacheEntry | None:
    """A finished cache entry, or None when absent or left half-built by a crash."""
    folder = Path(folder)
    done = folder / "done.json"
    if not done.is_file():
        return None
    meta = json.loads(done.read_text(encoding="utf-8"))
    files, hashes, sizes = [], [], []
    with open(folder / "index.csv", newline="", encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            files.append(row["file"])
            hashes.append(row["sha1"])
            sizes.append((int(row["width"]), int(row["height"])))
    skipped = []
    if (folder / "skipped.csv").is_file():
        with open(folder / "skipped.csv", newline="", encoding="utf-8") as fh:
            skipped = [(r["file"], r["reason"]) for r in csv.DictReader(fh)]
    return CacheEntry(path=folder, files=files, hashes=hashes, sizes=sizes, skipped=skipped,
                      size=int(meta["size"]))


def build_cache(root: str | os.PathLike, files: list[str], pre: Preprocessing, folder: str | os.PathLike,
                ctx=None, workers: int | None = None) -> CacheEntry:
    """Decode + preprocess `files` (relative to `root`) into `folder`; undecodable files are skipped and
    listed with their reason. Reuses the entry when it is already complete. `ctx`: a JobContext for
    progress and cancel (optional). `workers`: processes (default: one per core; 1 = in this process)."""
    folder = Path(folder)
    existing = open_cache(folder)
    if existing is not None:
        return existing
    pre.validate()
    if not files:
        raise ValueError("no images to cache")
    # Build in a private folder and rename it into place when complete: two jobs building the same
    # entry never see each other's half-written files, and a crash or cancel leaves no broken entry.
    folder.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_builds(folder.parent)
    work = folder.parent / f".building-{folder.name}-{os.getpid()}-{secrets.token_hex(3)}"
    work.mkdir()
    try:
        entry = _build(root, files, pre, work, ctx, workers)
        if open_cache(folder) is None:  # else another job finished the same entry first: use theirs
            if folder.exists():  # an entry from before builds were renamed into place
                shutil.rmtree(folder, ignore_errors=True)
            with contextlib.suppress(OSError):  # lost a race to rename: theirs is complete too
                os.rename(work, folder)
        finished = open_cache(folder)
        if finished is None:
            raise RuntimeError(f"cache entry {folder} could not be put in place")
        return dataclasses.replace(entry, path=folder)
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)


# -- private helpers ----------------------------------------------------------------------------------

def _build(root, files: list[str], pre: Preprocessing, folder: Path, ctx, workers: int | None) -> CacheEntry:
    n, size = len(files), int(pre.size)
    raw_path = folder / "images.raw.npy"
    out = np.lib.format.open_memmap(raw_path, mode="w+", dtype=np.uint8, shape=(n, size, size, 3))
    del out  # workers write through their own maps
    rows: list[tuple[str, int, int, str]] = [("", 0, 0, "")] * n
    workers = workers or _cpu_count()
    started = time.time()
    if ctx is not None:
        ctx.progress(0, n, message="decoding images")
    chunks = [list(range(i, min(i + CHUNK, n))) for i in range(0, n, CHUNK)]
    args = (str(Path(root)), str(raw_path), asdict(pre))
    if workers <= 1 or n < POOL_MIN_IMAGES:
        done = 0
        for chunk in chunks:
            if ctx is not None:
                ctx.check_cancel()
            for i, row in _decode_chunk(*args, [(j, files[j]) for j in chunk]):
                rows[i] = row
            done += len(chunk)
            if ctx is not None:
                ctx.progress(done, n, message="decoding images", images_per_s=round(done / _since(started)))
    else:
        _run_pool(args, files, chunks, rows, workers, ctx, started)
    entry = _finish(folder, raw_path, files, rows, size)
    if ctx is not None:
        ctx.progress(n, n, message="cache ready", images_per_s=round(n / _since(started)))
    return entry


def _remove_stale_builds(parent: Path, max_age_s: float = 24 * 3600) -> None:
    """Private build folders left by a killed process (a live build is never a day old)."""
    now = time.time()
    for d in parent.glob(".building-*"):
        try:
            if now - d.stat().st_mtime > max_age_s:
                shutil.rmtree(d, ignore_errors=True)
        except FileNotFoundError:
            continue

def _run_pool(args, files, chunks, rows, workers, ctx, started) -> None:
    import multiprocessing as mp

    # "spawn": the app runs jobs on threads, and forking a threaded process can deadlock the child.
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                               initializer=_worker_init)
    n, done = len(files), 0
    try:
        pending = {pool.submit(_decode_chunk, *args, [(j, files[j]) for j in chunk]) for chunk in chunks}
        while pending:
            finished, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            if ctx is not None and ctx.cancelled:
                pool.shutdown(wait=True, cancel_futures=True)
                ctx.check_cancel()
            for fut in finished:
                results = fut.result()
                for i, row in results:
                    rows[i] = row
                done += len(results)
            if ctx is not None and finished:
                ctx.progress(done, n, message="decoding images", images_per_s=round(done / _since(started)))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV's own threads would oversubscribe


def _decode_chunk(root: str, raw_path: str, pre: dict, jobs: list[tuple[int, str]]
                  ) -> list[tuple[int, tuple[str, int, int, str]]]:
    """Decode a chunk of files into their rows of the output map; returns (row, (sha1, w, h, reason))."""
    pre_obj = Preprocessing(**pre)
    out = np.load(raw_path, mmap_mode="r+")
    results = []
    for i, rel in jobs:
        try:
            data = (Path(root) / rel).read_bytes()
        except OSError as exc:
            results.append((i, ("", 0, 0, f"unreadable file ({exc.strerror or exc})")))
            continue
        sha1 = hashlib.sha1(data).hexdigest()
        try:
            img, (w, h) = decode_with_size(data, min_side=pre_obj.size)
            out[i] = preprocess_image(img, pre_obj)
        except ImageDecodeError as exc:
            results.append((i, (sha1, 0, 0, str(exc))))
            continue
        except Exception as exc:  # an image that decodes but breaks a filter is skipped, not fatal
            results.append((i, (sha1, 0, 0, f"could not preprocess ({type(exc).__name__}: {exc})")))
            continue
        results.append((i, (sha1, w, h, "")))
    out.flush()
    del out
    return results


def _finish(folder: Path, raw_path: Path, files: list[str], rows, size: int) -> CacheEntry:
    ok = [i for i, r in enumerate(rows) if not r[3]]
    skipped = [(files[i], rows[i][3]) for i in range(len(files)) if rows[i][3]]
    final = folder / "images.npy"
    if len(ok) == len(files):
        os.replace(raw_path, final)
    else:
        # Drop the rows of skipped files so row i is always files[i]; copied in slices to bound memory.
        src = np.load(raw_path, mmap_mode="r")
        dst = np.lib.format.open_memmap(final, mode="w+", dtype=np.uint8, shape=(len(ok), size, size, 3))
        for start in range(0, len(ok), 1024):
            idx = ok[start:start + 1024]
            dst[start:start + len(idx)] = src[idx]
        dst.flush()
        del src, dst
        raw_path.unlink()
    lines = ["file,sha1,width,height"]
    lines += [_csv_line(files[i], rows[i][0], rows[i][1], rows[i][2]) for i in ok]
    atomic_write_text(folder / "index.csv", "\n".join(lines) + "\n")
    atomic_write_text(folder / "skipped.csv",
                      "\n".join(["file,reason"] + [_csv_line(f, r) for f, r in skipped]) + "\n")
    atomic_write_json(folder / "done.json", {"size": size, "n": len(ok), "skipped": len(skipped),
                                             "created": time.time()})
    return CacheEntry(path=folder, files=[files[i] for i in ok], hashes=[rows[i][0] for i in ok],
                      sizes=[(rows[i][1], rows[i][2]) for i in ok], skipped=skipped, size=size)


def _csv_line(*fields) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(fields)
    return buf.getvalue()


def _cpu_count() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - macOS
        return max(1, os.cpu_count() or 1)


def _since(t0: float) -> float:
    return max(time.time() - t0, 1e-6)

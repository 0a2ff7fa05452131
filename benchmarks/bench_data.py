"""Data-layer speed and memory, measured on a real image folder (default: shared/data/derm-real).

    .venv/bin/python benchmarks/bench_data.py [--data DIR] [--workers N] [--n-memory 10000]

Targets (issue 3): import + cache of 224 px JPEGs >= 300 images/s on 2 cores; reading batches from
the cache >= 20,000 images/s; memory for 10,000 images at 128 px < 600 MB. Prints one line per figure
and the machine's load average, since other processes on a shared box slow every number down.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package
DEFAULT_DATA = REPO.parent / "shared" / "data" / "derm-real"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="image folder root/<class>/*.jpg")
    parser.add_argument("--workers", type=int, default=0, help="decoding processes (default: one per core)")
    parser.add_argument("--n-memory", type=int, default=10_000, help="images in the memory test cache")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()

    from simstudio.data.cache import _cpu_count, build_cache
    from simstudio.data.preprocess import Preprocessing
    from simstudio.data.sources import scan_image_folder

    data = Path(args.data).resolve()
    scan = scan_image_folder(data)
    files = [it.file for it in scan.items]
    workers = args.workers or _cpu_count()
    print(f"data: {data} ({len(files)} images), cores: {_cpu_count()}, workers: {workers}, "
          f"load average: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory(prefix="bench-data-") as tmp:
        tmp = Path(tmp)
        _warm_page_cache(data, files)

        # 1. Import + cache (decode, resize, write the memmap) of the 224 px JPEGs.
        for size, extra in ((224, {}), (128, {}), (224, {"bilateral": True, "gamma": 1.5})):
            pre = Preprocessing(size=size, **extra)
            t0 = time.perf_counter()
            entry = build_cache(data, files, pre, tmp / f"cache-{size}-{len(extra)}", workers=workers)
            dt = time.perf_counter() - t0
            print(f"import+cache  {pre.describe():<40} {len(entry.files) / dt:8.0f} images/s "
                  f"({len(entry.files)} in {dt:.2f} s, pool start included)")

        # 2. + 3. A 10,000-image cache at 128 px: build it, then read it in shuffled batches.
        reps = -(-args.n_memory // len(files))
        many = (files * reps)[: args.n_memory]
        rss_before = _rss_mb()
        t0 = time.perf_counter()
        entry = build_cache(data, many, Preprocessing(size=128), tmp / "cache-10k", workers=workers)
        dt = time.perf_counter() - t0
        build_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"import+cache  {len(many)} images at 128 px                 {len(many) / dt:8.0f} images/s "
              f"({dt:.1f} s); parent peak RSS {build_peak:.0f} MB")
        images = entry.images()
        print(f"cache file    {entry.images_path.stat().st_size / 2**20:.0f} MB on disk, "
              f"memory-mapped: {type(images).__name__} {images.shape}")
        rng = np.random.default_rng(0)
        for label in ("cold pass", "warm pass"):
            order = rng.permutation(len(images))
            t0 = time.perf_counter()
            total = 0
            checksum = 0
            for start in range(0, len(order), args.batch):
                idx = np.sort(order[start:start + args.batch])
                batch = images[idx]  # a real copy into RAM, as a training loop gets it
                checksum += int(batch[:, 0, 0, 0].sum())
                total += len(batch)
            dt = time.perf_counter() - t0
            print(f"read batches  {label} ({args.batch}, shuffled)        {total / dt:8.0f} images/s")
        anon, file_backed = _rss_parts_mb()
        print(f"memory        after reading all {len(images)} images: RSS {_rss_mb():.0f} MB "
              f"(anonymous {anon:.0f} MB + file-backed {file_backed:.0f} MB; "
              f"before the cache {rss_before:.0f} MB)")
        del images, entry


def _warm_page_cache(root: Path, files: list[str]) -> None:
    # Read the sources once so the first timing measures decoding, not the disk.
    for rel in files:
        (root / rel).read_bytes()


def _rss_mb() -> float:
    anon, file_backed = _rss_parts_mb()
    return anon + file_backed


def _rss_parts_mb() -> tuple[float, float]:
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            key, _, value = line.partition(":")
            if key in ("RssAnon", "RssFile", "RssShmem"):
                fields[key] = int(value.split()[0]) / 1024
    return fields.get("RssAnon", 0.0), fields.get("RssFile", 0.0) + fields.get("RssShmem", 0.0)


if __name__ == "__main__":
    main()

"""Speed of the acquisition layers (simstudio/sim/acquisition.py) and of the `acquisition` augmentation.

    .venv/bin/python benchmarks/bench_acquisition.py [--n 4000] [--sizes 64,128,224] [--strength 1.0]

Target (issue 18): >= 2,000 images/s at 64 px on 2 cores, so randomising the acquisition of every training
image on the fly does not slow an epoch. Prints, per size: CPU time per image (draw + apply, one core,
time.process_time, which neighbours on a shared machine disturb far less than wall time), the rate that
implies on 2 cores, and a measured rate with 2 worker processes; then the cost of the torch augmentation
preset `acquisition+flip_rotate` per batch of 64 at 64 px beside plain `flip_rotate`. Load average
beside every figure.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def _images(size: int, n: int = 16) -> list[np.ndarray]:
    from simstudio.sim.presets import sample_params
    from simstudio.sim.render import render_lesion

    return [render_lesion(sample_params(("nevus", "melanoma")[i % 2], np.random.default_rng(i)), size, seed=i)[0]
            for i in range(n)]


def _work(args) -> tuple[int, float]:
    size, start, n, strength = args
    from simstudio.sim.acquisition import apply_acquisition, sample_acquisition

    imgs = _images(size)
    t0, w0 = time.process_time(), time.perf_counter()
    for k in range(start, start + n):
        apply_acquisition(imgs[k % len(imgs)], sample_acquisition(k, strength), k)
    return n, time.process_time() - t0, time.perf_counter() - w0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4000, help="images per measurement")
    parser.add_argument("--sizes", default="64,128,224")
    parser.add_argument("--strength", type=float, default=1.0)
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}")
    for size in (int(s) for s in args.sizes.split(",")):
        _work((size, 0, 50, args.strength))  # warm caches (texture, LUTs)
        n, cpu, _ = _work((size, 0, args.n, args.strength))
        per = cpu / n
        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_work, [(size, 0, 20, args.strength)] * 2))  # start-up outside the timing
            res = list(pool.map(_work, [(size, k * args.n, args.n, args.strength) for k in range(2)]))
            done, wall = sum(r[0] for r in res), max(r[2] for r in res)
        print(f"{size:4d} px: {per * 1e6:7.1f} us CPU per image (one core) -> {2 / per:7.0f} images/s on 2 cores "
              f"by CPU time; measured with 2 processes: {done / wall:7.0f} images/s wall "
              f"(load average {os.getloadavg()[0]:.1f})")
    _torch_preset(args.strength)
    _epoch(args.strength)


def _torch_preset(strength: float) -> None:
    import torch

    from simstudio.data.augment import augment_batch

    imgs = np.stack(_images(64, 64))
    x = torch.from_numpy(imgs).permute(0, 3, 1, 2).float() / 255
    torch.set_num_threads(1)
    for preset in ("flip_rotate", "acquisition+flip_rotate"):
        gen = torch.Generator().manual_seed(0)
        augment_batch(x, preset, gen)
        t0 = time.process_time()
        reps = 30
        for _ in range(reps):
            augment_batch(x, preset, gen)
        per = (time.process_time() - t0) / reps
        print(f"augment preset {preset!r}: {per * 1e3:6.1f} ms CPU per batch of 64 at 64 px "
              f"({per / 64 * 1e6:6.1f} us per image; load average {os.getloadavg()[0]:.1f})")


def _epoch(strength: float, n_per_class: int = 441) -> None:
    """One training epoch of smallcnn on 882 images at 64 px (derm-real's training part), CPU time, with
    and without the acquisition layers."""
    from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

    imgs = np.stack(_images(64, 32))
    train = imgs[np.arange(2 * n_per_class) % len(imgs)]
    y = np.arange(2 * n_per_class) % 2
    data = TrainingData.from_arrays(["benign", "malignant"], test=(imgs, np.arange(len(imgs)) % 2), train=(train, y))
    for preset in ("flip_rotate", "acquisition+flip_rotate"):
        cfg = ClassifierConfig(image_size=64, epochs=1, batch_size=64, augment=preset, device="cpu", val_fraction=0.0,
                               acquisition_strength=strength)
        t0 = time.process_time()
        fit_classifier(cfg, data)
        print(f"one smallcnn epoch on 882 images at 64 px, augment {preset!r}: {time.process_time() - t0:5.1f} s CPU "
              f"(torch threads {__import__('torch').get_num_threads()}; load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()

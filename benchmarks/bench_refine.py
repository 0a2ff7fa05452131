"""Sim-to-real refinement speed (issue 17).

    .venv/bin/python benchmarks/bench_refine.py [--images 2000] [--refiner RUN]

Targets, on this CPU:
1. Fourier domain adaptation >= 1,000 images/s at 128 px (`fda_batch`, the function `refine --method fda`
   runs), at β = 0.01 (the default), 0.05 and 0.09.
2. Applying a refiner >= 500 images/s at 64 px (`refine_images`: batched, torch.inference_mode), with the
   cpu-64 preset's architecture (or a trained run's, with --refiner).
Each figure comes with the process CPU time per image (all threads) beside the wall rate and the load
average: on a shared machine wall time says more about the neighbours than about the code, and CPU seconds
per image is what the wall time per image would be on one idle core.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run as a script from anywhere, without installing the package


def timed(fn, n: int) -> tuple[float, float]:
    """(wall images/s, CPU ms per image) of one call of `fn` over n images."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    return n / max(wall, 1e-9), cpu / n * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--refiner", default="", help="a trained refiner run or checkpoint (default: the "
                                                      "cpu-64 preset architecture, untrained)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    import torch

    from simstudio.sim.fourier import fda_batch
    from simstudio.train.refiner import PRESETS, Refiner, load_refiner, refine_images

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
          f"torch threads {torch.get_num_threads()}")
    rng = np.random.default_rng(0)
    n = args.images
    sims = rng.integers(0, 256, (n, 128, 128, 3), dtype=np.uint8)
    pool = rng.integers(0, 256, (500, 128, 128, 3), dtype=np.uint8)
    fda_batch(sims[:64], pool, 0.01)  # warm-up (DFT bases)
    for beta in (0.01, 0.05, 0.09):
        rate, cpu_ms = timed(lambda b=beta: fda_batch(sims, pool, b, seed=0), n)
        print(f"FDA 128 px, beta {beta:.2f}: {rate:8.0f} images/s wall, {cpu_ms:.3f} ms CPU per image "
              f"({1000 / cpu_ms:.0f} images per CPU-second); target >= 1,000 images/s")

    if args.refiner:
        from simstudio.train.gan_checkpoints import gan_checkpoints

        R, arch = load_refiner(str(gan_checkpoints(args.refiner, "best")[0]))
        what = f"refiner {args.refiner} (nf {arch['nf']}, {arch['n_blocks']} blocks, down {arch['down']})"
    else:
        p = PRESETS["cpu-64"]
        R = Refiner(p["nf"], p["n_blocks"], p["down"]).eval()
        torch.nn.init.normal_(R.head.weight, 0, 0.02)  # a non-zero head: the same work as a trained one
        what = f"cpu-64 architecture (nf {p['nf']}, {p['n_blocks']} blocks, down {p['down']})"
    x = rng.integers(0, 256, (n, 64, 64, 3), dtype=np.uint8)
    refine_images(R, x[:256])  # warm-up
    for batch in (256, 512):
        rate, cpu_ms = timed(lambda b=batch: refine_images(R, x, batch=b), n)
        print(f"refiner 64 px, {what}, batch {batch}: {rate:8.0f} images/s wall, {cpu_ms:.3f} ms CPU per "
              f"image ({1000 / cpu_ms:.0f} images per CPU-second); target >= 500 images/s")
    print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (after)")


if __name__ == "__main__":
    main()

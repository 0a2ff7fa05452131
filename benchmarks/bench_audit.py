"""Speed of the shortcut audit's measurement (issue 14: >= 200 images/s at 224 px on 2 cores).

    .venv/bin/python benchmarks/bench_audit.py [--dataset DATASET_RUN] [--n 400] [--size 224] [--workers 2]

Measures `eval.audit_features` on N images: CPU time per image in this process (one worker, OpenCV on one
thread: the figure that does not depend on what else the machine runs), the rate that implies on 2 cores,
and the wall-clock rate of `measure_many` with --workers processes. Images: the dataset run's (e.g. the
224 px derm-real import) or, without one, simulator renders at --size. Prints the load average beside
every timing, since the machine is shared.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="", help="dataset run id or image folder (default: simulator renders)")
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--workers", type=int, default=2)
    args = p.parse_args()

    import cv2
    import numpy as np

    from simstudio.eval.audit_features import measure_audit_features, measure_many

    if args.dataset:
        from simstudio.data.dataset import load_dataset

        ds = load_dataset(args.dataset, size=args.size)
        images = np.asarray(ds.images[np.linspace(0, len(ds) - 1, min(args.n, len(ds))).astype(int)])
        source = f"{args.dataset} at {args.size} px"
    else:
        from simstudio.sim.presets import default_preset, sample_for_class
        from simstudio.sim.render import render_lesion

        study, rng = default_preset(), np.random.default_rng(0)
        names = study.output_classes
        images = np.stack([render_lesion(sample_for_class(study, names[i % len(names)], rng)[0], size=args.size,
                                         seed=i)[0] for i in range(args.n)])
        source = f"{args.n} simulator renders at {args.size} px"
    n = len(images)
    cv2.setNumThreads(1)
    measure_audit_features(images[0])   # warm caches
    c0, t0 = time.process_time(), time.perf_counter()
    for im in images:
        measure_audit_features(im)
    cpu = (time.process_time() - c0) / n
    wall1 = (time.perf_counter() - t0) / n
    load1 = os.getloadavg()
    t0 = time.perf_counter()
    measure_many(images, workers=args.workers)
    wall_w = time.perf_counter() - t0
    load2 = os.getloadavg()
    print(f"images: {source} ({n})")
    print(f"CPU time per image (1 process, 1 OpenCV thread): {1000 * cpu:.2f} ms "
          f"-> {1 / cpu:.0f} images/s per core, {2 / cpu:.0f} images/s on 2 cores "
          f"(wall {1000 * wall1:.2f} ms/image; load average {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f})")
    print(f"measure_many with {args.workers} workers: {n / wall_w:.1f} images/s wall "
          f"(load average {load2[0]:.2f} {load2[1]:.2f} {load2[2]:.2f})")


if __name__ == "__main__":
    main()

"""Training throughput (images/s of a training epoch) on the real dermoscopy set, three ways:

- simstudio: `fit_classifier` inside a run (decoded-image cache, batch augmentation on tensors, the job
  and event layer writing events.jsonl and a checkpoint per epoch);
- torchvision: a plain `ImageFolder` + `DataLoader` loop over the same JPEGs (decode + resize + flips +
  rotation per image per epoch), same model, batch and optimizer;
- bare: the simstudio batch loop over the cached tensors without any job/event/checkpoint layer, to
  price that layer.

Each way trains 2 epochs and the second (steady-state) epoch is timed. Run:
    .venv/bin/python benchmarks/bench_train.py [--data ../shared/data/derm-real] [--limit-resnet 320]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from the repo root
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "derm-real"
BATCH = 32


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument(
        "--data", default=str(DEFAULT_DATA if DEFAULT_DATA.is_dir() else "/work/shared/data/derm-real")
    )
    ap.add_argument("--limit-resnet", type=int, default=320, help="images per epoch for resnet18@128 (CPU)")
    ap.add_argument("--workers", type=int, default=2, help="DataLoader workers of the torchvision baseline")
    ap.add_argument("--repeats", type=int, default=2, help="best of N timings per way (shared machines)")
    args = ap.parse_args()
    os.environ.setdefault("SIMSTUDIO_HOME", tempfile.mkdtemp(prefix="bench-train-"))
    os.environ.setdefault("SIMSTUDIO_DEVICE", "cpu")
    rows = []
    for model, size, limit in (("smallcnn", 64, 0), ("resnet18", 128, args.limit_resnet)):
        rows.append(bench(args.data, model, size, limit, args.workers, args.repeats))
        print(json.dumps(rows[-1]), flush=True)
    print(
        "\n| model @ px | images/epoch | simstudio img/s | torchvision ImageFolder img/s | speed-up | "
        "bare loop img/s | job/event layer cost |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['model']} @ {r['size']} | {r['images']} | {r['simstudio']:.1f} | {r['torchvision']:.1f} | "
            f"{r['speedup']:.2f}x | {r['bare']:.1f} | {r['layer_cost_pct']:+.1f}% |"
        )
    print(f"\ntorch threads {torch.get_num_threads()}, cpu count {os.cpu_count()}, device cpu")


def bench(data: str, model: str, size: int, limit: int, workers: int, repeats: int) -> dict:
    from simstudio.data.dataset import load_dataset

    t0 = time.perf_counter()
    ds = load_dataset(data, size=size)
    cache_s = time.perf_counter() - t0
    rows = np.arange(len(ds))
    if limit:
        rows = np.random.default_rng(0).permutation(len(ds))[:limit]
    files = [ds.files[i] for i in rows]
    images, labels = np.asarray(ds.images[np.sort(rows)]), ds.labels[np.sort(rows)]
    n = len(labels)
    ours = max(_simstudio_epoch(model, size, images, labels, ds.classes) for _ in range(repeats))
    bare = max(_bare_epoch(model, images, labels) for _ in range(repeats))
    tv = max(_torchvision_epoch(model, size, data, files, ds.classes, workers) for _ in range(repeats))
    return {
        "model": model,
        "size": size,
        "images": n,
        "cache_build_or_map_s": round(cache_s, 2),
        "simstudio": n / ours,
        "bare": n / bare,
        "torchvision": n / tv,
        "speedup": tv / ours,
        "layer_cost_pct": 100 * (ours - bare) / bare,
    }


def _simstudio_epoch(model, size, images, labels, classes) -> float:
    from simstudio.jobs import JobContext
    from simstudio.runs import new_run
    from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

    cfg = ClassifierConfig(
        model=model,
        image_size=size,
        epochs=2,
        batch_size=BATCH,
        val_fraction=0.0,
        augment="flip_rotate",
        schedule="constant",
        device="cpu",
    )
    data = TrainingData.from_arrays(classes, test=(images[:BATCH], labels[:BATCH]), train=(images, labels))
    run = new_run("train", cfg, name="bench")
    fit_classifier(cfg, data, JobContext(run))
    # Wall time between the two epochs' metric events: the whole second epoch, its checkpoint and
    # event writes included (the history's "seconds" leaves the checkpoint out).
    t1, t2 = (e["t"] for e in run.events("metric"))
    return t2 - t1


def _bare_epoch(model, images, labels) -> float:
    """The same per-batch work as simstudio's loop, with no job context, events or checkpoints."""
    from simstudio.data.augment import augment_batch
    from simstudio.nets import build_model, normalisation_for
    from simstudio.nets.model_input import normalise

    torch.manual_seed(0)
    net = build_model(model, 2)
    opt = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.9, weight_decay=1e-4)
    x_all, y_all = torch.from_numpy(np.ascontiguousarray(images)), torch.from_numpy(labels)
    norm = {**normalisation_for(model), "scale": 1.0}
    gen = torch.Generator().manual_seed(0)
    seconds = 0.0
    for _epoch in range(2):
        t0 = time.perf_counter()
        order = torch.randperm(len(y_all), generator=gen)
        net.train()
        for i in range(0, len(order), BATCH):
            idx = order[i : i + BATCH]
            if len(idx) < 2:
                break
            x = x_all[idx].permute(0, 3, 1, 2).float().div_(255.0)
            x = normalise(augment_batch(x, "flip_rotate", gen), norm)
            loss = F.cross_entropy(net(x), y_all[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            float(loss.detach())
        seconds = time.perf_counter() - t0
    return seconds


def _torchvision_epoch(model, size, root, files, classes, workers) -> float:
    """A plain torchvision pipeline: ImageFolder decodes and transforms every JPEG every epoch."""
    from torch.utils.data import DataLoader, Subset
    from torchvision import datasets, transforms

    from simstudio.nets import build_model
    from simstudio.nets.registry import IMAGENET_MEAN, IMAGENET_STD

    tf = transforms.Compose(
        [
            transforms.Resize((size, size)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomVerticalFlip(),
            transforms.RandomRotation(180),
            transforms.ToTensor(),
            transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ]
    )
    folder = datasets.ImageFolder(root, transform=tf)
    wanted = set(files)
    keep = [i for i, (p, _) in enumerate(folder.samples) if os.path.relpath(p, root) in wanted]
    loader = DataLoader(
        Subset(folder, keep),
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        persistent_workers=workers > 0,
        drop_last=False,
    )
    torch.manual_seed(0)
    net = build_model(model, len(classes))
    opt = torch.optim.SGD(net.parameters(), lr=0.005, momentum=0.9, weight_decay=1e-4)
    seconds = 0.0
    for _epoch in range(2):
        t0 = time.perf_counter()
        net.train()
        for x, y in loader:
            if len(y) < 2:
                continue
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            float(loss.detach())
        seconds = time.perf_counter() - t0
    return seconds


if __name__ == "__main__":
    main()

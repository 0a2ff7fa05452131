"""Generate a synthetic dataset from trained GANs: N images per class into `<out>/<class>/*.png` plus
`manifest.csv` (file, class, generator, run, checkpoint, epoch, seed, source) — the simulator's layout,
so `simstudio.data.dataset.load_dataset(out)` reads it as a synthetic source.

Image i of a class is drawn from z = N(0, I) seeded with `seed + i` and the generator in eval mode, so a
manifest row regenerates its image exactly, whatever batch it was made in. No autograd, large batches,
channels-last; PNG encoding runs on a thread pool beside the generator.
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from simstudio.jobs import JobContext
from simstudio.sim.png import encode_png
from simstudio.train.gan_checkpoints import gan_checkpoints, load_gan_checkpoint
from simstudio.train.gan_samples import to_model_range, to_uint8

MANIFEST_FIELDS = ["file", "class", "generator", "run", "checkpoint", "epoch", "seed", "source"]


@dataclass
class GenerateConfig:
    checkpoint: str = ""           # GAN run id/folder, a model's checkpoint folder, or a .pt file
    out: str = ""                  # output folder (created; must be empty)
    per_class: int = 100
    classes: list[str] = field(default_factory=list)  # [] = every class the checkpoints make
    seed: int = 0
    which: str = "best"            # best | last checkpoint of each model
    translate: str = ""            # CycleGAN: image folder / dataset run whose X images to translate
    batch_size: int = 512
    device: str = ""


def generate_images(config: GenerateConfig | dict, ctx: JobContext | None = None) -> dict:
    """The generation job; returns counts, the output folder and the measured images/s."""
    config = _coerce(config)
    ctx = ctx or JobContext.local()
    check_generate_config(config)
    out = _prepare_out(config.out)
    device = torch.device(config.device) if config.device else _default_device()
    makers = class_generators(config.checkpoint, config.which, device)
    wanted = list(config.classes) or list(makers)
    missing = [c for c in wanted if c not in makers]
    if missing:
        raise ValueError(f"the checkpoint(s) make {', '.join(makers)}, not {', '.join(missing)}")
    rows: list[dict] = []
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=2) as executor:
        pool = _Writer(executor)
        if config.translate:
            counts, rows = _translate(config, makers, wanted, out, pool, ctx, device)
        else:
            total = config.per_class * len(wanted)
            done = 0
            for c in wanted:
                maker = makers[c]
                (out / _safe(c)).mkdir(parents=True, exist_ok=True)
                for start in range(0, config.per_class, config.batch_size):
                    ctx.check_cancel()
                    seeds = np.arange(start, min(config.per_class, start + config.batch_size)) + config.seed
                    images = maker.sample(seeds)
                    for s, img in zip(seeds, images, strict=True):
                        rel = f"{_safe(c)}/{_safe(c)}_{int(s):07d}.png"
                        pool.submit(out / rel, img)
                        rows.append({**maker.row, "file": rel, "class": c, "seed": int(s), "source": ""})
                    done += len(seeds)
                    ctx.progress(done, total, message=f"{c}: {start + len(seeds)}/{config.per_class}")
                counts[c] = config.per_class
        pool.wait()
    seconds = time.perf_counter() - t0
    _write_manifest(out / "manifest.csv", rows)
    n = sum(counts.values())
    return {"out": str(out), "counts": counts, "images": n, "seconds": round(seconds, 2),
            "images_per_s": round(n / seconds, 1) if seconds > 0 else None,
            "checkpoint": config.checkpoint, "manifest": str(out / "manifest.csv")}


def check_generate_config(config: GenerateConfig | dict) -> None:
    """Refuse bad input before a run is made: unknown checkpoint, busy output folder, bad counts."""
    config = _coerce(config)
    if config.per_class < 1 and not config.translate:
        raise ValueError(f"per_class must be at least 1, got {config.per_class}")
    if config.which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {config.which!r}")
    if not config.checkpoint:
        raise ValueError("give a GAN run id or checkpoint file to generate from")
    gan_checkpoints(config.checkpoint, config.which)
    _check_out(config.out)


@dataclass
class ClassGenerator:
    """Makes uint8 images of one class from per-image seeds (and translates, for CycleGANs)."""

    sample: Callable[[np.ndarray], np.ndarray]
    row: dict                        # manifest columns shared by every image it makes
    translate: Callable[[np.ndarray], np.ndarray] | None = None
    x_class: str = ""
    image_size: int = 64


def class_generators(ref: str, which: str = "best",
                     device: torch.device | str = "cpu") -> dict[str, ClassGenerator]:
    """class name → ClassGenerator for every model in a GAN run / checkpoint."""
    device = torch.device(device)
    out: dict[str, ClassGenerator] = {}
    for path in gan_checkpoints(ref, which):
        ckpt = load_gan_checkpoint(path)
        run_id = _run_id(path)
        base = {"generator": ckpt["model"], "run": run_id, "checkpoint": str(path),
                "epoch": int(ckpt["epoch"])}
        kind = ckpt["model"]
        if kind == "dcgan":
            out[ckpt["class_name"]] = _dcgan_maker(ckpt, base, device)
        elif kind == "acgan":
            for i, c in enumerate(ckpt["classes"]):
                out[c] = _acgan_maker(ckpt, i, base, device)
        elif kind == "cyclegan":
            out[ckpt["y_class"] if not ckpt.get("x_source") else ckpt["class_name"]] = _cyclegan_maker(
                ckpt, base, device, which)
        else:
            raise ValueError(f"{path}: unknown GAN kind {kind!r}")
    return out


def noise_for_seeds(seeds: np.ndarray, nz: int) -> torch.Tensor:
    """z (len(seeds), nz): row i is N(0, I) from its own seed, so an image never depends on its batch."""
    z = torch.empty(len(seeds), nz)
    g = torch.Generator()
    for i, s in enumerate(seeds):
        g.manual_seed(int(s))
        torch.randn(nz, generator=g, out=z[i])
    return z


# -- makers ---------------------------------------------------------------------------------------------

def _dcgan_maker(ckpt: dict, base: dict, device: torch.device) -> ClassGenerator:
    from simstudio.nets.dcgan import fold_batchnorm
    from simstudio.train.dcgan import load_dcgan_generator

    G = fold_batchnorm(load_dcgan_generator(ckpt, device)).to(memory_format=torch.channels_last)
    nz = ckpt["arch"]["nz"]

    @torch.inference_mode()
    def sample(seeds: np.ndarray) -> np.ndarray:
        z = noise_for_seeds(seeds, nz)[:, :, None, None].to(device)
        z = z.contiguous(memory_format=torch.channels_last)
        return to_uint8(G(z))

    return ClassGenerator(sample=sample, row=base, image_size=ckpt["arch"]["image_size"])


def _acgan_maker(ckpt: dict, label: int, base: dict, device: torch.device) -> ClassGenerator:
    from simstudio.nets.dcgan import fold_batchnorm
    from simstudio.train.acgan import load_acgan_generator

    G = load_acgan_generator(ckpt, device)
    G.body = fold_batchnorm(G.body)
    G = G.to(memory_format=torch.channels_last)
    nz = ckpt["arch"]["nz"]

    @torch.inference_mode()
    def sample(seeds: np.ndarray) -> np.ndarray:
        z = noise_for_seeds(seeds, nz).to(device)
        return to_uint8(G(z, torch.full((len(seeds),), label, device=device)))

    return ClassGenerator(sample=sample, row=base, image_size=ckpt["arch"]["image_size"])


def _cyclegan_maker(ckpt: dict, base: dict, device: torch.device, which: str) -> ClassGenerator:
    from simstudio.train.cyclegan import load_cyclegan_generator

    G = load_cyclegan_generator(ckpt, "G", device)

    @torch.inference_mode()
    def translate(images: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(images), 64):
            out.append(to_uint8(G(to_model_range(images[i:i + 64]).to(device))))
        return np.concatenate(out) if out else np.zeros((0,) + images.shape[1:], np.uint8)

    source = ckpt.get("x_source") or ""
    if source:  # refinement chain: sample the upstream GAN, then refine with G
        upstream = class_generators(source, which, device)[ckpt["x_class"]]

        def sample(seeds: np.ndarray) -> np.ndarray:
            return translate(upstream.sample(seeds))
    else:
        def sample(seeds: np.ndarray) -> np.ndarray:
            raise ValueError(f"this CycleGAN translates {ckpt['x_class']} images into {ckpt['y_class']}: "
                             f"give images to translate (--translate FOLDER), not a number per class")

    return ClassGenerator(sample=sample, row=base, translate=translate, x_class=ckpt["x_class"],
                          image_size=ckpt["arch"]["image_size"])


def _translate(config, makers, wanted, out, pool, ctx, device) -> tuple[dict, list]:
    from simstudio.data.dataset import load_dataset

    counts, rows = {}, []
    for c in wanted:
        maker = makers[c]
        if maker.translate is None:
            raise ValueError(f"{c} comes from a {maker.row['generator']}, which does not translate images")
        data = load_dataset(config.translate, size=maker.image_size)
        if maker.x_class in data.classes:
            idx = np.flatnonzero(data.labels == data.classes.index(maker.x_class))
        elif len(data.classes) == 1:
            idx = np.arange(len(data.files))
        else:
            raise ValueError(f"{config.translate} has classes {', '.join(data.classes)} but no "
                             f"{maker.x_class!r} folder to translate")
        if config.per_class > 0:
            idx = idx[:config.per_class]
        (out / _safe(c)).mkdir(parents=True, exist_ok=True)
        for start in range(0, len(idx), config.batch_size):
            ctx.check_cancel()
            part = idx[start:start + config.batch_size]
            images = maker.translate(np.asarray(data.images[part]))
            for j, img in zip(part, images, strict=True):
                stem = Path(data.files[j]).stem
                rel = f"{_safe(c)}/{_safe(c)}_{_safe(stem)}.png"
                pool.submit(out / rel, img)
                rows.append({**maker.row, "file": rel, "class": c, "seed": "",
                             "source": str(Path(data.root) / data.files[j])})
            done = start + len(part)
            ctx.progress(done, len(idx), message=f"{c}: translated {done}/{len(idx)}")
        counts[c] = int(len(idx))
    return counts, rows


# -- private helpers ----------------------------------------------------------------------------------------

def _coerce(config) -> GenerateConfig:
    if isinstance(config, GenerateConfig):
        return config
    from simstudio.config import config_from_dict

    return config_from_dict(GenerateConfig, dict(config))


def _prepare_out(out: str) -> Path:
    path = _check_out(out)
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_out(out: str) -> Path:
    if not out:
        raise ValueError("give an output folder (--out DIR)")
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise NotADirectoryError(f"{path} is a file, not a folder")
    if path.is_dir() and any(path.iterdir()):
        raise ValueError(f"{path} already exists and is not empty; choose a new folder")
    return path


class _Writer:
    """PNG writes on a thread pool; the first failure (disk full, permissions) is raised, not lost."""

    def __init__(self, executor: ThreadPoolExecutor):
        self.executor = executor
        self.futures: list = []

    def submit(self, path: Path, image: np.ndarray) -> None:
        self.futures.append(self.executor.submit(_write_png, path, image))
        if len(self.futures) > 4096:
            self.wait()

    def wait(self) -> None:
        for f in self.futures:
            f.result()
        self.futures = []


def _write_png(path: Path, image: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(encode_png(image))  # the simulator export's encoder: several times faster than Pillow
    os.replace(tmp, path)


def _write_manifest(path: Path, rows: list[dict]) -> None:
    from simstudio.runs import atomic_write_text

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=MANIFEST_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: r.get(k, "") for k in MANIFEST_FIELDS})
    atomic_write_text(path, buf.getvalue())


def _run_id(path: Path) -> str:
    for parent in path.parents:
        if (parent / "meta.json").is_file():
            return parent.name
    return ""


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in str(name)) or "class"


def _default_device() -> torch.device:
    from simstudio.device import default_device

    return torch.device(default_device())

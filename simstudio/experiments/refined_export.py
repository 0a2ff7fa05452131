"""A refined copy of a simulated export: every image passed through a trained SimGAN refiner or through
Fourier domain adaptation (FDA) with a real image's amplitude, written in the simulator's own layout
(`<out>/<class>/<file>.png` + `manifest.csv` + marker), so it loads anywhere a synthetic folder does
(experiments, `train-classifier --synthetic`, the Gap tab).

The manifest keeps every simulated parameter of each image and adds how it was refined: the method, the
refiner run and checkpoint epoch, or β and the real image whose amplitude it took. The marker keeps the
simulator preset (so the lesion masks can still be regenerated) and adds the real images the refinement
read to the preset's provenance, so the experiments' fit-leakage guard refuses a test on any of them.

Both methods are label-blind: the refiner trained on pooled classes (simstudio.train.refiner); FDA draws
its real image uniformly from the pooled real part, whatever either image's class.
"""

from __future__ import annotations

import csv
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simstudio.jobs import JobContext

RUN_KIND = "refine"
METHODS = ("simgan", "fda")
REFINE_FIELDS = ["refine_method", "refiner_run", "refiner_epoch", "fda_beta", "fda_real_image", "refine_seed"]
STRIP_PER_CLASS = 4
CAVEAT = ("Refinement is label-blind (no class label is read), but the refiner can still learn correlations "
          "present in the real set between how a lesion looks and how it was photographed. The raw export "
          "stays available and is never changed.")


@dataclass
class RefineConfig:
    synthetic: str = ""       # the simulated export folder to refine (never modified)
    out: str = ""             # the refined export folder ("" inside a job: the run folder /export)
    method: str = "simgan"    # "simgan" (a trained refiner) or "fda"
    refiner: str = ""         # simgan: refiner run id, run folder or checkpoint file
    which: str = "best"       # simgan: "best" (lowest KID) or "last" checkpoint
    real: str = ""            # fda: real dataset run id or folder to draw amplitudes from; C2ST's real set
    real_part: str = "train"  # fda: part of the real set's saved split to draw from ("" = all)
    beta: float = 0.01        # fda window (Yang & Soatto: 0.01-0.09; their code's default 0.01)
    seed: int = 0             # fda: which real image each simulated one gets
    batch: int = 256
    device: str = "cpu"
    c2st_features: str = ""   # "" = no C2ST; "pixels", "stats" or a classifier run id (domain space)
    c2st_part: str = "test"   # real part the C2ST compares with ("" = all)
    c2st_images: int = 300    # at most this many images per set in the C2ST


def coerce_refine_config(config) -> RefineConfig:
    if isinstance(config, RefineConfig):
        return config
    from simstudio.config import config_from_dict

    return config_from_dict(RefineConfig, dict(config))


def check_refine_config(config: RefineConfig) -> None:
    from simstudio.sim.export import MANIFEST
    from simstudio.sim.fourier import check_beta

    if config.method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {config.method!r}")
    src = Path(config.synthetic).expanduser()
    if not config.synthetic or not (src / MANIFEST).is_file():
        raise ValueError(f"synthetic = {config.synthetic!r}: give a simulated export folder (one with "
                         f"{MANIFEST}, as `python -m simstudio simulate` writes)")
    if config.method == "simgan" and not config.refiner:
        raise ValueError("method simgan needs a trained refiner (refiner run id or checkpoint); train one "
                         "with `python -m simstudio refine --train ...` or the GAN tab")
    if config.method == "fda":
        check_beta(config.beta)
        if not config.real:
            raise ValueError("method fda needs a real dataset to draw amplitude spectra from (--real)")
    if config.which not in ("best", "last"):
        raise ValueError(f"which must be best or last, got {config.which!r}")
    if config.batch < 1:
        raise ValueError(f"batch must be at least 1, got {config.batch}")
    if config.out:
        out = Path(config.out).expanduser()
        if out.resolve() == src.resolve():
            raise ValueError("out must be a new folder: the raw export stays as it is")
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise ValueError(f"{out} already exists and is not an empty folder; choose a new one")


def refine_export(config: RefineConfig | dict, ctx: JobContext | None = None) -> dict:
    """The refine job: read the export, refine every image, write the refined export; C2ST before/after
    against the real part when `c2st_features` is set."""
    from simstudio.data.dataset import load_dataset

    config = coerce_refine_config(config)
    ctx = ctx or JobContext.local()
    check_refine_config(config)
    src = Path(config.synthetic).expanduser()
    out = _out_folder(config, ctx)
    rows, marker = _read_export(src)
    t_cpu, t_wall = time.process_time(), time.perf_counter()
    if config.method == "simgan":
        refined_fn, info, size = _simgan(config)
    else:
        size = None
    sim = load_dataset(str(src), size=size, ctx=ctx)
    missing = [f for f in sim.files if f not in rows]
    if missing:
        raise ValueError(f"{len(missing)} images of {src} are not in its manifest (e.g. {missing[0]})")
    images = np.asarray(sim.images)
    ctx.log(f"refining {len(images)} images of {src} ({config.method}) at {sim.size} px into {out}")
    extra: dict[str, list] = {}
    if config.method == "simgan":
        refined = _batched(refined_fn, images, config.batch, ctx)
        info["provenance_sha1"] = info.pop("real_sha1")
    else:
        refined, extra, info = _fda(config, images, ctx)
    elapsed_cpu, elapsed = time.process_time() - t_cpu, time.perf_counter() - t_wall
    _write_images(out, sim.files, refined, ctx)
    _write_manifest(out, sim.files, rows, config, info, extra)
    _write_marker(out, marker, config, info)
    result = {"out": str(out), "source": str(src), "method": config.method, "images": len(refined),
              "size": int(sim.size), "seconds": round(elapsed, 2), "cpu_seconds": round(elapsed_cpu, 2),
              "images_per_s": round(len(refined) / max(elapsed, 1e-9), 1),
              "images_per_cpu_s": round(len(refined) / max(elapsed_cpu, 1e-9), 1),
              **{k: v for k, v in info.items() if k != "provenance_sha1"}, "caveat": CAVEAT}
    if ctx.run_dir is not None:
        _write_strip(ctx, sim, images, refined)
    if config.c2st_features and config.real:
        result["c2st"] = c2st_before_after(config, images, refined, ctx)
    ctx.log(CAVEAT)
    return result


def c2st_before_after(config: RefineConfig, raw: np.ndarray, refined: np.ndarray, ctx=None) -> dict:
    """C2ST AUC of real vs raw and of real vs refined, on the same simulated images, in one feature space."""
    from simstudio.data.dataset import load_dataset
    from simstudio.eval.domain_gap import c2st, compute_features

    real = load_dataset(config.real, size=raw.shape[1])
    rows = real.part_rows(config.c2st_part, "C2ST part", config.real)
    rng = np.random.default_rng(config.seed)
    rows = np.sort(rng.permutation(rows)[:config.c2st_images])
    pick = np.sort(rng.permutation(len(raw))[:config.c2st_images])
    if ctx is not None:
        ctx.log(f"C2ST in {config.c2st_features!r}: {len(rows)} real ({config.c2st_part or 'all'}) vs "
                f"{len(pick)} simulated images, before and after refinement")
    f_real = compute_features(np.asarray(real.images[rows]), config.c2st_features)[0]
    out = {"features": config.c2st_features, "real_part": config.c2st_part, "n_real": len(rows),
           "n_synthetic": len(pick)}
    for name, imgs in (("before", raw[pick]), ("after", refined[pick])):
        res = c2st(f_real, compute_features(np.ascontiguousarray(imgs), config.c2st_features)[0],
                   seed=config.seed)
        out[name] = res.as_dict()
    out["drop"] = out["before"]["auc"] - out["after"]["auc"]
    if ctx is not None:
        ctx.report("c2st", **out)
    return out


# -- methods -------------------------------------------------------------------------------------------

def _simgan(config: RefineConfig):
    from simstudio.train.gan_checkpoints import gan_checkpoints, load_gan_checkpoint
    from simstudio.train.refiner import load_refiner, refine_images

    path = gan_checkpoints(config.refiner, config.which)[0]
    ckpt = load_gan_checkpoint(path)
    R, arch = load_refiner(ckpt, device=config.device or "cpu")
    run_dir = path.parents[2] if path.parent.name == "refiner" else None
    data = json.loads((run_dir / "refiner_data.json").read_text()) if run_dir and (
        run_dir / "refiner_data.json").is_file() else {}
    info = {"refiner_run": run_dir.name if run_dir else str(path), "refiner_checkpoint": path.name,
            "refiner_epoch": int(ckpt.get("epoch", 0)), "real": data.get("dataset", ""),
            "real_part": data.get("real_part", ""), "real_sha1": data.get("real_sha1", [])}

    def fn(batch: np.ndarray) -> np.ndarray:
        return refine_images(R, batch, device=config.device or "cpu", batch=config.batch)

    return fn, info, int(arch["image_size"])


def _fda(config: RefineConfig, images: np.ndarray, ctx) -> tuple[np.ndarray, dict, dict]:
    from simstudio.data.dataset import load_dataset
    from simstudio.sim.fourier import fda_batch

    real = load_dataset(config.real, size=images.shape[1])
    rows = real.part_rows(config.real_part, "real_part", config.real)
    rows = rows[np.argsort(np.asarray([real.hashes[i] for i in rows], dtype=str), kind="stable")]
    pool = np.asarray(real.images[rows])
    ctx.progress(0, len(images), "Fourier domain adaptation")
    refined, picks = fda_batch(images, pool, config.beta, config.seed)
    ctx.progress(len(images), len(images), "Fourier domain adaptation")
    info = {"real": config.real, "real_part": config.real_part, "beta": config.beta,
            "provenance_sha1": [real.hashes[i] for i in rows]}
    return refined, {"fda_real_image": [real.files[rows[p]] for p in picks]}, info


def _batched(fn, images: np.ndarray, batch: int, ctx) -> np.ndarray:
    out = np.empty_like(images)
    for i in range(0, len(images), batch):
        ctx.check_cancel()
        out[i:i + batch] = fn(images[i:i + batch])
        ctx.progress(min(i + batch, len(images)), len(images), "refining")
    return out


# -- writing -------------------------------------------------------------------------------------------

def _out_folder(config: RefineConfig, ctx) -> Path:
    if config.out:
        out = Path(config.out).expanduser()
    elif ctx.run_dir is not None:
        out = Path(ctx.run_dir) / "export"
    else:
        raise ValueError("out: give an output folder")
    out.mkdir(parents=True, exist_ok=True)
    return out


def _read_export(src: Path) -> tuple[dict[str, dict], dict | None]:
    from simstudio.sim.export import MANIFEST, MARKER

    with open(src / MANIFEST, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = {r["file"]: r for r in reader}
    marker = None
    if (src / MARKER).is_file():
        marker = json.loads((src / MARKER).read_text(encoding="utf-8"))
    return rows, marker


def _write_images(out: Path, files: list[str], images: np.ndarray, ctx) -> None:
    from simstudio.sim.png import encode_png

    for i, (rel, img) in enumerate(zip(files, images, strict=True)):
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(encode_png(img))
        os.replace(tmp, path)
        if i % 256 == 0:
            ctx.check_cancel()
            ctx.progress(i, len(files), "writing PNGs")


def _write_manifest(out: Path, files: list[str], rows: dict[str, dict], config: RefineConfig, info: dict,
                    extra: dict[str, list]) -> None:
    from simstudio.runs import atomic_write_text
    from simstudio.sim.export import MANIFEST

    first = rows[files[0]]
    fields = list(first) + [f for f in REFINE_FIELDS if f not in first]
    import io

    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    for i, f in enumerate(files):
        row = dict(rows[f])
        row.update(refine_method=config.method, refiner_run=info.get("refiner_run", ""),
                   refiner_epoch=info.get("refiner_epoch", ""),
                   fda_beta=config.beta if config.method == "fda" else "",
                   fda_real_image=extra["fda_real_image"][i] if "fda_real_image" in extra else "",
                   refine_seed=config.seed if config.method == "fda" else "")
        writer.writerow(row)
    atomic_write_text(out / MANIFEST, text.getvalue())


def _write_marker(out: Path, marker: dict | None, config: RefineConfig, info: dict) -> None:
    """The source's marker with the refinement added to the preset's provenance: the fit-leakage guard
    walks `base_provenance` and sees every real image the refinement read."""
    from simstudio.experiments.simfit import SHA1_PREFIX
    from simstudio.runs import atomic_write_json
    from simstudio.sim.export import MARKER

    refined = {"refined_by": config.method, "dataset": info.get("real", ""),
               "parts": [info.get("real_part", "")] if info.get("real_part") else [],
               "real_sha1": sorted({h[:SHA1_PREFIX] for h in info.get("provenance_sha1", [])}),
               "source_export": str(Path(config.synthetic).expanduser().resolve())}
    if config.method == "simgan":
        refined.update(refiner_run=info.get("refiner_run", ""), refiner_epoch=info.get("refiner_epoch"))
    else:
        refined.update(beta=config.beta, seed=config.seed)
    if marker is None:
        marker = {"preset": {"provenance": {}}}
    marker = json.loads(json.dumps(marker))
    preset = marker.setdefault("preset", {})
    refined["base_provenance"] = preset.get("provenance") or {}
    preset["provenance"] = refined
    marker["refined"] = {k: v for k, v in refined.items() if k not in ("real_sha1", "base_provenance")}
    atomic_write_json(out / MARKER, marker)


def _write_strip(ctx, sim, raw: np.ndarray, refined: np.ndarray) -> None:
    """before_after.png: the same lesions raw (top) and refined (bottom), a few of each class."""
    from simstudio.train.gan_samples import image_grid, write_png

    rows = []
    for c in range(len(sim.classes)):
        rows += list(np.flatnonzero(sim.labels == c)[:STRIP_PER_CLASS])
    rows = np.asarray(rows, dtype=np.int64)
    if not len(rows):
        return
    grid = image_grid(np.concatenate([raw[rows], refined[rows]]), nrow=len(rows))
    write_png(Path(ctx.run_dir) / "before_after.png", grid)
    ctx.report("image", path="before_after.png", kind="before_after",
               files=[sim.files[i] for i in rows])

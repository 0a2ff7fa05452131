"""Export a simulated dataset: `<out>/<class>/<class>_<index:06d>.png` plus `manifest.csv` (file, class,
class_preset, seed, renderer_version and every `LesionParams` field), the ImageFolder layout every other
layer reads. With `masks`, each image's ground-truth masks lie beside it under ISIC 2018's names
(`<class>_<index>_segmentation.png`, `..._attribute_<name>.png`; see simstudio/sim/masks.py).

Image i of class c gets its own seed from numpy's SeedSequence over (base seed, c, i), draws its
parameters from an rng seeded with it and renders with it, so any image can be regenerated from its
manifest row and the output is byte-identical whatever the number of workers. A manifest holds
pictures of one renderer version only: the same seed draws another picture under another version, so
finishing or regenerating an export of another version is refused with both versions named.

Interruption is safe: each PNG is written under a temporary name and renamed, and the manifest is
streamed to a hidden partial file that becomes `manifest.csv` only when every image is on disk. Running
the same export again into the same folder keeps the complete PNGs and finishes the rest.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
import zipfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from simstudio.sim.masks import check_masks, isic_masks, mask_files, mask_png
from simstudio.sim.params import PARAM_SPECS, LesionParams
from simstudio.sim.png import encode_png, png_complete
from simstudio.sim.presets import (
    SimulatorPreset,
    default_preset,
    load_preset,
    preset_to_dict,
    sample_for_class,
)
from simstudio.sim.render import RENDERER_VERSION, render_lesion, warm_up

MANIFEST = "manifest.csv"
MANIFEST_FIELDS = ["file", "class", "class_preset", "seed", "renderer_version", *PARAM_SPECS]
# Exports made before the renderer had a version number (no column, no marker key) are version 1.
UNVERSIONED = 1
# Settings of the export a folder holds, so a rerun with other settings cannot mix two datasets.
MARKER = ".simstudio-export.json"
PARTIAL_MANIFEST = ".manifest.csv.partial"
MIN_SIZE, MAX_SIZE = 32, 512
MAX_PER_CLASS = 10_000_000
CHUNK = 64  # images per task: large enough to amortise inter-process traffic, small for smooth progress


TASKS = ("binary", "three_class")


@dataclass
class ExportConfig:
    out: str  # "" inside a job: the job's run folder /export
    per_class: int
    size: int = 128
    preset: str | None = None  # path to a preset JSON; None = the default preset of `task`
    seed: int = 0
    workers: int = 0  # 0 = every core
    task: str = "binary"  # default preset when no file: benign (nevus + SK) vs malignant, or three classes
    masks: bool = False  # also write each image's lesion and structure masks beside it (ISIC 2018 names)
    # The renderer that draws the export; a run config of another version cannot be re-run here.
    renderer_version: int = RENDERER_VERSION

    def validate(self) -> ExportConfig:
        if self.task not in TASKS:
            raise ValueError(f"task = {self.task!r}: expected one of {', '.join(TASKS)}")
        check_renderer_version(self.renderer_version, "this export's settings")
        if not isinstance(self.masks, bool):
            raise ValueError(f"masks = {self.masks!r}: expected true or false")
        _check_int("per_class", self.per_class, 1, MAX_PER_CLASS)
        _check_int("size", self.size, MIN_SIZE, MAX_SIZE)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        _check_int("workers", self.workers, 0, 256)
        return self


def export_dataset(config: ExportConfig | dict, ctx=None) -> dict:
    """Render `per_class` images of every output class of the preset into `config.out`."""
    from simstudio.jobs import JobContext

    ctx = ctx or JobContext.local()
    config = _coerce(config)
    out = _out_folder(config, ctx.run_dir)
    study = check_export(config, out)
    classes = list(study.output_classes)
    _prepare_folder(out, _marker(config, study))
    for name in classes:
        (out / name).mkdir(exist_ok=True)
        for stale in (out / name).glob(".*.tmp"):  # half-written PNGs of an interrupted run
            stale.unlink(missing_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # a rerun must not leave a claim while files are missing

    workers = resolve_workers(config.workers)
    total = config.per_class * len(classes)
    tasks = list(_tasks(len(classes), config.per_class))
    counts = dict.fromkeys(classes, 0)
    reused = done = 0
    started = time.perf_counter()
    ctx.progress(0, total, "rendering")
    partial = out / PARTIAL_MANIFEST
    with open(partial, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh, lineterminator="\n").writerow(MANIFEST_FIELDS)
        setup = (study, classes, config.size, config.seed, str(out), config.masks)
        with _renderer(setup, workers, len(tasks)) as render:
            for chunk in render(tasks):
                fh.write(chunk.rows)
                counts[chunk.class_name] += chunk.n
                reused += chunk.reused
                done += chunk.n
                ctx.check_cancel()
                rate = done / max(time.perf_counter() - started, 1e-9)
                ctx.progress(done, total, "rendering", images_per_s=round(rate, 1))
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(partial, out / MANIFEST)
    seconds = time.perf_counter() - started
    return {"out": str(out), "manifest": str(out / MANIFEST), "classes": classes, "counts": counts,
            "images": done, "reused": reused, "size": config.size, "seed": config.seed,
            "preset": study.name, "workers": workers, "seconds": round(seconds, 3),
            "images_per_s": round(done / max(seconds, 1e-9), 1), "masks": config.masks,
            "renderer_version": RENDERER_VERSION}


def export_once(config: ExportConfig | dict, ctx=None, announce: str = "") -> dict | None:
    """Export into `config.out` unless a finished export (its manifest) is already there: for a cache
    folder several jobs may ask for at once (two experiments, two benchmark runs), which wait on one lock
    so the images are drawn once instead of each renaming the other's files away. `announce` is logged
    when this call draws them. The export's result, or None when it was already there."""
    from simstudio.runs import exclusive_lock

    config = _coerce(config)
    out = _out_folder(config, None)  # a cache is a named folder, never a run's own
    if (out / MANIFEST).is_file():
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    with exclusive_lock(out.with_name(out.name + ".lock")):
        if (out / MANIFEST).is_file():
            return None
        if announce and ctx is not None:
            ctx.log(announce)
        return export_dataset(config, ctx)


def check_export(config: ExportConfig | dict, out: str | os.PathLike | None = None) -> SimulatorPreset:
    """Everything that can be refused before any work: ranges, the preset file, the output folder (when
    `config.out` is "", the job's run folder is made later and is writable by construction)."""
    config = _coerce(config).validate()
    study = load_preset(config.preset) if config.preset else default_preset(config.task)
    out = Path(out) if out is not None else (Path(config.out).expanduser() if config.out else None)
    if out is not None:
        _check_folder(out, _marker(config, study))
    return study


def image_seed(base_seed: int, class_index: int, image_index: int) -> int:
    """The seed of one image: independent of how the export is split over processes. 63 bits, so two
    images of a 100,000-image class practically never share one (32 bits would, about once)."""
    words = np.random.SeedSequence(int(base_seed), spawn_key=(class_index, image_index)).generate_state(
        2, np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def render_image(study: SimulatorPreset, class_name: str, seed: int, size: int
                 ) -> tuple[np.ndarray, np.ndarray, LesionParams, str]:
    """Regenerate one exported image from its seed: (rgb, mask, params, class preset)."""
    params, class_preset = sample_for_class(study, class_name, np.random.default_rng(seed))
    rgb, mask = render_lesion(params, size=size, seed=seed)
    return rgb, mask, params, class_preset


def check_renderer_version(version, what: str) -> None:
    """ValueError naming both versions when `what` was drawn by another renderer than this install's: the
    same parameters and seed give other pictures there, and must never be mixed in silently."""
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise ValueError(f"{what}: renderer_version = {version!r} is not a version number") from None
    if number != RENDERER_VERSION:
        raise ValueError(
            f"{what} was made with simulator renderer version {number}, and this SimStudio has renderer "
            f"version {RENDERER_VERSION}, which draws other pictures for the same parameters and seeds: "
            f"regenerate it with a SimStudio of renderer version {number}, or export anew into a new folder")


def read_manifest(folder: str | os.PathLike) -> list[dict]:
    """The rows of a finished export's manifest (dicts of its columns)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(f"{folder} holds no finished export ({MANIFEST} missing)")
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def regenerate(folder: str | os.PathLike, file: str, masks: bool = False) -> tuple:
    """Draw image `file` of an export again from its manifest row (its parameters and seed) at the export's
    size: (rgb, lesion mask), with `masks` also the structure masks. Refused, naming both versions, for
    an export of another renderer version."""
    folder = Path(folder)
    marker = _read_marker(folder)
    if marker is None:
        raise ValueError(f"{folder} holds no {MARKER} (the settings of a SimStudio export)")
    check_renderer_version(marker.get("renderer_version", UNVERSIONED), f"the export in {folder}")
    rows = [r for r in read_manifest(folder) if r["file"] == file]
    if not rows:
        raise ValueError(f"{file!r} is not in the manifest of {folder}")
    row = rows[0]
    check_renderer_version(row.get("renderer_version") or UNVERSIONED, f"{file} in {folder / MANIFEST}")
    params = LesionParams.from_dict({k: row[k] for k in PARAM_SPECS})
    drawn = render_lesion(params, size=int(marker["size"]), seed=int(row["seed"]), masks=masks)
    return (*drawn[:2], isic_masks(drawn[2])) if masks else drawn


def manifest_row(file: str, class_name: str, class_preset: str, seed: int, params: LesionParams) -> dict:
    row = {"file": file, "class": class_name, "class_preset": class_preset, "seed": seed,
           "renderer_version": RENDERER_VERSION}
    for name, value in params.to_dict().items():
        # Colour lists as "a|b", which `LesionParams.from_dict` reads back.
        row[name] = "|".join(value) if isinstance(value, (list, tuple)) else value
    return row


def resolve_workers(workers: int) -> int:
    """0 means every core this process may use."""
    if workers and workers > 0:
        return int(workers)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def zip_dataset(folder: str | os.PathLike, max_files: int = 2000,
                path: str | os.PathLike | None = None) -> Path:
    """Zip an exported folder (images + manifest) for download; refused above `max_files` files, where a
    download would take longer than reading the folder where it is. Default path: `<folder>.zip`."""
    folder = Path(folder)
    if not (folder / MANIFEST).is_file():
        raise FileNotFoundError(f"{folder} holds no finished export ({MANIFEST} missing)")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
    if len(files) > max_files:
        raise ValueError(f"{len(files)} files is more than {max_files} for a zip download; "
                         f"use the folder {folder} directly")
    target = Path(path) if path else folder.with_name(folder.name + ".zip")
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        # PNGs are compressed already: storing them is as small and much faster than deflating again.
        with os.fdopen(fd, "wb") as fh, zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
            for p in files:
                zf.write(p, f"{folder.name}/{p.relative_to(folder).as_posix()}")
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


# -- private helpers -----------------------------------------------------------------------------------

def _coerce(config) -> ExportConfig:
    if isinstance(config, ExportConfig):
        return config
    from simstudio.config import config_from_dict

    return config_from_dict(ExportConfig, dict(config))


def _out_folder(config: ExportConfig, run_dir: Path | None) -> Path:
    if str(config.out or "").strip():
        return Path(config.out).expanduser()
    if run_dir is None:
        raise ValueError("out: give an output folder")
    return Path(run_dir) / "export"


def _check_int(name: str, value, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not low <= value <= high:
        raise ValueError(f"{name} = {value!r} is out of range: expected a whole number in [{low}, {high}]")


def _marker(config: ExportConfig, study: SimulatorPreset) -> dict:
    marker = {"per_class": config.per_class, "size": config.size, "seed": config.seed,
              "preset": preset_to_dict(study), "renderer_version": RENDERER_VERSION}
    if config.masks:  # only when set, so a folder exported without masks keeps its marker
        marker["masks"] = True
    return json.loads(json.dumps(marker))  # as it reads back from the file


def _read_marker(out: Path) -> dict | None:
    try:
        found = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return found if isinstance(found, dict) else None


def _prepare_folder(out: Path, marker: dict) -> None:
    """Check `out` and record the export's settings in it (once)."""
    if _check_folder(out, marker):
        return
    from simstudio.runs import atomic_write_json

    atomic_write_json(out / MARKER, marker)


def _check_folder(out: Path, marker: dict) -> bool:
    """Create `out` and prove it writable; True when it holds an unfinished export of the same settings,
    False when it is empty; a clear error for a file, an unwritable folder or someone else's files."""
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"{out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=out, prefix=".write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"cannot write to {out}: {exc.strerror or exc}") from None
    marker_path = out / MARKER
    if marker_path.is_file():
        found = _read_marker(out)
        if found is not None:
            # Before any other setting: finishing it here would put two renderers' pictures in one set.
            check_renderer_version(found.get("renderer_version", UNVERSIONED), f"the unfinished export in {out}")
        if found != marker:
            raise ValueError(f"{out} holds an export made with other settings; choose a new folder, or "
                             f"the same settings to finish that export")
        return True
    if any(out.iterdir()):
        raise ValueError(f"{out} already exists and is not empty; choose a new folder")
    return False


def _tasks(n_classes: int, per_class: int) -> Iterator[tuple[int, int, int]]:
    for c in range(n_classes):
        for start in range(0, per_class, CHUNK):
            yield c, start, min(per_class, start + CHUNK)


@contextmanager
def _renderer(setup: tuple, workers: int, n_tasks: int):
    """A function mapping tasks to their chunks, in task order: in this thread for one worker, else on
    `workers` threads of this process. Threads, not processes: the kernels, the PNG deflate and the file
    writes release the GIL, so the threads fill the cores while the process holds one copy of the
    runtime and the texture bank (a process pool held one per process) and starts no interpreters. At
    most two tasks per thread are queued, and cancel or error drops the queue: only running tasks finish."""
    render = _TaskRenderer(*setup)
    if workers <= 1 or n_tasks <= 1:
        yield partial(map, render)
        return
    warm_up()  # kernels loaded and bank built once, before the threads ask for them
    pool = ThreadPoolExecutor(workers, thread_name_prefix="simstudio-export")
    try:
        yield partial(_in_order, pool, render, 2 * workers)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _in_order(pool: ThreadPoolExecutor, fn, window: int, tasks) -> Iterator:
    pending: deque = deque()
    for task in tasks:
        pending.append(pool.submit(fn, task))
        if len(pending) >= window:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


@dataclass
class _Chunk:
    """What a worker returns for one task: its manifest rows already as CSV text (formatted in the
    worker, so the thread that writes the manifest stays nearly idle), and how many images were reused."""

    class_name: str
    n: int
    reused: int
    rows: str


class _TaskRenderer:
    """Renders and writes images [start, stop) of class c; returns their manifest rows."""

    def __init__(self, study: SimulatorPreset, classes: list[str], size: int, seed: int, out: str,
                 masks: bool = False):
        self.study, self.classes, self.size, self.seed, self.out = study, classes, size, seed, Path(out)
        self.masks = masks

    def __call__(self, task: tuple[int, int, int]) -> _Chunk:
        c, start, stop = task
        class_name = self.classes[c]
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        reused = 0
        folder = os.path.join(self.out, class_name)  # strings, not Paths: ~10 us less per image
        for i in range(start, stop):
            seed = image_seed(self.seed, c, i)
            image_id = f"{class_name}_{i:06d}"
            rel = f"{class_name}/{image_id}.png"
            path = os.path.join(folder, f"{image_id}.png")
            extra = [self.out / class_name / f for f in mask_files(image_id).values()] if self.masks else []
            if png_complete(path) and all(png_complete(p) for p in extra):
                # Written by an interrupted run: only the (cheap) parameter draw is repeated.
                params, class_preset = sample_for_class(self.study, class_name, np.random.default_rng(seed))
                reused += 1
            elif self.masks:
                params, class_preset = sample_for_class(self.study, class_name, np.random.default_rng(seed))
                rgb, lesion, structures = render_lesion(params, size=self.size, seed=seed, masks=True)
                structures = isic_masks(structures)
                check_masks(lesion, structures, self.size)
                for name, file in mask_files(image_id).items():
                    _write_png(self.out / class_name / file, mask_png(lesion if name == "lesion" else structures[name]))
                _write_png(path, rgb)
            else:
                rgb, _mask, params, class_preset = render_image(self.study, class_name, seed, self.size)
                _write_png(path, rgb)
            row = manifest_row(rel, class_name, class_preset, seed, params)
            writer.writerow([row[f] for f in MANIFEST_FIELDS])
        return _Chunk(class_name, stop - start, reused, text.getvalue())


def _write_png(path: str | os.PathLike, rgb: np.ndarray) -> None:
    data = encode_png(rgb)
    folder, name = os.path.split(os.fspath(path))
    tmp = os.path.join(folder, f".{name}.tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)

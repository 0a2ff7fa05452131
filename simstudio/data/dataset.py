"""`ImageDataset` and `load_dataset`: the one way every other layer reads images.

A dataset is either an imported dataset run (a run of kind "dataset" in the run store: items.csv, a cache,
split.csv) or any image folder (`root/<class>/*.png`, e.g. a simulator or GAN export). Either way the
pixels come from a memory-mapped uint8 cache, decoded once; training epochs never decode a JPEG again.
"""

from __future__ import annotations

import csv
import os
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from simstudio.data.cache import build_cache, cache_key, open_cache
from simstudio.data.images import image_size
from simstudio.data.preprocess import Preprocessing
from simstudio.data.sources import scan_image_folder
from simstudio.runs import Run, open_run, runs_root

DATASET_KIND = "dataset"


@dataclass
class ImageDataset:
    id: str  # dataset run id in the run store ("" when read straight from a folder)
    root: Path  # folder the source images were read from
    classes: list[str]  # label i is classes[i]
    files: list[str]  # image paths relative to root, row order = array order
    labels: np.ndarray  # int64 (N,)
    groups: np.ndarray | None  # str (N,), lesion/near-dup group id when known, for group-aware splits
    hashes: list[str]  # sha1 of each source file's bytes (leakage checks)
    size: int  # side of the cached square images
    images: np.ndarray  # uint8 (N, size, size, 3), memory-mapped cache (np.load mmap_mode="r")
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason) not decodable
    preprocessing: Preprocessing | None = None
    run_dir: Path | None = None  # the dataset run's folder, when imported

    def __len__(self) -> int:
        return len(self.files)

    def subset(self, idx) -> ImageDataset:
        """Rows `idx` (indices or a boolean mask) as a new dataset. A slice keeps the memory map; other
        indices copy those rows into memory (for large sets, index `images` batch by batch instead)."""
        if isinstance(idx, slice):
            rows = np.arange(len(self.files))[idx]
            images = self.images[idx]
        else:
            rows = np.asarray(idx)
            if rows.dtype == bool:
                if rows.shape != (len(self.files),):
                    raise ValueError(f"boolean mask has shape {rows.shape}, "
                                     f"dataset has {len(self.files)} rows")
                rows = np.flatnonzero(rows)
            rows = rows.astype(np.int64).reshape(-1)
            images = self.images[rows]
        return ImageDataset(
            id=self.id, root=self.root, classes=list(self.classes), files=[self.files[i] for i in rows],
            labels=self.labels[rows], groups=None if self.groups is None else self.groups[rows],
            hashes=[self.hashes[i] for i in rows], size=self.size, images=images, skipped=[],
            preprocessing=self.preprocessing, run_dir=self.run_dir)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {c: int(n) for c, n in zip(self.classes, counts, strict=True)}

    def saved_split(self):
        """The split saved with an imported dataset (split.csv in its run), or None."""
        from simstudio.data.splits import load_split

        if self.run_dir is None or not (self.run_dir / "split.csv").is_file():
            return None
        return load_split(self.run_dir / "split.csv")

    def part_rows(self, part: str, setting: str, name: str = "") -> np.ndarray:
        """Row indices of split part `part` ("" = every row); a ValueError naming `setting` when no split
        is saved with the set, since the part is then undefined."""
        if not part:
            return np.arange(len(self))
        split = self.saved_split()
        if split is None:
            raise ValueError(f"real set {name or self.run_dir or 'given'} has no saved split, so {setting} "
                             f"{part!r} is undefined; import it with a split or set it to '' (every image)")
        return split.indices(part, self)


def load_dataset(ref: str | os.PathLike, size: int | None = None, *,
                 preprocessing: Preprocessing | None = None, ctx=None) -> ImageDataset:
    """A dataset run id / run folder, or any image folder (`root/<class>/*`), as an `ImageDataset`.

    `size`: side of the cached images (default: the imported size, or for a folder the most common image
    side). `preprocessing`: for folders only (default none but the resize). `ctx`: JobContext for progress.
    The first load of a folder decodes every image into a cache under the run store's `.cache/`; later
    loads of the same files, size and preprocessing map that cache straight away.
    """
    ref_str = str(ref)
    if not ref_str.strip():
        raise ValueError("no dataset given: pass a dataset run id or an image folder")
    path = Path(ref).expanduser()
    if (path / "meta.json").is_file() or (not path.exists() and "/" not in ref_str):
        try:
            run = open_run(ref_str)
        except FileNotFoundError:
            raise FileNotFoundError(f"no dataset run or image folder {ref_str!r} "
                                    f"(dataset runs: `python -m simstudio runs --kind dataset`)") from None
        return _load_run(run, size, ctx)
    if not path.exists():
        raise FileNotFoundError(f"no dataset run or image folder {ref_str!r}")
    if not path.is_dir():
        raise NotADirectoryError(f"{ref_str} is a file; give an image folder or a dataset run id")
    return _load_folder(path, size, preprocessing, ctx)


def dataset_runs() -> list[Run]:
    """Imported datasets in the run store that finished (newest first)."""
    from simstudio.runs import list_runs

    return [r for r in list_runs(DATASET_KIND) if r.status == "finished" and (r.path / "items.csv").is_file()]


def read_items(run_dir: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a dataset run's items.csv (file, class, group, sha1, width, height, part)."""
    with open(Path(run_dir) / "items.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# -- private helpers ----------------------------------------------------------------------------------

def _load_run(run: Run, size: int | None, ctx) -> ImageDataset:
    if run.kind != DATASET_KIND:
        raise ValueError(f"run {run.id} is a {run.kind!r} run, not a dataset")
    info = run.read_json("dataset.json")
    if info is None or not (run.path / "items.csv").is_file():
        status = run.status
        raise ValueError(f"dataset run {run.id} is {status}, not a finished import"
                         + (f": {run.error.strip().splitlines()[0]}" if run.error else ""))
    root = Path(info["root"])
    if not root.is_absolute():
        root = run.path / root
    pre = Preprocessing(**info["preprocessing"])
    items = read_items(run.path)
    entry = open_cache(run.path / info["cache"])
    if size is not None and int(size) != pre.size:
        pre = Preprocessing(**{**asdict(pre), "size": int(size)}).validate()
        entry = None
    if entry is None:
        if not root.is_dir():
            raise FileNotFoundError(f"dataset {run.id}: its source folder {root} is gone, so it cannot be "
                                    f"cached at {pre.size}px; import it again")
        files = [r["file"] for r in items]
        key = cache_key(root, files, pre)
        entry = build_cache(root, files, pre, run.path / "cache" / key, ctx=ctx)
    by_file = {r["file"]: r for r in items}
    rows = [by_file[f] for f in entry.files]
    classes = list(info["classes"])
    index = {c: i for i, c in enumerate(classes)}
    groups = [r.get("group", "") for r in rows]
    return ImageDataset(
        id=run.id, root=root, classes=classes, files=list(entry.files),
        labels=np.array([index[r["class"]] for r in rows], dtype=np.int64),
        groups=np.array(groups, dtype=str) if any(groups) else None,
        hashes=list(entry.hashes), size=entry.size, images=entry.images(), skipped=list(entry.skipped),
        preprocessing=pre, run_dir=run.path)


def _load_folder(path: Path, size: int | None, preprocessing: Preprocessing | None, ctx) -> ImageDataset:
    scan = scan_image_folder(path)
    root = scan.root
    files = [it.file for it in scan.items]
    if preprocessing is not None:
        pre = Preprocessing(**asdict(preprocessing))
        if size is not None:
            pre.size = int(size)
    else:
        pre = Preprocessing(size=int(size) if size is not None else _common_side(root, files))
    pre.validate()
    key = cache_key(root, files, pre)
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", root.name)[:40] or "folder"
    entry = build_cache(root, files, pre, runs_root() / ".cache" / f"{slug}-{key}", ctx=ctx)
    if not entry.files:
        reasons = Counter(r for _, r in entry.skipped).most_common(1)
        raise ValueError(f"none of the {len(files)} images in {root} could be decoded"
                         + (f" ({reasons[0][0]})" if reasons else ""))
    label_of = {it.file: it.label for it in scan.items}
    group_of = {it.file: it.group for it in scan.items}
    classes = sorted({it.label for it in scan.items})
    index = {c: i for i, c in enumerate(classes)}
    groups = [group_of[f] for f in entry.files]
    return ImageDataset(
        id="", root=root, classes=classes, files=list(entry.files),
        labels=np.array([index[label_of[f]] for f in entry.files], dtype=np.int64),
        groups=np.array(groups, dtype=str) if any(groups) else None,
        hashes=list(entry.hashes), size=entry.size, images=entry.images(),
        skipped=list(entry.skipped) + list(scan.skipped), preprocessing=pre, run_dir=None)


def _common_side(root: Path, files: list[str], sample: int = 64) -> int:
    """The most common longer side among a sample of image headers (a folder's native size)."""
    step = max(1, len(files) // sample)
    sides = []
    for rel in files[::step][:sample]:
        try:
            with open(root / rel, "rb") as fh:
                size = image_size(fh.read())
        except OSError:
            continue
        if size:
            sides.append(max(size))
    if not sides:
        return Preprocessing.size  # nothing readable: the cache build then says why, file by file
    return min(int(Counter(sides).most_common(1)[0][0]), 512)

"""The import job: a source (folder, CSV, zip) becomes a dataset run in the run store.

`import_dataset(config, ctx)` is a plain job function (the app runs it in the background, the CLI in the
foreground). It scans the source, applies the class map, decodes + preprocesses every image once into
the run's cache, reports what it skipped and why, finds byte-identical duplicates, splits, and writes:

    dataset.json   root, classes, preprocessing, cache folder
    items.csv      file, class, source_class, group, sha1, width, height, part   (cache row order)
    skipped.csv    file, reason    (undecodable images, CSV ids without a file, ...)
    split.csv      file, class, part, fold
    cache/<key>/   images.npy, the memory-mapped uint8 cache
    source/        the extracted files, when the source was a zip upload
    result.json    the summary the CLI prints and the Data tab shows
"""

from __future__ import annotations

import csv
import io
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from simstudio.data.archive import extract_zip
from simstudio.data.cache import build_cache, cache_key
from simstudio.data.class_map import apply_class_map, check_class_map, load_class_map, mapped_counts
from simstudio.data.dataset import DATASET_KIND, load_dataset
from simstudio.data.preprocess import Preprocessing
from simstudio.data.sources import SourceScan, scan_source
from simstudio.data.splits import Split, make_holdout_split, make_kfold_split, parse_split_spec, save_split
from simstudio.runs import atomic_write_text

LIST_LIMIT = 500  # rows of skipped / duplicate lists kept in result.json (all of them are in the CSVs)


@dataclass
class ImportConfig:
    source: str  # image folder, ground-truth CSV, or .zip
    csv: str = ""  # ground-truth CSV when `source` is the image folder
    class_map: str = ""  # class-map text (see class_map.py); the CLI reads --map FILE into it
    preprocessing: Preprocessing = field(default_factory=Preprocessing)
    split: str = "85/15"  # "85/15", "80/10/10", "10/45/45", any a/b[/c], "kfold:10", or "source"
    seed: int = 0
    allowed_roots: list[str] | None = None  # set by the app: links may not leave these folders
    workers: int = 0  # decoding processes; 0 = one per core

    def validated(self) -> ImportConfig:
        """Check everything that can be checked before any work, with messages naming the field."""
        if isinstance(self.preprocessing, dict):
            self.preprocessing = Preprocessing(**self.preprocessing)
        self.preprocessing.validate()
        if self.split.strip().lower() != "source":
            parse_split_spec(self.split)
        load_class_map(self.class_map)
        if not str(self.source).strip():
            raise ValueError("no source given: an image folder, a CSV or a .zip")
        return self


def import_dataset(config: ImportConfig | dict, ctx) -> dict:
    """Job function: import `config.source` into the run `ctx.run_dir` (see the module docstring)."""
    if isinstance(config, dict):
        config = ImportConfig(**config)
    config = config.validated()
    if ctx.run_dir is None:
        raise ValueError("import_dataset writes a dataset run: start it with run_in_foreground('dataset', "
                         "...) or the job runner, not a local context")
    run_dir = Path(ctx.run_dir)
    started = time.time()
    pre = config.preprocessing
    mapping = load_class_map(config.class_map)
    allowed = [Path(p) for p in config.allowed_roots] if config.allowed_roots is not None else None

    source = Path(config.source).expanduser()
    if source.suffix.lower() == ".zip":
        ctx.progress(0, 1, message="extracting zip")
        extract_zip(source, run_dir / "source")
        scan = scan_source(run_dir / "source")
        # Stored relative, so the run folder can move; the scan may have looked through a wrapping folder.
        root_for_store = scan.root.relative_to(run_dir).as_posix()
    else:
        ctx.progress(0, 1, message="scanning")
        scan = scan_source(source, config.csv or None, allowed)
        root_for_store = str(scan.root.resolve())
    ctx.progress(1, 1, message=f"found {len(scan.items)} images")
    ctx.check_cancel()

    counts_before = scan.counts
    check_class_map(counts_before, mapping)
    targets = apply_class_map([it.label for it in scan.items], mapping)
    kept = [(it, t) for it, t in zip(scan.items, targets, strict=True) if t is not None]
    dropped = Counter(it.label for it, t in zip(scan.items, targets, strict=True) if t is None)
    counts_mapped = mapped_counts(counts_before, mapping) if mapping else counts_before
    ctx.log(f"{len(scan.items)} images in {len(counts_before)} classes ({scan.kind}); "
            f"{len(kept)} kept after the class map")

    files = [it.file for it, _ in kept]
    entry = build_cache(scan.root, files, pre, run_dir / "cache" / cache_key(scan.root, files, pre),
                        ctx=ctx, workers=config.workers or None)
    ctx.check_cancel()
    by_file = {it.file: (it, t) for it, t in kept}
    classes = sorted({t for _, t in kept})
    decoded = Counter(by_file[f][1] for f in entry.files)
    empty = [c for c in classes if decoded[c] == 0]
    if empty:
        reasons = Counter(r for f, r in entry.skipped if by_file[f][1] in empty).most_common(1)
        raise ValueError(f"class(es) {', '.join(empty)} have no readable image"
                         + (f" (e.g. {reasons[0][0]})" if reasons else ""))

    duplicates = _duplicate_sets(entry.files, entry.hashes)
    groups = _merge_groups([by_file[f][0].group for f in entry.files], entry.files, duplicates)
    conflicts = [d for d in duplicates if len({by_file[f][1] for f in d}) > 1]
    skipped = list(scan.skipped) + list(entry.skipped)

    _write_items(run_dir, entry, by_file, groups)
    _write_rows(run_dir / "skipped.csv", ["file", "reason"], skipped)
    run_info = {"root": root_for_store, "classes": classes, "preprocessing": asdict(pre),
                "cache": entry.path.relative_to(run_dir).as_posix(), "source_kind": scan.kind,
                "csv": str(scan.csv_path) if scan.csv_path else ""}
    ctx.run.write_json("dataset.json", run_info)

    dataset = load_dataset(run_dir)
    split = _make_split(config.split, dataset, [by_file[f][0].part for f in entry.files], config.seed)
    save_split(split, run_dir / "split.csv")

    widths = np.array([w for w, _ in entry.sizes])
    heights = np.array([h for _, h in entry.sizes])
    elapsed = time.time() - started
    result = {
        "dataset_id": ctx.run.id,
        "kind": DATASET_KIND,
        "source": str(config.source),
        "source_kind": scan.kind,
        "n_images": len(entry.files),
        "classes": classes,
        "counts_before_map": counts_before,
        "counts_after_map": counts_mapped,
        "counts": dataset.class_counts(),
        "dropped_by_map": dict(sorted(dropped.items())),
        "n_skipped": len(skipped),
        "skipped": [list(s) for s in skipped[:LIST_LIMIT]],
        "n_ignored": len(scan.ignored),
        "ignored": scan.ignored[:50],
        "n_duplicate_sets": len(duplicates),
        "duplicates": duplicates[:LIST_LIMIT],
        "duplicate_label_conflicts": conflicts[:LIST_LIMIT],
        "groups": "lesion/near-duplicate groups" if scan.has_groups else
                  ("duplicates grouped" if duplicates else "none"),
        "image_sizes": _size_stats(widths, heights),
        "size": pre.size,
        "preprocessing": pre.describe(),
        "split": config.split,
        "split_summary": split.summary(),
        "seed": config.seed,
        "elapsed_s": round(elapsed, 2),
        "images_per_s": round(len(files) / max(elapsed, 1e-6), 1),
    }
    return result


def format_summary(result: dict) -> str:
    """The import summary as plain text lines (the CLI prints it; the UI shows it as Markdown)."""

    def counts(d: dict) -> str:
        return ", ".join(f"{k} {v}" for k, v in d.items())

    lines = [f"dataset {result['dataset_id']}: {result['n_images']} images, {len(result['classes'])} "
             f"classes ({result['source_kind']}), {result['preprocessing']}"]
    if result["counts_before_map"] != result["counts_after_map"]:
        lines.append(f"  before class map: {counts(result['counts_before_map'])}")
    lines.append(f"  counts: {counts(result['counts'])}")
    if result["dropped_by_map"]:
        lines.append(f"  dropped by the map: {counts(result['dropped_by_map'])}")
    if result["n_skipped"]:
        reasons = Counter(r for _, r in result["skipped"]).most_common(4)
        lines.append(f"  skipped {result['n_skipped']}: " + "; ".join(f"{n}x {r}" for r, n in reasons))
    if result["n_ignored"]:
        lines.append(f"  ignored {result['n_ignored']} non-image file(s), "
                     f"e.g. {', '.join(result['ignored'][:3])}")
    if result["n_duplicate_sets"]:
        conflicts = len(result["duplicate_label_conflicts"])
        lines.append(f"  {result['n_duplicate_sets']} set(s) of byte-identical duplicates (each kept in one "
                     f"split part)" + (f", {conflicts} with conflicting labels" if conflicts else ""))
    s = result["image_sizes"]
    lines.append(f"  source image sizes: {s['width_min']}-{s['width_max']} x "
                 f"{s['height_min']}-{s['height_max']} px")
    parts = "; ".join(f"{p} {counts(c)}" for p, c in result["split_summary"].items())
    lines.append(f"  split {result['split']} (seed {result['seed']}): {parts}")
    lines.append(f"  {result['elapsed_s']} s, {result['images_per_s']} images/s")
    return "\n".join(lines)


def summarize_scan(scan: SourceScan) -> dict:
    """Counts and what was ignored/skipped by a scan, before any decoding (the Data tab's first look)."""
    return {"root": str(scan.root), "kind": scan.kind, "n_images": len(scan.items), "counts": scan.counts,
            "n_ignored": len(scan.ignored), "ignored": scan.ignored[:50],
            "skipped": scan.skipped[:LIST_LIMIT], "has_groups": scan.has_groups, "has_parts": scan.has_parts}


# -- private helpers ----------------------------------------------------------------------------------

def _make_split(spec: str, dataset, parts: list[str], seed: int) -> Split:
    if spec.strip().lower() == "source":
        if not any(parts):
            raise ValueError("split 'source' needs a source that comes split (train/ and test/ folders)")
        return Split(files=list(dataset.files), classes=[dataset.classes[i] for i in dataset.labels],
                     parts=[p or "train" for p in parts], folds=None)
    kind, arg = parse_split_spec(spec)
    if kind == "kfold":
        return make_kfold_split(dataset, k=int(arg), seed=seed)
    return make_holdout_split(dataset, fractions=arg, seed=seed)


def _duplicate_sets(files: list[str], hashes: list[str]) -> list[list[str]]:
    by_hash: dict[str, list[str]] = defaultdict(list)
    for f, h in zip(files, hashes, strict=True):
        by_hash[h].append(f)
    return sorted((fs for fs in by_hash.values() if len(fs) > 1), key=lambda fs: fs[0])


def _merge_groups(groups: list[str], files: list[str], duplicates: list[list[str]]) -> list[str]:
    """Put byte-identical files in one group (merging the lesion groups they had), so a split never puts
    one copy in train and another in test. Files in no group and no duplicate set stay ungrouped ("")."""
    out = list(groups)
    index = {f: i for i, f in enumerate(files)}
    for dup in duplicates:
        rows = [index[f] for f in dup]
        existing = sorted({out[r] for r in rows if out[r]})
        name = existing[0] if existing else f"duplicate:{dup[0]}"
        if len(existing) > 1:
            merged = set(existing)
            out = [name if g in merged else g for g in out]
        for r in rows:
            out[r] = name
    return out


def _write_items(run_dir: Path, entry, by_file, groups: list[str]) -> None:
    rows = []
    for f, h, (w, hh), g in zip(entry.files, entry.hashes, entry.sizes, groups, strict=True):
        item, target = by_file[f]
        rows.append((f, target, item.label, g, h, w, hh, item.part))
    _write_rows(run_dir / "items.csv", ["file", "class", "source_class", "group", "sha1", "width", "height",
                                        "part"], rows)


def _write_rows(path: Path, header: list[str], rows) -> None:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, buf.getvalue())


def _size_stats(widths: np.ndarray, heights: np.ndarray) -> dict:
    return {"width_min": int(widths.min()), "width_median": float(np.median(widths)),
            "width_max": int(widths.max()), "height_min": int(heights.min()),
            "height_median": float(np.median(heights)), "height_max": int(heights.max()),
            "distinct_sizes": len(set(zip(widths.tolist(), heights.tolist(), strict=True)))}

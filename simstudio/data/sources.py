"""Finding labelled images: an image folder (`root/<class>/*`, or Kaggle's `root/train|test/<class>/*`) or a
ground-truth CSV (ISIC 2017, 2019, 2020, HAM10000, or a plain `file,class` table) with the images beside it.

A scan reads names only (no pixels): which files, which label, which lesion group, which source split.
What it ignores (non-image files) and what it cannot use (ids with no file, links leaving the allowed
folders) is kept in the scan so the user sees it.
"""

from __future__ import annotations

import csv
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from simstudio.data.images import is_image_name

SPLIT_FOLDER_NAMES = {"train": "train", "training": "train", "test": "test", "testing": "test",
                      "val": "val", "valid": "val", "validation": "val"}
# Folders that never hold classes: version control, macOS zip resource forks, notebook checkpoints.
SKIP_FOLDERS = {"__MACOSX", ".git", ".ipynb_checkpoints", "__pycache__"}
ISIC2019_CLASSES = ("MEL", "NV", "BCC", "AK", "BKL", "DF", "VASC", "SCC", "UNK")
# Manifest columns read as lesion / near-duplicate groups, most specific first.
GROUP_COLUMNS = ("near_dup_group", "lesion_id", "group", "patient_id")
FILE_COLUMNS = ("file", "path", "filename", "image", "image_id", "image_name")
LABEL_COLUMNS = ("class", "label", "diagnosis", "dx")


@dataclass
class SourceItem:
    file: str  # path relative to the scan root, with forward slashes
    label: str  # class name as the source spells it (before any class mapping)
    group: str = ""  # lesion / near-duplicate group when the source knows it
    part: str = ""  # "train"/"val"/"test" when the source comes split (Kaggle layout)


@dataclass
class SourceScan:
    root: Path
    kind: str  # imagefolder, kaggle, ham10000, isic2017, isic2019, isic2020, csv
    items: list[SourceItem]
    ignored: list[str] = field(default_factory=list)  # non-image files (README, CSV, .DS_Store, ...)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file or id, reason)
    csv_path: Path | None = None

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(it.label for it in self.items).items()))

    @property
    def has_groups(self) -> bool:
        return any(it.group for it in self.items)

    @property
    def has_parts(self) -> bool:
        return any(it.part for it in self.items)


def scan_source(source: str | os.PathLike, csv_file: str | os.PathLike | None = None,
                allowed_roots: list[Path] | None = None) -> SourceScan:
    """Scan a folder, or a CSV with its images beside it (`source` = the CSV, or `csv_file` given).

    `allowed_roots`: when set, files whose real path leaves these folders (links) are skipped; the UI sets
    it so a public app cannot be pointed at the server's files through a link.
    """
    source = Path(source).expanduser()
    if not source.exists():
        raise FileNotFoundError(f"no such file or folder: {source}")
    if source.is_file() and source.suffix.lower() == ".csv":
        csv_file, source = source, source.parent
    if source.is_file():
        raise ValueError(f"{source} is a file; give an image folder, a CSV, or a .zip to import")
    if csv_file is not None:
        csv_file = Path(csv_file).expanduser()
        if not csv_file.is_file():
            raise FileNotFoundError(f"no such CSV file: {csv_file}")
        return scan_csv(csv_file, source, allowed_roots)
    found = find_ground_truth_csv(source)
    if found is not None:
        return scan_csv(found, found.parent, allowed_roots)
    return scan_image_folder(source, allowed_roots)


def find_ground_truth_csv(folder: str | os.PathLike) -> Path | None:
    """The one ISIC / HAM10000 ground-truth CSV at the top of `folder` (looking through a single wrapping
    folder), so a zip or folder holding `HAM10000_metadata.csv` + image folders imports without --csv.
    Plain `file,class` tables (manifests) do not count: their folders already name the classes."""
    root = _unwrap_single_folder(Path(folder))
    found = []
    for path in sorted(root.glob("*.csv")):
        try:
            with open(path, newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh), [])
            kind = detect_csv_kind(header)
        except (OSError, UnicodeDecodeError, csv.Error, ValueError):
            continue
        if kind != "csv":
            found.append(path)
    return found[0] if len(found) == 1 else None


def scan_image_folder(root: str | os.PathLike, allowed_roots: list[Path] | None = None) -> SourceScan:
    """`root/<class>/**/<image>` (or `root/<train|test>/<class>/...`); a single wrapping folder (as zips
    often have) is looked through. A manifest.csv beside the classes gives lesion groups when it has one
    of GROUP_COLUMNS."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    root = _unwrap_single_folder(root)
    class_dirs = _subfolders(root)
    if not class_dirs:
        raise ValueError(f"{root} has no class folders: expected {root}/<class>/<image files>")
    split_names = {d.name.lower() for d in class_dirs}
    kaggle = split_names <= set(SPLIT_FOLDER_NAMES) and all(_subfolders(d) for d in class_dirs)
    ignored: list[str] = []
    skipped: list[tuple[str, str]] = []
    items: list[SourceItem] = []
    for entry in sorted(root.iterdir()):
        if entry.is_file():
            rel = entry.name
            if is_image_name(rel):
                skipped.append((rel, "image outside any class folder"))
            else:
                ignored.append(rel)
    if kaggle:
        for split_dir in class_dirs:
            part = SPLIT_FOLDER_NAMES[split_dir.name.lower()]
            for entry in sorted(split_dir.iterdir()):
                if entry.is_file():
                    ignored.append(f"{split_dir.name}/{entry.name}")
            for class_dir in _subfolders(split_dir):
                items += _scan_class_dir(root, class_dir, class_dir.name, part, ignored, skipped,
                                         allowed_roots)
    else:
        for class_dir in class_dirs:
            found = _scan_class_dir(root, class_dir, class_dir.name, "", ignored, skipped, allowed_roots)
            if not found:
                raise ValueError(f"class folder {class_dir.name!r} in {root} holds no images "
                                 f"(remove it or add images)")
            items += found
    if not items:
        raise ValueError(f"no images found under {root}")
    _attach_manifest_groups(root, items)
    return SourceScan(root=root, kind="kaggle" if kaggle else "imagefolder", items=items, ignored=ignored,
                      skipped=skipped)


def scan_csv(csv_path: str | os.PathLike, root: str | os.PathLike,
             allowed_roots: list[Path] | None = None) -> SourceScan:
    """A ground-truth CSV whose ids name image files anywhere under `root` (matched by file stem)."""
    csv_path, root = Path(csv_path), Path(root)
    rows, columns = _read_csv(csv_path)
    kind, labelled = _labels_from_csv(csv_path, rows, columns)
    index: dict[str, str] = {}
    ignored: list[str] = []
    skipped: list[tuple[str, str]] = []
    for rel in _walk_files(root):
        if not is_image_name(rel):
            ignored.append(rel)
            continue
        for key in (rel, Path(rel).stem):
            index.setdefault(key.lower(), rel)
    items: list[SourceItem] = []
    seen: set[str] = set()
    missing = 0
    for image_id, label, group in labelled:
        if not label:
            skipped.append((image_id, "no class marked in the CSV"))
            continue
        key = image_id.strip().replace("\\", "/").lower()
        rel = index.get(key) or index.get(Path(key).stem)
        if rel is None:
            missing += 1
            skipped.append((image_id, "listed in the CSV, no image file found"))
            continue
        if rel in seen:
            skipped.append((image_id, f"listed twice in the CSV (kept the first row for {rel})"))
            continue
        if allowed_roots is not None and not _inside_any((root / rel).resolve(), allowed_roots):
            skipped.append((rel, "link leading outside the allowed folders"))
            continue
        seen.add(rel)
        items.append(SourceItem(file=rel, label=label, group=group))
    if not items:
        example = labelled[0][0] if labelled else "?"
        raise ValueError(f"none of the {len(labelled)} ids in {csv_path.name} match an image file under "
                         f"{root} (looked for files named like {example!r}.jpg/.png)")
    return SourceScan(root=root, kind=kind, items=items, ignored=ignored, skipped=skipped, csv_path=csv_path)


def detect_csv_kind(columns: list[str]) -> str:
    """Which ground-truth format a CSV header is (columns compared case-insensitively)."""
    cols = {c.strip().lower() for c in columns}
    if {"image_id", "dx"} <= cols:
        return "ham10000"
    if {"image_id", "melanoma", "seborrheic_keratosis"} <= cols:
        return "isic2017"
    if {"image_name", "target"} <= cols:
        return "isic2020"
    if "image" in cols and len(cols & {c.lower() for c in ISIC2019_CLASSES}) >= 2:
        return "isic2019"
    if cols & set(FILE_COLUMNS) and cols & set(LABEL_COLUMNS):
        return "csv"
    raise ValueError(
        "unrecognised CSV columns (" + ", ".join(columns) + "); expected ISIC 2017 (image_id, melanoma, "
        "seborrheic_keratosis), ISIC 2019 (image, MEL, NV, ...), ISIC 2020 (image_name, target), "
        "HAM10000 (image_id, dx, lesion_id) or a file,class table")


# -- private helpers ----------------------------------------------------------------------------------

def _read_csv(path: Path) -> tuple[list[dict[str, str]], list[str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            columns = [c.strip() for c in (reader.fieldnames or [])]
            rows = [{(k or "").strip().lower(): (v or "").strip() for k, v in row.items() if k is not None}
                    for row in reader]
    except UnicodeDecodeError:
        raise ValueError(f"{path.name} is not a UTF-8 text CSV") from None
    except csv.Error as exc:
        raise ValueError(f"{path.name} is not a readable CSV: {exc}") from None
    if not columns:
        raise ValueError(f"{path.name} is empty (no header row)")
    if not rows:
        raise ValueError(f"{path.name} has a header but no rows")
    return rows, columns


def _labels_from_csv(path: Path, rows: list[dict[str, str]], columns: list[str]
                     ) -> tuple[str, list[tuple[str, str, str]]]:
    """(kind, [(image id, label, group)]) for each CSV format; label '' when the row marks no class."""
    kind = detect_csv_kind(columns)
    out: list[tuple[str, str, str]] = []
    for row in rows:
        group = next((row[c] for c in GROUP_COLUMNS if row.get(c)), "")
        if kind == "ham10000":
            out.append((row["image_id"], row["dx"], row.get("lesion_id", "") or group))
        elif kind == "isic2017":
            mel, sk = _flag(row["melanoma"]), _flag(row["seborrheic_keratosis"])
            label = "melanoma" if mel else "seborrheic_keratosis" if sk else "nevus"
            out.append((row["image_id"], label, group))
        elif kind == "isic2020":
            target = row["target"]
            label = {"0": "benign", "1": "malignant"}.get(target.split(".")[0], "")
            out.append((row["image_name"], label, group))
        elif kind == "isic2019":
            present = [c for c in ISIC2019_CLASSES if c.lower() in row]
            marked = [c for c in present if _flag(row[c.lower()])]
            out.append((row["image"], marked[0] if len(marked) == 1 else "", group))
        else:
            file_col = next(c for c in FILE_COLUMNS if c in row)
            label_col = next(c for c in LABEL_COLUMNS if c in row)
            out.append((row[file_col], row[label_col], group))
    return kind, out


def _flag(value: str) -> bool:
    try:
        return float(value) >= 0.5
    except ValueError:
        return value.strip().lower() in ("true", "yes")


def _unwrap_single_folder(root: Path) -> Path:
    # A zip of "mydata/benign/..." extracts to one folder holding the classes: look through it.
    while True:
        entries = [e for e in root.iterdir() if e.name not in SKIP_FOLDERS and not e.name.startswith(".")]
        dirs = [e for e in entries if e.is_dir()]
        files = [e for e in entries if e.is_file() and is_image_name(e.name)]
        if len(dirs) == 1 and not files and _subfolders(dirs[0]):
            root = dirs[0]
        else:
            return root


def _subfolders(path: Path) -> list[Path]:
    return sorted(d for d in path.iterdir()
                  if d.is_dir() and d.name not in SKIP_FOLDERS and not d.name.startswith("."))


def _is_mask(name: str, names: set[str]) -> bool:
    """True when file `name` is a ground-truth mask of another image in `names` (the same folder's files),
    named the ISIC 2018 way: `<id>_segmentation.png` (Task 1) or `<id>_attribute_<what>.png` (Task 2), as
    a simulator export with masks writes them. A file so named with no image `<id>.*` beside it stays an
    image: the rule must not drop someone's photos for their name alone."""
    base, _, ext = name.rpartition(".")
    for marker in ("_segmentation", "_attribute_"):
        stem, found, rest = base.rpartition(marker)
        if found and stem and (marker == "_segmentation") == (rest == ""):
            return any(f"{stem}.{e}" in names for e in (ext, "png", "jpg", "jpeg"))
    return False


def _scan_class_dir(root: Path, class_dir: Path, label: str, part: str, ignored: list[str],
                    skipped: list[tuple[str, str]], allowed_roots: list[Path] | None) -> list[SourceItem]:
    items = []
    files = _walk_files(class_dir)
    names = set(files)
    for rel in files:
        full_rel = f"{class_dir.relative_to(root).as_posix()}/{rel}"
        if not is_image_name(rel) or _is_mask(rel, names):  # a mask is not an image of the class
            ignored.append(full_rel)
            continue
        if allowed_roots is not None and not _inside_any((class_dir / rel).resolve(), allowed_roots):
            skipped.append((full_rel, "link leading outside the allowed folders"))
            continue
        items.append(SourceItem(file=full_rel, label=label, part=part))
    return items


def _walk_files(folder: Path) -> list[str]:
    """Every file under `folder` (relative, '/'-separated, sorted), skipping SKIP_FOLDERS and dot-folders."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_FOLDERS and not d.startswith("."))
        rel_dir = Path(dirpath).relative_to(folder).as_posix()
        for name in filenames:
            out.append(name if rel_dir == "." else f"{rel_dir}/{name}")
    return sorted(out)


def _inside_any(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in (Path(r).resolve() for r in roots))


def _attach_manifest_groups(root: Path, items: list[SourceItem]) -> None:
    """Read lesion / near-duplicate groups from `root/manifest.csv` when it has a group column."""
    path = root / "manifest.csv"
    if not path.is_file():
        return
    try:
        rows, columns = _read_csv(path)
    except ValueError:
        return  # a manifest we cannot read only costs the groups, never the import
    cols = {c.lower() for c in columns}
    file_col = next((c for c in FILE_COLUMNS if c in cols), None)
    group_col = next((c for c in GROUP_COLUMNS if c in cols), None)
    if file_col is None or group_col is None:
        return
    groups = {row[file_col].replace("\\", "/"): row[group_col] for row in rows if row.get(group_col)}
    for it in items:
        # Manifests name files relative to the root ("benign/2.jpg") or to the class folder ("2.jpg").
        g = groups.get(it.file) or groups.get(it.file.split("/", 1)[-1])
        if g:
            it.group = f"{group_col}:{g}"

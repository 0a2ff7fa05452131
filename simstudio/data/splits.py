"""Train/val/test splits that keep class ratios and never split a lesion group, saved as CSV.

Stratified: each class is divided in the requested fractions on its own, so every part keeps the class
ratio. Group-aware: when the dataset knows lesion / near-duplicate groups (HAM10000 `lesion_id`, a
manifest's `near_dup_group`, byte-identical files), a whole group goes to one part, so the same lesion is
never both trained on and tested on. Groups are placed largest first into the part furthest below its
target, which keeps the fractions within a group's size of exact.

A split is a CSV (file, class, part, fold) stored with the dataset run, so every experiment arm tests
on exactly the same images.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from simstudio.runs import atomic_write_text

PARTS = ("train", "val", "test")
# Fractions named by the papers that used them.
NAMED_SPLITS = {
    "85/15": (0.85, 0.15),  # SimDeepL: train/test
    "80/10/10": (0.80, 0.10, 0.10),  # hESCnet: train/val/test
    "10/45/45": (0.10, 0.45, 0.45),  # hESCnet small-data setting: train/val/test
}


@dataclass
class Split:
    files: list[str]
    classes: list[str]  # class name per file
    parts: list[str]  # "train" | "val" | "test" per file; all "train" for a k-fold split
    folds: list[int] | None = None  # k-fold test-fold index per file, else None

    def indices(self, part: str, dataset) -> np.ndarray:
        """Rows of `dataset` in `part` (sorted). Every file of the part must be in the dataset."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}, got {part!r}")
        wanted = [f for f, p in zip(self.files, self.parts, strict=True) if p == part]
        return _rows(dataset, wanted)

    def fold_indices(self, fold: int, dataset) -> tuple[np.ndarray, np.ndarray]:
        """(train rows, test rows) of `dataset` for k-fold `fold`: test = that fold, train = the others."""
        if self.folds is None:
            raise ValueError("this is a holdout split, not a k-fold split")
        k = max(self.folds) + 1
        if not 0 <= fold < k:
            raise ValueError(f"fold must be in 0..{k - 1}, got {fold}")
        test = [f for f, g in zip(self.files, self.folds, strict=True) if g == fold]
        train = [f for f, g in zip(self.files, self.folds, strict=True) if g != fold]
        return _rows(dataset, train), _rows(dataset, test)

    @property
    def k(self) -> int:
        return 0 if self.folds is None else max(self.folds) + 1

    def summary(self) -> dict[str, dict[str, int]]:
        """{part or 'fold i': {class: count}} for tables and the CLI."""
        out: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        keys = [f"fold {g}" for g in self.folds] if self.folds is not None else self.parts
        for key, cls in zip(keys, self.classes, strict=True):
            out[key][cls] += 1
        order = sorted(out, key=lambda k: (PARTS.index(k) if k in PARTS else 9, len(k), k))
        return {k: dict(sorted(out[k].items())) for k in order}


def parse_split_spec(spec: str) -> tuple[str, tuple[float, ...] | int]:
    """'85/15', '80/10/10', '70/30', '0.8/0.2' -> ('holdout', fractions); 'kfold:10' -> ('kfold', 10)."""
    spec = (spec or "").strip().lower().replace(" ", "")
    if spec.startswith("kfold"):
        _, _, k = spec.partition(":")
        try:
            k_int = int(k or 10)
        except ValueError:
            raise ValueError(f"bad split {spec!r}: write kfold:K with K a whole number, "
                             "e.g. kfold:10") from None
        if k_int < 2:
            raise ValueError(f"k-fold needs k >= 2, got {k_int}")
        return "kfold", k_int
    try:
        parts = tuple(float(p) for p in spec.split("/"))
    except ValueError:
        raise ValueError(f"bad split {spec!r}: write fractions like 85/15 or 80/10/10, or kfold:10") from None
    return "holdout", _normalise_fractions(parts)


def make_holdout_split(dataset, fractions=(0.85, 0.15), seed: int = 0, parts=None) -> Split:
    """Stratified (and group-aware when `dataset.groups` is set) holdout split.

    `fractions`: 2 numbers -> train/test, 3 -> train/val/test (percentages are fine: 80/10/10).
    `parts`: names for the fractions when not the default ones.
    """
    fr = _normalise_fractions(tuple(fractions))
    names = tuple(parts) if parts is not None else (("train", "test") if len(fr) == 2 else PARTS)
    if len(names) != len(fr) or any(p not in PARTS for p in names) or len(set(names)) != len(names):
        raise ValueError(f"parts {names} must be distinct names from {PARTS}, one per fraction {fr}")
    rng = np.random.default_rng(seed)
    assign = np.empty(len(dataset.files), dtype=np.int64)
    placed, seen = np.zeros(len(fr)), 0
    for _, members in sorted(_groups_by_class(dataset).items()):
        total = sum(len(m) for m in members)
        seen += total
        targets = _class_targets(total, fr, placed, seen)
        placed += targets
        filled = np.zeros(len(fr))
        for m in _order_groups(members, rng):
            # The part furthest below its target (relative), ties broken by the order of the parts.
            deficit = (targets - filled) / np.maximum(targets, 1e-9)
            deficit[targets == 0] = -np.inf
            p = int(np.argmax(deficit))
            assign[m] = p
            filled[p] += len(m)
    return Split(files=list(dataset.files), classes=[dataset.classes[i] for i in dataset.labels],
                 parts=[names[i] for i in assign], folds=None)


def make_kfold_split(dataset, k: int = 10, seed: int = 0) -> Split:
    """Stratified (group-aware) k-fold: every image is in exactly one test fold; k = 10 as in the papers."""
    k = int(k)
    if k < 2:
        raise ValueError(f"k-fold needs k >= 2, got {k}")
    rng = np.random.default_rng(seed)
    fold = np.empty(len(dataset.files), dtype=np.int64)
    for label, members in _groups_by_class(dataset).items():
        if len(members) < k:
            what = "groups" if dataset.groups is not None else "images"
            raise ValueError(f"class {dataset.classes[label]!r} has only {len(members)} {what}, "
                             f"fewer than k={k} folds")
        filled = np.zeros(k)
        for m in _order_groups(members, rng):
            low = np.flatnonzero(filled == filled.min())
            f = int(rng.choice(low))
            fold[m] = f
            filled[f] += len(m)
    return Split(files=list(dataset.files), classes=[dataset.classes[i] for i in dataset.labels],
                 parts=["train"] * len(dataset.files), folds=[int(f) for f in fold])


def save_split(split: Split, path: str | os.PathLike) -> Path:
    """Write `file,class,part,fold` (fold empty for a holdout split), atomically."""
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "class", "part", "fold"])
    folds = split.folds if split.folds is not None else [""] * len(split.files)
    for row in zip(split.files, split.classes, split.parts, folds, strict=True):
        w.writerow(row)
    return atomic_write_text(path, buf.getvalue())


def load_split(path: str | os.PathLike) -> Split:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no split file {path}")
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        missing = {"file", "class", "part"} - set(reader.fieldnames or [])
        if missing:
            raise ValueError(f"{path.name} is not a split file: "
                             f"missing column(s) {', '.join(sorted(missing))}")
        rows = list(reader)
    bad = {r["part"] for r in rows} - set(PARTS)
    if bad:
        raise ValueError(f"{path.name}: unknown part(s) {', '.join(sorted(bad))}; expected {PARTS}")
    fold_values = [r.get("fold", "") or "" for r in rows]
    folds = [int(v) for v in fold_values] if rows and all(v != "" for v in fold_values) else None
    return Split(files=[r["file"] for r in rows], classes=[r["class"] for r in rows],
                 parts=[r["part"] for r in rows], folds=folds)


# -- private helpers ----------------------------------------------------------------------------------

def _rows(dataset, files: list[str]) -> np.ndarray:
    index = {f: i for i, f in enumerate(dataset.files)}
    missing = [f for f in files if f not in index]
    if missing:
        raise ValueError(f"{len(missing)} file(s) of the split are not in dataset "
                         f"{dataset.id or dataset.root}, e.g. {missing[0]!r}: wrong dataset for this split?")
    return np.sort(np.array([index[f] for f in files], dtype=np.int64))


def _normalise_fractions(fr: tuple[float, ...]) -> tuple[float, ...]:
    if len(fr) not in (2, 3):
        raise ValueError(f"a holdout split has 2 (train/test) or 3 (train/val/test) parts, got {len(fr)}")
    if any(f < 0 for f in fr) or sum(fr) <= 0:
        raise ValueError(f"split fractions must be >= 0 with a positive sum, got {fr}")
    total = sum(fr)
    if abs(total - 100) < 1e-6 or abs(total - 1) < 1e-6:
        return tuple(f / total for f in fr)
    raise ValueError(f"split fractions must add up to 100 (or 1), got {'/'.join(f'{f:g}' for f in fr)}")


def _groups_by_class(dataset) -> dict[int, list[np.ndarray]]:
    """{label: [row indices of one group]}; a group's stratum is its most common label; rows without a
    group are groups of one."""
    labels = np.asarray(dataset.labels)
    if dataset.groups is None:
        out: dict[int, list[np.ndarray]] = defaultdict(list)
        for i, lab in enumerate(labels):
            out[int(lab)].append(np.array([i]))
        return out
    by_group: dict[str, list[int]] = defaultdict(list)
    for i, g in enumerate(dataset.groups):
        by_group[str(g) if g else f"\0row{i}"].append(i)
    out = defaultdict(list)
    for rows in by_group.values():
        rows_arr = np.array(rows)
        majority = int(np.bincount(labels[rows_arr]).argmax())
        out[majority].append(rows_arr)
    return out


def _order_groups(members: list[np.ndarray], rng: np.random.Generator) -> list[np.ndarray]:
    """Shuffled, then largest first (stable), so big groups are placed while every part still has room."""
    order = rng.permutation(len(members))
    shuffled = [members[i] for i in order]
    return sorted(shuffled, key=len, reverse=True)


def _class_targets(total: int, fractions: tuple[float, ...], placed: np.ndarray, seen: int) -> np.ndarray:
    """Whole-image targets per part for one class: the floors of total x fraction, and the units left
    over go to the parts furthest below their share of all images so far. Each class stays within one
    image of its exact share, and small classes do not all round the same way (which would leave a
    small test part empty)."""
    fr = np.array(fractions)
    counts = np.floor(fr * total)
    for _ in range(int(total - counts.sum())):
        deficit = fr * seen - (placed + counts)
        deficit[fr == 0] = -np.inf
        counts[int(np.argmax(deficit))] += 1
    return counts

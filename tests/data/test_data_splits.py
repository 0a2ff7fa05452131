from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from simstudio.data.dataset import ImageDataset
from simstudio.data.splits import (
    load_split,
    make_holdout_split,
    make_kfold_split,
    parse_split_spec,
    save_split,
)


def _dataset(counts: dict[str, int], group_size: int = 0, seed: int = 0) -> ImageDataset:
    """A dataset of labels only (1x1 images): splits never look at pixels."""
    classes = sorted(counts)
    labels = np.concatenate([np.full(counts[c], i) for i, c in enumerate(classes)]).astype(np.int64)
    n = len(labels)
    files = [f"{classes[lab]}/{i}.png" for i, lab in enumerate(labels)]
    groups = None
    if group_size:
        rng = np.random.default_rng(seed)
        # lesions of 1..group_size images each, within one class
        gid, groups_list, i = 0, [], 0
        while i < n:
            size = int(rng.integers(1, group_size + 1))
            for j in range(i, min(i + size, n)):
                groups_list.append(f"L{gid}-{labels[i]}" if labels[j] == labels[i] else f"L{gid}b")
            gid += 1
            i += size
        groups = np.array(groups_list)
    return ImageDataset(id="", root=Path("."), classes=classes, files=files, labels=labels, groups=groups,
                        hashes=[""] * n, size=1, images=np.zeros((n, 1, 1, 3), np.uint8))


@pytest.mark.parametrize("spec", ["85/15", "80/10/10", "10/45/45"])
def test_stratified_holdout_keeps_class_ratios(spec):
    ds = _dataset({"benign": 300, "malignant": 100, "scc": 40})
    _, fractions = parse_split_spec(spec)
    split = make_holdout_split(ds, fractions, seed=1)
    parts = ("train", "test") if len(fractions) == 2 else ("train", "val", "test")
    for part, frac in zip(parts, fractions, strict=True):
        counts = Counter(c for c, p in zip(split.classes, split.parts, strict=True) if p == part)
        for cls, total in {"benign": 300, "malignant": 100, "scc": 40}.items():
            assert abs(counts[cls] - frac * total) <= 1, (part, cls, counts[cls], frac * total)
    assert make_holdout_split(ds, fractions, seed=1) == split  # a seed reproduces the split
    assert make_holdout_split(ds, fractions, seed=2) != split


def test_group_aware_holdout_never_leaks_a_group():
    ds = _dataset({"benign": 200, "malignant": 80}, group_size=4, seed=3)
    split = make_holdout_split(ds, (80, 10, 10), seed=0)
    part_of_group: dict[str, set] = {}
    for g, p in zip(ds.groups, split.parts, strict=True):
        part_of_group.setdefault(g, set()).add(p)
    assert all(len(parts) == 1 for parts in part_of_group.values())
    test_frac = split.parts.count("test") / len(split.parts)
    assert 0.07 < test_frac < 0.13  # still close to the target with whole groups


def test_kfold_tests_every_image_exactly_once_stratified_and_grouped():
    ds = _dataset({"benign": 120, "malignant": 50}, group_size=3, seed=4)
    split = make_kfold_split(ds, k=10, seed=0)
    assert split.k == 10 and len(split.folds) == 170
    seen = []
    for fold in range(10):
        train, test = split.fold_indices(fold, ds)
        assert not set(train) & set(test) and len(train) + len(test) == 170
        seen.extend(test.tolist())
        assert 2 <= (ds.labels[test] == 1).sum() <= 8  # ~5 malignant per fold
        assert not set(ds.groups[train]) & set(ds.groups[test])
    assert sorted(seen) == list(range(170))


def test_split_csv_round_trip_and_indices(tmp_path):
    ds = _dataset({"a": 20, "b": 10})
    for split in (make_holdout_split(ds, (85, 15)), make_kfold_split(ds, k=5)):
        path = save_split(split, tmp_path / "split.csv")
        assert path.read_text().startswith("file,class,part,fold\n")
        assert load_split(path) == split
    holdout = make_holdout_split(ds, (80, 20), seed=5)
    test_rows = holdout.indices("test", ds)
    assert [ds.files[i] for i in test_rows] == sorted(
        (f for f, p in zip(holdout.files, holdout.parts, strict=True) if p == "test"), key=ds.files.index)
    assert holdout.summary()["test"] == {"a": 4, "b": 2}


def test_split_errors_are_clear():
    ds = _dataset({"a": 20, "b": 3})
    with pytest.raises(ValueError, match="class 'b' has only 3 images, fewer than k=10"):
        make_kfold_split(ds, k=10)
    with pytest.raises(ValueError, match="add up to 100"):
        parse_split_spec("50/20")
    with pytest.raises(ValueError, match="kfold:10"):
        parse_split_spec("eighty/twenty")
    assert parse_split_spec("kfold:5") == ("kfold", 5)
    assert parse_split_spec("0.7/0.3") == ("holdout", (0.7, 0.3))
    other = _dataset({"x": 5, "y": 5})
    with pytest.raises(ValueError, match="not in dataset"):
        make_holdout_split(ds).indices("test", other)

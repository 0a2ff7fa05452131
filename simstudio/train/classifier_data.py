"""Reading what a `ClassifierConfig` names into `TrainingData`: the real dataset and its split (train /
val / test parts), the synthetic folder, and an optional separate folder of real test images.

Class labels are matched by name across sources, so a simulator export and a real dataset with the same
class folders line up whatever order they were read in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simstudio.train.classifier import ClassifierConfig, TrainingData
from simstudio.train.composition import LabelledImages


def load_training_data(
    config: ClassifierConfig, run_dir: Path | None = None, ctx=None, write: bool = True
) -> TrainingData:
    """Load and check the data of `config`; the split used is saved as `run_dir/split.csv` (when `write`).

    Test images are always real: the split's test part, or every image of `config.test`.
    """
    from simstudio.data.dataset import load_dataset

    check_sources(config)
    size = config.image_size
    mode = config.mode
    real = load_dataset(config.real, size=size, ctx=ctx) if config.real else None
    synthetic = load_dataset(config.synthetic, size=size, ctx=ctx) if mode != "real" else None
    classes = list(real.classes if real is not None else synthetic.classes)
    info: dict = {
        "real": config.real,
        "synthetic": config.synthetic if synthetic is not None else "",
        "image_size": size,
    }

    train = val = test = None
    train_hashes: set[str] = set()
    test_hashes: set[str] = set()
    if real is not None:
        split, split_file = _resolve_split(config, real, run_dir, write)
        info["split"] = split_file
        train_idx, val_idx, test_idx = (split.indices(p, real) for p in ("train", "val", "test"))
        if len(val_idx) == 0 and config.val_fraction > 0 and len(train_idx) > 0:
            train_idx, val_idx = _carve_validation(real, train_idx, config.val_fraction, config.seed)
        train = _take(real, train_idx, classes, "real")
        val = _take(real, val_idx, classes, "real") if len(val_idx) else None
        if not config.test:
            if len(test_idx) == 0:
                raise ValueError(
                    f"the split {split_file} has no test part; give a separate test folder (--test)"
                )
            test = _take(real, test_idx, classes, "real")
            info["test_source"] = f"test part of the split ({len(test_idx)} real images)"
            test_hashes = {real.hashes[i] for i in test_idx}
        if mode != "synthetic":
            train_hashes |= {real.hashes[i] for i in train_idx}
    if config.test:
        test_ds = load_dataset(config.test, size=size, ctx=ctx)
        test = _take(test_ds, np.arange(len(test_ds)), classes, "real", what="test folder")
        info["test_source"] = f"folder {config.test} ({len(test_ds)} real images)"
        test_hashes = set(test_ds.hashes)
    syn = None
    if synthetic is not None:
        syn = _take(synthetic, np.arange(len(synthetic)), classes, "synthetic", what="synthetic folder")
        train_hashes |= set(synthetic.hashes)
    # The same file in training and test would inflate every metric: refuse it.
    leaked = train_hashes & test_hashes
    if leaked:
        raise ValueError(
            f"{len(leaked)} test image(s) also appear (same file bytes) in the training images; "
            "the test set must be held out"
        )
    return TrainingData(classes=classes, test=test, real_train=train, val=val, synthetic=syn, info=info)


def check_sources(config: ClassifierConfig) -> None:
    """The data the mode needs is named (a cheap check the app makes before submitting a job)."""
    mode = config.mode
    if mode != "synthetic" and not config.real:
        raise ValueError(f"mode {mode!r} trains on real images: give a real dataset (run id or folder)")
    if mode != "real" and not config.synthetic:
        raise ValueError(f"mode {mode!r} needs a synthetic image folder")
    if not config.real and not config.test:
        raise ValueError(
            "nothing to test on: give a real dataset with a split, or a folder of real test images"
        )


def _resolve_split(config: ClassifierConfig, real, run_dir: Path | None, write: bool):
    """The split file named, else the dataset's saved split, else a new stratified holdout split; a run
    being resumed reuses the split it saved."""
    from simstudio.data.splits import load_split, make_holdout_split, save_split

    saved = run_dir / "split.csv" if run_dir is not None else None
    if config.split:
        return load_split(config.split), str(config.split)
    if saved is not None and saved.is_file():
        return load_split(saved), str(saved)
    split = real.saved_split()
    if split is not None:
        return split, str(real.run_dir / "split.csv")
    split = make_holdout_split(real, tuple(config.split_fractions), seed=config.split_seed)
    if saved is not None and write:
        save_split(split, saved)
    return split, str(
        saved
    ) if saved is not None else f"holdout {config.split_fractions} seed {config.split_seed}"


def _carve_validation(real, train_idx: np.ndarray, fraction: float, seed: int):
    """Validation rows from the training part, stratified and group-aware (a lesion stays on one side)."""
    from simstudio.data.splits import make_holdout_split

    sub = real.subset(train_idx)
    counts = np.bincount(sub.labels, minlength=len(real.classes))
    if counts[counts > 0].min() < 2:
        return train_idx, np.zeros(0, dtype=np.int64)
    inner = make_holdout_split(sub, (1 - fraction, fraction), seed=seed, parts=("train", "val"))
    return train_idx[inner.indices("train", sub)], train_idx[inner.indices("val", sub)]


def _take(ds, idx, classes: list[str], source: str, what: str = "real dataset") -> LabelledImages:
    """Rows `idx` of dataset `ds` with labels re-indexed into `classes` by name."""
    unknown = sorted(set(ds.classes) - set(classes))
    idx = np.asarray(idx, dtype=np.int64)
    if unknown:
        used = {ds.classes[i] for i in np.unique(ds.labels[idx])}
        bad = sorted(used & set(unknown))
        if bad:
            raise ValueError(
                f"the {what} has class(es) {', '.join(bad)} that the training classes "
                f"({', '.join(classes)}) do not have; class folders must use the same names"
            )
    mapping = np.array([classes.index(c) if c in classes else -1 for c in ds.classes], dtype=np.int64)
    return LabelledImages(
        np.asarray(ds.images[np.sort(idx)]) if len(idx) else np.zeros((0, ds.size, ds.size, 3), np.uint8),
        mapping[ds.labels[np.sort(idx)]],
        source,
    )

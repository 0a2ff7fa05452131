"""Composing the training set from real and synthetic images: the four modes a synthetic-data study
compares, each one a list of stages (pretrain-then-fine-tune has two)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MODES = ("real", "synthetic", "mix", "pretrain")
MIX_STRATEGIES = ("add", "balance")


@dataclass
class LabelledImages:
    """uint8 images (N, H, W, 3) with int64 labels in the model's class order, and where each came from."""

    images: np.ndarray
    labels: np.ndarray
    source: str = "real"  # "real" | "synthetic" | "mixed"
    is_synthetic: np.ndarray | None = None  # bool (N,) when the set mixes sources

    def __post_init__(self):
        self.labels = np.asarray(self.labels, dtype=np.int64)
        if len(self.images) != len(self.labels):
            raise ValueError(f"{len(self.images)} images but {len(self.labels)} labels")
        if self.is_synthetic is None:
            self.is_synthetic = np.full(len(self.labels), self.source == "synthetic")

    def __len__(self) -> int:
        return len(self.labels)

    def take(self, idx) -> LabelledImages:
        idx = np.asarray(idx, dtype=np.int64)
        return LabelledImages(
            np.asarray(self.images[idx]), self.labels[idx], self.source, self.is_synthetic[idx]
        )

    def counts(self, classes: list[str]) -> dict[str, dict[str, int]]:
        """Images per class, split by source: {"real": {class: n}, "synthetic": {class: n}}."""
        out = {}
        for name, mask in (("real", ~self.is_synthetic), ("synthetic", self.is_synthetic)):
            per = np.bincount(self.labels[mask], minlength=len(classes))
            out[name] = {c: int(per[i]) for i, c in enumerate(classes)}
        return out


@dataclass
class Stage:
    name: str  # "train" | "pretrain" | "finetune"
    data: LabelledImages
    epochs: int
    # mixed fine-tuning: images drawn into every batch beside `data`'s, `extra_ratio` of each batch
    extra: LabelledImages | None = None
    extra_ratio: float = 0.0


def compose_stages(
    mode: str,
    real: LabelledImages | None,
    synthetic: LabelledImages | None,
    classes: list[str],
    epochs: int,
    pretrain_epochs: int = 0,
    mix: str = "add",
    synthetic_per_class: int = 0,
    seed: int = 0,
    finetune_synthetic_ratio: float = 0.0,
) -> list[Stage]:
    """The stages of training for `mode`:

    - real: the real training images;
    - synthetic: the synthetic images (at most `synthetic_per_class` per class when > 0);
    - mix: real + `synthetic_per_class` synthetic per class (0 = all of them) with `mix="add"`, or with
      `mix="balance"` each class topped up with synthetic images to the largest real class (as the DCGAN
      augmentation study balanced its minority class);
    - pretrain: `pretrain_epochs` on the synthetic images, then `epochs` fine-tuning on the real ones
      (hESCnet configuration c); with `finetune_synthetic_ratio` > 0 every fine-tune batch also holds
      that share of synthetic images (mixed fine-tuning).
    Raises ValueError (before any training) when the synthetic images cannot fill the request.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode != "synthetic" and (real is None or len(real) == 0):
        raise ValueError(f"mode {mode!r} needs real training images, and there are none")
    if mode != "real" and (synthetic is None or len(synthetic) == 0):
        raise ValueError(f"mode {mode!r} needs a synthetic image folder (simulator or GAN export)")
    rng = np.random.default_rng(seed)
    num_classes = len(classes)
    if mode == "real":
        return [Stage("train", real, epochs)]
    if mode == "synthetic":
        syn = (
            _cap_per_class(synthetic, synthetic_per_class, classes, rng) if synthetic_per_class else synthetic
        )
        return [Stage("train", syn, epochs)]
    if mode == "pretrain":
        if pretrain_epochs < 1:
            raise ValueError("mode 'pretrain' needs pretrain_epochs >= 1 (epochs on synthetic images)")
        extra = synthetic if finetune_synthetic_ratio > 0 else None
        return [Stage("pretrain", synthetic, pretrain_epochs),
                Stage("finetune", real, epochs, extra=extra, extra_ratio=finetune_synthetic_ratio)]
    if mix not in MIX_STRATEGIES:
        raise ValueError(f"unknown mix strategy {mix!r}; choose one of {', '.join(MIX_STRATEGIES)}")
    real_counts = np.bincount(real.labels, minlength=num_classes)
    if mix == "add":
        want = np.full(num_classes, synthetic_per_class) if synthetic_per_class > 0 else None
    else:
        want = real_counts.max() - real_counts
    added = synthetic if want is None else _draw_per_class(synthetic, want, classes, rng, why=mix)
    return [Stage("train", concat([real, added]), epochs)]


def concat(parts: list[LabelledImages]) -> LabelledImages:
    parts = [p for p in parts if len(p)]
    return LabelledImages(
        np.concatenate([np.asarray(p.images) for p in parts]),
        np.concatenate([p.labels for p in parts]),
        source="mixed" if len({p.source for p in parts}) > 1 else parts[0].source,
        is_synthetic=np.concatenate([p.is_synthetic for p in parts]),
    )


def _cap_per_class(data: LabelledImages, cap: int, classes: list[str], rng) -> LabelledImages:
    have = np.bincount(data.labels, minlength=len(classes))
    return _draw_per_class(data, np.minimum(have, cap), classes, rng, why="cap")


def _draw_per_class(
    data: LabelledImages, want: np.ndarray, classes: list[str], rng, why: str
) -> LabelledImages:
    have = np.bincount(data.labels, minlength=len(want))
    short = [
        f"{classes[i]}: {int(w)} wanted, {int(h)} available"
        for i, (w, h) in enumerate(zip(want, have, strict=True))
        if w > h
    ]
    if short:
        raise ValueError(
            f"not enough synthetic images for mix={why!r} ({'; '.join(short)}); "
            "export more images or ask for fewer per class"
        )
    idx = [
        rng.choice(np.flatnonzero(data.labels == c), size=int(w), replace=False)
        for c, w in enumerate(want)
        if w > 0
    ]
    idx = np.sort(np.concatenate(idx)) if idx else np.zeros(0, dtype=np.int64)
    return data.take(idx)

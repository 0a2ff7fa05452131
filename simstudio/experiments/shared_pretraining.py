"""Pretraining shared between units: the synthetic stage of a pretrain arm is computed once per repeat.

A pretrain unit's first stage depends only on its classifier settings, its seed and its synthetic images,
never on its real images: pretrain arms of one repeat that fine-tune on different real subsets (the sizes of
a data-efficiency curve, hESCnet's c at several fractions) run the very same first stage. The first unit
to reach fine-tuning keeps the checkpoint the trainer writes at that moment (weights after pretraining,
stage 2 about to start, RNG state) under the experiment run's `shared/`; a later unit with the same key
starts from a copy of it, and the trainer resumes into fine-tuning exactly as an uninterrupted run would
(tests/experiments/test_data_efficiency.py checks the predictions are equal to a unit that pretrained
itself).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np

# settings that only shape fine-tuning (or only name the real data), so units differing in them share
FINE_TUNE_ONLY = ("epochs", "real")


def stage_key(ccfg: dict, data) -> str:
    """sha1 of everything the pretraining stage sees: classifier settings but fine-tuning's, the classes,
    and the synthetic images' pixels and labels (after colour constancy, when the experiment asks for it)."""
    h = hashlib.sha1()
    h.update(json.dumps({k: v for k, v in ccfg.items() if k not in FINE_TUNE_ONLY}, sort_keys=True).encode())
    h.update(json.dumps(list(data.classes)).encode())
    syn = data.synthetic
    h.update(np.ascontiguousarray(syn.images).tobytes())
    h.update(np.ascontiguousarray(syn.labels, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def cached(run_dir: Path, key: str) -> Path:
    return Path(run_dir) / "shared" / f"pretrained-{key}.pt"


def seed_unit(run_dir: Path, unit_dir: Path, key: str) -> bool:
    """Start a unit that has not started yet from the shared pretrained checkpoint, when there is one."""
    src = cached(run_dir, key)
    last = Path(unit_dir) / "checkpoints" / "last.pt"
    if last.is_file() or not src.is_file():
        return False
    last.parent.mkdir(parents=True, exist_ok=True)
    tmp = last.with_name(".last.pt.shared")
    shutil.copyfile(src, tmp)
    tmp.replace(last)
    return True


def capturing(run_dir: Path, unit_dir: Path, key: str, on_event):
    """`on_event` that also keeps the unit's checkpoint when fine-tuning starts (the trainer has just
    written it: weights after pretraining, state at stage 2 epoch 0)."""
    dst = cached(run_dir, key)

    def hook(event):
        if event.get("type") == "stage" and event.get("index") == 1 and not dst.is_file():
            dst.parent.mkdir(parents=True, exist_ok=True)
            tmp = dst.with_name(f".{dst.name}.tmp")
            shutil.copyfile(Path(unit_dir) / "checkpoints" / "last.pt", tmp)
            tmp.replace(dst)
        on_event(event)

    return hook

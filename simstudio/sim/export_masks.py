"""The lesion masks of an exported (or refined) simulated dataset, regenerated from its manifest: each row
holds the image's seed and the folder's marker holds the preset, so `render_image` draws the very same
lesion again. Exports store no masks (they would double the folder for a by-product); this costs one
render per image, only when a mask is asked for.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import cv2
import numpy as np

from simstudio.sim.export import MANIFEST, MARKER, render_image
from simstudio.sim.presets import preset_from_dict


def has_masks(folder: str | os.PathLike) -> bool:
    """Whether `folder` is a simulator export (or a refined one) whose masks can be regenerated."""
    folder = Path(folder)
    return (folder / MARKER).is_file() and (folder / MANIFEST).is_file()


def export_masks(folder: str | os.PathLike, files: list[str], size: int | None = None) -> np.ndarray:
    """bool masks (N, S, S) of the exported images `files` (paths relative to `folder`, as the manifest
    names them), rendered at the export's size and resized to `size` when given."""
    folder = Path(folder)
    if not has_masks(folder):
        raise ValueError(f"{folder} is not a simulator export ({MARKER} and {MANIFEST} are needed to "
                         f"regenerate its lesion masks)")
    marker = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    study = preset_from_dict(marker["preset"])
    export_size = int(marker["size"])
    with open(folder / MANIFEST, newline="", encoding="utf-8") as fh:
        rows = {r["file"]: r for r in csv.DictReader(fh)}
    side = int(size or export_size)
    out = np.zeros((len(files), side, side), bool)
    for i, f in enumerate(files):
        row = rows.get(f)
        if row is None:
            raise ValueError(f"{f} is not listed in {folder / MANIFEST}")
        _rgb, mask, _params, _preset = render_image(study, row["class"], int(row["seed"]), export_size)
        m = np.asarray(mask, np.float32)
        if m.max() > 1:
            m = m / 255.0
        if side != export_size:
            m = cv2.resize(m, (side, side), interpolation=cv2.INTER_AREA)
        out[i] = m >= 0.5
    return out

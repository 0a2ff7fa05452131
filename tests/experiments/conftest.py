"""Fixtures: tiny real and synthetic image folders (see experiment_data.py)."""

import pytest
from experiment_data import write_folder

from simstudio.sim.export import ExportConfig, export_dataset
from simstudio.sim.presets import default_preset, save_preset


@pytest.fixture
def real_dir(tmp_path):
    return write_folder(tmp_path / "real", 30, seed=1, prefix="real")


@pytest.fixture
def synthetic_dir(tmp_path):
    return write_folder(tmp_path / "sim", 30, seed=2, prefix="sim")


@pytest.fixture
def toy_target(tmp_path):
    """A 'real' set drawn by the simulator from a preset with known diameters, split into val images plus
    test rows whose files do not exist: reading the test part anywhere would fail loudly."""
    target = default_preset()
    target.lesion["nevus"]["diameter_mm"] = {"lognormal": [15.0, 0.15]}
    target.lesion["seborrheic_keratosis"]["diameter_mm"] = {"lognormal": [15.0, 0.15]}
    target.lesion["melanoma"]["diameter_mm"] = {"lognormal": [6.0, 0.15]}
    preset_path = save_preset(target, tmp_path / "target.json")
    real = tmp_path / "real"
    export_dataset(ExportConfig(out=str(real), per_class=24, size=48, preset=str(preset_path), workers=1, seed=7))
    rows = ["file,class,part,fold"]
    for cls in ("benign", "malignant"):
        rows += [f"{p.relative_to(real)},{cls},val," for p in sorted((real / cls).glob("*.png"))]
        rows += [f"{cls}/held-out-{i}.png,{cls},test," for i in range(3)]
    split = tmp_path / "split.csv"
    split.write_text("\n".join(rows) + "\n")
    return real, split

"""Dataset export: identical output whatever the worker count, a manifest that matches the files, an
interrupted export finished by a rerun, and clear errors before any work."""

import csv
import hashlib
import os
from pathlib import Path

import numpy as np
import pytest

from simstudio.jobs import Cancelled, JobContext
from simstudio.sim.export import (
    MANIFEST,
    ExportConfig,
    export_dataset,
    image_seed,
    png_complete,
    render_image,
    zip_dataset,
)
from simstudio.sim.params import PARAM_SPECS, LesionParams
from simstudio.sim.presets import default_preset

SIZE = 32


def _digest(folder) -> dict[str, str]:
    """sha1 of every visible file under `folder` (images and manifest)."""
    out = {}
    for root, _dirs, files in os.walk(folder):
        for name in files:
            if not name.startswith("."):
                p = os.path.join(root, name)
                out[os.path.relpath(p, folder)] = hashlib.sha1(Path(p).read_bytes()).hexdigest()
    return out


def _rows(folder) -> list[dict]:
    with open(folder / MANIFEST, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "w1"
    result = export_dataset(ExportConfig(out=str(out), per_class=70, size=SIZE, seed=3, workers=1))
    return out, result


def test_output_is_identical_with_one_or_two_workers(one_worker, tmp_path):
    out1, result1 = one_worker
    out2 = tmp_path / "w2"
    # 70 per class is more than one task (64 images) per class, so two workers really share the work.
    result2 = export_dataset(ExportConfig(out=str(out2), per_class=70, size=SIZE, seed=3, workers=2))
    assert result1["workers"] == 1 and result2["workers"] == 2
    assert result2["counts"] == {"benign": 70, "malignant": 70}
    assert _digest(out1) == _digest(out2)


def test_manifest_lists_exactly_the_files_with_every_parameter(one_worker):
    out, result = one_worker
    rows = _rows(out)
    assert list(rows[0]) == ["file", "class", "class_preset", "seed", *PARAM_SPECS]
    on_disk = {f for f in _digest(out) if f != MANIFEST}
    assert {r["file"] for r in rows} == on_disk and len(rows) == result["images"] == 140
    assert all(png_complete(out / r["file"]) for r in rows)
    assert {r["class_preset"] for r in rows if r["class"] == "benign"} <= {"nevus", "seborrheic_keratosis"}
    assert {r["class_preset"] for r in rows if r["class"] == "malignant"} == {"melanoma"}
    assert rows[0]["file"] == "benign/benign_000000.png"


def test_a_manifest_row_regenerates_its_image(one_worker):
    import cv2

    out, _ = one_worker
    row = _rows(out)[75]
    params = LesionParams.from_dict({k: row[k] for k in PARAM_SPECS})
    rgb, *_rest = render_image(default_preset(), row["class"], int(row["seed"]), SIZE)
    from simstudio.sim.render import render_lesion

    again, _mask = render_lesion(params, SIZE, int(row["seed"]))
    on_disk = cv2.cvtColor(cv2.imread(str(out / row["file"])), cv2.COLOR_BGR2RGB)
    assert np.array_equal(on_disk, rgb) and np.array_equal(on_disk, again)
    assert row["file"] == "malignant/malignant_000005.png" and int(row["seed"]) == image_seed(3, 1, 5)


def test_interrupted_export_never_claims_missing_files_and_a_rerun_finishes_it(one_worker, tmp_path):
    out1, _ = one_worker
    out = tmp_path / "cut"
    config = ExportConfig(out=str(out), per_class=70, size=SIZE, seed=3, workers=1)
    ctx = JobContext(progress_interval_s=0.0)  # every chunk reports, however fast the renderer is
    seen = []

    def cancel_midway(event):
        if event["type"] == "progress" and event["done"] >= 64:
            seen.append(event["done"])
            ctx.cancel_event.set()

    ctx.on_event = cancel_midway
    with pytest.raises(Cancelled):
        export_dataset(config, ctx)
    assert seen and not (out / MANIFEST).exists()
    written = sorted(out.glob("*/*.png"))
    assert 0 < len(written) < 140
    # Damage the leftovers the way a crash would: a PNG cut short and one missing.
    written[0].write_bytes(written[0].read_bytes()[:50])
    written[1].unlink()

    result = export_dataset(config)
    assert result["images"] == 140 and result["reused"] == len(written) - 2
    assert _digest(out) == _digest(out1)


def test_unwritable_or_foreign_folders_are_refused_before_any_work(tmp_path):
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file"):
        export_dataset(ExportConfig(out=str(a_file), per_class=2, size=SIZE))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    # root ignores file modes: a read-only filesystem refuses it too.
    target = "/sys/simstudio-export" if os.geteuid() == 0 else str(locked / "out")
    try:
        with pytest.raises(PermissionError, match="cannot write to"):
            export_dataset(ExportConfig(out=target, per_class=2, size=SIZE))
    finally:
        locked.chmod(0o700)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match="not empty"):
        export_dataset(ExportConfig(out=str(busy), per_class=2, size=SIZE))


def test_other_settings_cannot_finish_someone_elses_export(one_worker):
    out, _ = one_worker
    with pytest.raises(ValueError, match="other settings"):
        export_dataset(ExportConfig(out=str(out), per_class=70, size=SIZE, seed=4, workers=1))


@pytest.mark.parametrize(("field", "value", "message"), [
    ("size", 16, r"size = 16 is out of range: expected a whole number in \[32, 512\]"),
    ("per_class", 0, r"per_class = 0 is out of range"),
    ("task", "five_class", r"task = 'five_class'"),
])
def test_out_of_range_settings_name_the_setting_and_its_range(tmp_path, field, value, message):
    config = ExportConfig(out=str(tmp_path / "x"), per_class=2, size=SIZE)
    setattr(config, field, value)
    with pytest.raises(ValueError, match=message):
        export_dataset(config)
    assert not (tmp_path / "x").exists()


def test_small_export_zips_with_its_manifest(one_worker, tmp_path):
    import zipfile

    out, _ = one_worker
    path = zip_dataset(out, max_files=500, path=tmp_path / "set.zip")
    names = zipfile.ZipFile(path).namelist()
    assert f"{out.name}/{MANIFEST}" in names and len(names) == 141
    with pytest.raises(ValueError, match="more than 100"):
        zip_dataset(out, max_files=100, path=tmp_path / "big.zip")

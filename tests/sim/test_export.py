"""Dataset export: identical output whatever the worker count, a manifest that matches the files, an
interrupted export finished by a rerun, and clear errors before any work."""

import csv
import hashlib
import os
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from simstudio.jobs import Cancelled, JobContext
from simstudio.sim.export import (
    MANIFEST,
    MARKER,
    ExportConfig,
    check_export,
    export_dataset,
    image_seed,
    png_complete,
    regenerate,
    render_image,
    zip_dataset,
)
from simstudio.sim.masks import STRUCTURE_MASKS, isic_masks, mask_files
from simstudio.sim.params import PARAM_SPECS, LesionParams
from simstudio.sim.presets import default_preset
from simstudio.sim.render import RENDERER_VERSION, render_lesion

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
    assert list(rows[0]) == ["file", "class", "class_preset", "seed", "renderer_version", *PARAM_SPECS]
    assert {r["renderer_version"] for r in rows} == {str(RENDERER_VERSION)}
    assert result["renderer_version"] == RENDERER_VERSION and result["masks"] is False
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


def test_cancel_stops_every_worker_thread_before_the_export_returns(tmp_path):
    # Two workers render on threads of this process: a cancel must drop the queued tasks and leave no
    # thread writing files after export_dataset has raised.
    out = tmp_path / "cancelled"
    ctx = JobContext(progress_interval_s=0.0)

    def cancel_at_once(event):
        if event["type"] == "progress" and event["done"] > 0:
            ctx.cancel_event.set()

    ctx.on_event = cancel_at_once
    with pytest.raises(Cancelled):
        export_dataset(ExportConfig(out=str(out), per_class=640, size=SIZE, seed=1, workers=2), ctx)
    assert not any(t.name.startswith("simstudio-export") for t in threading.enumerate())
    written = len(list(out.glob("*/*.png")))
    assert 0 < written <= 6 * 64  # the first chunk, those running and those queued when it came back
    time.sleep(0.3)
    assert len(list(out.glob("*/*.png"))) == written and not (out / MANIFEST).exists()


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


def _as_made_by_renderer(folder, version):
    """Make `folder` look like an export of renderer `version` (None: from before versions were written)."""
    import json

    marker = json.loads((folder / MARKER).read_text())
    if version is None:
        del marker["renderer_version"]
    else:
        marker["renderer_version"] = version
    (folder / MARKER).write_text(json.dumps(marker))
    rows = _rows(folder)
    fields = [f for f in rows[0] if version is not None or f != "renderer_version"]
    with open(folder / MANIFEST, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows({**r, "renderer_version": version} for r in rows)


@pytest.mark.parametrize("version", [None, RENDERER_VERSION + 1])
def test_an_export_of_another_renderer_version_is_never_finished_or_regenerated(tmp_path, version):
    out = tmp_path / "old"
    config = ExportConfig(out=str(out), per_class=3, size=SIZE, seed=2, workers=1)
    export_dataset(config)
    other = 1 if version is None else version  # an export from before the version was written is version 1
    if other == RENDERER_VERSION:
        pytest.skip("this install's renderer is version 1, what an unversioned export is")
    _as_made_by_renderer(out, version)
    (out / "benign" / "benign_000002.png").unlink()  # interrupted: a rerun would draw this one anew
    before = _digest(out)
    both = rf"renderer version {other}\b.*renderer version {RENDERER_VERSION}\b"
    with pytest.raises(ValueError, match=both):
        check_export(config)
    with pytest.raises(ValueError, match=both):
        export_dataset(config)
    with pytest.raises(ValueError, match=both):
        regenerate(out, "benign/benign_000000.png")
    assert _digest(out) == before  # nothing was drawn into the old set
    with pytest.raises(ValueError, match=both):  # a run config of another version cannot be re-run either
        ExportConfig(out=str(tmp_path / "new"), per_class=3, size=SIZE, renderer_version=other).validate()


def test_regenerate_draws_an_exported_image_again_from_its_manifest_row(one_worker):
    import cv2

    out, _ = one_worker
    rgb, mask = regenerate(out, "malignant/malignant_000004.png")
    on_disk = cv2.cvtColor(cv2.imread(str(out / "malignant/malignant_000004.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(rgb, on_disk) and mask.shape == (SIZE, SIZE)
    with pytest.raises(ValueError, match="not in the manifest"):
        regenerate(out, "malignant/malignant_999999.png")


@pytest.fixture(scope="module")
def with_masks(tmp_path_factory):
    out = tmp_path_factory.mktemp("export") / "masks"
    result = export_dataset(ExportConfig(out=str(out), per_class=3, size=SIZE, seed=5, workers=1, masks=True))
    return out, result


def test_exported_masks_are_render_lesions_masks_as_isic_2018_pngs(with_masks):
    import cv2

    out, result = with_masks
    rows = _rows(out)
    assert result["masks"] is True and len(rows) == 6
    for row in rows:
        image_id = row["file"].removesuffix(".png")
        params = LesionParams.from_dict({k: row[k] for k in PARAM_SPECS})
        rgb, lesion, drawn = render_lesion(params, SIZE, int(row["seed"]), masks=True)
        structures = isic_masks(drawn)
        files = mask_files(Path(image_id).name)
        assert set(files) == {"lesion", *STRUCTURE_MASKS}
        assert files["lesion"].endswith("_segmentation.png")
        assert files["pigment_network"] == f"{Path(image_id).name}_attribute_pigment_network.png"
        expected = {"lesion": lesion, **structures}
        for name, file in files.items():
            png = cv2.imread(str(out / row["class"] / file), cv2.IMREAD_UNCHANGED)
            assert png.dtype == np.uint8 and png.shape == (SIZE, SIZE), file
            assert set(np.unique(png)) <= {0, 255}, file
            assert np.array_equal(png == 255, expected[name]), file
        on_disk = cv2.cvtColor(cv2.imread(str(out / row["file"])), cv2.COLOR_BGR2RGB)
        assert np.array_equal(on_disk, rgb)
        again = regenerate(out, row["file"], masks=True)
        assert all(np.array_equal(again[2][n], structures[n]) for n in STRUCTURE_MASKS)
    lesions = [cv2.imread(str(p), cv2.IMREAD_UNCHANGED) for p in out.glob("*/*_segmentation.png")]
    assert len(lesions) == 6 and all(m.any() for m in lesions)  # every image has its lesion, never blank


def test_an_export_with_masks_still_loads_as_a_dataset_of_its_images_only(with_masks, run_store):
    from simstudio.data.dataset import load_dataset

    out, result = with_masks
    ds = load_dataset(out, size=SIZE)
    assert ds.classes == ["benign", "malignant"] and len(ds) == result["images"] == 6
    assert sorted(ds.files) == sorted(r["file"] for r in _rows(out))


def test_a_rerun_with_masks_redraws_an_image_whose_mask_is_missing(with_masks, tmp_path):
    import shutil

    out, _ = with_masks
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    (copy / MANIFEST).unlink()
    (copy / "benign" / "benign_000001_attribute_hair.png").unlink()
    result = export_dataset(ExportConfig(out=str(copy), per_class=3, size=SIZE, seed=5, workers=1, masks=True))
    assert result["reused"] == 5 and _digest(copy) == _digest(out)
    with pytest.raises(ValueError, match="other settings"):  # masks on and off are two exports
        export_dataset(ExportConfig(out=str(copy), per_class=3, size=SIZE, seed=5, workers=1))

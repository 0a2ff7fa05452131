"""Data tab handlers, called directly: what each returns is what the page shows."""

import io
import zipfile

import numpy as np
import pytest
from PIL import Image

from simstudio.runs import open_run
from simstudio.ui import data_tab

ZIP, FOLDER, CSV = data_tab.SOURCE_KINDS
PRE = dict(size=16, fit="resize", bilateral=True, bil_d=5, bil_sc=30, bil_ss=30, gamma=1.5, hair=False,
           sog=False)


def _png(seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (24, 24, 3), dtype=np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _zip(path, counts: dict[str, int], extra: dict[str, bytes] | None = None):
    with zipfile.ZipFile(path, "w") as zf:
        seed = 0
        for cls, n in counts.items():
            for i in range(n):
                zf.writestr(f"lesions/{cls}/{i}.png", _png(seed))
                seed += 1
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return str(path)


@pytest.fixture
def allowed(tmp_path, monkeypatch):
    root = tmp_path / "data"
    root.mkdir()
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(root))
    return root


def _import_and_wait(*args):
    message, run_id, timer = data_tab.start_import(*args)
    assert run_id, message
    from simstudio.jobs import get_runner

    assert get_runner().get(run_id).wait(60)
    return run_id


def test_scan_of_a_zip_shows_counts_ignored_files_and_the_class_map(tmp_path):
    z = _zip(tmp_path / "up.zip", {"nv": 3, "mel": 2, "bkl": 1}, {"lesions/README.md": b"# hi"})
    class_map = "malignant: mel\nbenign: *"
    message, summary, counts_fig, sizes_fig, skipped = data_tab.scan_data(ZIP, z, "", "", class_map)
    assert "press **Import**" in message
    assert "6 images" in summary and "After the class map: 6 images in 2 classes" in summary
    assert "`README.md`" in summary
    bars = {t.name: dict(zip(t.x, t.y, strict=True)) for t in counts_fig.data}
    assert bars["in the dataset"] == {"benign": 4, "malignant": 2}
    assert bars["before class map"] == {"bkl": 1, "mel": 2, "nv": 3}
    assert list(sizes_fig.data[0].x) == [24] and skipped.empty


def test_bad_inputs_give_messages_not_tracebacks(tmp_path, allowed):
    assert data_tab.scan_data(ZIP, None, "", "", "")[0].startswith("**Error:** upload a .zip")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    msg = data_tab.scan_data(FOLDER, None, str(outside), "", "")[0]
    assert "outside the folders this app may read" in msg
    msg = data_tab.scan_data(FOLDER, None, str(allowed / "missing"), "", "")[0]
    assert msg.startswith("**Error:**") and "missing" in msg
    z = _zip(tmp_path / "up.zip", {"nv": 2})
    assert "does not have" in data_tab.scan_data(ZIP, z, "", "", "malignant: MEL")[0]
    msg, run_id, _ = data_tab.start_import(ZIP, z, "", "", "", **{**PRE, "gamma": 0.0}, split="85/15", seed=0)
    assert msg.startswith("**Error:** gamma") and run_id == ""
    msg, run_id, _ = data_tab.start_import(ZIP, z, "", "", "", **PRE, split="60/30", seed=0)
    assert "add up to 100" in msg and run_id == ""


def test_scan_of_a_csv_on_the_server_lists_ids_without_images(allowed):
    (allowed / "isic" / "images").mkdir(parents=True)
    for i in range(3):
        (allowed / "isic" / "images" / f"ISIC_{i}.png").write_bytes(_png(i))
    csv = allowed / "isic" / "train.csv"
    csv.write_text("image_name,target\nISIC_0,0\nISIC_1,1\nISIC_2,0\nISIC_9,1\n")
    message, summary, counts_fig, _, skipped = data_tab.scan_data(CSV, None, "", str(csv), "")
    assert "3 images" in summary and "(isic2020)" in summary
    assert skipped.values.tolist() == [["ISIC_9", "listed in the CSV, no image file found"]]


def test_preview_pairs_before_and_after(tmp_path):
    z = _zip(tmp_path / "up.zip", {"nv": 3, "mel": 3})
    message, items = data_tab.preview_data(ZIP, z, "", "", **PRE)
    assert "gamma 1.5" in message and len(items) == 8  # 2 classes x 2 images x (before, after)
    (before, cap_b), (after, cap_a) = items[0], items[1]
    assert cap_b == "mel · before" and cap_a == "mel · after"
    assert before.shape == after.shape == (16, 16, 3) and after.mean() > before.mean()  # gamma brightens


def test_import_from_an_allowed_folder_then_view_it_after_a_restart(allowed):
    root = allowed / "derm"
    for cls, n in {"benign": 5, "malignant": 4}.items():
        (root / cls).mkdir(parents=True)
        for i in range(n):
            (root / cls / f"{i}.png").write_bytes(_png(100 * len(cls) + i))
    (root / "malignant" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    run_id = _import_and_wait(FOLDER, None, str(root), "", "", *PRE.values(), "80/10/10", 1)
    out = data_tab.poll_import(run_id)
    message, summary, counts_fig, sizes_fig, skipped, split, class_pick, gallery, timer, choices = out
    assert message == f"Imported `{run_id}`." and "counts: benign 5, malignant 4" in summary
    assert skipped.values.tolist() == [["malignant/broken.png", "truncated PNG (no IEND chunk)"]]
    assert split["part"].tolist() == ["train", "val", "test"] and split["total"].sum() == 9
    assert class_pick["choices"] == ["benign", "malignant"] and len(gallery) == 5
    assert gallery[0][0].shape == (16, 16, 3)
    # After a restart the list is rebuilt from the run store, and picking it shows the same view.
    assert run_id in [v for _, v in data_tab.dataset_choices()]
    picked = data_tab.select_dataset(run_id)
    assert picked[0] == run_id and picked[2] == summary
    bars = {t.name: dict(zip(t.x, t.y, strict=True)) for t in picked[3].data}
    assert bars == {"found (incl. unreadable)": {"benign": 5, "malignant": 5},
                    "in the dataset": {"benign": 5, "malignant": 4}}
    assert len(data_tab.class_gallery(run_id, "malignant")) == 4


def test_zip_import_and_a_failed_import_are_shown(tmp_path):
    z = _zip(tmp_path / "up.zip", {"nv": 4, "mel": 4})
    run_id = _import_and_wait(ZIP, z, "", "", "", *PRE.values(), "kfold:2", 0)
    view = data_tab.dataset_view(run_id)
    assert view[5]["part"].tolist() == ["fold 0", "fold 1"]
    bad = _zip(tmp_path / "bad.zip", {"nv": 2}, {"lesions/mel/x.png": b"\x89PNG\r\n\x1a\n"})
    run_id = _import_and_wait(ZIP, bad, "", "", "", *PRE.values(), "85/15", 0)
    assert open_run(run_id).status == "failed"
    message = data_tab.poll_import(run_id)[0]
    assert message.startswith("**Import failed:**") and "mel have no readable image" in message

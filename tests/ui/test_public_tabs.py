"""Public mode in every tab: a typed server path is refused with a message (the same folder works when public
mode is off), a session's runs stay out of other sessions' lists, details and cancel, quotas reach the page
as a message naming the limit, and the built page carries no run and no server path."""

import json

import cv2
import gradio as gr
import numpy as np
import pytest

from simstudio import public
from simstudio.runs import new_run, runs_root
from simstudio.ui import (
    compare_tab,
    data_tab,
    fit_section,
    gan_tab,
    gap_tab,
    jobs_tab,
    public_mode,
    quiz_tab,
    simulate_tab,
    train_tab,
)
from tests.ui.test_gan_tab import settings as gan_settings
from tests.ui.test_train_tab import settings as train_settings

REFUSED = "server paths are not accepted"


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A labelled image folder this app may read when public mode is off."""
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    rng = np.random.default_rng(0)
    for c in ("benign", "malignant"):
        (tmp_path / "set" / c).mkdir(parents=True)
        for i in range(4):
            cv2.imwrite(str(tmp_path / "set" / c / f"{i}.png"), rng.integers(0, 255, (32, 32, 3), dtype=np.uint8))
    (tmp_path / "set.csv").write_text("file,class\nbenign/0.png,benign\n")
    return tmp_path / "set"


@pytest.fixture
def on(monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_PUBLIC", "1")
    with public.acting_as("session-a"):
        yield


def test_off_the_folder_is_read(folder):
    message, summary, *_ = data_tab.scan_data(data_tab.SOURCE_KINDS[1], None, str(folder), "", "")
    assert "Scanned" in message and "8 images" in summary


def test_every_path_box_refuses_in_public_mode(folder, on):
    f = str(folder)
    config = compare_tab.preset_form("simdeepl_table1")[6]
    own = new_run("dataset").id  # the session's own dataset: accepted, so the next box is the one checked
    checks = {
        "Data: folder": data_tab.scan_data(data_tab.SOURCE_KINDS[1], None, f, "", "")[0],
        "Data: CSV": data_tab.scan_data(data_tab.SOURCE_KINDS[2], None, "", str(folder.parent / "set.csv"), "")[0],
        "Simulate: output folder": simulate_tab.start_export(2, 32, 0, "binary", None, str(folder.parent / "o"))[0],
        "Train: real folder": train_tab.start_training(*train_settings(f))[1],
        "Train: synthetic folder": train_tab.start_training(*train_settings("", synthetic=f, mode="Synthetic only"))[1],
        "Train: split CSV": train_tab.start_training(*train_settings("", split=str(folder.parent / "set.csv")))[1],
        "GAN: folder": gan_tab.start_gan(**gan_settings(f))[1],
        "GAN: fidelity simulator folder": gan_tab.start_compare("x", f, None, "pixels", "", 10)[1],
        "GAN: fidelity GAN output": gan_tab.start_compare(own, "", f, "pixels", "", 10)[1],
        "Compare: real": compare_tab.start_from_form(config, f, "", "", 1, 1, 0, "smallcnn", 16, 200)[1],
        "Compare: synthetic": compare_tab.start_from_form(config, own, f"sim={f}", "", 1, 1, 0, "smallcnn", 16,
                                                          200)[1],
        "Compare: second test set": compare_tab.start_from_form(config, own, "", f, 1, 1, 0, "smallcnn", 16, 200)[1],
        "Gap: real and synthetic": gap_tab.start_gap(f, f)[1],
        "Gap: sweep preset": gap_tab.start_sweep("train-x", "asymmetry", preset=str(folder.parent / "p.json"))[1],
        "Gap: fit real": fit_section.start_fit(f)[1],
        "Blind test: real": quiz_tab.create_session(f, None, [f], None, 8, 32, 0, True, True)[0],
        "Blind test: synthetic": quiz_tab.create_session("", [str(folder / "benign" / "0.png")], [f], None, 8, 32,
                                                         0, True, True)[0],
    }
    for where, message in checks.items():
        assert REFUSED in message, f"{where}: {message}"
    assert gan_tab.classes_for("", f)[0]["choices"] == []
    made = [p.name for p in runs_root().iterdir() if p.is_dir() and not p.name.startswith(".")]
    assert made == [own]  # no run was started


def test_data_and_simulate_notes_name_no_server_folder(folder, on):
    assert str(folder.parent) not in data_tab.allowed_roots_text() + simulate_tab._export_note()
    assert "upload" in data_tab.allowed_roots_text()


def test_jobs_tab_shows_a_session_only_its_own_runs(folder, on):
    run = new_run("simulate", {"out": str(runs_root() / "x" / "export"), "real": str(folder)}, name="mine")
    run.write_error(f"ValueError: cannot read {folder}/benign/0.png\n")
    assert [row[0] for row in jobs_tab.jobs_table()] == [run.id]
    details = jobs_tab.run_details(run.id)
    assert run.id in details and str(folder) not in details and str(runs_root().resolve()) not in details
    assert json.loads(details)["error"] == "ValueError: cannot read …/0.png"
    with public.acting_as("session-b"):
        assert jobs_tab.jobs_table() == []
        assert "no run" in jobs_tab.run_details(run.id)
        assert "nothing to cancel" in jobs_tab.cancel_job(run.id)


def test_a_quota_reaches_the_page_as_a_message_naming_the_limit(on):
    guarded = public_mode._guarded(simulate_tab.start_export, [True, False, False, False])
    with pytest.raises(gr.Error, match=r"images per export \(SIMSTUDIO_PUBLIC_MAX_EXPORT_IMAGES\)"):
        guarded(1500, 32, 0, "binary", None, "")
    with pytest.raises(gr.Error, match=r"limit of 256 image size \(px\)"):
        guarded(10, 512, 0, "binary", None, "")


def test_guarded_handlers_take_server_paths_out_of_text_only(on):
    store = runs_root().resolve()
    fn = public_mode._guarded(lambda: (f"wrote `{store}/simulate-1-a/export`", f"{store}/x.zip"), [True, False])
    text, file_path = fn()
    assert text == "wrote `simulate-1-a/export`" and file_path == f"{store}/x.zip"  # a download keeps its path


def test_the_public_page_is_built_without_any_run(monkeypatch):
    from simstudio.ui.app import build_app

    secret = new_run("count", name="someone-elses-run")
    monkeypatch.setenv("SIMSTUDIO_PUBLIC", "1")
    demo = build_app()
    page = json.dumps(demo.get_config_file(), default=str)
    assert secret.id not in page and str(runs_root().resolve()) not in page
    assert "Public Space" in page
    assert all(getattr(f.fn, "_simstudio_guarded", False) for f in demo.fns.values()
               if f.fn is not None and f.fn.__module__.startswith("simstudio"))
    demo.close()


def test_a_blind_test_from_uploads_only(folder, on, tmp_path):
    import zipfile

    from simstudio.eval import reader_study as rs

    loose = sorted(str(p) for p in folder.rglob("*.png"))  # real: loose image files, no classes
    archive = tmp_path / "synthetic.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in folder.rglob("*.png"):
            zf.write(p, f"mysim/{p.parent.name}/{p.name}")
    message, session = quiz_tab.create_session(None, loose, [], [str(archive)], 8, 32, 0, True, False)
    assert message.startswith("Made"), message
    run_id = session["value"]
    with public.acting_as("session-b"):
        assert quiz_tab.session_choices() == []
        assert "no run" in quiz_tab.open_session(run_id, 256)[2]
    assert quiz_tab.session_choices()[0][1] == run_id
    items = rs.quiz_items(run_id)
    assert {it["source"] for it in items} == {"real", "upload1"}
    assert {it["class"] for it in items if it["source"] == "real"} == {rs.UNLABELLED}
    assert not list((runs_root() / ".uploads").iterdir())  # the uploads are gone once copied
    assert not (runs_root() / ".cache").is_dir() or not list((runs_root() / ".cache").iterdir())
    view = quiz_tab.open_session(run_id, 256)
    assert "Image **1** of **8**" in view[2] and view[3]["value"].shape == (256, 256, 3)
    assert view[4]["choices"] == ["benign", "malignant"] and view[5]["visible"] is False


def test_gan_outputs_are_offered_by_run_id_not_by_folder(on):
    run = new_run("generate")
    (run.path / "images").mkdir()
    run.write_result({"out": str(run.path / "images"), "images": 4})
    run.set_status("finished")
    assert gan_tab.image_set_choices() == [(f"{run.id} · 4 images", run.id)]

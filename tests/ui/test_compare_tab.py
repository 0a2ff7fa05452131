"""Compare tab handlers: what the page shows for a preset, bad input, and a tiny two-arm experiment run
through the same functions the buttons call."""

import json

import gradio as gr
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from simstudio.jobs import get_runner
from simstudio.runs import open_run
from simstudio.ui import compare_tab

SIZE = 16


def _folder(root, n, seed, prefix):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 25
    for c, cls in enumerate(("benign", "malignant")):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.normal(170, 25, size=(SIZE, SIZE, 3))
            img[disc] = (120 if c == 0 else 40) + rng.normal(0, 15, size=(int(disc.sum()), 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / cls / f"{prefix}{i}.png")
    return root


TINY = {
    "name": "tiny compare",
    "split_spec": "70/30",
    "arms": [
        {"name": "real only", "composition": "real"},
        {"name": "synthetic only", "composition": "synthetic"},
    ],
    "synthetic": [{"name": "sim", "kind": "simulated"}],
    "model": {"model": "smallcnn", "batch_size": 16, "lr": 0.02, "device": "cpu"},
}


def test_preset_fills_the_form_and_the_editor():
    repeats, epochs, budget, model, size, n_boot, text = compare_tab.preset_form("simdeepl_table1")
    cfg = json.loads(text)
    assert repeats == 3 and model == "smallcnn" and size == 64 and budget == cfg["train_budget"]
    assert [a["name"] for a in cfg["arms"]] == ["real (85%)", "simulated only"]
    assert "real" not in cfg  # data paths come from the form fields


def test_bad_input_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path / "allowed"))
    text = json.dumps(TINY)
    run_id, msg = compare_tab.start_from_form(text, "", "", "", 1, 1, 0, "smallcnn", 16, 200)
    assert run_id == "" and "choose a real dataset" in msg
    run_id, msg = compare_tab.start_from_form(text, "/etc", "", "", 1, 1, 0, "smallcnn", 16, 200)
    assert run_id == "" and "outside the folders" in msg
    run_id, msg = compare_tab.start_from_form("{not json", str(tmp_path), "", "", 1, 1, 0, "", 16, 200)
    assert run_id == "" and "not valid JSON" in msg
    assert compare_tab.cancel_experiment("") == "No experiment is shown."


def test_a_tiny_two_arm_experiment_runs_from_the_tab(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    real = _folder(tmp_path / "real", 20, 1, "r")
    sim = _folder(tmp_path / "sim", 20, 2, "s")
    run_id, msg = compare_tab.start_from_form(
        json.dumps(TINY), str(real), f"sim={sim}", "", 1, 2, 0, "smallcnn", SIZE, 200
    )
    assert run_id, msg
    assert "2 arms x 1 repeats" in msg
    job = get_runner().get(run_id)
    assert job.wait(timeout=300)
    run = open_run(run_id)
    assert run.status == "finished", run.error

    status, table, notes, roc, bars, sweep, curves, per_class, gallery, files, command = (
        compare_tab.experiment_view(run_id)
    )
    assert "finished" in status and "2 of 2 trainings done" in status
    assert isinstance(table, pd.DataFrame) and list(table["arm"]) == ["real only", "synthetic only"]
    assert table["verdict"].iloc[0] == "baseline" and table["verdict"].iloc[1]
    assert "same **12** real images" in notes
    assert isinstance(roc, go.Figure) and len(roc.data) == 3  # chance line + 2 arms
    assert isinstance(bars, go.Figure) and len(curves.data) == 2
    assert set(per_class["class"]) == {"benign", "malignant"}
    assert [caption for _, caption in gallery] == ["real (real)", "sim (simulated)"]
    assert any(f.endswith("report.html") for f in files)
    assert "config.json" in command
    assert run_id in [value for _, value in compare_tab.past_experiments()]

    # polling a finished experiment again changes nothing heavy
    first = compare_tab.poll(run_id, "")
    again = compare_tab.poll(run_id, first[-1])
    assert again[-1] == first[-1] and all(x == gr.skip() for x in again[1:-1])
    files, msg = compare_tab.export_report(run_id)
    assert any(f.endswith("numbers.csv") for f in files)
    # reopening fills the form with what this experiment ran, so Run repeats it
    repeats, epochs, budget, model, size, n_boot, text, real_ref, sources, ood = compare_tab.form_from_run(
        run_id
    )
    assert (repeats, epochs, size, real_ref, sources) == (1, 2, SIZE, str(real), f"sim={sim}")
    assert [a["name"] for a in json.loads(text)["arms"]] == ["real only", "synthetic only"]


def test_reopening_an_unknown_run_says_so():
    out = compare_tab.poll("experiment-does-not-exist", "")
    assert "no run" in out[0]


@pytest.mark.parametrize("name", ["hescnet_configs", "synthetic_count_sweep", "minority_balancing", "sim_only_vs_real"])
def test_every_preset_opens_in_the_form(name):
    text = compare_tab.preset_form(name)[-1]
    assert json.loads(text)["arms"]


def test_the_proof_preset_needs_only_a_real_dataset(tmp_path, monkeypatch):
    """Its simulated sources are simulator presets the experiment draws itself: no folder to type."""
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    real = _folder(tmp_path / "real", 4, 0, "r")
    *_, text = compare_tab.preset_form("sim_only_vs_real")
    cfg = compare_tab.build_config(text, str(real), "", "", 3, 6, 0, "smallcnn", 64, 2000)
    assert {s.name: s.preset for s in cfg.synthetic} == {"before fitting": "default-binary",
                                                         "after fitting": "fitted-derm-real"}
    assert all(not s.path for s in cfg.synthetic) and cfg.split == "dataset"


def test_the_colour_constancy_switch_edits_the_config_the_run_uses(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    real = _folder(tmp_path / "real", 4, 0, "r")
    *_, text = compare_tab.preset_form("sim_only_vs_real")
    assert compare_tab.constancy_of(text) is False
    on = compare_tab.set_constancy(text, True)
    assert compare_tab.constancy_of(on) is True
    assert compare_tab.build_config(on, str(real), "", "", 3, 6, 0, "smallcnn", 64, 2000).colour_constancy
    assert not compare_tab.build_config(compare_tab.set_constancy(on, False), str(real), "", "", 3, 6, 0,
                                        "smallcnn", 64, 2000).colour_constancy
    assert compare_tab.set_constancy("{broken", True) == "{broken"  # Run then names the JSON error

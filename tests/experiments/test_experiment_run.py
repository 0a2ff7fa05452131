"""Experiments end to end on tiny image folders: same test images for every arm, resume, k-fold coverage,
guard rails (leakage by content hash, class sets) refused before any training, the report files."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.stats
from experiment_data import tiny_config, write_folder

from simstudio.experiments import plan as plan_mod
from simstudio.experiments.analysis import summarize
from simstudio.experiments.config import experiment_from_dict, load_preset, preset_names
from simstudio.experiments.runner import run_experiment_here, unit_finished


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One finished two-arm experiment (2 repeats, an out-of-distribution test folder), shared by the
    tests that only read it."""
    base = tmp_path_factory.mktemp("exp")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMSTUDIO_HOME", str(base / "runs"))
        real = write_folder(base / "real", 30, seed=1, prefix="real")
        sim = write_folder(base / "sim", 30, seed=2, prefix="sim")
        ood = write_folder(base / "ood", 12, seed=3, prefix="ood")
        run, result = run_experiment_here(
            tiny_config(real, sim, ood_test=str(ood), contrasts=[["real only", "synthetic only"]])
        )
    assert run.status == "finished", run.error
    return run, result


def test_every_arm_and_repeat_is_tested_on_the_same_real_images(finished):
    run, result = finished
    preds = [json.loads(p.read_text()) for p in sorted(run.path.glob("units/*/predictions.json"))]
    assert len(preds) == 4  # 2 arms x 2 repeats
    files = {tuple(p["test"]["files"]) for p in preds}
    assert len(files) == 1
    split = _csv(run.path / "split.csv")
    assert sorted(files.pop()) == sorted(r["file"] for r in split if r["part"] == "test")
    # the synthetic-only arm trained on no real image; the real arm never on a test image
    for p in preds:
        tset = json.loads((run.path / "units" / p["unit"]["key"] / "training_set.json").read_text())
        assert not set(tset["real_train"]) & set(tset["test"])
        if p["unit"]["arm"] == "synthetic only":
            assert tset["real_train"] == [] and len(tset["synthetic"]) == 60


def test_summary_has_mean_std_verdicts_and_out_of_distribution_results(finished):
    run, result = finished
    arms = {a["name"]: a for a in result["arms"]}
    assert arms["real only"]["verdict"] == "baseline"
    verdict = arms["synthetic only"]["verdict"]
    assert verdict.startswith("no significant difference") or "AUC, 95% CI [" in verdict
    comp = arms["synthetic only"]["comparison"]
    assert set(comp) >= {"bootstrap", "delong", "mcnemar", "verdict"}
    auc = arms["real only"]["metrics"]["roc_auc"]
    assert auc["n"] == 2 and auc["mean"] == pytest.approx(np.mean(auc["values"]))
    assert result["n_ood"] == 24 and arms["synthetic only"]["ood_verdict"]
    assert arms["real only"]["ood_metrics"]["roc_auc"]["n"] == 2
    # the tiny test set is flagged
    assert any("test images of class" in w for w in result["warnings"])
    # summarize() from the saved files alone gives the same numbers
    again = summarize(run.path)
    assert again["arms"][1]["comparison"]["bootstrap"] == comp["bootstrap"]


def test_each_arm_has_a_t_interval_over_its_repeats(finished):
    run, result = finished
    for a in result["arms"]:
        auc = a["metrics"]["roc_auc"]
        v = np.array(auc["values"])
        half = scipy.stats.t.ppf(0.975, 1) * v.std(ddof=1) / np.sqrt(2)  # two repeats: 1 df
        assert auc["ci95"] == pytest.approx([v.mean() - half, v.mean() + half])
    rows = _csv(run.path / "numbers.csv")
    assert any(r["metric"] == "roc_auc_ci95_low" and r["level"] == "arm" for r in rows)


def test_a_contrast_compares_two_arms_like_an_arm_with_the_baseline(finished):
    run, result = finished
    (c,) = result["contrasts"]
    assert (c["arm"], c["reference"]) == ("real only", "synthetic only")
    d = c["bootstrap"]["roc_auc"]
    by = {a["name"]: a for a in result["arms"]}
    assert d["low"] <= d["diff"] <= d["high"] and c["verdict"] and "p_value" in c["delong"]
    # the baseline verdict of 'synthetic only' is the same comparison the other way round
    assert by["synthetic only"]["comparison"]["bootstrap"]["roc_auc"]["diff"] == pytest.approx(-d["diff"])
    assert "Other comparisons" in (run.path / "report.html").read_text()
    assert any(r["level"] == "contrast" for r in _csv(run.path / "numbers.csv"))
    with pytest.raises(ValueError, match="contrast"):
        experiment_from_dict({"arms": [{"name": "a"}], "contrasts": [["a", "a"]]})
    with pytest.raises(ValueError, match="no arm"):
        experiment_from_dict({"arms": [{"name": "a"}], "contrasts": [["a", "b"]]})


def test_report_files_hold_every_number_and_the_rerun_command(finished):
    run, result = finished
    html = (run.path / "report.html").read_text()
    # plotly.js embedded once, nothing loaded from elsewhere (users are often offline)
    assert "<script src" not in html and html.count("* plotly.js v") == 1
    assert html.count("Plotly.newPlot") >= 2
    assert "<table id='results'>" in html and "synthetic only" in html
    rows = _csv(run.path / "results.csv")
    assert [r["arm"] for r in rows] == ["real only", "synthetic only"]
    numbers = _csv(run.path / "numbers.csv")
    assert any(r["metric"] == "roc_auc_low" for r in numbers)
    data = json.loads((run.path / "results.json").read_text())
    assert data["command"] == (run.path / "command.txt").read_text().strip()
    assert "python -m simstudio experiment" in data["command"] and "split.csv" in data["command"]


def test_cancelled_experiment_resumes_with_only_the_unfinished_units(tmp_path, real_dir, synthetic_dir):
    cfg = tiny_config(real_dir, synthetic_dir, repeats=1)

    def cancel_after_first_unit(event, ctx):
        if event.get("type") == "unit":
            ctx.cancel_event.set()

    run, result = run_experiment_here(cfg, ctx_hook=cancel_after_first_unit)
    assert run.status == "cancelled" and result is None
    first, second = "real-only-r0", "synthetic-only-r0"
    assert unit_finished(run.path, first) and not unit_finished(run.path, second)
    done_file = run.path / "units" / first / "predictions.json"
    stamp, events_before = (
        done_file.stat().st_mtime_ns,
        (run.path / "units" / first / "events.jsonl").read_text(),
    )

    run2, result = run_experiment_here(None, resume=run.id)
    assert run2.path == run.path and run2.status == "finished"
    assert done_file.stat().st_mtime_ns == stamp  # not trained again
    assert (run.path / "units" / first / "events.jsonl").read_text() == events_before
    plans = run.events("plan")
    assert plans[-1]["finished"] == 1 and plans[-1]["todo"] == [second]
    assert [a["n_done"] for a in result["arms"]] == [1, 1]


def test_kfold_arms_see_every_image_once_as_test(tmp_path):
    real = write_folder(tmp_path / "real", 12, seed=4, prefix="r")
    cfg = tiny_config(real, None, split_spec="kfold:3", arms=[{"name": "real", "composition": "real"}])
    cfg["model"]["epochs"] = 1
    run, result = run_experiment_here(cfg)
    assert run.status == "finished", run.error
    tested = []
    for fold in range(3):
        p = json.loads((run.path / "units" / f"real-f{fold}" / "predictions.json").read_text())
        tested += p["test"]["files"]
        train = json.loads((run.path / "units" / f"real-f{fold}" / "training_set.json").read_text())[
            "real_train"
        ]
        assert not set(train) & set(p["test"]["files"])
    assert len(tested) == len(set(tested)) == 24
    assert result["kfold"] == 3 and result["arms"][0]["metrics"]["roc_auc"]["n"] == 3


def test_a_test_image_inside_a_synthetic_folder_is_refused_as_leakage(tmp_path, real_dir, synthetic_dir):
    # a copy under another name: only the content hash can catch it
    for f in sorted((real_dir / "benign").iterdir()):
        shutil.copy(f, synthetic_dir / "benign" / f"copied_{f.name}")
    run, result = run_experiment_here(tiny_config(real_dir, synthetic_dir))
    assert run.status == "failed" and result is None
    assert "leakage" in run.error and "copied_real_" in run.error
    assert not (run.path / "units").exists()  # refused before any training


def test_arms_with_different_class_sets_are_refused_before_any_work(tmp_path, real_dir):
    one_class = write_folder(tmp_path / "sim1", 10, seed=5, classes=("benign",), prefix="s")
    run, _ = run_experiment_here(tiny_config(real_dir, one_class))
    assert run.status == "failed" and "different class sets" in run.error and "synthetic only" in run.error
    assert not (run.path / "units").exists()
    extra = write_folder(tmp_path / "sim3", 10, seed=6, classes=("benign", "malignant", "nevus"), prefix="s")
    run, _ = run_experiment_here(tiny_config(real_dir, extra))
    assert run.status == "failed" and "nevus" in run.error


def test_fraction_arms_share_their_real_subset_and_augment_arms_match_the_budget(
    tmp_path, real_dir, synthetic_dir
):
    cfg = experiment_from_dict(
        tiny_config(
            real_dir,
            synthetic_dir,
            repeats=2,
            arms=[
                {"name": "b", "composition": "real", "train_fraction": 0.2},
                {"name": "d", "composition": "mix", "train_fraction": 0.2, "synthetic_per_class": 20},
                {"name": "aug", "composition": "augment", "train_fraction": 0.2, "budget_of": "d"},
            ],
        )
    )
    prep = plan_mod.prepare(cfg, tmp_path / "run")
    by = {(u.arm, u.repeat): u for u in prep.units}
    for r in range(2):
        assert by[("b", r)].train_rows == by[("d", r)].train_rows == by[("aug", r)].train_rows
        assert len(by[("b", r)].train_rows) == 12  # 20% of 30 per class
        # d shows (12 real + 40 synthetic) x 2 epochs = 104 images; aug needs 104 / 12 -> 9 epochs
        assert by[("aug", r)].epochs == 9
    assert by[("b", 0)].train_rows != by[("b", 1)].train_rows  # a new draw per repeat
    assert (tmp_path / "run" / "split.csv").is_file()


def test_presets_load_and_name_their_arms():
    names = preset_names()
    assert {"simdeepl_table1", "hescnet_configs", "minority_balancing", "synthetic_count_sweep"} <= set(names)
    hes = load_preset("hescnet_configs")
    assert hes.kfold == 10 and hes.baseline_arm.name.startswith("b")
    assert [a.composition for a in load_preset("simdeepl_table1").arms] == ["real", "synthetic"]


def test_bad_configs_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="unique"):
        experiment_from_dict({"arms": [{"name": "a"}, {"name": "a"}]})
    with pytest.raises(ValueError, match="composition"):
        experiment_from_dict({"arms": [{"name": "a", "composition": "gan"}]})
    with pytest.raises(ValueError, match="synthetic folder"):
        experiment_from_dict({"arms": [{"name": "a", "composition": "mix"}]})
    with pytest.raises(ValueError, match="unknown field"):
        experiment_from_dict({"arms": [{"name": "a"}], "epochz": 3})


def test_a_killed_experiment_reads_interrupted_and_resumes_the_rest(tmp_path, real_dir, synthetic_dir):
    import os
    import signal
    import subprocess
    import sys
    import time

    from simstudio.runs import list_runs

    cfg = tiny_config(real_dir, synthetic_dir, repeats=1)
    cfg["arms"][1]["model"] = {"epochs": 15}  # the second unit is still training when the kill comes
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(cfg))
    code = (
        "import json, sys; from simstudio.experiments.runner import run_experiment_here as r; "
        "r(json.load(open(sys.argv[1])))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(path)],
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])},
    )
    home = os.environ["SIMSTUDIO_HOME"]
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if list(Path(home).glob("experiment-*/units/real-only-r0/predictions.json")):
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    (run,) = list_runs("experiment")
    assert run.status == "interrupted"
    assert unit_finished(run.path, "real-only-r0") and not unit_finished(run.path, "synthetic-only-r0")
    stamp = (run.path / "units" / "real-only-r0" / "predictions.json").stat().st_mtime_ns

    run2, result = run_experiment_here(None, resume=run.id)
    assert run2.status == "finished", run2.error
    assert (run.path / "units" / "real-only-r0" / "predictions.json").stat().st_mtime_ns == stamp
    assert run.events("plan")[-1]["todo"] == ["synthetic-only-r0"]
    assert [a["n_done"] for a in result["arms"]] == [1, 1]

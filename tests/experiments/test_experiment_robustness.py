"""The robustness preset end to end on tiny folders: every arm (real, real + acquisition randomisation,
simulated only, each fine-tuning variant) is tested on the test part, its shortcut-flipped copy and the
OOD folder, side by side in the table, the contrasts, the CSVs and the HTML report."""

import csv
import json

import pytest
from experiment_data import tiny_config, write_folder

from simstudio.cli import main
from simstudio.experiments.analysis import results_rows
from simstudio.experiments.config import load_preset, with_data
from simstudio.experiments.runner import run_experiment_here


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    base = tmp_path_factory.mktemp("robust")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SIMSTUDIO_HOME", str(base / "runs"))
        real = write_folder(base / "real", 24, seed=1, prefix="real")
        sim = write_folder(base / "sim", 24, seed=2, prefix="sim")
        ood = write_folder(base / "ood", 10, seed=3, prefix="ood")
        cfg = with_data(load_preset("robustness"), real=str(real), synthetic=[f"fitted={sim}"], ood_test=str(ood),
                        split="", split_spec="70/30", repeats=2, image_size=16, n_boot=200,
                        model={"model": "smallcnn", "epochs": 1, "batch_size": 16, "lr": 0.01, "device": "cpu",
                               "select_best": False})
        run, result = run_experiment_here(cfg)
    assert run.status == "finished", run.error
    return run, result


def test_every_arm_reports_test_flipped_and_ood_side_by_side(finished):
    run, result = finished
    assert result["n_flipped"] == result["n_test"] > 0
    assert len(result["arms"]) == 8
    for arm in result["arms"]:
        for part in ("metrics", "flipped_metrics", "ood_metrics"):
            auc = arm[part]["roc_auc"]
            assert auc["n"] == 2 and 0 <= auc["mean"] <= 1 and len(auc["ci95"]) == 2, (arm["name"], part)
        if arm["name"] != "real only":
            assert arm["flipped_comparison"]["bootstrap"]["roc_auc"]["level"] == 0.95
            assert arm["flipped_verdict"] and arm["ood_verdict"]
    rows = results_rows(result)
    assert {"ROC-AUC", "flipped-test ROC-AUC", "OOD ROC-AUC", "flipped-test verdict"} <= set(rows[0])
    for c in result["contrasts"]:
        assert "flipped" in c and "verdict" in c["flipped"]
    assert set(result["flipped_roc"]) == {a["name"] for a in result["arms"]}


def test_flipped_predictions_pair_with_the_test_rows_and_the_plan_saves_the_flip(finished):
    run, _ = finished
    preds = [json.loads(p.read_text()) for p in sorted(run.path.glob("units/*/predictions.json"))]
    assert len(preds) == 16
    for p in preds:
        assert p["flipped"]["rows"] == p["test"]["rows"] and p["flipped"]["y"] == p["test"]["y"]
        assert p["flipped"]["proba"] != p["test"]["proba"]
    plan = json.loads((run.path / "plan.json").read_text())
    assert set(plan["flipped"]["before"]) == {"benign", "malignant"}
    assert (run.path / "samples" / "gallery-flipped.png").is_file()
    cfgs = {p["unit"]["arm"]: json.loads((run.path / "units" / p["unit"]["key"] / "config.json").read_text())
            for p in preds}
    assert cfgs["real + acquisition randomisation"]["augment"] == "acquisition+full"
    assert cfgs["pretrain -> fine-tune, L2-SP"]["l2sp_alpha"] == 0.1
    assert cfgs["pretrain -> mixed fine-tune (50 % simulated)"]["finetune_synthetic_ratio"] == 0.5
    assert cfgs["pretrain -> fine-tune, 2 blocks frozen"]["freeze_blocks"] == 2


def test_report_and_csvs_carry_the_flipped_test(finished):
    run, _ = finished
    html = (run.path / "report.html").read_text()
    assert "shortcut-flipped test" in html and "Shortcut-flipped test images" in html
    with open(run.path / "numbers.csv", newline="") as fh:
        metrics = {r["metric"] for r in csv.DictReader(fh)}
    assert {"flipped_roc_auc_mean", "flipped_roc_auc_ci95_low", "flipped_roc_auc_diff"} <= metrics
    with open(run.path / "results.csv", newline="") as fh:
        assert "flipped-test ROC-AUC" in next(csv.reader(fh))


def test_cli_flag_turns_the_flipped_test_on(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SIMSTUDIO_HOME", str(tmp_path / "runs"))
    real = write_folder(tmp_path / "real", 16, seed=4, prefix="real")
    sim = write_folder(tmp_path / "sim", 16, seed=5, prefix="sim")
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(tiny_config(real, sim, repeats=1, n_boot=200)))
    rc = main(["experiment", str(path), "--flipped-test", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "flipped-test ROC-AUC" in out and "shortcut-flipped test:" in out


def test_arms_whose_folder_names_collide_are_refused():
    from simstudio.experiments.config import experiment_from_dict

    long = "real + acquisition randomisation, strength"
    with pytest.raises(ValueError, match="give the same folder name"):
        experiment_from_dict({"arms": [{"name": f"{long} 0.5"}, {"name": f"{long} 0.25"}]})
    experiment_from_dict({"arms": [{"name": "real + acquisition 0.5"}, {"name": "real + acquisition 0.25"}]})

"""`python -m simstudio experiment`: a config file with data flags prints the table and verdicts and writes
the report; --resume and --report work on the run; bad input exits 2 with one line."""

import json
from pathlib import Path

from experiment_data import tiny_config

from simstudio.cli import main
from simstudio.runs import open_run


def test_cli_runs_a_config_prints_table_and_verdicts_and_writes_the_report(
    tmp_path, real_dir, synthetic_dir, capsys
):
    cfg = tiny_config("", None, repeats=1)
    cfg.pop("real")
    cfg["synthetic"] = [{"name": "sim"}]
    path = tmp_path / "exp.json"
    path.write_text(json.dumps(cfg))
    out_dir = tmp_path / "report"
    code = main(
        [
            "experiment",
            str(path),
            "--real",
            str(real_dir),
            "--synthetic",
            str(synthetic_dir),
            "--epochs",
            "1",
            "--quiet",
            "--out",
            str(out_dir),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "real only" in out and "synthetic only" in out and "ROC-AUC" in out
    assert "verdicts" in out and ("no significant difference" in out or "AUC, 95% CI" in out)
    assert (out_dir / "report.html").is_file() and (out_dir / "results.csv").is_file()
    command = (out_dir / "command.txt").read_text()
    assert command.startswith("python -m simstudio experiment ") and "config.json" in command
    saved = json.loads(Path(command.split()[4]).read_text())
    assert saved["real"] == str(real_dir) and saved["synthetic"][0]["path"] == str(synthetic_dir)
    assert saved["model"]["epochs"] == 1

    run_id = command.split()[4].split("/")[-2]
    run = open_run(run_id)
    stale = run.result
    stale["contrasts"] = "written by an older version"  # what an app would show from an old run
    run.write_result(stale)
    assert main(["experiment", "--report", run_id]) == 0
    assert "report:" in capsys.readouterr().out
    assert open_run(run_id).result["contrasts"] == []  # the stored result follows the re-written report


def test_cli_bad_input_is_one_line_and_exit_2(capsys, real_dir):
    assert main(["experiment", "no_such_preset", "--real", str(real_dir)]) == 2
    assert "no experiment preset" in capsys.readouterr().err
    assert main(["experiment", "--resume", "experiment-missing"]) == 2
    assert main(["experiment", "--list-presets"]) == 0
    assert "simdeepl_table1" in capsys.readouterr().out


def test_cli_refusal_before_training_is_exit_2_with_the_reason(tmp_path, real_dir, capsys):
    path = tmp_path / "exp.json"
    cfg = tiny_config("", None, repeats=1)
    cfg["synthetic"] = [{"name": "sim"}]
    path.write_text(json.dumps(cfg))
    # the real folder given as the synthetic one: every test image is in a training set
    code = main(["experiment", str(path), "--real", str(real_dir), "--synthetic", str(real_dir), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "refused" in err and "leakage" in err

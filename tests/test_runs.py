import json
import os
import subprocess
import sys

import pytest

from simstudio.runs import atomic_write_json, list_runs, new_run, open_run


def test_new_run_layout_and_config(run_store):
    run = new_run("train", {"lr": 0.001, "epochs": 3}, name="baseline")
    assert run.path.parent == run_store
    assert run.id.startswith("train-")
    assert run.config == {"lr": 0.001, "epochs": 3}
    assert run.status == "queued"
    assert run.checkpoints_dir.is_dir() and run.samples_dir.is_dir()
    assert open_run(run.id).name == "baseline"


def test_events_append_and_survive_a_torn_line():
    run = new_run("sim")
    run.log_event({"type": "progress", "done": 1, "total": 4})
    run.log_event({"type": "metric", "loss": 0.5})
    with open(run.path / "events.jsonl", "a") as fh:
        fh.write('{"type": "progress", "do')  # a crash in mid-write
    events = run.events()
    assert [e["type"] for e in events] == ["progress", "metric"]
    assert run.events("metric")[0]["loss"] == 0.5


def test_atomic_write_leaves_old_file_when_serialisation_fails(tmp_path):
    p = tmp_path / "result.json"
    atomic_write_json(p, {"auc": 0.9})
    with pytest.raises(TypeError):
        atomic_write_json(p, {"bad": object()})
    assert json.loads(p.read_text()) == {"auc": 0.9}
    assert [f.name for f in tmp_path.iterdir()] == ["result.json"]  # no temp file left behind


def test_list_runs_newest_first_and_by_kind():
    a = new_run("dataset")
    b = new_run("train")
    kinds = {r.id: r.kind for r in list_runs()}
    assert kinds == {a.id: "dataset", b.id: "train"}
    assert [r.id for r in list_runs(kind="train")] == [b.id]


def test_run_left_running_by_a_dead_process_reads_interrupted(run_store):
    run = new_run("train")
    # A child process marks the run as running, then dies without finishing it.
    code = ("import sys; from simstudio.runs import open_run; "
            f"open_run({str(run.path)!r}).set_status('running')")
    subprocess.run([sys.executable, "-c", code], check=True, env={**os.environ})
    assert run.status == "interrupted"


def test_open_missing_run_is_a_clear_error():
    with pytest.raises(FileNotFoundError, match="no run 'nope'"):
        open_run("nope")


def test_bad_kind_refused():
    with pytest.raises(ValueError, match="run kind"):
        new_run("../evil")

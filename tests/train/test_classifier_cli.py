"""The train-classifier command end to end on tiny image folders: JSON metrics on stdout, a separate test
folder, bad input refused, kill -9 then --resume ends exactly like an uninterrupted run, and torchrun
with two gloo processes."""

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from simstudio.cli import main
from simstudio.runs import list_runs, open_run

SIZE = 32


def write_folder(root: Path, n_per_class: int, seed: int, classes=("benign", "malignant")) -> Path:
    """root/<class>/*.png: a coloured square (red or blue by class) at a random place on grey noise."""
    rng = np.random.default_rng(seed)
    colours = [(220, 40, 40), (40, 40, 220), (40, 200, 40)]
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = rng.integers(60, 140, size=(SIZE, SIZE, 3)).astype(np.uint8)
            r0, c0 = rng.integers(0, SIZE - 8, size=2)
            img[r0 : r0 + 8, c0 : c0 + 8] = colours[c]
            Image.fromarray(img).save(root / name / f"{seed}_{i:03d}.png")
    return root


def cli_env(home: Path) -> dict:
    # Same thread count in every process, so resumed and uninterrupted runs compute bit for bit alike.
    return {
        **os.environ,
        "SIMSTUDIO_HOME": str(home),
        "SIMSTUDIO_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }


def train_args(real: Path, home: Path, *extra: str) -> list[str]:
    return [
        "train-classifier",
        "--real",
        str(real),
        "--image-size",
        str(SIZE),
        "--batch-size",
        "8",
        "--optimizer",
        "adam",
        "--lr",
        "0.003",
        "--augment",
        "flip_rotate",
        "--out",
        str(home),
        "--quiet",
        *extra,
    ]


def run_cli(args: list[str], home: Path, timeout: float = 240) -> dict:
    proc = subprocess.run(
        [sys.executable, "-m", "simstudio", *args],
        env=cli_env(home),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_cli_prints_final_metrics_and_tests_on_a_separate_folder(tmp_path, run_store, capsys):
    real = write_folder(tmp_path / "real", 16, seed=1)
    test = write_folder(tmp_path / "test", 5, seed=2)
    rc = main([*train_args(real, run_store, "--epochs", "2", "--test", str(test))])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["test_images"] == 10 and "folder" in out["test_source"]
    assert {
        "accuracy",
        "balanced_accuracy",
        "roc_auc",
        "sensitivity",
        "specificity",
        "f1_macro",
        "brier",
        "confusion_matrix",
        "training_time_s",
        "min_train_loss",
    } <= set(out)
    run = open_run(out["run"])
    assert run.status == "finished" and run.result["test"]["n"] == 10
    assert (run.path / "split.csv").is_file()  # the split used is saved with the run


def test_cli_refuses_bad_input_with_a_clear_message(tmp_path, run_store, capsys):
    real = write_folder(tmp_path / "real", 6, seed=1)
    assert main([*train_args(real, run_store, "--model", "hescnet")]) == 2
    assert "hescnet takes exactly 64x64 px images, not 32x32" in capsys.readouterr().err
    # A test class the training set lacks: refused before training, the run says why.
    odd = write_folder(tmp_path / "odd", 3, seed=3, classes=("benign", "malignant", "other"))
    assert main([*train_args(real, run_store, "--test", str(odd))]) == 1
    err = capsys.readouterr().err
    assert "other" in err and "training classes" in err
    assert main([*train_args(real, run_store, "--mode", "mix")]) == 1
    assert "needs a synthetic image folder" in capsys.readouterr().err


def test_kill_minus_9_then_resume_ends_like_an_uninterrupted_run(tmp_path):
    home = tmp_path / "runs"
    real = write_folder(tmp_path / "real", 48, seed=4)
    args = train_args(real, home, "--epochs", "5", "--schedule", "step", "--seed", "3")
    whole = run_cli(args, home)

    proc = subprocess.Popen(
        [sys.executable, "-m", "simstudio", *args],
        env=cli_env(home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = None
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        runs = [r for r in list_runs("train", root=home) if r.id != whole["run"]]
        if runs and any(e.get("epoch", 0) >= 2 for e in runs[0].events("metric")):
            run = runs[0]
            break
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert run is not None, "the second run did not reach epoch 2"
    done_before = len(run.events("metric"))
    assert done_before < 5 and run.result is None and run.status == "interrupted"

    resumed = run_cli(["train-classifier", "--resume", run.id, "--out", str(home), "--quiet"], home)
    assert resumed["run"] == run.id
    logs = [e["message"] for e in run.events("log")]
    assert any(m.startswith(f"resuming after epoch {done_before}") for m in logs), logs
    for key in ("accuracy", "roc_auc", "brier", "confusion_matrix", "min_train_loss", "epochs_trained"):
        assert resumed[key] == whole[key], key
    a, b = open_run(whole["run"], root=home).result["history"], run.result["history"]
    assert [h["train_loss"] for h in a] == [h["train_loss"] for h in b]
    assert [h["val_loss"] for h in a] == [h["val_loss"] for h in b]


@pytest.mark.skipif(importlib.util.find_spec("torch.distributed.run") is None, reason="torchrun missing")
def test_torchrun_two_gloo_processes(tmp_path):
    import torch.distributed

    if not torch.distributed.is_available() or not torch.distributed.is_gloo_available():
        pytest.skip("torch built without gloo")
    home = tmp_path / "runs"
    real = write_folder(tmp_path / "real", 20, seed=5)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_addr",
        "127.0.0.1",
        "--master_port",
        str(port),
        "-m",
        "simstudio",
        *train_args(real, home, "--epochs", "2", "--val-fraction", "0"),
    ]
    proc = subprocess.run(cmd, env=cli_env(home), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout)  # only rank 0 prints, and only one run is written
    runs = list_runs("train", root=home)
    assert [r.id for r in runs] == [out["run"]]
    history = runs[0].result["history"]
    n_train = sum(runs[0].result["composition"]["train"]["real"].values())
    # Each of the 2 ranks takes half of every epoch: steps per epoch are those of half the images.
    half = -(-n_train // 2)
    assert history[0]["steps"] == half // 8 + (1 if half % 8 >= 2 else 0)
    assert sum(history[0]["seen"].values()) == 2 * half
    assert out["accuracy"] >= 0.5 and out["epochs_trained"] == 2

"""Train tab handlers: start a tiny training from the tab's own inputs, watch it finish, see the metrics,
confusion matrix, ROC and checkpoint (also when the run finishes while the page polls it), explain an
uploaded image; bad settings give a message, not a job."""

import numpy as np
import pytest
from job_ends_mid_poll import each_place_the_job_can_end, timer_poll
from PIL import Image

from simstudio.jobs import get_runner
from simstudio.runs import list_runs, open_run
from simstudio.ui import train_tab

SIZE = 32


def write_folder(root, n_per_class, seed):
    rng = np.random.default_rng(seed)
    for c, name in enumerate(("benign", "malignant")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = rng.integers(60, 140, size=(SIZE, SIZE, 3)).astype(np.uint8)
            r0, c0 = rng.integers(0, SIZE - 8, size=2)
            img[r0 : r0 + 8, c0 : c0 + 8] = (220, 40, 40) if c == 0 else (40, 40, 220)
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


def settings(folder="", **kw):
    """The tab's inputs in build order, as the page sends them."""
    values = dict(
        dataset=None,
        folder=str(folder),
        split="",
        synthetic="",
        test="",
        mode="Real only",
        mix="Add N synthetic per class",
        per_class=0,
        model="smallcnn",
        pretrained=False,
        size=SIZE,
        augment="flip_rotate",
        optimizer="adam",
        lr=0.003,
        schedule="constant",
        epochs=2,
        pretrain_epochs=1,
        batch=8,
        balance="none",
        patience=0,
        monitor="val_loss",
        val_fraction=0.1,
        seed=0,
        lr_finder=False,
    )
    values.update(kw)
    return list(values.values())


@pytest.fixture
def real_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    monkeypatch.setenv("SIMSTUDIO_DEVICE", "cpu")
    return write_folder(tmp_path / "real", 16, seed=1)


def test_start_watch_and_explain_a_training(real_folder):
    run_id, message, _timer, _runs = train_tab.start_training(*settings(real_folder))
    assert run_id and run_id in message
    assert get_runner().get(run_id).wait(180)
    status, loss, acc, rows, per_class, cm, roc, ckpt = train_tab.show_run(run_id)
    assert "finished" in status and "train set: real benign" in status
    assert [t.name for t in loss.data] == ["train loss", "val loss"] and len(loss.data[0].x) == 2
    assert [t.name for t in acc.data] == ["train accuracy", "val accuracy"]
    metrics = dict(rows)
    assert {"Accuracy", "ROC-AUC", "Sensitivity (recall)", "Specificity", "Brier score"} <= set(metrics)
    assert [r[0] for r in per_class] == ["benign", "malignant", "macro avg"]
    assert cm.data[0].type == "heatmap" and np.asarray(cm.data[0].z).shape == (2, 2)
    assert any("AUC" in (t.name or "") for t in roc.data)
    assert ckpt and ckpt.endswith(".pt")
    # The run is listed for reopening, and reopening shows the same view.
    assert run_id in [v for _, v in train_tab.train_run_choices()]
    assert train_tab.reopen_run(run_id)[1] == status
    # Upload any image: probabilities over both classes and a Grad-CAM overlay of the upload's size.
    upload = np.asarray(Image.open(next((real_folder / "malignant").iterdir())).resize((90, 70)))
    label, overlay, note = train_tab.explain_image(run_id, upload)
    assert set(label) == {"benign", "malignant"} and sum(label.values()) == pytest.approx(1, abs=1e-4)
    assert overlay.shape == upload.shape and overlay.dtype == np.uint8 and run_id in note


def test_the_poll_that_stops_the_timer_shows_the_finished_run_with_its_metrics(real_folder):
    """A training that ends while the page polls (or reopens) it, at each place between two of the handler's
    reads (its epoch's metrics, checkpoints, test and result are written in between): the poll that stops the
    timer is the last the page gets, so it must show the run finished with its metrics and its epoch (a poll
    that read the events or the result before the run ended and the status after had stopped the timer above
    an empty loss curve or metrics table, for good)."""

    def start():
        return train_tab.start_training(*settings(real_folder, epochs=1))[0]

    poll, stopped = timer_poll(train_tab.poll_run)

    for first in (train_tab.poll_run, train_tab.reopen_run):
        for k, run_id, out in each_place_the_job_can_end(start, first, poll, stopped, hold_at="checkpoints/"):
            status, loss, _acc, rows, per_class, cm, _roc, ckpt = out[-9:-1]
            where = f"{run_id} ended just before read {k} of {first.__name__}"
            assert "**finished**" in status, where
            assert "Accuracy" in dict(rows) and [r[0] for r in per_class][:2] == ["benign", "malignant"], where
            assert len(loss.data) == 2 and list(loss.data[0].x) == [1], where
            assert cm.data and ckpt and ckpt.endswith(".pt"), where


def test_bad_settings_give_a_message_and_start_nothing(real_folder, tmp_path, monkeypatch):
    before = len(list_runs())
    run_id, message, _, _ = train_tab.start_training(*settings(real_folder, model="hescnet"))
    assert run_id == "" and "hescnet takes exactly 64x64" in message
    _, message, _, _ = train_tab.start_training(*settings("/etc"))
    assert "outside the folders this app may read" in message
    _, message, _, _ = train_tab.start_training(*settings(""))
    assert "choose a real dataset" in message
    run_id, message, _, _ = train_tab.start_training(*settings(real_folder, mode="Real + synthetic"))
    assert "needs a synthetic image folder" in message
    # ImageNet weights asked for on an offline machine: say what is missing and offer random init.
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(var, "http://127.0.0.1:9")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    _, message, _, _ = train_tab.start_training(*settings(real_folder, model="resnet18", pretrained=True))
    assert "resnet18-f37072fd.pth" in message and "untick 'ImageNet weights'" in message
    assert len(list_runs()) == before


def test_views_of_nothing_and_of_a_missing_run():
    assert train_tab.show_run("")[0] == ""
    assert "no run" in train_tab.show_run("train-nope")[0]
    *view, timer = train_tab.poll_run("train-nope")  # a run that has gone: said, and the timer stops
    assert "no run" in view[0] and timer.active is False
    assert "No training started" in train_tab.cancel_training("")
    label, overlay, note = train_tab.explain_image("", np.zeros((8, 8, 3), np.uint8))
    assert label is None and "Start a training" in note


def test_de_shortcut_settings_reach_the_config_or_give_a_message(real_folder, tmp_path):
    base = settings(real_folder)
    _, message, _, _ = train_tab.start_training(*base, 1.0, "(same as Augmentation)", 0.0, 0.1, 0.0, 0)
    assert "l2sp_alpha keeps pretrained weights" in message
    _, message, _, _ = train_tab.start_training(*base, 9.0, "(same as Augmentation)", 0.0, 0.0, 0.0, 0)
    assert "acquisition_strength must be in [0, 4]" in message
    sim = write_folder(tmp_path / "sim", 16, seed=2)
    pre = settings(real_folder, mode="Pretrain on synthetic, fine-tune on real", synthetic=str(sim), epochs=1)
    run_id, message, _, _ = train_tab.start_training(*pre, 2.0, "acquisition+flip_rotate", 0.25, 0.1, 0.01, 1)
    assert run_id, message
    job = get_runner().get(run_id)
    job.wait(timeout=600)
    cfg = open_run(run_id).config
    assert cfg["finetune_augment"] == "acquisition+flip_rotate" and cfg["acquisition_strength"] == 2.0
    assert cfg["finetune_synthetic_ratio"] == 0.25 and cfg["l2sp_alpha"] == 0.1 and cfg["freeze_blocks"] == 1
    assert open_run(run_id).status == "finished", open_run(run_id).error

"""Classifier training on tiny in-memory sets: it learns, each mode composes the set it claims,
pretraining hands its weights to fine-tuning, bad input is refused before work, and NaN and cancel
keep a loadable checkpoint."""

import threading

import numpy as np
import pytest
import torch

from simstudio.jobs import JobContext, execute_job
from simstudio.nets import build_model
from simstudio.runs import new_run
from simstudio.train.checkpoints import embed, load_classifier, predict_proba, read_checkpoint
from simstudio.train.classifier import (
    ClassifierConfig,
    TrainingData,
    TrainingDiverged,
    fit_classifier,
    weights_digest,
)
from simstudio.train.composition import LabelledImages, compose_stages

CLASSES = ["benign", "malignant"]


def toy_images(n_per_class, size=32, seed=0, classes=2):
    """Class c: a square of colour c at a random place on grey noise (flips/rotations keep the label)."""
    rng = np.random.default_rng(seed)
    colours = np.array([[220, 40, 40], [40, 40, 220], [40, 200, 40]], np.uint8)
    x = rng.integers(60, 140, size=(n_per_class * classes, size, size, 3)).astype(np.uint8)
    y = np.repeat(np.arange(classes), n_per_class)
    s = size // 4
    for i, c in enumerate(y):
        r0, c0 = rng.integers(0, size - s, size=2)
        x[i, r0 : r0 + s, c0 : c0 + s] = colours[c]
    return x, y


def quick(**kw):
    base = dict(
        image_size=32,
        epochs=3,
        batch_size=16,
        optimizer="adam",
        lr=3e-3,
        schedule="constant",
        augment="flip_rotate",
        device="cpu",
    )
    return ClassifierConfig(**{**base, **kw})


def toy_data(n_train=32, n_test=12, synthetic=None, seed=0):
    return TrainingData.from_arrays(
        CLASSES,
        test=toy_images(n_test, seed=seed + 100),
        train=toy_images(n_train, seed=seed + 1),
        synthetic=None if synthetic is None else toy_images(synthetic, seed=seed + 2),
    )


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def run_fit(config, data):
    """fit_classifier inside a real run (events, checkpoints); returns (run, result)."""
    run = new_run("train", config)
    result = execute_job(run, lambda c, ctx: fit_classifier(c, data, ctx), config, JobContext(run))
    return run, result


def test_learns_a_separable_task_and_checkpoint_reproduces_the_test_metrics():
    run, r = run_fit(quick(epochs=4), toy_data())
    assert run.status == "finished", run.error
    assert r["test"]["accuracy"] >= 0.9 and r["test"]["roc_auc"] >= 0.95
    assert r["history"][-1]["train_loss"] < r["history"][0]["train_loss"]
    assert r["min_train_loss"] == min(h["train_loss"] for h in r["history"])
    assert r["training_time_s"] > 0 and r["epochs_trained"] == 4
    # Live curves come from the run's metric events, one per epoch.
    assert [e["epoch"] for e in run.events("metric")] == [1, 2, 3, 4]
    model, meta = load_classifier(run.path)  # the weights that were tested
    assert meta["classes"] == CLASSES and meta["model"] == "smallcnn" and meta["image_size"] == 32
    test_x, test_y = toy_images(12, seed=100)
    proba = predict_proba(model, test_x)
    assert proba.shape == (24, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    assert float((proba.argmax(1) == test_y).mean()) == pytest.approx(r["test"]["accuracy"])
    assert embed(model, test_x).shape == (24, 256)
    # Images of another size are resized to the model's size.
    assert predict_proba(model, toy_images(2, size=48)[0]).shape == (4, 2)


def test_each_mode_composes_the_set_it_claims():
    real = LabelledImages(*toy_images(6, seed=1))
    real = real.take(np.r_[np.arange(6), np.arange(6, 8)])  # 6 benign, 2 malignant
    syn = LabelledImages(*toy_images(10, seed=2), source="synthetic")  # 10 + 10

    def counts(mode, **kw):
        stages = compose_stages(mode, real, syn, CLASSES, epochs=2, pretrain_epochs=1, **kw)
        return [(s.name, s.epochs, s.data.counts(CLASSES)) for s in stages]

    none = {"benign": 0, "malignant": 0}
    assert counts("real") == [("train", 2, {"real": {"benign": 6, "malignant": 2}, "synthetic": none})]
    assert counts("synthetic") == [("train", 2, {"real": none, "synthetic": {"benign": 10, "malignant": 10}})]
    assert counts("synthetic", synthetic_per_class=3)[0][2]["synthetic"] == {"benign": 3, "malignant": 3}
    added = counts("mix", mix="add", synthetic_per_class=4)[0][2]
    assert added == {"real": {"benign": 6, "malignant": 2}, "synthetic": {"benign": 4, "malignant": 4}}
    balanced = counts("mix", mix="balance")[0][2]  # the minority class topped up to the majority
    assert balanced == {"real": {"benign": 6, "malignant": 2}, "synthetic": {"benign": 0, "malignant": 4}}
    assert counts("pretrain") == [
        ("pretrain", 1, {"real": none, "synthetic": {"benign": 10, "malignant": 10}}),
        ("finetune", 2, {"real": {"benign": 6, "malignant": 2}, "synthetic": none}),
    ]
    with pytest.raises(ValueError, match=r"not enough synthetic images.*malignant: 12 wanted, 10 available"):
        compose_stages("mix", real, syn, CLASSES, epochs=1, mix="add", synthetic_per_class=12)
    with pytest.raises(ValueError, match="needs a synthetic image folder"):
        compose_stages("mix", real, None, CLASSES, epochs=1)


def test_mixed_run_reports_its_composition_and_trains_on_it():
    data = toy_data(n_train=12, synthetic=10)
    run, r = run_fit(quick(mode="mix", mix="add", synthetic_per_class=5, epochs=1, val_fraction=0.0), data)
    assert run.status == "finished", run.error
    assert r["composition"]["train"] == {
        "real": {"benign": 12, "malignant": 12},
        "synthetic": {"benign": 5, "malignant": 5},
    }
    steps = r["history"][0]["steps"]
    assert steps == 34 // 16 + (1 if 34 % 16 >= 2 else 0)  # 34 images per epoch in batches of 16
    assert run.events("composition")[0]["stages"] == r["composition"]


def test_pretrain_then_finetune_starts_from_the_pretrained_weights():
    data = toy_data(n_train=16, synthetic=32)
    run, r = run_fit(quick(mode="pretrain", pretrain_epochs=3, epochs=1), data)
    assert run.status == "finished", run.error
    assert [h["stage"] for h in r["history"]] == ["pretrain"] * 3 + ["finetune"]
    pretrained = read_checkpoint(run.path / "checkpoints" / "pretrain.pt")["model"]
    stage = run.events("stage")[0]
    assert stage["stage"] == "finetune"
    assert stage["weights_sha1"] == weights_digest(pretrained)
    torch.manual_seed(0)
    assert stage["weights_sha1"] != weights_digest(build_model("smallcnn", 2).state_dict())
    # Before a single fine-tuning step the synthetic-trained weights already classify the real images.
    assert stage["start_val_accuracy"] >= 0.8


def test_bad_input_is_refused_before_any_training():
    x, y = toy_images(8, seed=1)
    one_class = TrainingData.from_arrays(CLASSES, test=toy_images(4, seed=2), train=(x[y == 0], y[y == 0]))
    with pytest.raises(ValueError, match=r"one class only \(benign\)"):
        fit_classifier(quick(), one_class)
    three = ["benign", "malignant", "other"]
    tx, ty = toy_images(4, seed=3, classes=3)
    missing = TrainingData.from_arrays(three, test=(tx, ty), train=toy_images(8, seed=1))
    with pytest.raises(ValueError, match=r"test class\(es\) other have no images in the train set"):
        fit_classifier(quick(), missing)
    with pytest.raises(ValueError, match=r"hescnet takes exactly 64x64 px images, not 32x32"):
        fit_classifier(quick(model="hescnet"), toy_data())
    with pytest.raises(ValueError, match=r"unknown optimizer 'rmsprop'"):
        fit_classifier(quick(optimizer="rmsprop"), toy_data())
    wrong_size = TrainingData.from_arrays(CLASSES, test=toy_images(4, size=48), train=toy_images(8))
    with pytest.raises(ValueError, match=r"test images are \(48, 48, 3\), expected \(32, 32, 3\)"):
        fit_classifier(quick(), wrong_size)
    run = new_run("train", {})
    ctx = JobContext(run)
    with pytest.raises(ValueError):
        fit_classifier(quick(), one_class, ctx)
    assert ctx.run.events("metric") == [] and not (run.path / "checkpoints" / "last.pt").exists()


def test_nan_loss_stops_and_keeps_the_last_good_checkpoint():
    config = quick(optimizer="sgd", lr=1e6, augment="none", epochs=3, batch_size=8, val_fraction=0.0)
    run = new_run("train", config)
    data = TrainingData.from_arrays(CLASSES, test=toy_images(5, seed=2), train=toy_images(20, seed=1))
    with pytest.raises(TrainingDiverged, match="NaN") as err:
        fit_classifier(config, data, JobContext(run))
    msg = str(err.value)
    assert "the last good checkpoint (after epoch" in msg and "lower learning rate" in msg
    kept = read_checkpoint(run.path / "checkpoints" / "last.pt")
    assert f"after epoch {kept['meta']['epoch']})" in msg
    assert all(np.isfinite(t.numpy()).all() for t in kept["model"].values() if t.is_floating_point())
    model, _ = load_classifier(run.path)
    assert np.isfinite(predict_proba(model, toy_images(2, seed=5)[0])).all()
    # Through the job runner the run is marked failed with the same explanation.
    run2 = new_run("train", config)
    execute_job(run2, lambda c, ctx: fit_classifier(c, data, ctx), config, JobContext(run2))
    assert run2.status == "failed" and "last good checkpoint" in run2.error


@pytest.mark.parametrize("cancel_at", ["start", "after_first_epoch"])
def test_cancel_leaves_a_loadable_checkpoint(cancel_at):
    config = quick(epochs=5)
    run = new_run("train", config)
    cancel = threading.Event()
    if cancel_at == "start":
        cancel.set()

    def on_event(ev):
        if ev.get("type") == "metric":
            cancel.set()

    ctx = JobContext(run, cancel_event=cancel, on_event=on_event)
    execute_job(run, lambda c, c_ctx: fit_classifier(c, toy_data(), c_ctx), config, ctx)
    assert run.status == "cancelled"
    model, meta = load_classifier(run.path / "checkpoints" / "last.pt")
    assert meta["epoch"] == (0 if cancel_at == "start" else 1)
    assert predict_proba(model, toy_images(2, seed=9)[0]).shape == (4, 2)


@pytest.mark.parametrize(
    "kw,check",
    [
        (
            dict(optimizer="sgd", lr=0.05, schedule="step", epochs=2),
            lambda h: h[0]["lr"] == pytest.approx(0.005),
        ),  # x0.1 at half the epochs
        (dict(optimizer="adam", schedule="cosine", epochs=2), lambda h: h[-1]["lr"] < 1e-6),
        (dict(optimizer="sgd", lr=0.05, schedule="onecycle", epochs=2), lambda h: h[-1]["lr"] < 1e-4),
        (
            dict(optimizer="adagrad", lr=0.05, schedule="constant", epochs=1, class_balance="weights"),
            lambda h: h[0]["lr"] == pytest.approx(0.05),
        ),
        (dict(class_balance="none", epochs=1), lambda h: h[0]["seen"] == {"benign": 24, "malignant": 8}),
        (dict(class_balance="sampler", epochs=1), lambda h: min(h[0]["seen"].values()) >= 11),  # ~16 each
    ],
)
def test_optimizers_schedules_and_class_balance(kw, check):
    x, y = toy_images(24, seed=1)
    keep = np.r_[np.arange(24), np.arange(24, 32)]  # imbalanced: 24 vs 8
    data = TrainingData.from_arrays(CLASSES, test=toy_images(6, seed=2), train=(x[keep], y[keep]))
    r = fit_classifier(quick(val_fraction=0.0, **kw), data)
    assert check(r["history"]), r["history"]
    assert all(np.isfinite(h["train_loss"]) for h in r["history"])


def test_lr_finder_and_early_stopping():
    r = fit_classifier(quick(lr_finder=True, epochs=1, val_fraction=0.0), toy_data())
    assert len(r["lr_found"]) == 1 and 1e-6 <= r["lr_found"][0]["lr"] <= 1.0
    r = fit_classifier(
        quick(epochs=12, early_stopping=1, monitor="val_accuracy", val_fraction=0.25), toy_data()
    )
    assert r["stopped_early"] and r["epochs_trained"] < 12
    assert r["tested_weights"].startswith("best (epoch")

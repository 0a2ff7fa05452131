"""Fine-tuning that keeps pretraining (L2-SP, frozen blocks, mixed batches) and the acquisition
augmentation, on tiny in-memory sets."""

import numpy as np
import pytest
import torch

from simstudio.data.augment import PRESETS, augment_batch
from simstudio.jobs import JobContext, execute_job
from simstudio.nets import build_model
from simstudio.runs import new_run
from simstudio.train.checkpoints import read_checkpoint
from simstudio.train.classifier import ClassifierConfig, TrainingData, check_config, fit_classifier, weights_digest
from simstudio.train.finetune import (
    freeze_first_blocks,
    l2sp_penalty,
    mixed_batches,
    model_blocks,
    reference_weights,
    split_parameters,
)

CLASSES = ["benign", "malignant"]


def toy_images(n_per_class, size=32, seed=0):
    rng = np.random.default_rng(seed)
    colours = np.array([[220, 40, 40], [40, 40, 220]], np.uint8)
    x = rng.integers(60, 140, size=(n_per_class * 2, size, size, 3)).astype(np.uint8)
    y = np.repeat(np.arange(2), n_per_class)
    s = size // 4
    for i, c in enumerate(y):
        r0, c0 = rng.integers(0, size - s, size=2)
        x[i, r0 : r0 + s, c0 : c0 + s] = colours[c]
    return x, y


def data(synthetic=24):
    return TrainingData.from_arrays(CLASSES, test=toy_images(8, seed=100), train=toy_images(16, seed=1),
                                    synthetic=toy_images(synthetic, seed=2))


def cfg(**kw):
    base = dict(image_size=32, epochs=2, pretrain_epochs=1, batch_size=8, optimizer="sgd", lr=0.05,
                schedule="constant", augment="flip_rotate", device="cpu", mode="pretrain", val_fraction=0.0,
                weight_decay=0.0)
    return ClassifierConfig(**{**base, **kw})


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def fit(config):
    run = new_run("train", config)
    result = execute_job(run, lambda c, ctx: fit_classifier(c, data(), ctx), config, JobContext(run))
    assert run.status == "finished", run.error
    final = read_checkpoint(run.path / "checkpoints" / "last.pt")["model"]
    pre = read_checkpoint(run.path / "checkpoints" / "pretrain.pt")["model"]
    return result, final, pre


def distance(a, b, names):
    return sum(float(((a[n].float() - b[n].float()) ** 2).sum()) for n in names)


def test_l2sp_at_weight_zero_is_plain_fine_tuning_bit_for_bit():
    _, plain, _ = fit(cfg())
    _, zero, _ = fit(cfg(l2sp_alpha=0.0, l2sp_beta=0.0))
    assert weights_digest(plain) == weights_digest(zero)


def test_l2sp_keeps_the_weights_near_the_pretrained_ones():
    _, plain, pre = fit(cfg(epochs=3))
    _, held, pre2 = fit(cfg(epochs=3, l2sp_alpha=5.0, l2sp_beta=5.0))
    assert weights_digest(pre) == weights_digest(pre2)  # same pretraining, so the comparison is fair
    names = [n for n in pre if n in dict(build_model("smallcnn", 2).named_parameters())]
    assert distance(held, pre, names) < 0.5 * distance(plain, pre, names)


def test_l2sp_penalty_is_half_alpha_and_beta_times_the_squared_distances():
    model = build_model("smallcnn", 2)
    ref = reference_weights(model)
    backbone, head = split_parameters(model)
    assert head == ["head.weight", "head.bias"] and len(backbone) > 4
    assert float(l2sp_penalty(model, ref, 0.1, 0.01).detach()) == 0.0
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.1)
    n_backbone = sum(dict(model.named_parameters())[n].numel() for n in backbone)
    n_head = sum(dict(model.named_parameters())[n].numel() for n in head)
    want = 0.5 * 0.1 * n_backbone * 0.01 + 0.5 * 0.01 * n_head * 0.01
    assert float(l2sp_penalty(model, ref, 0.1, 0.01).detach()) == pytest.approx(want, rel=1e-4)


def test_mixed_batches_hold_the_asked_ratio():
    order = torch.randperm(100, generator=torch.Generator().manual_seed(0))
    batches = mixed_batches(order, 37, 16, 0.25, torch.Generator().manual_seed(1))
    full = [(r, s) for r, s in batches if len(r) == 12]
    assert len(full) == 8 and all(len(s) == 4 for _, s in full)
    assert sorted(torch.cat([r for r, _ in batches]).tolist()) == list(range(100))  # each real image once
    last_r, last_s = batches[-1]
    assert len(last_r) == 4 and len(last_s) == 1
    syn = torch.cat([s for _, s in batches]).tolist()
    assert max(syn) < 37 and len(set(syn[:37])) == min(37, len(syn))  # no repeat before all were used


def test_mixed_fine_tuning_trains_on_that_share_of_synthetic_images():
    result, _, _ = fit(cfg(finetune_synthetic_ratio=0.25, batch_size=8))
    for row in result["history"]:
        if row["stage"] == "finetune":
            real = sum(row["seen"].values())
            assert row["seen_synthetic"] / (real + row["seen_synthetic"]) == pytest.approx(0.25, abs=0.03)
        else:
            assert "seen_synthetic" not in row


def test_frozen_blocks_keep_their_pretrained_weights_and_statistics():
    _, final, pre = fit(cfg(freeze_blocks=2))
    frozen = [k for k in pre if k.startswith(("body.0.", "body.1.", "body.4.", "body.5."))]
    trained = [k for k in pre if k.startswith(("body.8.", "head."))]
    assert frozen and trained
    for k in frozen:
        assert torch.equal(final[k], pre[k]), k
    assert any(not torch.equal(final[k], pre[k]) for k in trained)
    model = build_model("smallcnn", 2)
    assert len(model_blocks(model)) == 4
    with pytest.raises(ValueError, match="freeze_blocks = 5, but SmallCNN has 4 blocks"):
        freeze_first_blocks(model, 5)


def test_fine_tune_augmentation_and_refusals():
    result, _, _ = fit(cfg(finetune_augment="acquisition+flip_rotate"))
    assert result["test"]["roc_auc"] is not None
    for kw, words in (
        (dict(mode="real", l2sp_alpha=0.1), "l2sp_alpha keeps pretrained weights"),
        (dict(mode="real", freeze_blocks=1), "freeze_blocks keeps pretrained weights"),
        (dict(mode="real", finetune_synthetic_ratio=0.2), "finetune_synthetic_ratio"),
        (dict(finetune_synthetic_ratio=1.0), r"must be in \(0, 1\)"),
        (dict(finetune_augment="blurry"), "unknown finetune_augment"),
        (dict(acquisition_strength=9), "acquisition_strength"),
        (dict(l2sp_beta=-1), "l2sp_beta must be >= 0"),
    ):
        with pytest.raises(ValueError, match=words):
            check_config(cfg(**kw))


def test_acquisition_preset_alone_and_combined():
    x = torch.from_numpy(toy_images(4, size=64)[0]).permute(0, 3, 1, 2).contiguous()
    assert {"acquisition", "acquisition+flip_rotate", "acquisition+full", "acquisition+crop64_flip"} <= set(PRESETS)
    a = augment_batch(x, "acquisition", torch.Generator().manual_seed(3), acquisition_strength=2.0)
    b = augment_batch(x, "acquisition", torch.Generator().manual_seed(3), acquisition_strength=2.0)
    assert a.dtype == torch.uint8 and a.shape == x.shape and torch.equal(a, b)
    assert (a != x).any()
    assert torch.equal(augment_batch(x, "acquisition", torch.Generator(), acquisition_strength=0.0), x)
    xf = x.float() / 255
    c = augment_batch(xf, "acquisition+flip_rotate", torch.Generator().manual_seed(3))
    assert c.dtype == torch.float32 and c.shape == xf.shape and float(c.min()) >= 0 and float(c.max()) <= 1
    d = augment_batch(xf, "acquisition+crop64_flip", torch.Generator().manual_seed(3))
    assert d.shape[-1] == 64
    check_config(cfg(mode="real", augment="acquisition+crop64_flip", image_size=64))


def test_cli_flags_reach_the_saved_config(tmp_path, monkeypatch, capsys):
    import json

    from PIL import Image

    from simstudio.cli import main

    for name, seed in (("real", 1), ("syn", 2)):
        x, y = toy_images(8, seed=seed)
        for i, (img, lab) in enumerate(zip(x, y, strict=True)):
            d = tmp_path / name / CLASSES[lab]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img).save(d / f"{i:02d}.png")
    monkeypatch.setenv("SIMSTUDIO_HOME", str(tmp_path / "home"))
    rc = main(["train-classifier", "--real", str(tmp_path / "real"), "--synthetic", str(tmp_path / "syn"),
               "--mode", "pretrain", "--image-size", "32", "--batch-size", "8", "--epochs", "1",
               "--pretrain-epochs", "1", "--device", "cpu", "--split-fractions", "75/25", "--quiet",
               "--finetune-augment", "acquisition+flip_rotate", "--acquisition-strength", "2",
               "--finetune-synthetic-ratio", "0.25", "--l2sp-alpha", "0.1", "--l2sp-beta", "0.01",
               "--freeze-blocks", "1"])
    assert rc == 0
    out = json.loads(capsys.readouterr().out)
    saved = json.loads((__import__("pathlib").Path(out["run_dir"]) / "config.json").read_text())
    assert saved["finetune_augment"] == "acquisition+flip_rotate" and saved["acquisition_strength"] == 2
    assert saved["finetune_synthetic_ratio"] == 0.25 and saved["l2sp_alpha"] == 0.1
    assert saved["l2sp_beta"] == 0.01 and saved["freeze_blocks"] == 1
    assert main(["train-classifier", "--real", str(tmp_path / "real"), "--l2sp-alpha", "0.1", "--quiet"]) == 2
    assert "l2sp_alpha keeps pretrained weights" in capsys.readouterr().err

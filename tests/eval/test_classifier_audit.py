"""The classifier audit: a network trained where only the colour cast carries the label flips when the
cast is moved to the other class's; one trained where only lesion size does, does not. The CLI prints
the verdicts and saves the run."""

import cv2
import numpy as np
import pytest
import torch
from audit_data import size_only_set, tint_only_set, write_folder

from simstudio.eval.classifier_audit import audit_classifiers, classifier_predictor, edit_effect
from simstudio.jobs import JobContext, execute_job
from simstudio.runs import new_run

CLASSES = ["benign", "malignant"]


def train_tiny(images, labels, root):
    from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

    torch.set_num_threads(1)
    # Trained at 32 px; the audit edits 64 px photos and the classifier resizes them, as with real runs.
    images = np.stack([cv2.resize(im, (32, 32), interpolation=cv2.INTER_AREA) for im in images])
    config = ClassifierConfig(image_size=32, epochs=6, batch_size=16, optimizer="adam", lr=3e-3,
                              schedule="constant", augment="flip_rotate", device="cpu", mode="real",
                              val_fraction=0.0, seed=0)
    data = TrainingData.from_arrays(CLASSES, test=(images[::4], labels[::4]), train=(images, labels))
    run = new_run("train", config, root=root)
    result = execute_job(run, lambda c, ctx: fit_classifier(c, data, ctx), config, JobContext(run))
    assert result is not None and result["test"]["roc_auc"] > 0.9, "the tiny classifier should learn its cue"
    return str(run.path)


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    tint = train_tiny(*tint_only_set(48, size=64, seed=1), root)
    size = train_tiny(*size_only_set(48, size=64, seed=1), root)
    return tint, size


def test_a_tint_reading_classifier_flips_under_the_tint_edit_and_a_size_reading_one_does_not(tiny_models):
    tint, size = tiny_models
    x, y = tint_only_set(16, size=64, seed=7)
    out = audit_classifiers({"tint-trained": classifier_predictor(tint, CLASSES)}, x, y, CLASSES,
                            edits=["tint"], n_boot=50)
    e = out["edits"]["tint"]["tint-trained"]
    assert e["flip_rate"] >= 0.5 and e["mean_toward"] >= 0.3
    assert e["auc_after"] < 0.3 < 0.9 < e["auc_before"]   # the cast swapped: the ranking turns over
    assert e["verdict"] == "leans on it"
    xs, ys = size_only_set(16, size=64, seed=7)
    out = audit_classifiers({"size-trained": classifier_predictor(size, CLASSES)}, xs, ys, CLASSES,
                            edits=["tint"], n_boot=50)
    e = out["edits"]["tint"]["size-trained"]
    assert e["flip_rate"] <= 0.1 and abs(e["mean_toward"]) < 0.05
    assert e["verdict"] == "does not lean on it"
    assert out["verdicts"]["tint"].startswith("tint (colour cast moved")


def test_edit_effect_counts_flips_and_signs_the_shift_toward_the_other_class():
    p0 = np.array([0.1, 0.2, 0.8, 0.9])
    p1 = np.array([0.6, 0.2, 0.3, 0.9])
    y = np.array([0, 0, 1, 1])
    e = edit_effect(p0, p1, y, 1, n_boot=20)
    assert e["flip_rate"] == 0.5
    assert e["mean_toward"] == pytest.approx((0.5 + 0 + 0.5 + 0) / 4)
    assert e["mean_delta"] == pytest.approx(0.0)
    assert e["auc_before"] == 1.0 and e["auc_after"] == 0.75   # 3 of the 4 pairs still ordered


def test_cli_audits_a_folder_and_its_classifiers_and_prints_the_verdicts(tiny_models, tmp_path, capsys):
    from simstudio.cli import main

    tint, size = tiny_models
    folder = write_folder(tmp_path / "tint-set", *tint_only_set(12, size=64, seed=3))
    code = main(["audit", str(folder), "--classifier", tint, "--classifier", size, "--classifier-part", "",
                 "--edits", "tint,add_vignette,colour_constancy", "--workers", "1"])
    out = capsys.readouterr().out
    assert code == 0
    assert "verdict: acquisition alone predicts the label with AUC" in out
    assert "tint (colour cast moved to the other class's median" in out
    assert "add_vignette (" in out and "colour_constancy (" in out
    run_dir = out.strip().splitlines()[-1].split(" in ")[-1].rstrip(")")
    from pathlib import Path

    for name in ("report.html", "features.csv", "feature_aucs.csv", "classifier_audit.csv", "audit.json",
                 "classifier_response.csv", "classifier_errors.csv"):
        assert (Path(run_dir) / name).is_file(), name
    report = (Path(run_dir) / "report.html").read_text()
    assert "Classifier audit" in report and "What moves each classifier's answer within a class" in report
    assert "what moves each classifier's answer within a class" in out
    assert out.count("observed, not caused") == 1   # said once, not once per classifier
    # the most confident errors are saved as images with the run, each the audited photo itself
    import json

    errors = json.loads((Path(run_dir) / "audit.json").read_text())["classifier_audit"]["errors"]
    saved = [e for rows in errors.values() for e in rows]
    assert saved   # the size reader cannot read this set: it has errors to show
    for e in saved:
        img = cv2.cvtColor(cv2.imread(str(Path(run_dir) / e["image"])), cv2.COLOR_BGR2RGB)
        assert img.shape == (64, 64, 3) and e["file"].startswith(e["class"] + "/")


def test_cli_names_a_bad_edit(capsys):
    from simstudio.cli import main

    assert main(["audit", "some-set", "--edits", "tint,zoom"]) == 2
    assert "zoom" in capsys.readouterr().err


def test_within_class_response_names_the_cast_for_a_tint_reader_and_the_area_for_a_size_reader(tiny_models):
    from audit_data import lesion_image

    tint, size = tiny_models
    rng = np.random.default_rng(11)
    # Both classes alike, each photo with its own share of the cast: only the cast moves a tint reader.
    images, labels = [], []
    for c in (0, 1):
        for _ in range(24):
            t = rng.uniform(0, 1)
            images.append(lesion_image(64, rng.uniform(0.18, 0.3) * 64, rng, (-12 * t, 6 * t))[0])
            labels.append(c)
    images, labels = np.stack(images), np.array(labels)
    out = audit_classifiers({"tint-trained": classifier_predictor(tint, CLASSES),
                             "size-trained": classifier_predictor(size, CLASSES)}, images, labels, CLASSES,
                            edits=[], n_boot=50)
    rows = out["response"]["tint-trained"]
    cast = [r for r in rows if r["feature"] in ("skin_a", "skin_b")]
    assert cast and all(abs(r["rho"]) > 0.5 for r in cast)
    assert "skin_a" in out["response_verdicts"]["tint-trained"] or "skin_b" in out["response_verdicts"]["tint-trained"]
    # a size reader's answers go, within each class, with the lesion's area above all
    top = {c: next(r for r in out["response"]["size-trained"] if r["class"] == c) for c in CLASSES}
    assert all(r["feature"] == "area_frac" and r["rho"] > 0.5 for r in top.values())
    # the worst errors are wrong answers, worst first
    for errors in out["errors"].values():
        p = [e["p"] for e in errors if e["class"] == "benign"]
        assert all(v >= 0.5 for v in p) and p == sorted(p, reverse=True)

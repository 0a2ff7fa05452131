"""Counterfactual sweeps: one parameter moves, the rest of the picture stays; a classifier trained to
read lesion size answers a size sweep; Grad-CAM grids and the sweep job."""

import numpy as np
import pytest
import torch

from simstudio.eval.counterfactual import (
    CounterfactualConfig,
    base_lesions,
    classifier_predictor,
    run_counterfactual,
    sweep_parameter,
    sweep_values,
)
from simstudio.jobs import JobContext, execute_job, run_in_foreground
from simstudio.runs import new_run
from simstudio.sim.params import LesionParams
from simstudio.sim.render import render_lesion

PLAIN = LesionParams(network=0.0, globules=0, colour_variegation=0.1, skin_texture=0.2, noise=0.005)


@pytest.fixture(scope="module")
def size_classifier(tmp_path_factory):
    """A small CNN trained on simulated lesions where only the diameter tells the classes apart."""
    from simstudio.train.classifier import ClassifierConfig, TrainingData, fit_classifier

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    images, labels = [], []
    for i in range(120):
        big = i % 2
        d = rng.uniform(12, 16) if big else rng.uniform(3, 5)
        params = PLAIN.replace(diameter_mm=d, rotation_deg=rng.uniform(0, 180), tint_a=rng.uniform(0, 16))
        images.append(render_lesion(params, size=32, seed=i)[0])
        labels.append(big)
    images, labels = np.stack(images), np.array(labels)
    config = ClassifierConfig(image_size=32, epochs=6, batch_size=16, optimizer="adam", lr=3e-3,
                              schedule="constant", augment="none", device="cpu", mode="real", val_fraction=0.0)
    data = TrainingData.from_arrays(["benign", "malignant"], test=(images[:40], labels[:40]),
                                    train=(images[40:], labels[40:]))
    run = new_run("train", config, root=tmp_path_factory.mktemp("runs"))
    result = execute_job(run, lambda c, ctx: fit_classifier(c, data, ctx), config, JobContext(run))
    assert result["test"]["roc_auc"] > 0.9, "the toy classifier should read size"
    return str(run.path)


def test_sweep_values_follow_the_parameter_range():
    assert sweep_values("asymmetry", 5) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert sweep_values("lobes", 20) == list(range(9))
    assert sweep_values("ruler") == [False, True]
    assert sweep_values("diameter_mm", 3, low=4, high=8) == [4.0, 6.0, 8.0]
    with pytest.raises(ValueError, match="cannot be swept"):
        sweep_values("colour_layout")
    with pytest.raises(ValueError, match="unknown simulator parameter"):
        sweep_values("wings")
    with pytest.raises(ValueError, match="must lie inside"):
        sweep_values("asymmetry", low=0.5, high=2.0)


def test_only_the_swept_parameter_changes_the_picture():
    lesions = [PLAIN]
    result = sweep_parameter(lambda x: np.tile([0.5, 0.5], (len(x), 1)), "vignette", [0.0, 1.0], lesions,
                             size=64, seed=3, positive_class="malignant")
    seen = result.images
    assert result.probs.shape == (2, 1)
    centre = (slice(24, 40), slice(24, 40))
    assert np.abs(seen[0][centre].astype(int) - seen[1][centre].astype(int)).mean() < 3   # lesion unchanged
    assert seen[1][:4, :4].mean() < seen[0][:4, :4].mean() - 30                          # corners darkened


def test_measured_cue_follows_the_swept_parameter():
    lesions = base_lesions("nevus", 3, seed=1)
    result = sweep_parameter(lambda x: np.tile([0.5, 0.5], (len(x), 1)), "diameter_mm", [4.0, 8.0, 12.0],
                             lesions, size=64, positive_class="malignant")
    area = result.measured["area_frac"]
    assert area[0] < area[1] < area[2]
    with pytest.raises(ValueError, match="unknown class"):
        base_lesions("wart", 2)


def test_a_size_reading_classifier_answers_a_size_sweep(size_classifier):
    predict, meta, positive = classifier_predictor(size_classifier)
    assert meta["classes"][positive] == "malignant"
    lesions = [PLAIN.replace(rotation_deg=r) for r in (0, 60, 120)]
    result = sweep_parameter(predict, "diameter_mm", [3.0, 8.0, 15.0], lesions, size=32,
                             positive=positive, positive_class="malignant", measure=False)
    assert result.mean[-1] > result.mean[0] + 0.3
    assert result.as_dict()["change"] == pytest.approx(result.mean[-1] - result.mean[0])


def test_sweep_job_saves_curve_strip_and_gradcam_grids(size_classifier, tmp_path, monkeypatch):
    import cv2

    real = tmp_path / "real"
    for cls, d in (("benign", 4.0), ("malignant", 14.0)):
        (real / cls).mkdir(parents=True)
        for i in range(3):
            rgb = render_lesion(PLAIN.replace(diameter_mm=d), size=32, seed=50 + i)[0]
            cv2.imwrite(str(real / cls / f"{i}.png"), rgb[..., ::-1])
    config = CounterfactualConfig(classifier=size_classifier, param="diameter_mm", n_values=3, low=3, high=15,
                                  class_name="nevus", n_samples=2, size=32, real=str(real), n_cam=2)
    run, result = run_in_foreground("counterfactual", run_counterfactual, config, echo=False)
    assert run.status == "finished", run.error
    assert result["values"] == [3.0, 9.0, 15.0] and len(result["mean"]) == 3
    assert result["positive_class"] == "malignant" and len(result["probs"][0]) == 2
    for name in ("sweep_strip", "cam_simulated", "cam_real"):
        img = cv2.imread(str(run.path / "samples" / f"{name}.png"))
        assert img is not None and img.shape[0] == 32
    assert run.read_json("sweep.json")["param"] == "diameter_mm"
    # no classifier chosen and none shipped: a clear refusal (with a shipped model, that one is used)
    monkeypatch.setenv("SIMSTUDIO_MODELS", str(tmp_path / "no-models"))
    with pytest.raises(ValueError, match="choose a classifier"):
        run_counterfactual(CounterfactualConfig())


def test_cli_names_a_parameter_that_cannot_be_swept(capsys):
    from simstudio.cli import main

    assert main(["counterfactual", "some-run", "colour_layout"]) == 2
    assert "cannot be swept" in capsys.readouterr().err

"""publish-model on a tiny run: the weights and card land in the models folder, the copy predicts exactly
what the run did, the card records what it was trained on and its real-test AUC with CIs, and the
shipped name works wherever a classifier is chosen."""

import json

import numpy as np
import pytest
import torch

from simstudio.eval.predict import load_predictor, predict, read_images
from simstudio.experiments.publish import PublishConfig, auc_bootstrap_ci, auc_delong_ci, publish_model
from simstudio.train.checkpoints import load_classifier, predict_proba


@pytest.fixture
def published(tiny_run, tmp_path, monkeypatch):
    run, _sim = tiny_run
    models = tmp_path / "models"
    monkeypatch.setenv("SIMSTUDIO_MODELS", str(models))
    stand_in = run.config["real"]
    result = publish_model(PublishConfig(run=str(run.path), name="tiny-sim", evaluate=stand_in, part="all",
                                         out=str(models), default=True, n_boot=200))
    return run, models, result


def test_published_weights_predict_what_the_run_predicts(published, example_image):
    run, models, _ = published
    ckpt = torch.load(models / "tiny-sim.pt", map_location="cpu", weights_only=True)
    assert set(ckpt) == {"format", "model", "meta"}  # weights and preprocessing only, no optimizer state
    x = np.stack(read_images([example_image]))
    shipped, _ = load_classifier("tiny-sim")  # by name, through $SIMSTUDIO_MODELS
    original, _ = load_classifier(run.path)
    from simstudio.eval.predict import model_view

    view = model_view(load_predictor("tiny-sim"), x[0])[None]
    np.testing.assert_array_equal(predict_proba(shipped, view), predict_proba(original, view))


def test_card_says_what_the_model_saw_and_how_it_scored(published, example_image):
    run, models, result = published
    card = json.loads((models / "tiny-sim.json").read_text())
    assert "research demo, not a medical device" in card["intended_use"].lower()
    t = card["training"]
    assert t["run"] == run.id and t["real_images_in_training"] is False
    assert t["weights_kept"] == "last epoch" and t["config"]["seed"] == 0
    syn = t["synthetic"]
    assert (syn["preset_file"], syn["per_class"], syn["size"], syn["seed"]) == ("fitted-derm-real", 12, 32, 3)
    assert card["model"]["input_size"] == 32 and card["model"]["positive_class"] == "malignant"
    assert card["renderer"]["version"] and len(card["renderer"]["source_sha1"]) == 40
    ev = card["evaluation"]
    assert ev["n"] == 20 and ev["ci"][0] <= ev["roc_auc"] <= ev["ci"][1]
    assert ev["ci_bootstrap"][0] <= ev["roc_auc"] <= ev["ci_bootstrap"][1]
    # the AUC is the one of the shipped weights on those images
    pred = load_predictor("tiny-sim")
    from simstudio.data.dataset import load_dataset

    ds = load_dataset(run.config["real"], size=32)
    p = predict_proba(pred.model, np.array(ds.images))[:, pred.positive]
    y = np.array([ds.classes[i] == "malignant" for i in ds.labels], int)
    assert ev["roc_auc"] == pytest.approx(auc_delong_ci(y, p)[0], abs=1e-12)
    # reference predictions on the example images, equal to what the shipped file predicts now
    refs = card["reference_predictions"]
    assert len(refs) >= 4
    from simstudio.experiments.publish import EXAMPLES_DIR

    now = predict(pred, read_images([EXAMPLES_DIR / r["file"].split("/")[-1] for r in refs]), gradcam=False)
    assert [round(r["p_positive"], 12) for r in refs] == [round(n.p_positive, 12) for n in now]
    md = (models / "tiny-sim.md").read_text()
    assert "Research demo, not a medical device" in md and "publish-model RUN --name tiny-sim" in md
    assert result["bytes"] == (models / "tiny-sim.pt").stat().st_size


def test_shipped_name_is_a_classifier_everywhere(published):
    from simstudio.eval.counterfactual import CounterfactualConfig, run_counterfactual
    from simstudio.eval.fidelity import classifier_checkpoint
    from simstudio.train.shipped import default_model, shipped_names
    from simstudio.ui.gap_tab import classifier_choices, default_classifier
    from simstudio.ui.predict_tab import model_choices

    _, models, _ = published
    assert shipped_names() == ["tiny-sim"] and default_model().name == "tiny-sim"
    assert classifier_checkpoint("tiny-sim") == models / "tiny-sim.pt"
    assert classifier_choices()[0] == "tiny-sim" and default_classifier() == "tiny-sim"
    assert model_choices()[0][1] == "tiny-sim"
    # the counterfactual sweep with no classifier chosen uses the shipped one
    out = run_counterfactual(CounterfactualConfig(param="asymmetry", n_values=3, n_samples=2, size=32))
    assert out["classifier"] == "tiny-sim" and len(out["mean"]) == 3


def test_auc_intervals_agree_with_a_direct_computation():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60, int), np.ones(40, int)]
    s = rng.normal(size=100) + y
    auc, (lo, hi) = auc_delong_ci(y, s)
    pairs = (s[y == 1][:, None] > s[y == 0][None]).mean() + 0.5 * (s[y == 1][:, None] == s[y == 0][None]).mean()
    assert auc == pytest.approx(pairs)
    blo, bhi = auc_bootstrap_ci(y, s, n_boot=2000, seed=1)
    assert lo < auc < hi and blo < auc < bhi
    assert abs((hi - lo) - (bhi - blo)) < 0.05  # two ways to the same width at n = 100


def test_publish_cli_writes_the_model_and_refuses_bad_input(tiny_run, tmp_path, monkeypatch, capsys):
    from simstudio.cli import main

    run, _ = tiny_run
    models = tmp_path / "m"
    monkeypatch.setenv("SIMSTUDIO_MODELS", str(models))
    assert main(["publish-model", str(run.path), "--name", "cli-model", "--evaluate", run.config["real"],
                 "--part", "all", "--out", str(models)]) == 0
    assert "ROC-AUC" in capsys.readouterr().out and (models / "cli-model.pt").is_file()
    for argv, says in ((["--name", "cli-model"], "exists"), (["--name", "../evil"], "model name"),
                       (["--name", "x", "--evaluate", "no-such-dataset"], "no run 'no-such-dataset'")):
        assert main(["publish-model", str(run.path), *argv, "--out", str(models)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:") and says in err[0]
    assert main(["publish-model", "no-such-run", "--name", "x", "--out", str(models)]) == 2
    assert capsys.readouterr().err.startswith("error: no run 'no-such-run'")

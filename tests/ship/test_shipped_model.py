"""The model that ships in models/: it loads with weights_only=True, its card says what it is (simulated
training only, preset and seeds, renderer, input size, real-test AUC with CI, not a medical device), and it
predicts on the simulated example images exactly what its training run predicted when it was published."""

import hashlib

import numpy as np
import pytest
import torch

from simstudio.experiments.publish import EXAMPLES_DIR
from simstudio.train.shipped import MODELS_DIR, default_model, shipped_models


@pytest.fixture(autouse=True)
def repo_models(monkeypatch):
    monkeypatch.delenv("SIMSTUDIO_MODELS", raising=False)


def test_a_default_model_ships():
    m = default_model()
    assert m is not None and m.checkpoint.parent == MODELS_DIR and m.card.get("default") is True


@pytest.mark.parametrize("model", shipped_models(MODELS_DIR), ids=lambda m: m.name)
def test_shipped_file_is_small_data_and_matches_its_card(model):
    ckpt = torch.load(model.checkpoint, map_location="cpu", weights_only=True)
    assert set(ckpt) == {"format", "model", "meta"}
    card = model.card
    assert card["file"]["sha1"] == hashlib.sha1(model.checkpoint.read_bytes()).hexdigest()
    assert card["file"]["bytes"] == model.checkpoint.stat().st_size < 5_000_000
    assert "research demo, not a medical device" in card["intended_use"].lower()
    assert ckpt["meta"]["image_size"] == card["model"]["input_size"]
    t = card["training"]
    assert t["real_images_in_training"] is False and t["config"]["mode"] == "synthetic"
    syn = t["synthetic"]
    assert syn["preset_file"] and syn["seed"] is not None and syn["per_class"] and t["config"]["seed"] is not None
    assert card["renderer"]["version"]
    ev = card["evaluation"]
    assert ev["part"] == "test" and ev["ci"][0] <= ev["roc_auc"] <= ev["ci"][1] and ev["matches_run"] is True
    assert (model.checkpoint.with_suffix(".md")).is_file()


@pytest.mark.parametrize("model", shipped_models(MODELS_DIR), ids=lambda m: m.name)
def test_shipped_model_predicts_what_its_run_did(model):
    from simstudio.eval.predict import load_predictor, predict, read_images

    refs = model.card["reference_predictions"]
    assert len(refs) == len(list(EXAMPLES_DIR.glob("*.png"))) >= 4
    files = [EXAMPLES_DIR / r["file"].rsplit("/", 1)[-1] for r in refs]
    assert [hashlib.sha1(f.read_bytes()).hexdigest() for f in files] == [r["sha1"] for r in refs]
    now = predict(load_predictor(model.name), read_images(files), gradcam=False)
    np.testing.assert_allclose([p.p_positive for p in now], [r["p_positive"] for r in refs], rtol=0, atol=1e-6)

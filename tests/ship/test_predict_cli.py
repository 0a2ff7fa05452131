"""`python -m simstudio predict`: P(malignant) per image from a training run or a shipped model's name,
Grad-CAM overlays on request, one clear line and exit 2 for a bad path; the lesion bank is exactly the
first training images of the export."""

import json

import numpy as np

from simstudio.cli import main


def test_predict_prints_a_probability_per_image(tiny_run, example_image, tmp_path, capsys):
    run, _ = tiny_run
    cams = tmp_path / "cams"
    assert main(["predict", str(example_image), str(example_image), "--model", str(run.path),
                 "--gradcam", str(cams)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[0].startswith("P(malignant) by ") and "not a medical device" in out[0]
    probs = [float(line.split()[0]) for line in out[1:]]
    assert len(probs) == 2 and probs[0] == probs[1] and 0.0 <= probs[0] <= 1.0
    from simstudio.data.images import read_image

    overlay = read_image(cams / "lesion_gradcam.png")
    assert overlay.shape == (48, 48, 3)  # over the image at its own side, not the model's 32 px input


def test_predict_json_matches_the_library(tiny_run, example_image, capsys):
    from simstudio.eval.predict import load_predictor, predict, read_images

    run, _ = tiny_run
    assert main(["predict", str(example_image), "--model", str(run.path), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    expected = predict(load_predictor(str(run.path)), read_images([example_image]), gradcam=False)[0]
    assert got["predictions"][0]["p_positive"] == expected.p_positive
    assert got["positive_class"] == "malignant"


def test_bad_image_path_exits_2_with_one_line(tiny_run, tmp_path, capsys):
    run, _ = tiny_run
    assert main(["predict", str(tmp_path / "missing.png"), "--model", str(run.path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: no such image file: {tmp_path / 'missing.png'}"]
    not_image = tmp_path / "notes.png"
    not_image.write_text("not an image")
    assert main(["predict", str(not_image), "--model", str(run.path)]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main(["predict", str(not_image), "--model", "no-such-model"]) == 2
    assert "no classifier 'no-such-model'" in capsys.readouterr().err


def test_lesion_bank_is_the_first_training_images(tiny_run):
    from simstudio.data.images import read_image
    from simstudio.eval.lesion_bank import lesion_bank, training_source
    from simstudio.eval.predict import load_predictor, model_view

    run, sim = tiny_run
    pred = load_predictor(str(run.path))
    source = training_source(pred)
    assert source is not None and (source.size, source.seed) == (32, 3)
    bank = lesion_bank(pred, source, per_class=3)
    assert bank.labels == ["benign"] * 3 + ["malignant"] * 3
    for k, (cls, i) in enumerate([("benign", 0), ("benign", 2), ("malignant", 1)]):
        j = [0, 2, 4][k]
        np.testing.assert_array_equal(bank.images[j], read_image(sim / cls / f"{cls}_{i:06d}.png"))
    # a bank image is its own nearest neighbour; the cached bank reads back the same
    from simstudio.eval.predict import predict

    feats = predict(pred, [bank.images[4]], gradcam=False)[0].features
    assert bank.nearest(feats, k=3)[0][0][0] == 4
    again = lesion_bank(pred, source, per_class=3)
    np.testing.assert_array_equal(again.features, bank.features)
    assert model_view(pred, bank.images[0]).shape == (32, 32, 3)

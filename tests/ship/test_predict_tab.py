"""The Predict tab's handlers: probabilities with the model's name, one Grad-CAM overlay per image, the
nearest simulated lesions, and a message (never a traceback) for bad input."""

from simstudio.ui.predict_tab import model_note, nearest_simulated, predict_uploads


def test_predict_uploads_shows_probability_overlay_and_model(tiny_run, example_image):
    run, _ = tiny_run
    status, rows, cams, neighbours = next(predict_uploads(str(run.path), [str(example_image)] * 2))
    assert "not a medical device" in status and neighbours == []
    assert [r[0] for r in rows] == ["lesion.png", "lesion.png"] and rows[0][2] == run.path.name
    assert 0 <= rows[0][1] <= 1
    assert len(cams) == 4  # each image, then its overlay
    (image, name), (overlay, caption) = cams[:2]
    assert name == "lesion.png" and image.shape == overlay.shape == (48, 48, 3)
    assert caption.startswith("P(malignant) ") and caption.endswith("lesion.png")
    assert (overlay != image).any()


def test_nearest_simulated_gives_three_per_image(tiny_run, example_image):
    from simstudio.eval.predict import load_predictor, predict, read_images

    run, _ = tiny_run
    pred = load_predictor(str(run.path))
    preds = predict(pred, read_images([example_image, example_image]), gradcam=False)
    items, note = nearest_simulated(pred, preds, [str(example_image)] * 2, per_class=2)
    assert len(items) == 6 and "bank of 4 simulated lesions (2 per class)" in note
    assert items[0][0].shape == (32, 32, 3) and items[0][1].startswith("#1 simulated")


def test_bad_input_is_a_message(tiny_run, tmp_path):
    run, _ = tiny_run
    assert "Upload at least one image" in next(predict_uploads(str(run.path), []))[0]
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"nope")
    assert next(predict_uploads(str(run.path), [str(junk)]))[0].startswith("⚠ cannot read")
    assert next(predict_uploads("no-such-model", [str(junk)]))[0].startswith("⚠ no classifier")
    assert "Training run" in model_note(run.id)

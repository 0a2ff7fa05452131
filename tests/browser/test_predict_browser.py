"""Start here and the Predict tab in a real browser: the first screen says what can be done with no data;
uploading a simulated example image shows P(malignant) from the shipped model and its Grad-CAM overlay."""

import pytest

from simstudio.train.shipped import default_model
from simstudio.ui.predict_tab import example_files

pytestmark = pytest.mark.browser


def test_start_here_names_the_three_things_to_do(page):
    box = page.locator("#start-here")
    box.get_by_text("Start here").wait_for()
    text = box.inner_text()
    for what in ("Tune and export lesions", "Ask the shipped model about an image", "Run the blind test",
                 "Needs a real dataset"):
        assert what in text
    model = default_model()
    assert model is not None, "a model must ship in models/"
    assert model.name in text


def test_upload_an_example_and_see_probability_and_overlay(page, tmp_path):
    model = default_model()
    example = next(p for p in example_files() if "malignant" in p.name)
    page.get_by_role("tab", name="Predict").click()
    page.locator("#predict-files").wait_for()
    page.locator("#predict-files input[type=file]").set_input_files(str(example))
    page.get_by_text(example.name).first.wait_for(timeout=90_000)
    page.locator("#predict-run").click()
    table = page.locator("#predict-table")
    table.get_by_text(model.name).first.wait_for(timeout=90_000)
    cells = table.locator("td").all_inner_texts()
    prob = next(float(c) for c in cells if c.replace(".", "", 1).strip().isdigit())
    assert 0.0 <= prob <= 1.0
    # the overlay is an image in the Grad-CAM gallery, captioned with the same probability
    page.locator("#predict-gradcam img").first.wait_for(timeout=60_000)
    assert page.locator("#predict-gradcam").get_by_text("P(malignant)").count() >= 1
    status = page.locator("#predict-status")
    status.get_by_text("not a medical device").wait_for()
    # the three nearest simulated lesions follow once the bank is built (rendered once, then cached)
    page.locator("#predict-neighbours img").nth(2).wait_for(timeout=180_000)
    page.screenshot(path=str(tmp_path / "predict_tab.png"), full_page=True)
    page.screenshot(path="/tmp/predict_tab.png", full_page=True)

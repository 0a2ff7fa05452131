"""Start a tiny training from the Train tab in a real browser and watch the loss curve and the confusion
matrix appear."""

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser
SIZE = 32


def write_folder(root, n_per_class, seed=1):
    rng = np.random.default_rng(seed)
    for c, name in enumerate(("benign", "malignant")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = rng.integers(60, 140, size=(SIZE, SIZE, 3)).astype(np.uint8)
            r0, c0 = rng.integers(0, SIZE - 8, size=2)
            img[r0 : r0 + 8, c0 : c0 + 8] = (220, 40, 40) if c == 0 else (40, 40, 220)
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


def test_tiny_training_shows_curves_and_confusion_matrix(page, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))  # the app may read the folder made here
    folder = write_folder(tmp_path / "real", 12)
    page.get_by_role("tab", name="Train").click()
    page.locator("#train-real-folder textarea, #train-real-folder input").first.fill(str(folder))
    for elem, value in (("#train-size", SIZE), ("#train-epochs", 2), ("#train-batch", 8)):
        page.locator(f"{elem} input").first.fill(str(value))
    page.locator("#train-start").click()

    status = page.locator("#train-status")
    status.get_by_text("train-").first.wait_for(timeout=30_000)
    # The loss plot draws a train and a validation line once an epoch has ended...
    page.locator("#train-loss .scatterlayer .trace").nth(1).wait_for(timeout=120_000)
    # ...and when the run finishes the confusion matrix is a heat map with both classes on its axes.
    status.get_by_text("finished").first.wait_for(timeout=120_000)
    confusion = page.locator("#train-confusion")
    confusion.locator(".heatmaplayer").first.wait_for(timeout=30_000)
    text = confusion.inner_text()
    assert "benign" in text and "malignant" in text and "predicted" in text
    assert page.locator("#train-metrics").get_by_text("ROC-AUC").count() >= 1
    page.screenshot(path=str(tmp_path / "train_tab.png"), full_page=True)

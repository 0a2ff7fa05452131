"""Refine a tiny simulated export from the GAN tab in a real browser: train a refiner, watch its losses
and the before/after strip, apply it, and read the C2ST before and after."""

import numpy as np
import pytest
from conftest import wait_until
from PIL import Image

pytestmark = pytest.mark.browser
SIZE = 32


def write_real(root, n=8):
    rng = np.random.default_rng(5)
    for c, name in enumerate(("benign", "malignant")):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = np.clip(rng.normal((215, 150, 150), 12, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
            r, k = rng.integers(4, SIZE - 14, 2)
            img[r:r + 10, k:k + 10] = (110 - 30 * c, 60, 40)
            Image.fromarray(img).save(root / name / f"r{i:02d}.png")
    return root


def test_tiny_refine_trains_applies_and_shows_c2st(page, tmp_path, monkeypatch):
    from simstudio.sim.export import ExportConfig, export_dataset

    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    export = tmp_path / "raw"
    export_dataset(ExportConfig(out=str(export), per_class=8, size=SIZE, seed=0, workers=1))
    real = write_real(tmp_path / "real")

    page.get_by_role("tab", name="GAN").click()
    page.get_by_text("Refine simulated images").first.click()
    page.locator("#refine-caveat").get_by_text("raw export stays available").wait_for()
    page.locator("#refine-synthetic textarea, #refine-synthetic input").first.fill(str(export))
    real_box = page.locator("#refine-real input").first
    real_box.fill(str(real))
    real_box.press("Enter")
    page.locator("#refine-preset input").first.click()
    page.get_by_role("option", name="cpu-32").click()
    for elem, value in (("#refine-epochs", 2), ("#refine-steps", 3)):
        page.locator(f"{elem} input").first.fill(str(value))
    page.locator("#refine-train").click()

    status = page.locator("#refine-status")
    status.get_by_text("refiner-").first.wait_for(timeout=30_000)
    try:
        status.get_by_text("finished").first.wait_for(timeout=240_000)
    except Exception as exc:
        raise AssertionError(f"the refiner did not finish; the status reads: {status.inner_text()!r}") from exc
    page.locator("#refine-losses .scatterlayer .trace").nth(1).wait_for(timeout=30_000)  # D and G loss
    page.locator("#refine-strip img").first.wait_for(timeout=30_000)
    assert "KID vs real" in status.inner_text()

    page.locator("#refine-refiner input").first.click()
    page.get_by_role("option").filter(has_text="refiner-").first.click()
    page.locator("#refine-out textarea, #refine-out input").first.fill(str(tmp_path / "refined"))
    page.locator("#refine-apply").click()
    status.get_by_text("refine-").first.wait_for(timeout=30_000)
    try:
        status.get_by_text("C2ST AUC").first.wait_for(timeout=240_000)
    except Exception as exc:
        raise AssertionError(f"the refine run did not finish; the status reads: {status.inner_text()!r}") from exc
    assert "wrote 16 images" in status.inner_text()
    table = page.locator("#refine-c2st")
    # The rows come with the status line's C2ST, from the same read of the run (the poll that stops the timer
    # must show them: no later poll would)
    text = wait_until(lambda: "raw simulated" in table.inner_text() and table.inner_text())
    assert "refined" in text
    assert (tmp_path / "refined" / "manifest.csv").is_file()
    page.locator("#refine-strip img").first.wait_for(timeout=30_000)
    page.screenshot(path=str(tmp_path / "refine_section.png"), full_page=True)
    import os
    import shutil

    keep = os.environ.get("SIMSTUDIO_SCREENSHOT_DIR")
    if keep:
        shutil.copy(tmp_path / "refine_section.png", keep)

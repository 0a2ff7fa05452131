"""Start a tiny GAN from the GAN tab in a real browser and watch losses, samples and KID/FID appear."""

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser
SIZE = 16


def write_folder(root, n_per_class=12):
    rng = np.random.default_rng(3)
    for name, colour in (("melanoma", (120, 60, 30)), ("nevus", (200, 150, 110))):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            img = np.full((SIZE, SIZE, 3), (230, 200, 190), np.uint8)
            r0, c0 = rng.integers(0, SIZE - 6, size=2)
            img[r0:r0 + 6, c0:c0 + 6] = colour
            Image.fromarray(img).save(root / name / f"{i:03d}.png")
    return root


def test_tiny_gan_run_shows_samples_losses_and_kid(page, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))  # the app may read the folder made here
    folder = write_folder(tmp_path / "real")
    page.get_by_role("tab", name="GAN").click()
    page.locator("#gan-folder textarea, #gan-folder input").first.fill(str(folder))
    for elem, value in (("#gan-size", SIZE), ("#gan-epochs", 2), ("#gan-batch", 8), ("#gan-ngf", 8),
                        ("#gan-ndf", 8)):
        page.locator(f"{elem} input").first.fill(str(value))
    page.locator("#gan-start").click()

    status = page.locator("#gan-status")
    status.get_by_text("gan-").first.wait_for(timeout=30_000)
    # samples appear: the progression strips (one per class model) as an image
    page.locator("#gan-samples img").first.wait_for(timeout=120_000)
    page.locator("#gan-losses .scatterlayer .trace").nth(1).wait_for(timeout=60_000)  # D and G loss
    try:
        status.get_by_text("finished").first.wait_for(timeout=120_000)
    except Exception as exc:  # say what the page showed instead (failed? still running? which step?)
        raise AssertionError(f"the run did not finish; the status reads: {status.inner_text()!r}") from exc
    assert "best KID" in status.inner_text()
    page.locator("#gan-fidelity .scatterlayer .trace").first.wait_for(timeout=30_000)
    assert page.locator("#gan-d-outputs").get_by_text("D(G(z))").count() >= 1
    page.screenshot(path=str(tmp_path / "gan_tab.png"), full_page=True)

"""Simulate tab in a real browser: move a slider and see the preview redraw; click a sample."""

import pytest

pytestmark = pytest.mark.browser


def test_moving_a_slider_redraws_the_preview(page):
    page.get_by_role("tab", name="Simulate").click()
    preview = page.locator("#sim-preview img")
    preview.wait_for()
    page.wait_for_function("() => document.querySelector('#sim-preview img')?.src")
    first = preview.get_attribute("src")
    table = page.locator("#sim-abcd")
    table.get_by_text("diameter_mm = 6.0").wait_for()

    number = page.locator("#sim-diameter_mm input[type=number]")
    number.fill("14")
    number.press("Tab")  # leaving the box releases the slider, like letting go of its handle
    page.wait_for_function("first => { const img = document.querySelector('#sim-preview img');"
                           " return img && img.src && img.src !== first; }", arg=first, timeout=60_000)
    table.get_by_text("diameter_mm = 14.0").wait_for()

    box = preview.bounding_box()
    preview.click(position={"x": box["width"] * 0.9, "y": box["height"] * 0.9})  # bottom-right cell
    clicked = page.locator("#sim-clicked")
    clicked.get_by_text("diameter_mm").first.wait_for()
    page.screenshot(path="/tmp/simulate_tab_browser.png", full_page=True)
    assert "15" in clicked.inner_text()


def test_choosing_an_overlay_lays_that_mask_over_the_preview(page):
    page.get_by_role("tab", name="Simulate").click()
    page.wait_for_function("() => document.querySelector('#sim-preview img')?.src")
    first = page.locator("#sim-preview img").get_attribute("src")
    page.locator("#sim-overlay input").click()
    page.get_by_role("option", name="pigment network").click()
    page.locator("#sim-message").get_by_text("pigment network").wait_for(timeout=60_000)
    page.wait_for_function("first => document.querySelector('#sim-preview img')?.src !== first", arg=first)
    page.screenshot(path="/tmp/simulate_overlay_browser.png", full_page=True)
    page.locator("#sim-overlay input").click()
    page.get_by_role("option", name="hair").click()
    page.locator("#sim-message").get_by_text("hair").wait_for(timeout=60_000)


def test_lens_falloff_darkens_the_previews_corners(page):
    """The "Skin & scope" section's lens fall-off: set to 1, the preview redraws with darker corners."""
    import base64
    import io
    import os

    import numpy as np
    from PIL import Image

    def pixels(src):
        data = base64.b64decode(src.split(",", 1)[1]) if src.startswith("data:") else page.request.get(src).body()
        return np.asarray(Image.open(io.BytesIO(data)).convert("L"), float)

    page.get_by_role("tab", name="Simulate").click()
    preview = page.locator("#sim-preview img")
    preview.wait_for()
    page.wait_for_function("() => document.querySelector('#sim-preview img')?.src")
    first = preview.get_attribute("src")
    page.get_by_role("button", name="Skin & scope").click()
    number = page.locator("#sim-lens_falloff input[type=number]")
    number.fill("1")
    number.press("Tab")
    page.wait_for_function("first => { const img = document.querySelector('#sim-preview img');"
                           " return img && img.src && img.src !== first; }", arg=first, timeout=60_000)
    path = os.path.join(os.environ.get("SIMSTUDIO_SCREENSHOT_DIR") or "/tmp", "simulate_lens_falloff.png")
    number.scroll_into_view_if_needed()
    page.screenshot(path=path, full_page=False)
    print(f"screenshot: {path}")
    before, after = pixels(first), pixels(preview.get_attribute("src"))
    assert after[:6, :6].mean() < before[:6, :6].mean() - 5  # the grid's first tile's corner

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


def _pixels(page, src):
    """The preview's image (a data URL or a file the server serves) as grey levels."""
    import base64
    import io

    import numpy as np
    from PIL import Image

    data = base64.b64decode(src.split(",", 1)[1]) if src.startswith("data:") else page.request.get(src).body()
    return np.asarray(Image.open(io.BytesIO(data)).convert("L"), float)


def _set_and_redraw(page, name, value, section=None):
    """Set one parameter's number box and wait for the preview to redraw; returns (before, after) sources."""
    page.get_by_role("tab", name="Simulate").click()
    preview = page.locator("#sim-preview img")
    preview.wait_for()
    page.wait_for_function("() => document.querySelector('#sim-preview img')?.src")
    first = preview.get_attribute("src")
    if section:
        page.get_by_role("button", name=section).click()
    number = page.locator(f"#sim-{name} input[type=number]")
    number.fill(value)
    number.press("Tab")
    page.wait_for_function("first => { const img = document.querySelector('#sim-preview img');"
                           " return img && img.src && img.src !== first; }", arg=first, timeout=60_000)
    number.scroll_into_view_if_needed()
    return first, preview.get_attribute("src")


def _screenshot(page, name):
    """The control just set, and the preview it redrew."""
    import os

    path = os.path.join(os.environ.get("SIMSTUDIO_SCREENSHOT_DIR") or "/tmp", name)
    page.screenshot(path=path, full_page=False)
    page.locator("#sim-preview").screenshot(path=path.replace(".png", "-preview.png"))
    print(f"screenshot: {path}")


def test_lens_falloff_darkens_the_previews_corners(page):
    """The "Skin & scope" section's lens fall-off: set to 1, the preview redraws with darker corners."""
    first, now = _set_and_redraw(page, "lens_falloff", "1", section="Skin & scope")
    _screenshot(page, "simulate_lens_falloff.png")
    before, after = _pixels(page, first), _pixels(page, now)
    assert after[:6, :6].mean() < before[:6, :6].mean() - 5  # the grid's first tile's corner


def test_pigment_gaps_lighten_the_previews_lesions(page):
    """The "Colour" section's pigment gaps: set to 1, the lesions redraw lighter in places, the skin as it was."""
    first, now = _set_and_redraw(page, "pigment_gaps", "1")
    _screenshot(page, "simulate_pigment_gaps.png")
    before, after = _pixels(page, first), _pixels(page, now)
    lesion = before < before.mean() - 15  # the default nevi's dark pixels
    assert (after - before)[lesion].mean() > 3
    assert abs((after - before)[:6, :6].mean()) < 1  # a corner of skin

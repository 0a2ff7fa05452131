"""Gap tab's shortcut audit in a real browser: audit a tiny folder whose label is a colour cast and
see the verdict say so."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
from audit_data import tint_only_set, write_folder


@pytest.mark.browser
def test_audit_a_tiny_cast_only_set_in_the_gap_tab(page, tmp_path):
    folder = write_folder(tmp_path / "cast-set", *tint_only_set(10, size=64, seed=2))
    page.get_by_role("tab", name="Gap").click()
    page.locator("#audit-dataset").scroll_into_view_if_needed()
    box = page.locator("#audit-dataset input")
    box.fill(str(folder))
    box.press("Enter")
    page.locator("#audit-start").click()
    verdict = page.locator("#audit-verdict")
    # Generous: on 2 shared cores the job waits behind others and measures 20 images.
    verdict.get_by_text("acquisition alone predicts the label with AUC").wait_for(timeout=120_000)
    assert "will learn the camera" in verdict.inner_text()
    page.locator("#audit-status").get_by_text("finished").wait_for()
    shots = os.environ.get("SIMSTUDIO_SCREENSHOTS")   # to look at the page by eye
    if shots:
        page.locator("#audit-verdict").scroll_into_view_if_needed()
        page.screenshot(path=str(Path(shots) / "audit-section.png"))

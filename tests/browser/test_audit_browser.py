"""Gap tab's shortcut audit in a real browser: audit a tiny folder whose label is a colour cast and
see the verdict say so."""

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "eval"))
from audit_data import tint_only_set, write_folder


def _choose_dataset(page, folder):
    """Open the Gap tab and type `folder` as the dataset to audit."""
    page.get_by_role("tab", name="Gap").click()
    page.locator("#audit-dataset").scroll_into_view_if_needed()
    box = page.locator("#audit-dataset input")
    box.fill(str(folder))
    box.press("Enter")


@pytest.mark.browser
def test_audit_a_tiny_cast_only_set_in_the_gap_tab(page, tmp_path):
    folder = write_folder(tmp_path / "cast-set", *tint_only_set(10, size=64, seed=2))
    _choose_dataset(page, folder)
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


@pytest.mark.browser
def test_a_classifier_audit_shows_what_moves_it_and_its_worst_errors(page, tmp_path):
    """A size-reading classifier audited on a set where only the cast carries the label: the page lists
    what its answers go with within each class and shows the images it got most wrong."""
    from audit_data import size_only_set
    from test_classifier_audit import train_tiny

    from simstudio.runs import runs_root

    model = train_tiny(*size_only_set(48, size=64, seed=1), runs_root())
    folder = write_folder(tmp_path / "cast-set-24", *tint_only_set(24, size=64, seed=2))
    _choose_dataset(page, folder)
    classifiers = page.get_by_label("Classifiers to audit (optional)")
    classifiers.fill(model)
    classifiers.press("Enter")
    page.get_by_label("Classifiers audited on part ('' = all)").click()
    page.get_by_role("option", name="", exact=True).click()
    edits = page.get_by_role("group").filter(has_text="Edits tint add_vignette")
    for name in ("add_vignette", "remove_vignette", "hair", "ruler", "sharpness", "colour_constancy"):
        edits.locator(f"input[name={name}]").uncheck()
    page.locator("#audit-start").click()
    page.locator("#audit-status").get_by_text("finished").wait_for(timeout=180_000)
    assert "goes with how the photo was taken" in page.locator("#audit-verdict").inner_text() or \
        "no acquisition feature goes with" in page.locator("#audit-verdict").inner_text()
    response = page.locator("#audit-response")
    response.get_by_text("Spearman rho", exact=True).wait_for()
    assert "benign" in response.inner_text() and "malignant" in response.inner_text()
    gallery = page.locator("#audit-errors img")
    gallery.first.wait_for()
    assert gallery.count() >= 1
    # a fresh page opens the finished audit again from the list of past ones
    run_id = page.locator("#audit-status code").first.inner_text()
    page.reload()
    page.get_by_role("tab", name="Gap").click()
    past = page.get_by_label("…or open a past audit")
    past.scroll_into_view_if_needed()
    past.click()
    page.get_by_role("option", name=run_id).click()
    page.locator("#audit-status").get_by_text("finished").wait_for(timeout=30_000)
    page.locator("#audit-errors img").first.wait_for()

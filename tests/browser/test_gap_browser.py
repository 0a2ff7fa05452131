"""Reopen a past comparison from the Gap tab in a real browser: the list offers comparisons finished after
the page was built, nothing shows as open before one is picked, and picking one draws its headline with
the texture-by-scale table, the lesion-or-photo table and which statistics give the synthetic set away."""

import pytest

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser


def _finished_comparison(tmp_path) -> str:
    """A gap run between two small simulator exports (two seeds of the same preset; 20 per class, the least
    the statistics search takes)."""
    from simstudio.eval.domain_gap import GapConfig, run_gap
    from simstudio.jobs import run_in_foreground
    from simstudio.sim.export import ExportConfig, export_dataset

    for name, seed in (("real", 3), ("syn", 4)):
        export_dataset(ExportConfig(out=str(tmp_path / name), per_class=20, size=64, workers=1, seed=seed))
    run, _ = run_in_foreground("gap", run_gap, GapConfig(real=str(tmp_path / "real"),
                                                         synthetic=str(tmp_path / "syn"), size=64,
                                                         per_class=20, neighbours=2), echo=False)
    assert run.status == "finished", run.error
    return run.id


def test_a_past_comparison_opens_with_its_texture_table(page, tmp_path):
    page.get_by_role("tab", name="Gap").click()
    past = page.get_by_label("…or open a past comparison")
    expect(past).to_have_value("")  # nothing looks open before a run is picked
    run_id = _finished_comparison(tmp_path)  # after the page was built

    past.click()
    page.get_by_role("option", name=run_id).click()
    expect(page.get_by_role("heading", name="Texture by scale")).to_be_visible(timeout=30_000)
    expect(page.get_by_text(run_id, exact=True).first).to_be_visible()  # the status names the run shown
    expect(page.get_by_role("cell", name="lesion σ 0–0.7 px")).to_be_visible()
    expect(page.get_by_role("heading", name="Which statistics give it away")).to_be_visible()
    # lesion or photo: the same test on each group of statistics, one row each
    groups = page.get_by_role("heading", name="Lesion or photo?")
    expect(groups).to_be_visible()
    expect(page.get_by_role("cell", name="acquisition", exact=True)).to_be_visible()
    import os

    groups.scroll_into_view_if_needed()
    shot = os.path.join(os.environ.get("SIMSTUDIO_SCREENSHOT_DIR") or str(tmp_path), "gap_groups.png")
    page.screenshot(path=shot)
    print(f"screenshot: {shot}")
    expect(page.get_by_role("cell", name="labels shuffled").first).to_be_visible()
    # what gives the synthetic set away: its two telling images, then the real set's two, with their scores
    telling = page.locator("#gap-telling")
    telling.scroll_into_view_if_needed()
    expect(telling.locator("button.thumbnail-item")).to_have_count(4, timeout=30_000)
    path = os.path.join(os.environ.get("SIMSTUDIO_SCREENSHOT_DIR") or str(tmp_path), "gap_telling.png")
    page.screenshot(path=path)
    print(f"screenshot: {path}")

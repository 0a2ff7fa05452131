"""The data-efficiency curve in a real browser: a tiny data_efficiency run, its HTML report opened offline
(the curve plot and the worth-N lines are there), and the same run reopened in the Compare tab (the curve
in the sweep plot, worth N in the notes)."""

import sys
from pathlib import Path

import pytest

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))
from experiment_data import SIZE, write_folder  # noqa: E402

SHOTS = Path("/tmp")


@pytest.fixture(scope="module")
def curve_run(browser_home, tmp_path_factory):
    from simstudio.experiments.config import experiment_from_dict, load_preset
    from simstudio.experiments.runner import run_experiment_here

    base = tmp_path_factory.mktemp("dataeff-browser")
    real = write_folder(base / "real", 24, seed=1, prefix="real")
    d = load_preset("data_efficiency").to_dict()
    d["curve_arms"] = [t for t in d["curve_arms"] if t["composition"] in ("real", "augment")]
    d.update(real=str(real), split="", split_spec="70/30", repeats=1, image_size=SIZE, real_sizes=[4, 0],
             train_budget=48, n_boot=200, name="data efficiency browser check",
             model={**d["model"], "batch_size": 16, "lr": 0.02, "device": "cpu"})
    run, _ = run_experiment_here(experiment_from_dict(d), root=browser_home)
    assert run.status == "finished", run.error
    return run


def test_the_report_shows_the_curve_and_worth_n(browser, curve_run):
    context = browser.new_context(offline=True, viewport={"width": 1300, "height": 1000})
    pg = context.new_page()
    pg.goto((curve_run.path / "report.html").as_uri())
    heading = pg.get_by_role("heading", name="How many real images is the synthetic data worth?")
    heading.wait_for()
    plot = pg.locator(".fig .js-plotly-plot").first  # the first figure of the report is the curve
    plot.locator(".main-svg").first.wait_for(timeout=20_000)
    assert "Data efficiency" in plot.inner_text()
    ticks = plot.locator("g[class$='tick'] text").all_text_contents()  # x ticks at the sizes (log axis)
    assert {"4", "17"} <= set(ticks) and "real training images per class" in plot.inner_text()
    assert plot.locator("path.js-fill").count() >= 2  # the 95 % bands
    worth = pg.locator("#worth-n li")
    assert worth.count() == 2 and "real + classical augmentation at 4 real/class ≈" in worth.first.inner_text()
    assert pg.locator("table#curve-test tbody tr").count() == 4
    heading.scroll_into_view_if_needed()
    pg.screenshot(path=str(SHOTS / "data_efficiency_report.png"))
    context.close()


def test_the_compare_tab_shows_the_curve_of_a_reopened_run(page, curve_run):
    page.get_by_role("tab", name="Compare").click()
    past = page.get_by_label("Past experiments")
    past.fill(curve_run.id)
    past.press("Enter")
    page.get_by_role("button", name="Open").click()
    sweep = page.locator("#compare-sweep")
    expect(sweep).to_contain_text("Data efficiency", timeout=60_000)
    expect(page.locator("#compare-notes")).to_contain_text("Worth N", timeout=30_000)
    sweep.scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "data_efficiency_compare.png"), full_page=True)

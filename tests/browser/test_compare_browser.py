"""Compare tab and experiment report in a real browser: run a tiny two-arm experiment from the tab and
see its results table; open the self-contained HTML report offline and see the table and figures."""

import re

import numpy as np
import pytest
from PIL import Image

expect = pytest.importorskip("playwright.sync_api").expect
pytestmark = pytest.mark.browser

SIZE = 16


def _folder(root, n, seed, prefix):
    """Two classes a small CNN tells apart in two epochs (light vs dark disc on noisy skin)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = (yy - 7.5) ** 2 + (xx - 7.5) ** 2 < 25
    for c, cls in enumerate(("benign", "malignant")):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.normal(170, 25, size=(SIZE, SIZE, 3))
            img[disc] = (120 if c == 0 else 40) + rng.normal(0, 15, size=(int(disc.sum()), 3))
            Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(root / cls / f"{prefix}{i}.png")
    return root


def test_run_a_tiny_two_arm_experiment_from_the_compare_tab(page, tmp_path, monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    real = _folder(tmp_path / "real", 30, 1, "r")
    sim = _folder(tmp_path / "sim", 30, 2, "s")
    page.get_by_role("tab", name="Compare").click()
    page.get_by_label("Real dataset", exact=False).first.fill(str(real))
    page.get_by_label("Synthetic folders", exact=False).fill(f"simulated={sim}")
    for label, value in (("Repeats (seeds)", "1"), ("Epochs", "2"), ("Images per arm", "0"),
                         ("Image size (px)", str(SIZE)), ("Bootstrap draws", "200")):
        page.get_by_label(label, exact=False).first.fill(value)
    page.locator("#compare-run").click()
    page.locator("#compare-message").get_by_text("Started").wait_for(timeout=30_000)
    status = page.locator("#compare-status")
    # Wait on what the page shows once both trainings are in, not on the first "finished" it prints.
    expect(status).to_contain_text("2 of 2 trainings done", timeout=180_000)
    results = page.locator("#compare-results")
    # the data frame keeps some cells in hidden wrappers: expect() reads textContent, visible or not
    expect(results).to_contain_text(re.compile("no significant difference|AUC, 95% CI"), timeout=60_000)
    text = results.text_content()
    assert "simulated only" in text and "real (85%)" in text and "baseline" in text
    page.screenshot(path="/tmp/compare_tab.png", full_page=True)


def test_the_html_report_opens_offline_and_shows_the_table(browser, tmp_path):
    from simstudio.experiments.runner import run_experiment_here

    real = _folder(tmp_path / "real", 20, 3, "r")
    sim = _folder(tmp_path / "sim", 20, 4, "s")
    cfg = {
        "name": "report check", "real": str(real), "split_spec": "70/30", "repeats": 1, "image_size": SIZE,
        "n_boot": 200, "synthetic": [{"name": "sim", "path": str(sim)}],
        "model": {"model": "smallcnn", "epochs": 1, "batch_size": 16, "device": "cpu"},
        "arms": [{"name": "real only"}, {"name": "synthetic only", "composition": "synthetic"}],
    }
    run, _ = run_experiment_here(cfg, root=tmp_path / "runs")
    assert run.status == "finished", run.error
    context = browser.new_context(offline=True)  # the report must not need the network
    pg = context.new_page()
    pg.goto((run.path / "report.html").as_uri())
    table = pg.locator("table#results")
    table.wait_for()
    rows = table.locator("tbody tr")
    assert rows.count() == 2
    assert "synthetic only" in rows.nth(1).inner_text()
    pg.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=20_000)
    assert pg.locator(".js-plotly-plot").count() >= 3
    context.close()


def test_run_a_tiny_robustness_experiment_with_the_flipped_test(page, tmp_path, monkeypatch, run_store):
    from simstudio.data.importer import ImportConfig, import_dataset
    from simstudio.jobs import run_in_foreground

    monkeypatch.setenv("SIMSTUDIO_DATA_ROOTS", str(tmp_path))
    real = _folder(tmp_path / "real", 24, 5, "r")
    sim = _folder(tmp_path / "sim", 24, 6, "s")
    imported, _ = run_in_foreground("dataset", import_dataset,
                                    ImportConfig(source=str(real), split="60/20/20").validated(), echo=False,
                                    name="robustness check")
    page.get_by_role("tab", name="Compare").click()
    preset = page.get_by_label("Preset", exact=True)
    preset.click()
    preset.fill("robustness")
    preset.press("Enter")
    flipped = page.locator("#compare-flipped input[type=checkbox]")
    expect(flipped).to_be_checked(timeout=30_000)  # the preset turns the flipped test on
    page.get_by_label("Real dataset", exact=False).first.fill(imported.id)
    page.get_by_label("Synthetic folders", exact=False).fill(f"fitted={sim}")
    for label, value in (("Repeats (seeds)", "1"), ("Epochs", "1"), ("Images per arm", "0"),
                         ("Image size (px)", str(SIZE)), ("Bootstrap draws", "200")):
        page.get_by_label(label, exact=False).first.fill(value)
    page.locator("#compare-run").click()
    page.locator("#compare-message").get_by_text("Started").wait_for(timeout=30_000)
    expect(page.locator("#compare-message")).to_contain_text("8 arms")
    status = page.locator("#compare-status")
    expect(status).to_contain_text("8 of 8 trainings done", timeout=420_000)
    results = page.locator("#compare-results")
    expect(results).to_contain_text("flipped-test ROC-AUC", timeout=60_000)
    text = results.text_content()
    for arm in ("real + acquisition randomisation", "simulated only", "pretrain -> fine-tune, L2-SP",
                "pretrain -> mixed fine-tune (50 % simulated)", "pretrain -> fine-tune, 2 blocks frozen"):
        assert arm in text
    page.screenshot(path="/tmp/compare_robustness.png", full_page=True)

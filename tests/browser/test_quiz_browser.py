"""The Blind test tab in headless Chromium: answer a few images, reload, continue where the reader
stopped, see the results; the page never holds a file name, a folder or a source name."""

import re

import cv2
import numpy as np
import pytest

from simstudio.eval import reader_study as rs
from simstudio.jobs import run_in_foreground
from tests.browser.conftest import wait_until

pytestmark = pytest.mark.browser
SECRETS = ("realsecretset", "synthsecretset", "hiddenname")


def make_set(root, seed):
    rng = np.random.default_rng(seed)
    for c in ("benign", "malignant"):
        (root / c).mkdir(parents=True)
        for i in range(3):
            img = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
            cv2.imwrite(str(root / c / f"hiddenname_{c}_{i}.png"), img)
    return root


def pick_session(page, run_id):
    page.get_by_role("tab", name="Blind test").click()
    page.locator("#quiz-session input").click()
    page.get_by_role("option", name=re.compile(run_id)).click()


def progress(page):
    return page.locator("#quiz-progress").inner_text()


def test_answer_reload_continue_and_see_the_results(page, tmp_path):
    real = make_set(tmp_path / "realsecretset", 0)
    synth = make_set(tmp_path / "synthsecretset", 1)
    config = rs.QuizConfig(real=str(real), synthetic=[str(synth)], n_images=6, size=48, seed=2)
    run, _ = run_in_foreground(rs.RUN_KIND, rs.create_quiz, config, echo=False, name="blind test · 6 images")
    page.reload()
    pick_session(page, run.id)
    wait_until(lambda: "Image 1 of 6" in progress(page))
    page.locator("#quiz-image img").wait_for()
    html = page.content()
    assert not any(s in html for s in SECRETS), "the page names a source or a file"
    assert "66.5 %" in html and "Lin et al. 2026" in html

    page.locator("#quiz-answer-real").click()
    wait_until(lambda: "Image 2 of 6" in progress(page))
    page.locator("#quiz-class").get_by_text("malignant", exact=True).click()
    page.locator("#quiz-answer-simulated").click()
    wait_until(lambda: "Image 3 of 6" in progress(page))
    assert rs.answers(run)[1]["answer"] == "simulated" and rs.answers(run)[1]["class"] == "malignant"
    assert not any(s in page.content() for s in SECRETS)
    page.screenshot(path=str(tmp_path / "quiz_tab.png"), full_page=True)

    page.reload()  # the reader closed the page; reopening the session continues at image 3
    pick_session(page, run.id)
    wait_until(lambda: "Image 3 of 6" in progress(page))
    for k in range(3, 7):
        page.locator("#quiz-answer-real").click()
        expected = f"Image {k + 1} of 6" if k < 6 else "All 6 images answered"
        wait_until(lambda e=expected: e in progress(page))
    report = page.locator("#quiz-report")
    wait_until(lambda: "6 of 6" in report.inner_text(), timeout=30)
    text = report.inner_text()
    k = sum(a["answer"] == it["truth"] for it, a in zip(rs.quiz_items(run), [rs.answers(run)[i] for i in range(6)],
                                                         strict=True))
    assert f"{k / 6 * 100:.1f} %" in text and "p =" in text
    assert page.locator("#quiz-table").get_by_text("called real").count() >= 1
    page.locator("#quiz-csv a, #quiz-csv .file-preview").first.wait_for()
    page.screenshot(path=str(tmp_path / "quiz_results.png"), full_page=True)

import pytest

from simstudio.jobs import run_in_foreground

pytestmark = pytest.mark.browser


def test_page_renders_and_jobs_tab_lists_a_finished_run(page):
    run, _ = run_in_foreground("count", lambda config, ctx: {"ok": True}, {"n": 1}, echo=False)
    page.get_by_role("tab", name="Jobs").click()
    # The table refreshes on a timer; the run written above must show up without a reload.
    row = page.get_by_text(run.id).filter(visible=True).first
    row.wait_for(timeout=20_000)
    assert page.get_by_text("finished").filter(visible=True).count() >= 1
    page.screenshot(path="/tmp/jobs_tab.png")

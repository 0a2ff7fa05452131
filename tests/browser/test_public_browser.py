"""Public-Space mode in headless Chromium with two browser contexts (two visitors): one visitor's export
is listed, cancellable and downloadable only in their own session; typed server paths and an over-quota
export are refused on the page with a message naming the limit."""

import os
import re

import pytest

from simstudio import public
from simstudio.runs import open_run
from tests.browser.conftest import served_app, wait_until

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def public_url(browser_home):
    saved = {k: os.environ.get(k) for k in ("SIMSTUDIO_PUBLIC", "SIMSTUDIO_HOME")}
    os.environ["SIMSTUDIO_PUBLIC"] = "1"
    os.environ["SIMSTUDIO_HOME"] = str(browser_home)
    with served_app() as url:
        yield url
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(autouse=True)
def public_env(monkeypatch):
    monkeypatch.setenv("SIMSTUDIO_PUBLIC", "1")


def visitor(browser, url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    page.wait_for_selector("#public-note")
    return context, page


def visible(page, label):
    return page.get_by_label(label, exact=True).filter(visible=True).first


def export(page, per_class, size, folder=""):
    page.get_by_role("tab", name="Simulate").click()
    visible(page, "Images per class").fill(str(per_class))
    visible(page, "Size (px)").fill(str(size))
    visible(page, "Output folder (optional)").fill(folder)
    page.get_by_role("button", name="Export", exact=True).click()


def jobs_tab(page, run_id, button):
    page.get_by_role("tab", name="Jobs").click()
    box = page.get_by_placeholder("click a row, or paste a run id")
    box.fill(run_id)
    if button == "details":
        box.press("Enter")
    else:
        page.get_by_role("button", name="Cancel job").click()


def test_two_visitors_see_cancel_and_download_only_their_own_runs(browser, public_url):
    ctx_a, a = visitor(browser, public_url)
    ctx_b, b = visitor(browser, public_url)
    try:
        # a: a typed server folder and an export over the quota are refused, each with its message
        export(a, 2, 32, folder="/etc")
        status = a.locator("#sim-export-status")
        wait_until(lambda: "server paths are not accepted" in status.inner_text())
        export(a, 1500, 64)
        toast = a.get_by_text(re.compile(r"images per export \(SIMSTUDIO_PUBLIC_MAX_EXPORT_IMAGES\)"))
        toast.first.wait_for()
        # a: a long export (at the quota), still running while b tries to stop it
        export(a, 1000, 256)
        wait_until(lambda: "Export started" in status.inner_text() or "Exporting" in status.inner_text())
        run_id = re.search(r"simulate-[0-9-]+-[0-9a-f]{6}", status.inner_text()).group(0)
        with public.acting_as(None):
            run = open_run(run_id)
        assert run.owner.startswith("session-")

        # b sees no trace of it, cannot cancel it, cannot read its details or its files
        b.get_by_role("tab", name="Jobs").click()
        b.get_by_text("No job is running.").wait_for()
        assert run_id not in b.content()
        jobs_tab(b, run_id, "cancel")
        b.get_by_text("nothing to cancel").first.wait_for()
        with public.acting_as(None):
            assert open_run(run_id).status in ("queued", "running")
        jobs_tab(b, run_id, "details")
        wait_until(lambda: "no run" in b.locator(".cm-content").first.inner_text())
        for name in ("config.json", "meta.json"):
            reply = b.request.get(f"{public_url}/gradio_api/file={run.path / name}")
            assert reply.status in (403, 404), f"{name}: {reply.status}"

        # a lists it, sees its details without server paths, and can cancel it
        a.get_by_role("tab", name="Jobs").click()
        a.get_by_text(run_id).filter(visible=True).first.wait_for()
        jobs_tab(a, run_id, "details")
        details = a.locator(".cm-content").first
        wait_until(lambda: run_id in details.inner_text())
        assert str(run.path.parent.resolve()) not in a.content()
        jobs_tab(a, run_id, "cancel")
        a.get_by_text(f"Cancelling {run_id}").first.wait_for()
        with public.acting_as(None):
            wait_until(lambda: open_run(run_id).status == "cancelled", timeout=60)
        a.screenshot(path="/tmp/public_jobs_a.png", full_page=True)
        b.screenshot(path="/tmp/public_jobs_b.png", full_page=True)
    finally:
        ctx_a.close()
        ctx_b.close()

"""Browser tests: the real app served on a free localhost port, driven by headless Debian Chromium."""

import contextlib
import os
import shutil
import socket
import time

import pytest

CHROMIUM = os.environ.get("SIMSTUDIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def browser_home(tmp_path_factory):
    return tmp_path_factory.mktemp("browser-runs")


@contextlib.contextmanager
def served_app():
    """The app built from the current environment, served on a free localhost port: its URL."""
    from simstudio.ui.app import build_app

    demo = build_app()
    demo.queue()
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, share=False)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        demo.close()


@pytest.fixture(scope="session")
def app_url(browser_home):
    """Serve the app once per session; its run store is the session's own folder."""
    os.environ["SIMSTUDIO_HOME"] = str(browser_home)
    with served_app() as url:
        yield url


@pytest.fixture(autouse=True)
def run_store(browser_home, monkeypatch):
    # Browser tests share the served app's store instead of a per-test one.
    monkeypatch.setenv("SIMSTUDIO_HOME", str(browser_home))
    return browser_home


@pytest.fixture(scope="session")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip("Chromium not installed (apt-get install chromium chromium-driver)")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    pg.goto(app_url)
    pg.wait_for_selector("text=SimStudio")
    yield pg
    context.close()


def wait_until(fn, timeout=30.0, interval=0.1):
    """Poll `fn` until truthy (what the page shows), never a fixed sleep."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(interval)
    raise AssertionError("condition not met within timeout")



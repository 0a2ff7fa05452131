import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ.setdefault("SIMSTUDIO_DEVICE", "cpu")

import pytest


@pytest.fixture(autouse=True)
def run_store(tmp_path, monkeypatch):
    """Each test gets its own run store, so runs never leak between tests or into ./runs."""
    home = tmp_path / "runs"
    monkeypatch.setenv("SIMSTUDIO_HOME", str(home))
    return home

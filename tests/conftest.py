import os

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
# Tests use tiny arrays: one thread each for OpenMP/BLAS/torch avoids oversubscribing a 2-core runner
# (sklearn's gradient boosting ran 10x slower with spinning OpenMP threads beside another process).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("SIMSTUDIO_DEVICE", "cpu")

import pytest


@pytest.fixture(autouse=True)
def run_store(tmp_path, monkeypatch):
    """Each test gets its own run store, so runs never leak between tests or into ./runs."""
    home = tmp_path / "runs"
    monkeypatch.setenv("SIMSTUDIO_HOME", str(home))
    return home


@pytest.fixture
def one_torch_thread():
    """Tiny nets train faster on one torch thread than on two contended ones (a module opts in)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

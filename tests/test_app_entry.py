"""app.py (the Spaces entry point) is re-run as `__mp_main__` by every export and caching worker the
app starts: importing it must not pull in the UI stack, or each worker pays seconds and memory for it."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_importing_app_py_as_a_worker_does_not_load_gradio_or_torch():
    code = ("import runpy, sys; runpy.run_path('app.py', run_name='__mp_main__'); "
            "print(sorted(m for m in ('gradio', 'torch', 'simstudio.ui.app') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

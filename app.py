"""Hugging Face Spaces entry point: builds the SimStudio UI and launches it."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

if __name__ == "__main__":
    # Imported here, not above: worker processes (export, data caching) re-run this file as `__mp_main__`,
    # and importing the UI (Gradio, torch) there cost each worker ~4 s and its memory before any work.
    from simstudio.ui.app import launch

    launch()

"""Hugging Face Spaces entry point: builds the SimStudio UI and launches it."""

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

from simstudio.ui.app import launch

if __name__ == "__main__":
    launch()

"""SimStudio: synthetic training images, and honest statistics on whether they help a classifier."""

import os

# The app and library make no outside calls: Gradio's analytics stay off wherever simstudio is imported.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

__version__ = "0.1.0"

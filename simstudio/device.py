"""The compute device, chosen once: cuda, then mps, then cpu (override with SIMSTUDIO_DEVICE)."""

from __future__ import annotations

import functools
import os


@functools.cache
def default_device() -> str:
    forced = os.environ.get("SIMSTUDIO_DEVICE")
    if forced:
        return forced
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"

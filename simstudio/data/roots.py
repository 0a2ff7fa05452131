"""Which server folders the app may read: `SIMSTUDIO_DATA_ROOTS` (paths joined by os.pathsep), by default
the working folder. A public Space must not read the server's files just because someone typed a path."""

from __future__ import annotations

import os
from pathlib import Path


def allowed_roots() -> list[Path]:
    raw = os.environ.get("SIMSTUDIO_DATA_ROOTS", "")
    roots = [Path(p).expanduser().resolve() for p in raw.split(os.pathsep) if p.strip()]
    return roots or [Path.cwd().resolve()]


def check_allowed(path: str | os.PathLike) -> Path:
    """The resolved path when it lies under an allowed root (links resolved first), else PermissionError.
    In public mode every path is refused (see simstudio.public)."""
    text = str(path).strip()
    if not text:
        raise ValueError("no folder or file given")
    from simstudio.public import check_typed_path

    own_run = check_typed_path(text)  # public mode: only the id of one of the session's runs, never a path
    if own_run is not None:
        return own_run
    p = Path(text).expanduser()
    resolved = p.resolve() if p.is_absolute() else (Path.cwd() / p).resolve()
    for root in allowed_roots():
        if resolved == root or root in resolved.parents:
            return resolved
    shown = ", ".join(str(r) for r in allowed_roots())
    raise PermissionError(f"{text} is outside the folders this app may read ({shown}); "
                          f"set SIMSTUDIO_DATA_ROOTS to allow more")

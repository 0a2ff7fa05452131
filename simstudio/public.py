"""Public-Space mode: the one place that decides what a visitor of a public app may see and do.

On when `SPACE_ID` is set (Hugging Face Spaces sets it) or `SIMSTUDIO_PUBLIC=1`; off, nothing here changes
anything. When on:
- every run a browser session creates carries its session id as `owner` in meta.json, and the run store
  (`list_runs`, `open_run`) and the job runner (`cancel`) show a session only its own runs;
- no server path is accepted (`check_typed_path`): uploads only, or the id of one of the session's runs;
- each job is checked against the quotas below before it is queued (`check_submission`);
- runs of sessions not seen for `session_ttl_h` hours are removed (`sweep_ended_sessions`);
- text shown to a visitor has server paths taken out (`redact`).

Who is asking comes from `acting_as(owner)` (tests, job threads) or else from the Gradio request being
served (its session hash); with neither, in public mode, nobody: the app's build step sees no run at all.
This module imports no Gradio (the library and CLI use it); simstudio/ui/public_mode.py wires it to the app.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NOBODY = "-nobody-"  # the viewer while the app is built: owns nothing, sees nothing
_UNSET = object()
_OWNER: ContextVar[Any] = ContextVar("simstudio_owner", default=_UNSET)


class PublicRefusal(PermissionError):
    """Refused in public mode (a quota or a server path); the message names the limit."""


@dataclass(frozen=True)
class Limit:
    name: str
    env: str
    default: float
    what: str  # how a refusal names it

    def value(self) -> float:
        raw = os.environ.get(self.env, "").strip()
        if not raw:
            return self.default
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{self.env} = {raw!r}: expected a number") from None


# Every public-mode default in one place (README "Public-Space mode" lists them). Sized for a free CPU
# Space: an export of 2,000 images at 128 px takes about half a minute there, 20 epochs of smallcnn at 64 px
# a few minutes; nothing here comes from a paper.
LIMITS = {
    "export_images": Limit("export_images", "SIMSTUDIO_PUBLIC_MAX_EXPORT_IMAGES", 2000, "images per export"),
    "epochs": Limit("epochs", "SIMSTUDIO_PUBLIC_MAX_EPOCHS", 20, "epochs"),
    "image_size": Limit("image_size", "SIMSTUDIO_PUBLIC_MAX_IMAGE_SIZE", 256, "image size (px)"),
    "jobs": Limit("jobs", "SIMSTUDIO_PUBLIC_MAX_JOBS", 2, "concurrent jobs per session"),
    "disk_mb": Limit("disk_mb", "SIMSTUDIO_PUBLIC_MAX_DISK_MB", 500, "disk per session (MB)"),
    "session_ttl_h": Limit("session_ttl_h", "SIMSTUDIO_PUBLIC_SESSION_TTL_H", 24,
                           "hours a session's runs are kept after it was last seen"),
}
EPOCH_KEYS = ("epochs", "pretrain_epochs")
SIZE_KEYS = ("size", "image_size")
PATHS_REFUSED = ("server paths are not accepted on this public Space: upload your files instead "
                 "(or type the id of one of your own runs)")


def is_public() -> bool:
    return bool(os.environ.get("SPACE_ID", "").strip()) or \
        os.environ.get("SIMSTUDIO_PUBLIC", "").strip().lower() in ("1", "true", "yes", "on")


def limit(name: str) -> float:
    return LIMITS[name].value()


# -- who is asking ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def acting_as(owner: str | None) -> Iterator[None]:
    """Run the block as `owner` (a session id; None = unrestricted, for the app's own housekeeping)."""
    token = _OWNER.set(owner)
    try:
        yield
    finally:
        _OWNER.reset(token)


def viewer() -> str | None:
    """The session whose runs are visible now; None = every run (public mode off, or housekeeping)."""
    if not is_public():
        return None
    owner = _OWNER.get()
    if owner is not _UNSET:
        return owner
    session = _gradio_session()
    return session or NOBODY


def _gradio_session() -> str | None:
    context = sys.modules.get("gradio.context")  # never import Gradio from the library
    if context is None:
        return None
    request = context.LocalContext.request.get(None)
    session = getattr(request, "session_hash", None) if request is not None else None
    return f"session-{session}" if session else None


def owner_of(run) -> str:
    return str(run.meta.get("owner", ""))


def visible(run) -> bool:
    v = viewer()
    return v is None or owner_of(run) == v


def stamp(meta: dict) -> dict:
    """meta.json of a new run, with its owner when a public session creates it."""
    v = viewer()
    if v is not None:
        meta["owner"] = v
    return meta


# -- server paths ----------------------------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[1]


def shipped_preset(name: str) -> Path | None:
    """assets/presets/<name>.json, read-only and shipped with the app, for a bare name."""
    p = REPO / "assets" / "presets" / f"{name}.json"
    return p if re.fullmatch(r"[A-Za-z0-9_.-]+", name or "") and p.is_file() else None


def shipped_model(name: str) -> bool:
    """A bare name of a model shipped in models/ (`$SIMSTUDIO_MODELS`): `<name>.pt` with its card."""
    base = Path(os.environ.get("SIMSTUDIO_MODELS") or REPO / "models").expanduser()
    return bool(re.fullmatch(r"[A-Za-z0-9_.-]+", name or "")) and (base / f"{name}.pt").is_file() and \
        (base / f"{name}.json").is_file()


def check_typed_path(text: str) -> Path | None:
    """In public mode, a typed reference is accepted only when it is the id of one of the viewer's runs
    (the folder it wrote, else the run's folder), a shipped preset (its file) or a shipped model (None:
    the name is used as it is); anything else is refused. Off: None (the caller's usual checks apply)."""
    if not is_public():
        return None
    from simstudio.runs import open_run

    ref = str(text or "").strip()
    if shipped_model(ref):
        return None
    preset = shipped_preset(ref)
    if preset is not None:
        return preset
    if ref and re.fullmatch(r"[A-Za-z0-9_-]+", ref):
        try:
            run = open_run(ref)
        except FileNotFoundError:
            run = None
        if run is not None:
            out = (run.result or {}).get("out")
            if out and Path(out).is_dir() and run.path.resolve() in Path(out).resolve().parents:
                return Path(out).resolve()
            return run.path.resolve()
    raise PublicRefusal(PATHS_REFUSED + (f"; got {_short(ref)!r}" if ref else ""))


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


# -- quotas ----------------------------------------------------------------------------------------------

def check_submission(kind: str, config: Any, runner=None) -> None:
    """Refuse a job over a public-mode quota, naming the limit; nothing when public mode is off or the
    caller is housekeeping."""
    owner = viewer()
    if owner is None:
        return
    from simstudio.runs import _as_jsonable

    data = _as_jsonable(config)
    for key, value in _numbers(data):
        if key in EPOCH_KEYS:
            _refuse_over("epochs", value, f"{key} = {value:g}")
        elif key in SIZE_KEYS:
            _refuse_over("image_size", value, f"{key} = {value:g} px")
    images = export_images(kind, data)
    if images is not None:
        _refuse_over("export_images", images, f"{images} images")
    if runner is not None:
        live = [j for j in runner.active() if owner_of(j.run) == owner]
        if len(live) >= limit("jobs"):
            _refuse(f"{len(live)} of your jobs are already queued or running, the limit of concurrent jobs "
                    f"per session is {limit('jobs'):g} ({LIMITS['jobs'].env}); wait for one or cancel it")
    used = session_disk_bytes(owner)
    if used >= limit("disk_mb") * 1e6:
        _refuse(f"your runs use {used / 1e6:.0f} MB, the limit of disk per session is {limit('disk_mb'):g} MB "
                f"({LIMITS['disk_mb'].env}); nothing more can be written this session")


def export_images(kind: str, data: Any) -> int | None:
    """Images a job would write: an export (per class × classes), a generate run, a blind test."""
    if not isinstance(data, dict):
        return None
    if kind == "simulate" and "per_class" in data:
        return int(data["per_class"]) * _export_classes(data)
    if kind == "generate" and "per_class" in data:
        return int(data["per_class"]) * max(1, len(data.get("classes") or []) or 2)
    if kind == "quiz" and "n_images" in data:
        return int(data["n_images"])
    return None


def _export_classes(data: dict) -> int:
    try:
        from simstudio.sim.export import ExportConfig, check_export

        fields = {k: data[k] for k in ("out", "per_class", "size", "preset", "seed", "workers", "task")
                  if k in data}
        return len(check_export(ExportConfig(**fields)).output_classes())
    except (ValueError, TypeError, OSError):
        return 3 if data.get("task") == "three_class" else 2


def _numbers(data: Any, key: str = "") -> Iterator[tuple[str, float]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from _numbers(v, str(k))
    elif isinstance(data, list):
        for v in data:
            yield from _numbers(v, key)
    elif isinstance(data, (int, float)) and not isinstance(data, bool) and key:
        yield key, float(data)


def _refuse_over(name: str, value: float, shown: str) -> None:
    lim = LIMITS[name]
    if value > lim.value():
        _refuse(f"{shown} is over the limit of {lim.value():g} {lim.what} ({lim.env})")


def _refuse(message: str) -> None:
    raise PublicRefusal(f"refused on this public Space: {message}")


def session_disk_bytes(owner: str) -> int:
    total = 0
    for run in _owned_runs(owner):
        for p in run.path.rglob("*"):
            with contextlib.suppress(OSError):
                if p.is_file():
                    total += p.stat().st_size
    return total


def _owned_runs(owner: str) -> list:
    from simstudio.runs import list_runs

    with acting_as(None):
        return [r for r in list_runs() if owner_of(r) == owner]


# -- sessions and their clean-up -------------------------------------------------------------------------

_SEEN: dict[str, float] = {}
_SEEN_LOCK = threading.Lock()
_LAST_SWEEP = [0.0]
TOUCH_EVERY_S = 60.0
SWEEP_EVERY_S = 600.0


def _sessions_dir() -> Path:
    from simstudio.runs import runs_root

    return runs_root() / ".sessions"


def touch(owner: str | None = None, now: float | None = None) -> None:
    """Record that a session is alive (at most once a minute on disk), and now and then sweep."""
    owner = owner if owner is not None else viewer()
    if not owner or owner == NOBODY:
        return
    live = now is None  # a given time (tests) records it but starts no sweep on the clock
    now = time.time() if now is None else now
    with _SEEN_LOCK:
        due = abs(now - _SEEN.get(owner, -1e18)) >= TOUCH_EVERY_S
        if due:
            _SEEN[owner] = now
        sweep = live and now - _LAST_SWEEP[0] >= SWEEP_EVERY_S
        if sweep:
            _LAST_SWEEP[0] = now
    if due:
        from simstudio.runs import atomic_write_json

        atomic_write_json(_sessions_dir() / f"{_safe(owner)}.json", {"owner": owner, "last_seen": now})
    if sweep:
        threading.Thread(target=sweep_ended_sessions, daemon=True, name="simstudio-public-sweep").start()


def last_seen(owner: str) -> float | None:
    from simstudio.runs import read_json

    rec = read_json(_sessions_dir() / f"{_safe(owner)}.json")
    return float(rec["last_seen"]) if rec and "last_seen" in rec else None


def sweep_ended_sessions(now: float | None = None, runner=None) -> list[str]:
    """Remove the runs of sessions not seen for `session_ttl_h` hours (never a live job); returns their ids."""
    from simstudio.runs import list_runs

    now = time.time() if now is None else now
    ttl = limit("session_ttl_h") * 3600
    if runner is None:
        from simstudio.jobs import get_runner

        runner = get_runner()
    live = {j.id for j in runner.active()}
    removed = []
    with acting_as(None):
        runs = list_runs()
    for run in runs:
        owner = owner_of(run)
        if not owner or run.id in live:
            continue
        seen = last_seen(owner)
        if now - max(seen or 0.0, run.created) > ttl:
            shutil.rmtree(run.path, ignore_errors=True)
            removed.append(run.id)
    sessions = _sessions_dir()
    if sessions.is_dir():
        for rec in sessions.glob("*.json"):
            with contextlib.suppress(OSError):
                if now - rec.stat().st_mtime > ttl:
                    rec.unlink()
    return removed


def _safe(owner: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", owner)[:80]


# -- what a visitor reads --------------------------------------------------------------------------------

_ABS_PATH = re.compile(r"(?<![\w.:/~-])/(?:[\w.@+~-]+/)*[\w.@+~-]+/?")


def redact(obj: Any) -> Any:
    """`obj` with server paths taken out: paths inside the run store become run-relative
    (`simulate-…/export`), any other absolute path only its last name (`…/name`)."""
    if isinstance(obj, str):
        return redact_text(obj)
    if isinstance(obj, dict):
        return {k: redact(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact(v) for v in obj)
    if hasattr(obj, "map") and hasattr(obj, "columns"):  # a pandas DataFrame
        return obj.map(lambda v: redact_text(v) if isinstance(v, str) else v)
    return obj


def redact_text(text: str) -> str:
    from simstudio.runs import runs_root

    for base in {str(runs_root().resolve()), str(runs_root().absolute())}:
        text = text.replace(base + os.sep, "")
    return _ABS_PATH.sub(lambda m: "…/" + m.group(0).rstrip("/").rsplit("/", 1)[-1], text)

"""The run store: one folder per run under `SIMSTUDIO_HOME` (default `./runs`).

A run folder holds `config.json`, `events.jsonl` (append-only), `checkpoints/`, `samples/`, and
`result.json` when finished or `error.txt` when failed. Every file except the event log is written
atomically (temp file + rename), so a crash never leaves a half-written result behind.
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

STATUSES = ("queued", "running", "finished", "failed", "cancelled", "interrupted")


def runs_root() -> Path:
    """Root of the run store; created on first use."""
    root = Path(os.environ.get("SIMSTUDIO_HOME", "runs")).expanduser()
    root.mkdir(parents=True, exist_ok=True)
    return root


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_json_default) + "\n")


def read_json(path: str | os.PathLike, default: Any = None) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return default


@contextmanager
def exclusive_lock(lock_path: str | os.PathLike):
    """An advisory lock on `lock_path` held across processes and threads (POSIX flock; where there is none,
    no lock): for folders several jobs may fill at once, e.g. a shared simulator export cache."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock (run jobs that share a folder one at a time there)
        yield
        return
    with open(lock_path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def new_run(kind: str, config: Any = None, root: str | os.PathLike | None = None, name: str = "") -> Run:
    """Create `<root>/<kind>-<timestamp>-<short id>/` with its config saved."""
    if not kind.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"run kind must be letters, digits, '-' or '_', got {kind!r}")
    base = Path(root) if root is not None else runs_root()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = base / f"{kind}-{stamp}-{secrets.token_hex(3)}"
    path.mkdir(parents=True)
    run = Run(path)
    meta = _public().stamp({"kind": kind, "name": name, "created": time.time()})
    atomic_write_json(path / "meta.json", meta)
    atomic_write_json(path / "config.json", _as_jsonable(config) if config is not None else {})
    run.set_status("queued")
    return run


def open_run(run_id_or_path: str | os.PathLike, root: str | os.PathLike | None = None) -> Run:
    """Open an existing run by folder name or path; a clear error when it does not exist."""
    p = Path(run_id_or_path)
    if not p.is_dir():
        p = (Path(root) if root is not None else runs_root()) / str(run_id_or_path)
    if not (p / "meta.json").is_file():
        raise FileNotFoundError(f"no run {str(run_id_or_path)!r} in {p.parent}")
    run = Run(p)
    if not _public().visible(run):  # another public session's run reads as missing, not as forbidden
        raise FileNotFoundError(f"no run {str(run_id_or_path)!r}")
    return run


def list_runs(kind: str | None = None, root: str | os.PathLike | None = None) -> list[Run]:
    """Runs in the store, newest first; runs left 'running' by a dead process read 'interrupted'."""
    base = Path(root) if root is not None else runs_root()
    if not base.is_dir():
        return []
    out = []
    public = _public()
    for p in base.iterdir():
        if p.is_dir() and (p / "meta.json").is_file():
            run = Run(p)
            if (kind is None or run.kind == kind) and public.visible(run):
                out.append(run)
    out.sort(key=lambda r: r.created, reverse=True)
    return out


@dataclass(frozen=True)
class Run:
    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def meta(self) -> dict:
        return read_json(self.path / "meta.json", {})

    @property
    def kind(self) -> str:
        return self.meta.get("kind", self.id.split("-")[0])

    @property
    def name(self) -> str:
        return self.meta.get("name", "")

    @property
    def created(self) -> float:
        return float(self.meta.get("created", 0.0))

    @property
    def owner(self) -> str:
        """The public-mode browser session that made this run ("" outside public mode)."""
        return self.meta.get("owner", "")

    @property
    def config(self) -> dict:
        return read_json(self.path / "config.json", {})

    @property
    def checkpoints_dir(self) -> Path:
        d = self.path / "checkpoints"
        d.mkdir(exist_ok=True)
        return d

    @property
    def samples_dir(self) -> Path:
        d = self.path / "samples"
        d.mkdir(exist_ok=True)
        return d

    # -- status ---------------------------------------------------------------------------------
    @property
    def status(self) -> str:
        st = read_json(self.path / "status.json", {})
        status = st.get("status", "queued")
        if status in ("running", "queued") and st.get("pid") and not _pid_alive(st["pid"]):
            return "interrupted"
        return status

    def set_status(self, status: str, **extra: Any) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {STATUSES}")
        atomic_write_json(self.path / "status.json",
                          {"status": status, "pid": os.getpid(), "time": time.time(), **extra})

    # -- events ---------------------------------------------------------------------------------
    def log_event(self, event: dict) -> dict:
        """Append one event as a JSON line; a line is written whole or (after a crash) skipped on read."""
        event = {"t": round(time.time(), 3), **event}
        line = json.dumps(_as_jsonable(event), default=_json_default) + "\n"
        with open(self.path / "events.jsonl", "a", encoding="utf-8") as fh:
            fh.write(line)
        return event

    def events(self, type: str | None = None) -> list[dict]:
        p = self.path / "events.jsonl"
        if not p.is_file():
            return []
        out = []
        with open(p, encoding="utf-8") as fh:
            for line in fh:
                try:
                    ev = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut short by a crash
                if type is None or ev.get("type") == type:
                    out.append(ev)
        return out

    # -- results --------------------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        return atomic_write_json(self.path / name, obj)

    def read_json(self, name: str, default: Any = None) -> Any:
        return read_json(self.path / name, default)

    @property
    def result(self) -> dict | None:
        return read_json(self.path / "result.json")

    def write_result(self, result: Any) -> None:
        atomic_write_json(self.path / "result.json", _as_jsonable(result))

    @property
    def error(self) -> str | None:
        p = self.path / "error.txt"
        return p.read_text(encoding="utf-8") if p.is_file() else None

    def write_error(self, text: str) -> None:
        atomic_write_text(self.path / "error.txt", text)

    def summary(self) -> dict:
        """One row for run tables: id, kind, name, status, created, last progress."""
        progress = self.events("progress")
        prog = progress[-1] if progress else None
        message = (prog or {}).get("message", "")
        if self.error:
            message = self.error.strip().splitlines()[-1]
        return {
            "id": self.id,
            "kind": self.kind,
            "name": self.name,
            "status": self.status,
            "created": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.created)),
            "progress": f"{prog.get('done')}/{prog.get('total')}" if prog else "",
            "message": message,
        }


def _public():
    # Imported late: simstudio.public reads the run store, so it cannot be imported before this module.
    from simstudio import public

    return public


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _as_jsonable(obj: Any) -> Any:
    import dataclasses

    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {k: _as_jsonable(v) for k, v in dataclasses.asdict(obj).items()}
    if isinstance(obj, dict):
        return {str(k): _as_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_as_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    return obj


def _json_default(obj: Any) -> Any:
    try:
        import numpy as np

        if isinstance(obj, np.generic):
            return obj.item()
        if isinstance(obj, np.ndarray):
            return obj.tolist()
    except ImportError:  # pragma: no cover
        pass
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot store {type(obj).__name__} as JSON")

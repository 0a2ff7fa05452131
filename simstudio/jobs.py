"""Background jobs: a long computation is a plain function `fn(config, ctx) -> dict`.

`ctx` (a `JobContext`) carries the `report` callback and the cancel flag. The same function runs
under the app's `JobRunner` (background thread, events appended to the run's `events.jsonl`, polled
by the UI) and under the CLI's `run_in_foreground` (same events, printed as a progress bar).
Heavy jobs run one at a time per device and later ones wait in a visible queue.
"""

from __future__ import annotations

import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from simstudio import public
from simstudio.runs import Run, new_run, open_run

JobFn = Callable[[Any, "JobContext"], Any]


class Cancelled(Exception):
    """Raised by `JobContext.check_cancel()`; the job ends as 'cancelled', keeping what it saved."""


class JobContext:
    """What a long function sees of the outside: report events, progress with ETA, the cancel flag."""

    def __init__(
        self,
        run: Run | None = None,
        cancel_event: threading.Event | None = None,
        on_event: Callable[[dict], None] | None = None,
        progress_interval_s: float = 0.25,
    ):
        self.run = run
        self.cancel_event = cancel_event or threading.Event()
        self.on_event = on_event
        self.started = time.time()
        self.latest: dict[str, dict] = {}
        self._progress_interval_s = progress_interval_s
        self._last_progress_t = 0.0
        # The ETA's rate is measured within a phase (a run of progress with one total: a fit's search, then its
        # confirmation): from the job's start it read a 10-minute confirmation as an hour after a long search.
        self._phase = (self.started, 0, None, 0)  # (start time, done at the start, total, last done)
        self._lock = threading.Lock()

    @classmethod
    def local(cls, echo: bool = False) -> JobContext:
        """A context for library use outside any run: events stay in memory (printed when `echo`)."""
        return cls(on_event=ProgressPrinter() if echo else None)

    @property
    def run_dir(self) -> Path | None:
        return self.run.path if self.run is not None else None

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancel(self) -> None:
        if self.cancel_event.is_set():
            raise Cancelled("cancelled by the user")

    def report(self, type: str, **fields: Any) -> dict:
        event = {"type": type, **fields}
        with self._lock:
            if self.run is not None:
                event = self.run.log_event(event)
            else:
                event = {"t": round(time.time(), 3), **event}
            self.latest[type] = event
        if self.on_event is not None:
            self.on_event(event)
        return event

    def progress(self, done: int, total: int, message: str = "", **fields: Any) -> dict | None:
        """Report progress with an ETA from the measured rate; throttled so it costs nothing in loops."""
        now = time.time()
        t0, d0, phase_total, last = self._phase
        if phase_total is not None and (total != phase_total or done < last):
            t0, d0 = now, done
        self._phase = (t0, d0, total, done)
        if done < total and now - self._last_progress_t < self._progress_interval_s and done > 0:
            return None
        self._last_progress_t = now
        elapsed = now - self.started
        eta = (now - t0) / (done - d0) * (total - done) if done > d0 and total >= done else None
        return self.report("progress", done=int(done), total=int(total), message=message,
                           elapsed_s=round(elapsed, 2), eta_s=None if eta is None else round(eta, 1),
                           **fields)

    def metric(self, **fields: Any) -> dict:
        return self.report("metric", **fields)

    def log(self, message: str, level: str = "info") -> dict:
        return self.report("log", message=message, level=level)


class ProgressPrinter:
    """Prints progress events as a one-line bar on stderr; other messages on their own lines."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width

    def __call__(self, event: dict) -> None:
        if event.get("type") == "progress":
            done, total = event.get("done", 0), max(1, event.get("total", 1))
            filled = int(self.width * min(done, total) / total)
            eta = event.get("eta_s")
            eta_txt = f" ETA {_fmt_seconds(eta)}" if eta is not None and done < total else ""
            msg = event.get("message", "")
            self.stream.write(f"\r[{'#' * filled}{'.' * (self.width - filled)}] {done}/{total}{eta_txt} {msg}"
                              .ljust(80))
            if done >= total:
                self.stream.write("\n")
            self.stream.flush()
        elif event.get("type") == "log":
            self.stream.write(f"{event.get('message', '')}\n")
            self.stream.flush()


@dataclass
class Job:
    run: Run
    fn: JobFn
    config: Any
    heavy: bool = True
    cancel_event: threading.Event = field(default_factory=threading.Event)
    ctx: JobContext | None = None
    result: Any = None
    error: str | None = None
    state: str = "queued"
    done_event: threading.Event = field(default_factory=threading.Event)
    owner: str | None = None  # public mode: the session that submitted it; the job runs as that session

    @property
    def id(self) -> str:
        return self.run.id

    def cancel(self) -> None:
        self.cancel_event.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.done_event.wait(timeout)


class JobRunner:
    """Runs jobs on background threads; heavy jobs one at a time (FIFO), light jobs at once."""

    def __init__(self, root: str | Path | None = None):
        self.root = root
        self.jobs: dict[str, Job] = {}
        self._queue: deque[Job] = deque()
        self._lock = threading.Condition()
        self._worker: threading.Thread | None = None

    def submit(self, kind: str, fn: JobFn, config: Any, *, heavy: bool = True, name: str = "",
               run: Run | None = None) -> Job:
        public.check_submission(kind, config, self)  # public mode: quotas, each refusal names its limit
        run = run or new_run(kind, config, root=self.root, name=name)
        job = Job(run=run, fn=fn, config=config, heavy=heavy, owner=public.viewer())
        with self._lock:
            self.jobs[job.id] = job
            if heavy:
                self._queue.append(job)
                self._ensure_worker()
                self._lock.notify_all()
            else:
                threading.Thread(target=self._execute, args=(job,), daemon=True, name=f"job-{job.id}").start()
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running job; False when no such live job."""
        with self._lock:
            job = self.jobs.get(job_id)
            if job is None or job.done_event.is_set() or not public.visible(job.run):
                return False
            job.cancel()
            if job in self._queue:
                self._queue.remove(job)
                job.state = "cancelled"
                job.run.set_status("cancelled")
                job.run.log_event({"type": "status", "status": "cancelled"})
                job.done_event.set()
        return True

    def queue_position(self, job_id: str) -> int | None:
        """0 for the running heavy job's successor, 1 for the next, ...; None when not waiting."""
        with self._lock:
            for i, job in enumerate(self._queue):
                if job.id == job_id:
                    return i
        return None

    def queued(self) -> list[Job]:
        with self._lock:
            return list(self._queue)

    def active(self) -> list[Job]:
        return [j for j in self.jobs.values() if not j.done_event.is_set()]

    # -- internals ------------------------------------------------------------------------------
    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._heavy_loop, daemon=True, name="simstudio-heavy")
            self._worker.start()

    def _heavy_loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue:
                    if not self._lock.wait(timeout=30):
                        self._worker = None
                        return
                job = self._queue.popleft()
            self._execute(job)

    def _execute(self, job: Job) -> None:
        with public.acting_as(job.owner):  # runs the job makes belong to the session that asked for it
            self._execute_as_owner(job)

    def _execute_as_owner(self, job: Job) -> None:
        job.state = "running"
        job.ctx = JobContext(job.run, job.cancel_event)
        execute_job(job.run, job.fn, job.config, job.ctx)
        job.state = job.run.status
        job.result = job.run.result
        job.error = job.run.error
        job.done_event.set()


def execute_job(run: Run, fn: JobFn, config: Any, ctx: JobContext) -> Any:
    """Run `fn` inside `run`: status, result.json, error.txt and events are recorded whatever happens."""
    run.set_status("running")
    ctx.report("status", status="running")
    try:
        result = fn(config, ctx)
    except Cancelled:
        run.set_status("cancelled")
        ctx.report("status", status="cancelled")
        return None
    except KeyboardInterrupt:
        run.set_status("cancelled")
        ctx.report("status", status="cancelled")
        raise
    except Exception as exc:  # the job's failure is recorded, never lost in a thread
        run.write_error(f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}")
        run.set_status("failed")
        ctx.report("status", status="failed", message=f"{type(exc).__name__}: {exc}")
        return None
    if result is not None:
        run.write_result(result)
    status = "cancelled" if ctx.cancelled else "finished"
    run.set_status(status)
    ctx.report("status", status=status)
    return result


def run_in_foreground(kind: str, fn: JobFn, config: Any, *, echo: bool = True, name: str = "",
                      root: str | Path | None = None) -> tuple[Run, Any]:
    """The CLI's way to run a job: same run folder and events, a progress bar on stderr."""
    run = new_run(kind, config, root=root, name=name)
    ctx = JobContext(run, on_event=ProgressPrinter() if echo else None)
    result = execute_job(run, fn, config, ctx)
    return run, result


def resume_stopped_run(run_id: str, kind: str, fn: JobFn, what: str, runner: JobRunner | None = None) -> Job:
    """Submit a stopped run of `kind` again in its own folder, so its job continues from what it saved;
    refused, naming the run, for another kind of run (`what` names the expected one) or one still going."""
    run = open_run(run_id)
    if run.kind != kind:
        raise ValueError(f"run {run.id} is a {run.kind!r} run, not {what}")
    if run.status in ("running", "queued"):
        raise ValueError(f"run {run.id} is {run.status}; it can be resumed once it has stopped")
    return (runner or get_runner()).submit(kind, fn, run.config, run=run)


_RUNNER: JobRunner | None = None
_RUNNER_LOCK = threading.Lock()


def get_runner() -> JobRunner:
    """The process-wide runner the UI submits to (one heavy queue per process and device)."""
    global _RUNNER
    with _RUNNER_LOCK:
        if _RUNNER is None:
            _RUNNER = JobRunner()
        return _RUNNER


def _fmt_seconds(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"

"""Let a real job end at each place inside a timer's poll, to check that the poll which stops the timer shows
the whole run.

A poll reads the run's files one after another, and the job runner writes a run's events first, then its
result, then its final status. A job that ends between two of a poll's reads is what the poll must survive:
one that read the result before the job ended and the status after (to stop the timer) showed a stale view on
the tick that stopped the timer, so for good. `each_place_the_job_can_end` runs a job started by a tab's own
Start handler and holds its thread when it is about to write a given file (its last checkpoint, strip or
trial table: status "running", most of its events written); then, for k = 0, 1, 2, ..., lets it run to its
end (the rest of its events, its result, its status) just before the poll's k-th open of a file in the run's
folder, until the poll opens fewer files than that: every place between two reads, in order, the same way on
every run, waiting on events, no sleep. The opens are seen by an interpreter audit hook (`sys.addaudithook`);
nothing of ours is replaced. A hook stays for the whole process, so it is added once, on import, and does
nothing unless a job or a poll is watched.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from simstudio.jobs import get_runner
from simstudio.runs import open_run, runs_root


def each_place_the_job_can_end(start: Callable[[], str], first: Callable[[str], tuple],
                               poll: Callable[[str, tuple], tuple], stopped: Callable[[tuple], bool],
                               hold_at: str = ".result.json.") -> Iterator[tuple[int, str, tuple]]:
    """For k = 0, 1, 2, ...: `start()` a job (a tab's Start handler, returning the run id), held just before it
    first writes a file whose path in the run's folder starts with `hold_at` (default: its result, written
    through a temp file); call `first(run id)` (a poll, or a reopen) and let the job run to its end just before
    that call's k-th open of a file in the run's folder (after the call when it opens fewer); then `poll(run
    id, last output)` as the timer would until `stopped(output)`. Yields (k, run id, the output that stopped the
    timer: the last the page gets), and stops after the first k that the call did not reach."""
    k = 0
    while True:
        with _held_at(start, hold_at) as (run_id, run_to_end):
            watch = _PollWatch(open_run(run_id).path, k, run_to_end)
            _watching.append(watch)
            try:
                out = first(run_id)
            finally:
                _watching.remove(watch)
            if not watch.fired:
                run_to_end()
        for _ in range(50):
            if stopped(out):
                break
            out = poll(run_id, out)
        assert stopped(out), f"the timer still ticks after 50 polls of the ended run {run_id}"
        yield k, run_id, out
        if not watch.fired:
            return
        k += 1


def timer_poll(handler: Callable[[str], tuple]) -> tuple[Callable[[str, tuple], tuple], Callable[[tuple], bool]]:
    """(poll, stopped) for a tab whose timer calls `handler(run id)` and whose last output is its gr.Timer."""
    return (lambda run_id, _shown: handler(run_id)), (lambda out: not out[-1].active)


@contextmanager
def held_in_the_queue(start: Callable[[], str]) -> Iterator[str]:
    """Start a heavy job with `start()` (returning its run id) behind a heavy job that waits for an event, so it
    stays queued until the block ends (whatever happens in it, so no later job waits behind it)."""
    release = threading.Event()
    get_runner().submit("hold", lambda config, ctx: release.wait(120), None)
    try:
        run_id = start()
        assert run_id, "the job did not start"
        assert get_runner().queue_position(run_id) is not None, "the job is not held in the heavy queue"
        yield run_id
    finally:
        release.set()


# -- private helpers ----------------------------------------------------------------------------------------

@contextmanager
def _held_at(start: Callable[[], str], hold_at: str) -> Iterator[tuple[str, Callable[[], None]]]:
    """Start a job and wait until its thread is about to open `<its run folder>/<hold_at>...`; yields (run id, a
    function that lets it go on and returns once it has ended: events, result, status and all)."""
    hold = _Hold(runs_root(), hold_at)
    _watching.append(hold)
    try:
        run_id = start()
        assert run_id, "the job did not start"
        job = get_runner().get(run_id)
        threading.Thread(target=lambda: (job.wait(120), hold.reached.set()), daemon=True).start()
        assert hold.reached.wait(120), f"{run_id} did not get to {hold_at}"
        assert hold.path and hold.path.startswith(os.path.join(os.path.abspath(job.run.path), "")), \
            f"{run_id} ended without writing {hold_at}: {job.state} {job.error}"

        def run_to_end() -> None:
            hold.proceed.set()
            assert job.wait(120), f"{run_id} did not end"
            assert job.state == "finished", job.error

        yield run_id, run_to_end
    finally:
        hold.proceed.set()
        _watching.remove(hold)


class _Hold:
    """Holds the first thread that opens `<root>/<a run folder>/<hold_at>...` until `proceed` is set."""

    def __init__(self, root, hold_at: str):
        self.root = os.path.join(os.path.abspath(root), "")
        self.hold_at = hold_at
        self.reached = threading.Event()
        self.proceed = threading.Event()
        self.path: str | None = None

    def opened(self, path: str) -> None:
        if self.path is not None or not path.startswith(self.root) \
                or not path[len(self.root):].partition(os.sep)[2].startswith(self.hold_at):
            return
        self.path = path
        self.reached.set()
        self.proceed.wait(120)


class _PollWatch:
    """Counts the opens by this thread (the poll's) of files in a run's folder and ends the job just before the
    k-th."""

    def __init__(self, folder, k: int, run_to_end: Callable[[], None]):
        self.thread = threading.get_ident()
        self.folder = os.path.join(os.path.abspath(folder), "")
        self.left = k
        self.run_to_end = run_to_end
        self.fired = False

    def opened(self, path: str) -> None:
        if self.fired or threading.get_ident() != self.thread or not path.startswith(self.folder):
            return
        if self.left:
            self.left -= 1
            return
        self.fired = True
        self.run_to_end()


_watching: list = []


def _audit(event: str, args: tuple) -> None:
    if not _watching or event != "open" or isinstance(args[0], int):
        return
    try:
        path = os.path.abspath(os.fsdecode(os.fspath(args[0])))
    except TypeError:
        return
    for watch in list(_watching):
        watch.opened(path)


sys.addaudithook(_audit)

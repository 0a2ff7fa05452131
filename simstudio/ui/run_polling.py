"""How a tab's timer reads the run it polls: the run's status once, first, and everything from that read.

A job writes its events, images and result before its final status (`simstudio.jobs.execute_job`), so a run
whose status reads as ended has on disk everything it will ever have. A poll that reads the run's files
first and its status again afterwards (for the status line or to stop the timer) can see the run end in
between: it shows a view without the ending (no result, "running", the last epoch missing) and stops the
timer that would have redrawn it, so the page stays stale for good. A poll that opens the run with
`open_with_status`, reads the rest after it and derives its status line and its timer from that one status
shows, on the tick that stops the timer, the whole run.
"""

from __future__ import annotations

from collections.abc import Callable

import gradio as gr

from simstudio.runs import Run, open_run

LIVE = ("queued", "running")


def open_with_status(run_id: str) -> tuple[Run | None, str, str]:
    """(run, status, why missing): the run and its status, read once, before anything else of the run.

    No run id, or no such run (deleted, or another public session's): (None, "missing", the reason, empty
    for no id), and `has_ended("missing")` is true, so the timer stops."""
    if not run_id:
        return None, "missing", ""
    try:
        run = open_run(run_id)
    except FileNotFoundError as exc:
        return None, "missing", str(exc)
    return run, run.status, ""


def has_ended(status: str) -> bool:
    """Whether a run read with this status changes no more (finished, failed, cancelled, interrupted or
    missing): its view is final and the timer can stop."""
    return status not in LIVE


def poll_timer(status: str) -> gr.Timer:
    """The timer after a poll (or a reopen) that read `status`: ticking while the run is queued or
    running, stopped once it has ended or is missing."""
    return gr.Timer(active=not has_ended(status))


def past_run_picker(choices: Callable[[], list[str]], label: str, opens: gr.Textbox, **kwargs) -> gr.Dropdown:
    """A dropdown of finished runs; picking one writes its id into `opens` (the run id a tab's timer polls).
    Nothing is selected at first: Gradio 6 selects a Dropdown's first choice by default, which showed a
    run as open while none was, and picking it then changed nothing. The list is read again whenever it is
    opened, so runs finished since the page was built (or on a server running for days) are there."""
    picker = gr.Dropdown(choices=choices(), value=None, label=label, **kwargs)
    picker.change(lambda r: r, inputs=[picker], outputs=[opens])
    picker.focus(lambda: gr.update(choices=choices()), outputs=[picker])
    return picker


def cancel_run(run_id: str, nothing: str, stopping: str) -> str:
    """What a Cancel button says: `nothing` when no run is shown; "Cancelling `id`: <stopping>" when this app
    was running it (the runner stops it at its next safe point); otherwise that it is not running here."""
    from simstudio.jobs import get_runner

    if not run_id:
        return nothing
    if get_runner().cancel(run_id):
        return f"Cancelling `{run_id}`: {stopping}"
    return f"`{run_id}` is not running in this app."

"""Jobs tab: every run in the store, past and running, with the heavy-job queue; cancel a job."""

from __future__ import annotations

import json

import gradio as gr

from simstudio import public
from simstudio.jobs import get_runner
from simstudio.runs import list_runs, open_run

COLUMNS = ["id", "kind", "name", "status", "created", "progress", "message"]


def build_jobs_tab() -> None:
    gr.Markdown("Every job ever started here (read from the run store, so it survives a restart). "
                "Heavy jobs run one at a time; the others wait in the queue shown below.")
    table = gr.Dataframe(value=jobs_table(), headers=COLUMNS, interactive=False, wrap=True, label="Runs")
    queue = gr.Markdown(queue_text())
    with gr.Row():
        run_id = gr.Textbox(label="Run id", placeholder="click a row, or paste a run id", scale=3)
        cancel_btn = gr.Button("Cancel job", variant="stop", scale=1)
    status = gr.Markdown()
    details = gr.Code(label="Run details", language="json")
    timer = gr.Timer(2.0)
    timer.tick(lambda: (jobs_table(), queue_text()), outputs=[table, queue])
    table.select(select_row, inputs=[table], outputs=[run_id, details])
    cancel_btn.click(cancel_job, inputs=[run_id], outputs=[status])
    run_id.submit(run_details, inputs=[run_id], outputs=[details])


def jobs_table() -> list[list[str]]:
    return [[str(s[c]) for c in COLUMNS] for s in (r.summary() for r in list_runs())]


def queue_text() -> str:
    runner = get_runner()
    # public mode: only this session's jobs (the others' ids are none of its business)
    active = [j for j in runner.active() if j.state == "running" and public.visible(j.run)]
    waiting = [j for j in runner.queued() if public.visible(j.run)]
    lines = []
    if active:
        lines.append("**Running:** " + ", ".join(f"`{j.id}`" for j in active))
    if waiting:
        lines.append("**Waiting:** " + ", ".join(f"{i + 1}. `{j.id}`" for i, j in enumerate(waiting)))
    return "\n\n".join(lines) or "No job is running."


def select_row(table, evt: gr.SelectData) -> tuple[str, str]:
    row = evt.index[0] if isinstance(evt.index, (list, tuple)) else evt.index
    try:
        run_id = table.iloc[row, 0] if hasattr(table, "iloc") else table[row][0]
    except (IndexError, KeyError, TypeError):
        return "", ""
    return run_id, run_details(run_id)


def run_details(run_id: str) -> str:
    if not run_id:
        return ""
    try:
        run = open_run(run_id.strip())
    except FileNotFoundError as exc:
        return json.dumps({"error": str(exc)})
    events = run.events()
    details = {"id": run.id, "kind": run.kind, "status": run.status, "config": run.config,
               "result": run.result, "error": run.error, "last_events": events[-10:]}
    if public.is_public():  # no server paths, and of a traceback only what went wrong
        details["error"] = (run.error or "").strip().splitlines()[-1] if run.error else None
        details = public.redact(details)
    return json.dumps(details, indent=2, default=str)


def cancel_job(run_id: str) -> str:
    run_id = (run_id or "").strip()
    if not run_id:
        return "Pick a run first (click its row)."
    if get_runner().cancel(run_id):
        return f"Cancelling `{run_id}`: it stops at its next checkpoint and keeps what it saved."
    return f"`{run_id}` is not running or waiting in this app, so there is nothing to cancel."

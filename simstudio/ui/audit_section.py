"""The Gap tab's shortcut-audit section: audit a dataset (does acquisition predict the label?) and,
optionally, classifiers on acquisition-edited test images. Handlers are plain functions (tests call
them); the work is an `audit` job in the run store."""

from __future__ import annotations

import gradio as gr

from simstudio import plots
from simstudio.jobs import get_runner
from simstudio.runs import list_runs, open_run
from simstudio.ui.run_polling import has_ended, open_with_status, past_run_picker


def build_audit_section(dataset_choices, classifier_choices) -> None:
    from simstudio.eval.audit_edits import EDIT_NAMES

    gr.Markdown("## Shortcut audit\nHow much of a dataset's labels can be read from how the photo was taken "
                "(skin colour cast, vignette, hair, ruler, blur, noise)? With classifiers chosen, the test "
                "images' acquisition is edited (every other pixel kept) and each classifier's answers are "
                "compared before and after; what its answers go with within each class is listed (hair, "
                "blur, cast in a simulator-trained classifier: the range the simulator should widen), "
                "with the images it got most wrong.")
    with gr.Row():
        dataset = gr.Dropdown(choices=dataset_choices(), allow_custom_value=True,
                              label="Dataset to audit (dataset run or folder)", scale=3,
                              elem_id="audit-dataset")
        part = gr.Dropdown(choices=["", "train", "val", "test"], value="", label="Part (dataset audit)",
                           scale=1)
        classifiers = gr.Dropdown(choices=classifier_choices(), multiselect=True, allow_custom_value=True,
                                  label="Classifiers to audit (optional)", scale=3)
    with gr.Row():
        edits = gr.CheckboxGroup(list(EDIT_NAMES), value=list(EDIT_NAMES), label="Edits")
        max_per_class = gr.Number(value=0, precision=0, label="At most per class (0 = all)",
                                  elem_id="audit-max")
        cls_part = gr.Dropdown(choices=["test", "val", "train", ""], value="test",
                               label="Classifiers audited on part ('' = all)")
        start = gr.Button("Audit", variant="primary", elem_id="audit-start")
    audit_run = gr.Textbox(visible=False)
    past_run_picker(audit_run_choices, "…or open a past audit", audit_run, elem_id="audit-past")
    shown = gr.State("")
    status = gr.Markdown(elem_id="audit-status")
    verdict = gr.Markdown(elem_id="audit-verdict")
    sets = gr.Dataframe(label="Cross-validated ROC-AUC per feature set", interactive=False)
    with gr.Row():
        aucs = gr.Plot(label="Every feature's AUC")
        hist = gr.Plot(label="Top shortcuts per class")
    edit_table = gr.Dataframe(label="Classifier audit per edit", interactive=False, wrap=True)
    edit_plot = gr.Plot(label="Change in P(positive) per edit")
    response = gr.Dataframe(label="What moves each classifier's answer within a class (Spearman rho on the "
                                  "audited images; an acquisition feature here is a cue the classifier reads "
                                  "beyond the lesion)", interactive=False, wrap=True, elem_id="audit-response")
    errors = gr.Gallery(label="Most confident errors (true class, P(positive))", columns=8, height="auto",
                        elem_id="audit-errors")
    views = [status, verdict, sets, aucs, hist, edit_table, edit_plot, response, errors]
    start.click(start_audit, inputs=[dataset, part, classifiers, edits, max_per_class, cls_part],
                outputs=[audit_run, status])
    gr.Timer(2.0).tick(poll_audit, inputs=[audit_run, shown], outputs=[*views, shown])


def start_audit(dataset: str, part: str = "", classifiers: list[str] | None = None,
                edits: list[str] | None = None, max_per_class: int = 0,
                classifier_part: str = "test") -> tuple[str, str]:
    """Check the form and start an audit job: (run id, message); bad input: no id and a message."""
    from simstudio.eval.audit_edits import EDIT_NAMES
    from simstudio.eval.audit_run import AuditConfig, run_audit

    dataset = (dataset or "").strip()
    if not dataset:
        return "", "⚠ Choose a dataset to audit."
    config = AuditConfig(dataset=dataset, part=part or "", classifiers=[c.strip() for c in classifiers or []
                                                                        if c and c.strip()],
                         edits=list(edits) if edits else list(EDIT_NAMES), max_per_class=int(max_per_class or 0),
                         classifier_part=classifier_part or "")
    try:
        config.validate()
        _check_exists(dataset)
        for c in config.classifiers:
            _check_exists(c)
    except (ValueError, FileNotFoundError) as exc:
        return "", f"⚠ {exc}"
    job = get_runner().submit("audit", run_audit, config, heavy=True, name=f"audit {dataset}")
    return job.id, f"Started `{job.id}`."


def poll_audit(run_id: str, shown: str = ""):
    """What the timer refreshes: progress while the job runs, every view once it has finished."""
    if not run_id or run_id == shown:
        return (gr.skip(),) * 10
    run, status, _missing = open_with_status(run_id)
    if run is None:
        return (f"⚠ No run `{run_id}`.",) + (gr.skip(),) * 8 + (run_id,)  # said once: nothing more to poll
    if not has_ended(status):
        prog = run.events("progress")
        msg = (f"`{run.id}`: {prog[-1].get('message', '')} {prog[-1]['done']}/{prog[-1]['total']}" if prog
               else f"`{run.id}` is {status}.")
        return (msg,) + (gr.skip(),) * 9
    return (*audit_views(run_id), run_id)


def audit_views(run_id: str):
    """(status, verdict, set table, AUC figure, histogram figure, edit table, edit figure, response
    table, error gallery) of a run."""
    import pandas as pd

    from simstudio.eval.audit_run import audit_figures, edit_rows, response_rows, set_rows

    run = open_run(run_id)
    empty = plots.empty_figure("")
    if run.status != "finished" or run.result is None:
        err = (run.error or "").strip().splitlines()
        return (f"⚠ `{run.id}` {run.status}: {err[-1] if err else ''}", "", None, empty, empty, None, empty,
                None, [])
    result = run.read_json("audit.json", run.result)
    cols, labels = _features(run.path / "features.csv", result["classes"])
    figs = audit_figures(result, cols, labels)
    ca = result.get("classifier_audit")
    verdict = f"### {result['verdict']}"
    if ca:
        verdict += "\n\n" + "\n".join(f"- {v}" for v in ca["verdicts"].values())
        if ca.get("response_verdicts"):
            from simstudio.eval.classifier_response import CAVEAT

            verdict += "".join(f"\n- {v}" for v in ca["response_verdicts"].values())
            verdict += f"\n\n*Within a class: {CAVEAT}.*"
    return (f"`{run.id}` finished: {result['n']} images at {result['side']} px "
            f"(report: `{run.path / 'report.html'}`).", verdict, pd.DataFrame(set_rows(result)),
            figs["aucs"], figs.get("histograms", empty), pd.DataFrame(edit_rows(ca)) if ca else None,
            figs.get("edits", plots.empty_figure("choose classifiers to audit them on edited images")),
            pd.DataFrame(response_rows(ca)) if ca and ca.get("response") else None, _error_gallery(run, ca))


def _error_gallery(run, ca: dict | None) -> list[tuple[str, str]]:
    """(image path, caption) of each classifier's most confident errors saved with the run."""
    if not ca:
        return []
    several = len(ca.get("errors", {})) > 1
    return [(str(run.path / r["image"]), f"{name + ': ' if several else ''}{r['class']} {r['p']:.2f}")
            for name, rows in ca.get("errors", {}).items() for r in rows
            if r.get("image") and (run.path / r["image"]).is_file()]


def audit_run_choices() -> list[str]:
    return [r.id for r in list_runs("audit") if r.status == "finished"]


def _features(path, classes):
    import pandas as pd

    if not path.is_file():
        return None, None
    df = pd.read_csv(path)
    labels = [classes.index(c) for c in df["class"]]
    cols = {k: df[k].to_numpy(float) for k in df.columns if k not in ("file", "class")}
    return cols, labels


def _check_exists(ref: str) -> None:
    from pathlib import Path

    if Path(ref).expanduser().exists():
        return
    try:
        open_run(ref)
    except FileNotFoundError:
        raise FileNotFoundError(f"`{ref}` is neither a folder nor a run") from None

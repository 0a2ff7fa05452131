"""Compare tab: does synthetic data help? Configure an experiment (or pick a preset), run it as a job, and
see the arms side by side: the results table with verdicts, ROC curves, metric bars, the sweep, per-class
precision/recall, training curves and real | simulated | GAN galleries; export the report; reopen past
experiments.

Handlers are plain functions returning what the page shows. Everything shown is read back from the
experiment's run folder (`simstudio.experiments.analysis.summarize`), so a reopened or still-running
experiment looks the same as a finished one.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from simstudio.experiments.analysis import per_class_rows, results_rows, summarize
from simstudio.experiments.config import experiment_from_dict, load_preset, preset_names, with_data
from simstudio.experiments.data_efficiency import worth_lines
from simstudio.experiments.report import experiment_figures, rerun_command, write_report
from simstudio.experiments.runner import EXPERIMENT_KIND, resume_experiment, start_experiment
from simstudio.jobs import get_runner
from simstudio.plots import empty_figure
from simstudio.runs import list_runs, open_run, runs_root
from simstudio.ui.run_polling import cancel_run

DEFAULT_PRESET = "simdeepl_table1"
MODELS = ("smallcnn", "hescnet", "resnet18", "resnet50", "inception_v3")
# the page's results table (the CSV export holds every column: accuracy, sensitivity, specificity, ...)
TABLE_COLUMNS = (
    "arm",
    "ROC-AUC",
    "ROC-AUC 95% CI (repeats)",
    "verdict",
    "balanced accuracy",
    "OOD ROC-AUC",
    "OOD verdict",
    "flipped-test ROC-AUC",
    "flipped-test verdict",
    "train images",
    "repeats",
    "training time (s)",
)


def build_compare_tab() -> None:
    gr.Markdown(
        "Does synthetic data help? Train the same classifier on different training sets (*arms*), each "
        "repeated over seeds or folds, all tested on **the same real images**, and compare them with "
        "paired statistics. Same as `python -m simstudio experiment CONFIG|PRESET --real ...`."
    )
    run_id = gr.State("")
    shown_key = gr.State("")
    init = preset_form(DEFAULT_PRESET)
    with gr.Row():
        with gr.Column(scale=1, min_width=360):
            preset = gr.Dropdown(preset_names(), value=DEFAULT_PRESET, label="Preset")
            real = gr.Dropdown(
                dataset_choices(),
                value=None,
                allow_custom_value=True,
                label="Real dataset (an imported dataset, or an image folder on the server)",
            )
            synthetic = gr.Textbox(
                label="Synthetic folders (one per line: DIR, or NAME=DIR; NAME:gan=DIR for a GAN). A source "
                "with a simulator preset in the config needs none: the experiment draws it",
                lines=2,
                placeholder="runs/simulate-.../images",
            )
            ood = gr.Textbox(label="Second real test set, reported as out-of-distribution (optional)")
            constancy = gr.Checkbox(
                constancy_of(init[6]),
                label="Colour constancy (Shades of Gray on every real and synthetic image: no arm can learn "
                "the camera's colour cast)",
            )
            flipped = gr.Checkbox(
                flag_of(init[6], "flipped_test"),
                label="Shortcut-flipped test set (each class's colour cast, sharpness and artefacts moved "
                "toward the other class's, lesion kept: an arm that reads the camera collapses there)",
                elem_id="compare-flipped",
            )
            with gr.Row():
                repeats = gr.Number(init[0], label="Repeats (seeds)", precision=0, minimum=1)
                epochs = gr.Number(init[1], label="Epochs", precision=0, minimum=1)
                budget = gr.Number(init[2], label="Images per arm (0 = use epochs)", precision=0, minimum=0)
            with gr.Row():
                model = gr.Dropdown(list(MODELS), value=init[3], label="Model")
                size = gr.Number(init[4], label="Image size (px)", precision=0, minimum=8)
                n_boot = gr.Number(init[5], label="Bootstrap draws", precision=0, minimum=100)
            with gr.Accordion("Experiment config (JSON: arms, split, model settings)", open=False):
                config_text = gr.Code(init[6], language="json", label="Config", lines=18)
            with gr.Row():
                run_btn = gr.Button("Run experiment", variant="primary", elem_id="compare-run")
                cancel_btn = gr.Button("Cancel", variant="stop")
                resume_btn = gr.Button("Resume")
            message = gr.Markdown(elem_id="compare-message")
            with gr.Row():
                past = gr.Dropdown(past_experiments(), label="Past experiments", allow_custom_value=True, scale=3)
                open_btn = gr.Button("Open", scale=1)
        with gr.Column(scale=2):
            status = gr.Markdown("No experiment shown yet.", elem_id="compare-status")
            table = gr.Dataframe(
                label="Results (mean ± std over repeats; verdict vs the baseline)",
                interactive=False,
                wrap=True,
                column_widths=["16%", "11%", "12%", "28%", "11%"],
                elem_id="compare-results",
            )
            notes = gr.Markdown(elem_id="compare-notes")
            with gr.Row():
                roc = gr.Plot(label="ROC curves")
                bars = gr.Plot(label="Metrics with error bars")
            with gr.Row():
                sweep = gr.Plot(label="Sweep / data-efficiency curve", elem_id="compare-sweep")
                curves = gr.Plot(label="Training curves")
            per_class = gr.Dataframe(label="Per-class precision / recall", interactive=False, wrap=True)
            gallery = gr.Gallery(
                label="Samples: real | simulated | GAN (rows: classes)",
                columns=3,
                object_fit="contain",
                height="auto",
            )
            with gr.Row():
                export_btn = gr.Button("Export report (HTML, CSV, JSON)")
                files = gr.File(label="Report files", file_count="multiple", interactive=False)
            command = gr.Textbox(label="Command that re-runs this experiment", interactive=False)

    view_outputs = [status, table, notes, roc, bars, sweep, curves, per_class, gallery, files, command]
    form = [repeats, epochs, budget, model, size, n_boot, config_text]
    preset.change(preset_form, inputs=[preset], outputs=form).then(
        constancy_of, inputs=[config_text], outputs=[constancy]
    ).then(lambda t: flag_of(t, "flipped_test"), inputs=[config_text], outputs=[flipped])
    constancy.input(set_constancy, inputs=[config_text, constancy], outputs=[config_text])
    flipped.input(lambda t, on: set_flag(t, "flipped_test", on), inputs=[config_text, flipped], outputs=[config_text])
    run_btn.click(
        start_from_form,
        inputs=[config_text, real, synthetic, ood, repeats, epochs, budget, model, size, n_boot],
        outputs=[run_id, message],
    ).then(poll, inputs=[run_id, shown_key], outputs=[*view_outputs, shown_key])
    cancel_btn.click(cancel_experiment, inputs=[run_id], outputs=[message])
    resume_btn.click(resume_shown, inputs=[run_id], outputs=[message])
    open_btn.click(lambda r: (r or "", ""), inputs=[past], outputs=[run_id, shown_key]).then(
        poll, inputs=[run_id, shown_key], outputs=[*view_outputs, shown_key]
    ).then(form_from_run, inputs=[run_id], outputs=[*form, real, synthetic, ood])
    real.focus(lambda: gr.update(choices=dataset_choices()), outputs=[real])
    export_btn.click(export_report, inputs=[run_id], outputs=[files, message])
    timer = gr.Timer(2.0)
    timer.tick(poll, inputs=[run_id, shown_key], outputs=[*view_outputs, shown_key])
    timer.tick(lambda: gr.update(choices=past_experiments()), outputs=[past])


# -- handlers -------------------------------------------------------------------------------------
def dataset_choices() -> list[tuple[str, str]]:
    try:
        from simstudio.data.dataset import dataset_runs

        return [(f"{r.name or r.id} ({r.id})", r.id) for r in dataset_runs()]
    except Exception:  # the data layer is optional for showing the tab
        return []


def past_experiments() -> list[tuple[str, str]]:
    out = []
    for r in list_runs(EXPERIMENT_KIND):
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(r.created))
        out.append((f"{r.name or r.id} · {r.status} · {created}", r.id))
    return out


def form_from_run(run_id: str):
    """The form filled from a past experiment's saved config, so Run repeats it (or a variant of it)."""
    if not run_id:
        return [gr.skip()] * 10
    try:
        cfg = experiment_from_dict(open_run(run_id).config)
    except (FileNotFoundError, ValueError):
        return [gr.skip()] * 10
    sources = "\n".join(f"{s.name}{':gan' if s.kind == 'gan' else ''}={s.path}" for s in cfg.synthetic if s.path)
    return (*_form_values(cfg), cfg.real, sources, cfg.ood_test)


def constancy_of(config_text: str) -> bool:
    """Whether the editor's config asks for colour constancy (False while the JSON does not parse)."""
    return flag_of(config_text, "colour_constancy")


def set_constancy(config_text: str, on: bool) -> str:
    """The editor's config with colour_constancy set; unparseable JSON is left for Run to report."""
    return set_flag(config_text, "colour_constancy", on)


def flag_of(config_text: str, key: str) -> bool:
    """Whether the editor's config sets the true/false field `key` (False while the JSON does not parse)."""
    try:
        return bool(json.loads(config_text or "{}").get(key, False))
    except (json.JSONDecodeError, AttributeError):
        return False


def set_flag(config_text: str, key: str, on: bool) -> str:
    """The editor's config with the true/false field `key` set; unparseable JSON is left for Run to report."""
    try:
        data = json.loads(config_text or "{}")
    except json.JSONDecodeError:
        return config_text
    if not isinstance(data, dict):
        return config_text
    data[key] = bool(on)
    return json.dumps(data, indent=2)


def preset_form(name: str):
    """The form fields and the JSON editor filled from a preset."""
    return _form_values(load_preset(name or DEFAULT_PRESET))


def _form_values(cfg) -> tuple:
    text = json.dumps(_editable(cfg.to_dict()), indent=2)
    return (
        cfg.repeats,
        int(cfg.model.get("epochs", 10)),
        cfg.train_budget,
        cfg.model.get("model", "smallcnn"),
        cfg.image_size,
        cfg.n_boot,
        text,
    )


def build_config(config_text, real, synthetic_text, ood, repeats, epochs, budget, model, size, n_boot):
    """The experiment the form describes: the JSON with the form's data and settings applied. Raises
    ValueError / PermissionError naming what is wrong."""
    try:
        data = json.loads(config_text or "{}")
    except json.JSONDecodeError as exc:
        raise ValueError(f"the config is not valid JSON: {exc}") from None
    cfg = experiment_from_dict(data)
    real = (real or "").strip()
    if not real:
        raise ValueError("choose a real dataset (an imported dataset or an image folder)")
    _check_readable(real)
    sources = [line.strip() for line in (synthetic_text or "").splitlines() if line.strip()]
    for s in sources:
        _check_readable(s.partition("=")[2] if "=" in s and not Path(s).exists() else s)
    if ood and ood.strip():
        _check_readable(ood.strip())
    settings = dict(cfg.model)
    if epochs:
        settings["epochs"] = int(epochs)
    if model:
        settings["model"] = model
    return with_data(
        cfg,
        real=real,
        synthetic=sources,
        ood_test=(ood or "").strip(),
        repeats=int(repeats) if repeats else None,
        train_budget=int(budget) if budget is not None else None,
        image_size=int(size) if size else None,
        n_boot=int(n_boot) if n_boot else None,
        model=settings,
    )


def start_from_form(config_text, real, synthetic_text, ood, repeats, epochs, budget, model, size, n_boot):
    """Start the experiment as a background job: (run id, message). Bad input -> ("", reason)."""
    try:
        cfg = build_config(config_text, real, synthetic_text, ood, repeats, epochs, budget, model, size, n_boot)
        job = start_experiment(cfg)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        return "", f"**Not started:** {exc}"
    pos = get_runner().queue_position(job.id)
    wait = f" It waits behind {pos} other job(s)." if pos else ""
    units = len(cfg.arms) * (cfg.kfold or cfg.repeats)
    return job.id, (
        f"Started `{job.id}`: {len(cfg.arms)} arms x {cfg.kfold or cfg.repeats} "
        f"{'folds' if cfg.kfold else 'repeats'} = {units} trainings.{wait} Data and guard rails "
        "(class sets, leakage) are checked before any training."
    )


def poll(run_id: str, shown: str):
    """Everything the right-hand side shows for `run_id`; heavy parts only when something changed."""
    n = 11
    if not run_id:
        return [gr.skip()] * n + [shown]
    try:
        run = open_run(run_id)
    except FileNotFoundError as exc:
        return [f"**{exc}**"] + [gr.skip()] * (n - 1) + [shown]
    key = _change_key(run)
    if key == shown:
        return [progress_text(run)] + [gr.skip()] * (n - 1) + [shown]
    return [*experiment_view(run_id), key]


def experiment_view(run_id: str) -> tuple:
    """(status, results table, notes, ROC, bars, sweep, curves, per-class table, gallery, files, command)."""
    run = open_run(run_id)
    summary = _summary(run)
    figs = experiment_figures(summary) if summary else {}
    rows = results_rows(summary) if summary else []
    table = pd.DataFrame(rows) if rows else pd.DataFrame(columns=["arm", "verdict"])
    table = table[[c for c in TABLE_COLUMNS if c in table.columns]]
    per = pd.DataFrame(per_class_rows(summary)) if summary else pd.DataFrame()
    report = [run.path / n for n in ("report.html", "results.csv", "numbers.csv", "results.json")]
    files = [str(p) for p in report if p.is_file()] or None
    return (
        progress_text(run),
        table,
        _notes(run, summary),
        figs.get("roc", empty_figure("ROC curves appear when the first arm finishes")),
        figs.get("bars", empty_figure("metric bars appear when the first arm finishes")),
        figs.get("sweep", empty_figure("no sweep in this experiment (arms without sweep values)")),
        figs.get("train_loss", empty_figure("training curves appear when the first arm finishes")),
        per,
        _gallery(run),
        files,
        rerun_command(run.path),
    )


def progress_text(run) -> str:
    """'running: arm i of n (name), repeat j of R: ... · k of m trainings done · ETA'."""
    st = run.status
    prog = run.events("progress")
    last = prog[-1] if prog else {}
    parts = [f"**{run.name or run.id}** — {st}"]
    pos = get_runner().queue_position(run.id) if st == "queued" else None
    if pos is not None:
        parts.append(f"waiting behind {pos + 1} job(s) in the queue (see the Jobs tab)")
    if last.get("message") and st not in ("finished",):
        parts.append(last["message"])
    if last.get("units_total"):
        done = last.get("units_done", 0) if st != "finished" else last["units_total"]
        parts.append(f"{done} of {last['units_total']} trainings done")
    if st == "running" and last.get("eta_s") is not None:
        parts.append(f"ETA {_fmt_s(last['eta_s'])}")
    if st == "failed" and run.error:
        parts.append(f"error: {run.error.strip().splitlines()[0]}")
    if st in ("cancelled", "interrupted", "failed"):
        parts.append("press **Resume** to continue with the unfinished trainings")
    return " · ".join(parts)


def cancel_experiment(run_id: str) -> str:
    return cancel_run(run_id, "No experiment is shown.",
                      "finished trainings are kept; **Resume** continues with the rest.")


def resume_shown(run_id: str) -> str:
    if not run_id:
        return "Open a past experiment first."
    try:
        job = resume_experiment(run_id)
    except (ValueError, FileNotFoundError) as exc:
        return f"**Not resumed:** {exc}"
    return f"Resuming `{job.id}`: only the unfinished arm x repeat trainings run."


def export_report(run_id: str):
    """Write the report (also for a partial experiment) and offer its files for download."""
    if not run_id:
        return None, "Open or run an experiment first."
    run = open_run(run_id)
    if not (run.path / "plan.json").is_file():
        return None, "Nothing to export yet: the experiment has not planned its trainings."
    paths = write_report(run.path, summarize(run.path))
    keep = ("html", "csv", "numbers", "per_class", "json", "command")
    return [str(paths[k]) for k in keep], f"Report written to `{paths['html']}`."


# -- internals ------------------------------------------------------------------------------------
_SUMMARY_CACHE: dict[tuple, dict] = {}


def _summary(run) -> dict | None:
    """The finished result, or (running, partial) a summary computed from the saved units, memoised on
    what changed so a poll does not recompute the bootstrap."""
    if run.status == "finished" and run.result:
        return run.result
    if not (run.path / "plan.json").is_file():
        return None
    key = _change_key(run)
    if key not in _SUMMARY_CACHE:
        _SUMMARY_CACHE.clear()
        _SUMMARY_CACHE[key] = summarize(run.path)
    return _SUMMARY_CACHE[key]


def _change_key(run) -> str:
    done = len(list(run.path.glob("units/*/predictions.json")))
    stamp = (run.path / "result.json").stat().st_mtime_ns if (run.path / "result.json").is_file() else 0
    plan = (run.path / "plan.json").is_file()
    return f"{run.id}|{run.status}|{done}|{plan}|{stamp}"


def _notes(run, summary: dict | None) -> str:
    if summary is None:
        if run.status == "failed" and run.error:
            return f"**Refused / failed:** {run.error.strip().splitlines()[0]}"
        return "Loading data and checking the guard rails…"
    lines = []
    counts = ", ".join(f"{c} {n}" for c, n in summary.get("test_class_counts", {}).items())
    lines.append(
        f"Every arm is tested on the same **{summary.get('n_test')}** real images ({counts}); "
        f"baseline: **{summary.get('baseline')}**."
    )
    for c in summary.get("contrasts", []):
        lines.append(f"**{c['arm']}** vs **{c['reference']}**: {c['verdict']}")
    worth = worth_lines(summary)
    if worth:
        lines.append("**Worth N** (real images per class the real-only line needs for the same AUC; the curve is "
                     "in the sweep plot):\n" + "\n".join(f"- {w}" for w in worth))
    for w in summary.get("warnings", []):
        lines.append(f"⚠ {w}")
    return "\n\n".join(lines)


def _gallery(run) -> list[tuple[str, str]] | None:
    from simstudio.runs import read_json

    index = read_json(run.path / "samples" / "galleries.json") or []
    out = [(str(run.path / g["file"]), f"{g['name']} ({g['kind']})") for g in index if (run.path / g["file"]).is_file()]
    return out or None


def _editable(d: dict) -> dict:
    """The config as the editor shows it: data paths are set by the form fields above it ('dataset' as the
    split is no path: it names the split saved with whichever real dataset is chosen)."""
    hidden = ("real", "ood_test") if d.get("split") == "dataset" else ("real", "ood_test", "split")
    out = {k: v for k, v in d.items() if k not in hidden}
    if out.get("curve_arms"):  # made again from curve_arms x real_sizes when the experiment starts
        out["arms"] = [a for a in out.get("arms", []) if not a.get("curve")]
    return out


def _check_readable(ref: str) -> None:
    """A dataset run id, a folder in the run store, or a folder under the allowed data roots."""
    from simstudio.data.roots import check_allowed
    from simstudio.public import check_typed_path

    if check_typed_path(ref) is not None:  # public mode: one of the session's own runs, else refused
        return
    p = Path(ref).expanduser()
    if not p.exists() and "/" not in ref and (runs_root() / ref).is_dir():
        return
    resolved = p.resolve()
    store = runs_root().resolve()
    if resolved == store or store in resolved.parents:
        return
    check_allowed(ref)


def _fmt_s(s: float) -> str:
    s = int(round(s))
    return f"{s}s" if s < 60 else f"{s // 60}m{s % 60:02d}s" if s < 3600 else f"{s // 3600}h{(s % 3600) // 60:02d}m"

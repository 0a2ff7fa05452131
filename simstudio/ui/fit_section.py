"""The Gap tab's simulator-fit section: fit the class presets to a real dataset (an optuna search, optionally
under a realism cap, within a trust region around the start preset, confirmed on fresh seeds) and follow
its trials. Handlers are plain functions (tests call them); the work is a `simfit` job in the run store."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from simstudio import plots
from simstudio.jobs import get_runner
from simstudio.ui.gap_tab import (
    _exists,
    _progress_text,
    _ref,
    _refusals_as_message,
    classifier_choices,
    dataset_choices,
)
from simstudio.ui.run_polling import cancel_run, has_ended, open_with_status


def build_fit_section() -> None:
    from simstudio.experiments.simfit import OBJECTIVES

    gr.Markdown("## Fit the simulator to a real dataset\nAn optuna search over the class presets' "
                "distributions. **Fair** mode (default): skin, camera and artefacts are shared by all classes, "
                "only lesion parameters differ. The fit reads the validation part of the split, never the "
                "test part.")
    with gr.Row():
        real = gr.Dropdown(choices=dataset_choices(), allow_custom_value=True,
                           label="Real dataset (with a train/val/test split)", scale=2)
        parts = gr.CheckboxGroup(["train", "val"], value=["val"], label="Fit to")
        mode = gr.Radio(["fair", "matching"], value="fair", label="Mode")
        objective = gr.Dropdown(list(OBJECTIVES), value="stats", label="Objective")
        space = gr.Radio(["compact", "full"], value="compact", label="Knobs")
        camera = gr.Radio([("Ranges (searched)", "ranges"), ("Each real photo's", "photos")], value="ranges",
                          label="Camera: skin type, cast, exposure", elem_id="fit-camera")
    with gr.Row():
        trials = gr.Slider(2, 200, value=30, step=1, label="Trials")
        per_class = gr.Slider(8, 1000, value=120, step=8, label="Simulated images per class and trial")
        base = gr.Textbox(label="Start from preset JSON (empty = default)")
        classifier = gr.Dropdown(choices=classifier_choices(), allow_custom_value=True,
                                 label="Classifier (kid, domain_auc)")
        colour_constancy = gr.Checkbox(False, label="Colour constancy (Shades of Gray on both sets)")
    with gr.Row():  # what a trial must keep and which trial the fit keeps
        max_c2st = gr.Number(0, minimum=0, maximum=1, step=0.01, elem_id="fit-max-c2st",
                             label="Realism constraint: most C2ST of the lesion statistics a trial may have "
                                   "(0.5 = like real; 0 = none)")
        radius = gr.Number(1, minimum=0.01, maximum=1, step=0.05, elem_id="fit-radius",
                           label="Trust region: share of each knob's range a trial may move from the start (1 = all)")
        confirm = gr.Number(0, minimum=0, maximum=20, step=1, precision=0, elem_id="fit-confirm",
                            label="Confirm on fresh seeds: score the start and the best 3 trials again on this many "
                                  "seeds, keep the best mean (0 = off; 5 for sim_auc)")
        keep_abcd = gr.Checkbox(True, label="Keep the ABCD order (skip drawn presets whose benign lesions are "
                                            "more asymmetric, irregular or varied than the melanomas)")
    with gr.Row():
        start = gr.Button("Start fit", variant="primary")
        cancel = gr.Button("Cancel", variant="stop")
    fit_run = gr.Textbox(visible=False)
    shown = gr.State("")
    status = gr.Markdown()
    with gr.Row():
        curve = gr.Plot(label="Objective per trial")
        preview = gr.Image(label="Best so far", type="filepath")
    table = gr.Dataframe(label="Trials", interactive=False, wrap=True)
    start.click(lambda *a: start_fit(*a[:9], colour_constancy=a[9], keep_abcd=a[10], camera=a[11], max_c2st=a[12],
                                     radius=a[13], confirm=a[14]),
                inputs=[real, parts, mode, objective, space, trials, per_class, base, classifier, colour_constancy,
                        keep_abcd, camera, max_c2st, radius, confirm],
                outputs=[fit_run, status])
    cancel.click(lambda r: cancel_job(r), inputs=[fit_run], outputs=[status])
    gr.Timer(2.0).tick(fit_views, inputs=[fit_run, shown], outputs=[status, curve, preview, table, shown])


@_refusals_as_message
def start_fit(real: str, parts: list[str] | None = None, mode: str = "fair", objective: str = "stats",
              space: str = "compact", trials: int = 30, per_class: int = 120, base: str = "",
              classifier: str = "", size: int = 96, knobs: list[str] | None = None,
              split_file: str = "", colour_constancy: bool = False, keep_abcd: bool = True,
              camera: str = "ranges", max_c2st: float | None = 0.0, radius: float | None = 1.0,
              confirm: float | None = 0) -> tuple[str, str]:
    """Check the form and start a fit job: (run id, message). The test part is refused here too."""
    from simstudio.experiments.simfit import SimFitConfig, fit_simulator

    real = _ref(real)
    if not real:
        return "", "⚠ Choose the real dataset to fit to."
    if not _exists(real):
        return "", f"⚠ The real set `{real}` is neither an image folder nor a dataset run."
    config = SimFitConfig(real=real, split_file=_ref(split_file), real_parts=list(parts or []),
                          base_preset=_ref(base), mode=mode or "fair", objective=objective or "stats",
                          space=space or "compact", knobs=list(knobs or []), n_trials=int(trials),
                          per_class=int(per_class), size=int(size), classifier=_ref(classifier),
                          colour_constancy=bool(colour_constancy), keep_abcd=bool(keep_abcd),
                          camera=camera or "ranges", max_c2st=float(max_c2st or 0),
                          radius=1.0 if radius is None else float(radius))
    if confirm is not None and float(confirm) != int(float(confirm)):
        return "", f"⚠ Confirm on fresh seeds = {confirm:g} is not a whole number of seeds (0 to 20)."
    config.confirm = int(float(confirm or 0))
    try:
        config.validate()
    except ValueError as exc:
        return "", f"⚠ {exc}"
    job = get_runner().submit("simfit", fit_simulator, config, heavy=True, name=f"fit to {Path(real).name}")
    camera_note = ", camera of each real photo" if config.camera == "photos" else ""
    cap_note = f", lesion statistics' C2ST at most {config.max_c2st:g}" if config.max_c2st else ""
    cap_note += f", each knob within {config.radius:g} of its range of the start" if config.radius < 1 else ""
    cap_note += f", confirmed on {config.confirm} fresh seeds" if config.confirm else ""
    return job.id, f"Started `{job.id}` ({config.mode} mode, objective {config.objective}{camera_note}{cap_note})."


def fit_views(run_id: str, shown: str = ""):
    """(status, trial curve, best-so-far preview, trial table, shown) of a fit run: refreshed while it
    runs, drawn once more when it has ended (`shown` is the ended run already on the page). The run's
    status is read once, before its trials: the drawing that marks the run shown has all of them."""
    import pandas as pd

    from simstudio.experiments.fit_keep import confirm_summary, realism_summary
    from simstudio.experiments.simfit import OBJECTIVES, abcd_summary, camera_summary, trial_table

    if not run_id or run_id == shown:
        return (gr.skip(),) * 5
    run, status, _missing = open_with_status(run_id)
    if run is None:
        return f"⚠ No run `{run_id}`.", gr.skip(), gr.skip(), gr.skip(), run_id  # said once: nothing more to poll
    trials = trial_table(run.path)
    objective = run.config.get("objective", "stats")
    direction = OBJECTIVES.get(objective, "minimize")
    cap = run.config.get("max_c2st") or 0
    fig = (plots.trials_figure([t["trial"] for t in trials], [t["value"] for t in trials], direction,
                               title=f"{objective} per trial ({'lower' if direction == 'minimize' else 'higher'}"
                                     " is better)",
                               kept=[not cap or t.get("c2st", 1.0) <= cap for t in trials])
           if trials else plots.empty_figure("no trial finished yet"))
    preview = run.path / "samples" / "best.png"
    rows = [{"trial": t["trial"], "value": round(t["value"], 4),
             **({"C2ST": t["c2st"]} if "c2st" in t else {}), "seconds": t.get("seconds"),
             **{k: round(v, 3) for k, v in t.get("params", {}).items()}} for t in trials]
    r = run.result
    if status == "finished" and r:
        text = (f"`{run.id}` finished: {objective} {r['start_value']:.4f} → {r['best_value']:.4f} (trial "
                f"{r['best_trial']}). Fitted preset: `{r['preset']}` (export with it as the preset file in the "
                "Simulate tab, or `python -m simstudio simulate --preset FILE`)."
                + (f" {realism_summary(r)}" if r.get("max_c2st") else "")
                + (f" {confirm_summary(r)}" if r.get("confirm") else "")
                + (f" {abcd_summary(r)}" if r.get("abcd_skipped") else "")
                + (f" {camera_summary(r)}" if r.get("camera_table") else ""))
    else:
        text = _progress_text(run, status)
    return (text, fig, str(preview) if preview.is_file() else None, pd.DataFrame(rows),
            run.id if has_ended(status) else shown)


def cancel_job(run_id: str) -> str:
    return cancel_run(run_id, "Nothing to cancel.", "it stops after the current trial and keeps what it saved.")

"""GAN tab section "Refine simulated images": pick a simulated export and a real set, train a SimGAN refiner
or use Fourier domain adaptation, watch the losses and the same lesions before and after, and compare
the two-sample test (C2ST) before and after. Same as `python -m simstudio refine ...`.

Only wiring: training is `simstudio.train.refiner.train_refiner`, applying is
`simstudio.experiments.refined_export.refine_export`, both run as jobs in the run store.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from simstudio.jobs import get_runner
from simstudio.plots import empty_figure, gan_losses_figure
from simstudio.runs import list_runs, open_run
from simstudio.ui.run_polling import has_ended, open_with_status, poll_timer

METHODS = {"SimGAN refiner (trained)": "simgan", "Fourier domain adaptation (no training)": "fda"}
CAVEAT_MD = ("**Fair by construction, with one caveat.** Neither method reads a class label: the refiner "
             "learns from every simulated class pooled and every real class pooled, and FDA draws its real "
             "image at random whatever the class. The refiner can still learn correlations present in the "
             "real set between how a lesion looks and how it was photographed (e.g. a camera used more for "
             "melanomas). The raw export stays available and is never changed; refinement also narrows the "
             "look toward this one real set.")


def build_refine_section() -> None:
    from simstudio.train.refiner import PRESETS

    job_id = gr.State("")
    with gr.Accordion("Refine simulated images", open=False, elem_id="refine-section"):
        gr.Markdown("Make a simulated export look like a real set while keeping its labels and lesions: a "
                    "SimGAN refiner (Shrivastava et al. 2017) or Fourier domain adaptation (Yang & Soatto "
                    "2020). Writes a new export in the simulator's layout that loads anywhere a synthetic "
                    "folder does. Same as `python -m simstudio refine …`.")
        gr.Markdown(CAVEAT_MD, elem_id="refine-caveat")
        with gr.Row():
            with gr.Column(scale=1, min_width=360):
                synthetic = gr.Textbox(label="Simulated export folder (with manifest.csv)",
                                       elem_id="refine-synthetic")
                with gr.Row():
                    real = gr.Dropdown(_dataset_choices(), value=None, allow_custom_value=True, scale=4,
                                       label="Real images (dataset, or a folder)", elem_id="refine-real")
                    refresh = gr.Button("Refresh", scale=1, size="sm")
                method = gr.Radio(list(METHODS), value=next(iter(METHODS)), label="Method",
                                  elem_id="refine-method")
                with gr.Row():
                    preset = gr.Dropdown(list(PRESETS), value="cpu-64", label="Refiner preset",
                                         elem_id="refine-preset")
                    epochs = gr.Number(value=PRESETS["cpu-64"]["epochs"], precision=0, minimum=1,
                                       label="Epochs", elem_id="refine-epochs")
                    steps = gr.Number(value=PRESETS["cpu-64"]["steps_per_epoch"], precision=0, minimum=1,
                                      label="Steps per epoch", elem_id="refine-steps")
                with gr.Row():
                    lam = gr.Number(value=0.5, minimum=0, label="λ self-regularisation (L1)",
                                    elem_id="refine-lambda")
                    lam_mask = gr.Number(value=0.0, minimum=0, label="Mask consistency weight (0 = off)",
                                         elem_id="refine-lambda-mask")
                features = gr.Dropdown(_feature_choices(), value="pixels", allow_custom_value=True,
                                       label="Feature space for KID and C2ST (a real-trained classifier = "
                                             "domain features)", elem_id="refine-features")
                train_btn = gr.Button("Train refiner", variant="primary", elem_id="refine-train")
                with gr.Row():
                    refiner = gr.Dropdown(refiner_choices(), value=None, label="Refiner to apply", scale=4,
                                          elem_id="refine-refiner")
                    beta = gr.Slider(0.01, 0.09, value=0.01, step=0.01, label="FDA β (window)", scale=3,
                                     elem_id="refine-beta")
                out = gr.Textbox(label="Refined export folder (new; empty = inside the run)",
                                 elem_id="refine-out")
                with gr.Row():
                    apply_btn = gr.Button("Apply (write the refined export)", elem_id="refine-apply")
                    cancel_btn = gr.Button("Cancel", variant="stop", elem_id="refine-cancel")
            with gr.Column(scale=2):
                status = gr.Markdown(elem_id="refine-status")
                losses = gr.Plot(value=empty_figure("Refiner losses appear after the first steps"),
                                 label="Refiner losses", elem_id="refine-losses")
                strip = gr.Image(label="The same lesions: simulated (top) and refined (bottom)", type="numpy",
                                 interactive=False, elem_id="refine-strip")
                c2st = gr.Dataframe(headers=["images", "C2ST AUC vs real", "95% CI"], interactive=False,
                                    label="Two-sample test before and after (0.5 = indistinguishable)",
                                    elem_id="refine-c2st")
    timer = gr.Timer(1.0, active=False)
    views = [status, losses, strip, c2st]
    train_btn.click(start_training, inputs=[synthetic, real, preset, epochs, steps, lam, lam_mask, features],
                    outputs=[job_id, status, timer])
    apply_btn.click(start_apply, inputs=[synthetic, real, method, refiner, beta, out, features],
                    outputs=[job_id, status, timer])
    cancel_btn.click(cancel_job, inputs=[job_id], outputs=[status])
    timer.tick(poll_refine, inputs=[job_id], outputs=[*views, refiner, timer])
    preset.input(fill_preset, inputs=[preset], outputs=[epochs, steps])
    refresh.click(lambda: (gr.update(choices=_dataset_choices()), gr.update(choices=refiner_choices()),
                           gr.update(choices=_feature_choices())), outputs=[real, refiner, features])


# -- actions -------------------------------------------------------------------------------------------

def refiner_choices() -> list[tuple[str, str]]:
    from simstudio.train.refiner import RUN_KIND

    return [(f"{r.id} · {r.status}", r.id) for r in list_runs(RUN_KIND)
            if (r.path / "checkpoints" / "refiner").is_dir()]


def fill_preset(preset: str):
    from simstudio.train.refiner import PRESETS

    p = PRESETS.get(preset, {})
    return p.get("epochs", 10), p.get("steps_per_epoch", 100)


def start_training(synthetic, real, preset, epochs, steps, lam, lam_mask, features):
    from simstudio.train.refiner import RUN_KIND, check_refiner_config, refiner_config, train_refiner

    try:
        if not (synthetic or "").strip():
            raise ValueError("give the simulated export folder")
        if not real:
            raise ValueError("choose the real images")
        config = refiner_config(preset or "cpu-64", synthetic=_allowed(synthetic), dataset=_real(real),
                                real_part=_part(real, "train"), epochs=_int(epochs), steps_per_epoch=_int(steps),
                                lambda_reg=float(lam or 0), lambda_mask=float(lam_mask or 0),
                                eval_features=features or "pixels")
        check_refiner_config(config)
        job = get_runner().submit(RUN_KIND, train_refiner, config, name=f"refiner {preset}")
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError, TypeError) as exc:
        return "", f"**Cannot start:** {exc}", gr.Timer(active=False)
    return job.id, f"Training refiner `{job.id}`…", gr.Timer(active=True)


def start_apply(synthetic, real, method_label, refiner, beta, out, features):
    from simstudio.experiments.refined_export import (
        RUN_KIND,
        RefineConfig,
        check_refine_config,
        refine_export,
    )

    method = METHODS.get(method_label, "simgan")
    try:
        if method == "simgan" and not refiner:
            raise ValueError("train a refiner first (or pick one), or choose Fourier domain adaptation")
        if not (synthetic or "").strip():
            raise ValueError("give the simulated export folder")
        config = RefineConfig(synthetic=_allowed(synthetic), out=_allowed(out) if (out or "").strip() else "",
                              method=method, refiner=refiner or "", real=_real(real) if real else "",
                              real_part=_part(real, "train") if real else "", beta=float(beta),
                              c2st_features=(features or "pixels") if real else "",
                              c2st_part=_part(real, "test") if real else "")
        check_refine_config(config)
        job = get_runner().submit(RUN_KIND, refine_export, config, name=f"refine {method}")
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        return "", f"**Cannot apply:** {exc}", gr.Timer(active=False)
    return job.id, f"Refining into `{config.out or 'the run folder'}` (run `{job.id}`)…", gr.Timer(active=True)


def cancel_job(job_id: str) -> str:
    if not job_id:
        return "Nothing is running."
    get_runner().cancel(job_id)
    return f"Cancelling `{job_id}`…"


def poll_refine(job_id: str):
    status, view = _refine_view(job_id)
    return (*view, gr.update(choices=refiner_choices()) if has_ended(status) else gr.update(),
            poll_timer(status))


def show_refine_run(job_id: str) -> tuple:
    """(status, losses figure, before/after strip, C2ST rows) of a refiner or refine run."""
    return _refine_view(job_id)[1]


# -- private helpers ----------------------------------------------------------------------------------

def _refine_view(job_id: str) -> tuple[str, tuple]:
    """The run's status and its view, from one read of the status made before anything else is read.

    A job writes its result, events and images before its final status, so a run read as finished shows
    all of them. Reading the status again later (for the text, or to stop the timer) could see the run
    finish after its result had been read as absent: the last tick showed "C2ST AUC" in the status line
    above an empty table, and stopped the timer that would have filled it."""
    blank = ("", empty_figure("Refiner losses appear after the first steps"), None, [])
    run, status, missing = open_with_status(job_id)
    if run is None:
        return status, (f"**{missing}**" if missing else "", *blank[1:])
    if run.kind == "refiner":
        metrics = [e for e in run.events("metric") if "loss_d" in e]
        fig = (gan_losses_figure(metrics, "Refiner (G) and discriminator (D) losses") if metrics
               else empty_figure("Waiting for the first steps"))
        strip = _png(run.path / "samples" / "refiner" / "progression.png")
        return status, (_training_text(run, status), fig, strip, [])
    result = run.result or {}
    rows = []
    c2st = result.get("c2st")
    if c2st:
        for name, label in (("before", "raw simulated"), ("after", "refined")):
            r = c2st[name]
            rows.append([label, f"{r['auc']:.3f}", f"{r['ci'][0]:.3f}–{r['ci'][1]:.3f}"])
    fig = blank[1]
    trained_by = result.get("refiner_run") or (run.config or {}).get("refiner", "")
    if trained_by:  # the losses of the refiner this export applied
        try:
            metrics = [e for e in open_run(trained_by).events("metric") if "loss_d" in e]
        except (FileNotFoundError, ValueError):
            metrics = []
        if metrics:
            fig = gan_losses_figure(metrics, f"Losses of refiner {trained_by}")
    return status, (_apply_text(run, status, result), fig, _png(run.path / "before_after.png"), rows)


def _training_text(run, status: str) -> str:
    progress = run.events("progress")
    last = progress[-1] if progress else {}
    parts = [f"Refiner run `{run.id}`: **{status}**"]
    if last.get("message"):
        parts.append(f"{last['message']} ({last.get('done', 0)}/{last.get('total', '?')} steps)")
    fid = run.events("fidelity")
    if fid:
        parts.append(f"KID vs real {fid[-1]['kid']:.4g} at epoch {fid[-1]['epoch']} ({fid[-1]['feature_space']})")
    iou = run.events("mask_iou")
    if iou:
        parts.append(f"lesion mask IoU refined {iou[-1]['refined']:.2f} (raw {iou[-1]['raw']:.2f})")
    if status == "failed" and run.error:
        parts.append(f"error: {run.error.strip().splitlines()[-1]}")
    if status == "finished":
        parts.append("Pick it under *Refiner to apply* and press Apply.")
    return "  \n".join(parts)


def _apply_text(run, status: str, result: dict) -> str:
    parts = [f"Refine run `{run.id}`: **{status}**"]
    if status == "finished":
        parts.append(f"wrote {result.get('images')} images to `{result.get('out')}` "
                     f"({result.get('images_per_cpu_s')} images per CPU-second)")
        c2st = result.get("c2st")
        if c2st:
            parts.append(f"C2ST AUC {c2st['before']['auc']:.3f} → {c2st['after']['auc']:.3f} "
                         f"({c2st['features']}, {c2st['n_real']} real images of part "
                         f"{c2st['real_part'] or 'all'})")
    elif status == "failed" and run.error:
        parts.append(f"error: {run.error.strip().splitlines()[-1]}")
    else:
        progress = run.events("progress")
        if progress:
            parts.append(progress[-1].get("message", ""))
    return "  \n".join(parts)


def _allowed(path: str) -> str:
    from simstudio.data.roots import check_allowed

    return str(check_allowed(path))


def _real(ref) -> str:
    """A dataset run id as it is; a folder only where this app may read."""
    if not ref:
        raise ValueError("choose the real images")
    from simstudio.ui.gan_tab import _dataset_or_folder

    return _dataset_or_folder(str(ref))


def _part(ref, part: str) -> str:
    """`part` when the real set carries a saved split (an imported dataset), else '' (every image)."""
    from simstudio.runs import open_run as _open

    try:
        run = _open(str(ref))
    except (FileNotFoundError, ValueError):
        return ""
    return part if (run.path / "split.csv").is_file() else ""


def _dataset_choices():
    from simstudio.ui.gan_tab import dataset_choices

    return dataset_choices()


def _feature_choices():
    from simstudio.ui.gan_tab import classifier_choices

    return [("pixels (16×16, crude, instant)", "pixels"),
            *[(f"classifier {label}", rid) for label, rid in classifier_choices()]]


def _png(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    from PIL import Image

    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"))
    except OSError:
        return None  # being replaced right now: shown on the next tick


def _int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {v!r}") from None

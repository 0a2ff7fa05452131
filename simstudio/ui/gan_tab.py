"""GAN tab: train a DCGAN (one per class), an ACGAN or a CycleGAN on an imported dataset and watch it learn;
generate a synthetic dataset from it; measure how close simulator and GAN output are to the real images.

Start submits `simstudio.train.gan.train_gan` as a background job; a timer redraws the G/D losses, mean
D(x) and D(G(z)), the progression strips and KID/FID from the run's events. Cancel stops after the
current step (the last finished epoch stays checkpointed); Resume continues the same run from there.
Same as `python -m simstudio train-gan / generate / fidelity`.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from simstudio.jobs import get_runner
from simstudio.plots import empty_figure, gan_d_outputs_figure, gan_fidelity_figure, gan_losses_figure
from simstudio.public import is_public
from simstudio.runs import list_runs, open_run
from simstudio.ui.run_polling import cancel_run, has_ended, open_with_status, poll_timer

MODELS = {"DCGAN (one model per class)": "dcgan", "ACGAN (class-conditional)": "acgan",
          "CycleGAN (class X → class Y)": "cyclegan"}
ALPHAS = {"1/8": 0.125, "1/4": 0.25, "1/2": 0.5, "1 (no filter)": 1.0}
PRESET_FIELDS = ("image_size", "epochs", "batch_size", "lr", "ngf", "ndf", "eval_every")


def build_gan_tab() -> None:
    from simstudio.train.dcgan import DCGANConfig

    d = DCGANConfig()
    gr.Markdown("Train GANs on the real images and turn them into a synthetic dataset. Same as "
                "`python -m simstudio train-gan …`, `generate …` and `fidelity …`. The CPU presets finish "
                "in minutes; the paper presets want a GPU.")
    run_id = gr.State("")
    with gr.Row():
        with gr.Column(scale=1, min_width=360):
            model = gr.Radio(list(MODELS), value=next(iter(MODELS)), label="Model", elem_id="gan-model")
            preset = gr.Dropdown(preset_choices("dcgan"), value="cpu-32", label="Preset",
                                 elem_id="gan-preset")
            with gr.Row():
                dataset = gr.Dropdown(dataset_choices(), value=None, label="Real dataset (imported)", scale=4,
                                      elem_id="gan-dataset")
                refresh = gr.Button("Refresh", scale=1, size="sm")
            folder = gr.Textbox(label="…or an image folder on the server (class subfolders)",
                                elem_id="gan-folder")
            classes = gr.Dropdown([], value=[], multiselect=True, allow_custom_value=True,
                                  label="Classes (empty = every class; DCGAN trains one model each)",
                                  elem_id="gan-classes")
            with gr.Group(visible=False) as cycle_box:
                with gr.Row():
                    x_class = gr.Dropdown([], label="Domain X (e.g. nevus)", allow_custom_value=True)
                    y_class = gr.Dropdown([], label="Domain Y (e.g. melanoma)", allow_custom_value=True)
                with gr.Row():
                    prf = gr.Dropdown(classifier_choices(), value=None, label="Path-Rank-Filter classifier")
                    alpha = gr.Dropdown(list(ALPHAS), value="1 (no filter)", label="Keep top α of Y")
                chain = gr.Dropdown(gan_run_choices(), value=None,
                                    label="Refinement chain: X = samples of this GAN run (per class)")
            pv = preset_values("dcgan", "cpu-32")
            with gr.Row():
                size = gr.Number(value=pv[0], precision=0, label="Image size (px)", elem_id="gan-size")
                epochs = gr.Number(value=pv[1], precision=0, minimum=1, label="Epochs", elem_id="gan-epochs")
                batch = gr.Number(value=pv[2], precision=0, minimum=1, label="Batch", elem_id="gan-batch")
            with gr.Row():
                lr = gr.Number(value=pv[3], label="Learning rate (Adam, β1 0.5)")
                ngf = gr.Number(value=pv[4], precision=0, minimum=1, label="ngf", elem_id="gan-ngf")
                ndf = gr.Number(value=pv[5], precision=0, minimum=1, label="ndf", elem_id="gan-ndf")
            with gr.Accordion("More settings", open=False):
                with gr.Row():
                    nz = gr.Dropdown([100, 128], value=d.nz, label="z size")
                    diffaug = gr.Checkbox(value=False, label="DiffAugment (small datasets)")
                    seed = gr.Number(value=0, precision=0, label="Seed")
                with gr.Row():
                    eval_every = gr.Number(value=pv[6], precision=0, minimum=0,
                                           label="KID/FID every K epochs")
                    eval_samples = gr.Number(value=d.eval_samples, precision=0, minimum=2,
                                             label="Images per KID/FID check")
                    eval_features = gr.Dropdown(feature_choices(), value="pixels", label="KID/FID features")
            with gr.Row():
                start_btn = gr.Button("Start", variant="primary", elem_id="gan-start")
                cancel_btn = gr.Button("Cancel", variant="stop", elem_id="gan-cancel")
                resume_btn = gr.Button("Resume", elem_id="gan-resume")
        with gr.Column(scale=2):
            with gr.Row():
                runs = gr.Dropdown(gan_run_choices(), value=None, label="GAN runs (reopen a past run)",
                                   scale=4, elem_id="gan-runs")
                runs_refresh = gr.Button("Refresh", scale=1, size="sm")
            status = gr.Markdown(elem_id="gan-status")
            warnings = gr.Markdown(elem_id="gan-warnings")
            with gr.Row():
                loss_plot = gr.Plot(value=empty_figure("Losses appear after the first steps"), label="Losses",
                                    elem_id="gan-losses")
                d_plot = gr.Plot(value=empty_figure(""), label="D outputs", elem_id="gan-d-outputs")
            strips = gr.Image(label="Progression: the same fixed noise over the epochs (a strip per model)",
                              type="numpy", interactive=False, elem_id="gan-samples")
            fid_plot = gr.Plot(value=empty_figure("KID/FID appear every K epochs"),
                               label="Fidelity over training", elem_id="gan-fidelity")
            with gr.Accordion("Generate a synthetic dataset from this run", open=False):
                with gr.Row():
                    per_class = gr.Number(value=200, precision=0, minimum=1, label="Images per class")
                    gen_seed = gr.Number(value=0, precision=0, label="First seed")
                    which = gr.Radio(["best", "last"], value="best", label="Checkpoint")
                    gen_btn = gr.Button("Generate", elem_id="gan-generate")
                gen_status = gr.Markdown(elem_id="gan-gen-status")
                gen_gallery = gr.Gallery(label="Generated samples", columns=8, height=200, object_fit="contain")
            with gr.Accordion("Fidelity: real vs simulator output and real vs GAN output", open=False):
                with gr.Row():
                    ref_set = gr.Dropdown(dataset_choices(), value=None, allow_custom_value=True,
                                          label="Real images (dataset or folder)")
                    sim_set = gr.Textbox(label="Simulator output folder")
                    gan_set = gr.Dropdown(image_set_choices(), value=None, allow_custom_value=True,
                                          label="GAN output (generate run or folder)")
                with gr.Row():
                    cmp_features = gr.Dropdown(feature_choices(), value="inception",
                                               label="Feature space")
                    cmp_class = gr.Textbox(label="Class (empty = all)")
                    cmp_max = gr.Number(value=1000, precision=0, minimum=0, label="Max images per set")
                    cmp_btn = gr.Button("Compare", elem_id="gan-compare")
                cmp_status = gr.Markdown(elem_id="gan-compare-status")
                cmp_table = gr.Dataframe(headers=["metric"], interactive=False, label="Fidelity")
    timer = gr.Timer(1.0, active=False)
    side_timer = gr.Timer(1.0, active=False)
    side_id = gr.State("")

    views = [status, warnings, loss_plot, d_plot, strips, fid_plot]
    settings = [model, preset, dataset, folder, classes, x_class, y_class, prf, alpha, chain, size, epochs,
                batch, lr, ngf, ndf, nz, diffaug, eval_every, eval_samples, eval_features, seed]
    start_btn.click(start_gan, inputs=settings, outputs=[run_id, status, timer, runs])
    cancel_btn.click(cancel_gan, inputs=[run_id], outputs=[status])
    resume_btn.click(resume_gan_run, inputs=[run_id], outputs=[status, timer])
    timer.tick(poll_gan, inputs=[run_id], outputs=[*views, timer])
    runs.input(reopen_gan, inputs=[runs], outputs=[run_id, *views, timer])
    runs_refresh.click(lambda: (gr.update(choices=gan_run_choices()), gr.update(choices=image_set_choices())),
                       outputs=[runs, gan_set])
    refresh.click(lambda: (gr.update(choices=dataset_choices()), gr.update(choices=dataset_choices())),
                  outputs=[dataset, ref_set])
    model.change(model_changed, inputs=[model],
                 outputs=[preset, cycle_box, size, epochs, batch, lr, ngf, ndf, eval_every])
    preset.input(fill_preset, inputs=[model, preset], outputs=[size, epochs, batch, lr, ngf, ndf, eval_every])
    for src in (dataset, folder):
        src.change(classes_for, inputs=[dataset, folder], outputs=[classes, x_class, y_class])
    gen_btn.click(start_generate, inputs=[run_id, per_class, gen_seed, which],
                  outputs=[side_id, gen_status, side_timer])
    cmp_btn.click(start_compare, inputs=[ref_set, sim_set, gan_set, cmp_features, cmp_class, cmp_max],
                  outputs=[side_id, cmp_status, side_timer])
    side_timer.tick(poll_side, inputs=[side_id],
                    outputs=[gen_status, gen_gallery, gan_set, cmp_status, cmp_table, side_timer])

    from simstudio.ui.refine_section import build_refine_section

    build_refine_section()


# -- choices ---------------------------------------------------------------------------------------------

def dataset_choices() -> list[tuple[str, str]]:
    from simstudio.data.dataset import dataset_runs

    return [(f"{r.name or r.id} · {r.id}", r.id) for r in dataset_runs()]


def gan_run_choices() -> list[tuple[str, str]]:
    from simstudio.train.gan import RUN_KIND

    out = []
    for r in list_runs(RUN_KIND):
        cfg = r.config
        what = cfg.get("model", "?")
        if cfg.get("model") == "cyclegan":
            what += f" {cfg.get('x_class') or 'chain'}→{cfg.get('y_class') or ''}"
        out.append((f"{r.id} · {what} · {r.status}", r.id))
    return out


def classifier_choices() -> list[tuple[str, str]]:
    """Shipped models and finished classifier runs (for the Path-Rank-Filter and the domain feature space)."""
    from simstudio.train.classifier import RUN_KIND
    from simstudio.train.shipped import shipped_models

    return [*((m.summary, m.name) for m in shipped_models()),
            *((f"{r.id} · {r.config.get('model', '?')}", r.id) for r in list_runs(RUN_KIND)
              if r.status == "finished" and (r.path / "checkpoints").is_dir())]


def feature_choices() -> list[tuple[str, str]]:
    """Feature spaces for KID/FID: pixels, Inception, or a trained classifier's penultimate layer."""
    return [("pixels (16×16, crude, instant)", "pixels"), ("Inception-v3 (needs its weights)", "inception"),
            *[(f"classifier {label}", rid) for label, rid in classifier_choices()]]


def image_set_choices() -> list[tuple[str, str]]:
    """Folders written by generate runs (GAN output)."""
    out = []
    for r in list_runs("generate"):
        res = r.result or {}
        if r.status == "finished" and res.get("out"):
            # public mode: the run id, not its folder (the page never holds a server path)
            out.append((f"{r.id} · {res.get('images', '?')} images", r.id if is_public() else res["out"]))
    return out


def preset_choices(model: str) -> list[str]:
    from simstudio.train.gan import gan_presets

    return list(gan_presets(model))


def preset_values(model: str, preset: str) -> tuple:
    from simstudio.train.gan import gan_config

    cfg = gan_config(model, preset if preset in preset_choices(model) else "")
    return tuple(getattr(cfg, f) for f in PRESET_FIELDS)


# -- handlers --------------------------------------------------------------------------------------------

def model_changed(model_label: str):
    model = MODELS.get(model_label, model_label)
    presets = preset_choices(model)
    first = presets[0]
    return (gr.update(choices=presets, value=first), gr.update(visible=model == "cyclegan"),
            *preset_values(model, first))


def fill_preset(model_label: str, preset: str) -> tuple:
    return preset_values(MODELS.get(model_label, model_label), preset)


def classes_for(dataset: str, folder: str):
    """The class names of the picked dataset or folder, for the class pickers."""
    names: list[str] = []
    try:
        if (folder or "").strip():
            from simstudio.data.roots import check_allowed

            root = check_allowed(folder)
            names = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
        elif dataset:
            names = list((open_run(dataset).read_json("dataset.json") or {}).get("classes", []))
    except (OSError, ValueError):
        names = []
    # Y defaults to the malignant class (the usual direction is benign/nevus → melanoma), X to another one.
    y = next((n for n in names if n.lower().startswith(("mel", "malig"))), names[-1] if names else None)
    x = next((n for n in names if n != y), None)
    return (gr.update(choices=names, value=[]), gr.update(choices=names, value=x),
            gr.update(choices=names, value=y))


def start_gan(model_label, preset, dataset, folder, classes, x_class, y_class, prf, alpha, chain, size,
              epochs, batch, lr, ngf, ndf, nz, diffaug, eval_every, eval_samples, eval_features, seed):
    """Check the settings and submit the GAN job; returns (run id, message, timer, runs dropdown)."""
    from simstudio.train.gan import RUN_KIND, check_gan_config, gan_config, train_gan

    model = MODELS.get(model_label, model_label)
    try:
        if (folder or "").strip():
            from simstudio.data.roots import check_allowed

            source = str(check_allowed(folder))
        else:
            source = dataset or ""
        if not source:
            raise ValueError("choose a real dataset (or type an image folder)")
        overrides = dict(dataset=source, image_size=_int(size), epochs=_int(epochs), batch_size=_int(batch),
                         lr=float(lr), ngf=_int(ngf), ndf=_int(ndf), eval_every=_int(eval_every),
                         eval_samples=_int(eval_samples), eval_features=eval_features or "pixels",
                         diffaugment="color,translation,cutout" if diffaug else "", seed=_int(seed))
        chosen = [c for c in (classes or []) if c]
        if model == "cyclegan":
            overrides.update(x_class=x_class or "", y_class=y_class or "", prf_classifier=prf or "",
                             prf_alpha=ALPHAS.get(alpha, 1.0), chain_from=chain or "", chain_classes=chosen)
        else:
            overrides.update(classes=chosen, nz=_int(nz))
        config = gan_config(model, preset or "", **overrides)
        check_gan_config(config)
    except (ValueError, TypeError, FileNotFoundError, PermissionError) as exc:
        return "", f"**Cannot start:** {exc}", gr.Timer(active=False), gr.update()
    job = get_runner().submit(RUN_KIND, train_gan, config, name=model)
    position = get_runner().queue_position(job.id)
    waiting = f" (waiting: {position} job(s) ahead)" if position else ""
    return job.id, f"Started `{job.id}`{waiting}", gr.Timer(active=True), gr.update(choices=gan_run_choices(),
                                                                                     value=job.id)


def cancel_gan(run_id: str) -> str:
    return cancel_run(run_id, "No GAN run to cancel: start one or reopen a run.",
                      "it stops after the current step; the last finished epoch stays checkpointed, so **Resume** "
                      "continues from there.")


def resume_gan_run(run_id: str):
    """Submit the same run again; it continues after each model's last checkpointed epoch."""
    from simstudio.train.gan import resume_gan

    if not run_id:
        return "Reopen a stopped run first (GAN runs list), then Resume.", gr.Timer(active=False)
    try:
        job = resume_gan(run_id)
    except (ValueError, FileNotFoundError) as exc:
        return f"**Cannot resume:** {exc}", gr.Timer(active=False)
    return f"Resuming `{job.id}` from its last checkpoint.", gr.Timer(active=True)


def poll_gan(run_id: str):
    """Timer tick: redraw the run; stop ticking once it has ended (the view and the timer come from one read
    of its status, so the tick that stops the timer shows the whole run)."""
    status, view = _gan_view(run_id)
    return (*view, poll_timer(status))


def reopen_gan(run_id: str):
    status, view = _gan_view(run_id)
    return (run_id or "", *view, poll_timer(status))


def show_gan_run(run_id: str) -> tuple:
    """(status, warnings, losses figure, D-outputs figure, progression strips, KID/FID figure) of a run."""
    return _gan_view(run_id)[1]


def start_generate(run_id: str, per_class, seed, which):
    """Generate N images per class from the run's checkpoints into a new generate run's folder."""
    from simstudio.runs import new_run
    from simstudio.train.gan_checkpoints import gan_checkpoints
    from simstudio.train.generate import GenerateConfig, check_generate_config, generate_images

    if not run_id:
        return "", "Start or reopen a GAN run first.", gr.Timer(active=False)
    try:
        if _int(per_class) < 1:
            raise ValueError("ask for at least 1 image per class")
        gan_checkpoints(run_id, which or "best")  # a run without any checkpoint yet: say so now
        gen_run = new_run("generate", None, name=f"from {run_id}")
        config = GenerateConfig(checkpoint=run_id, out=str(gen_run.path / "images"),
                                per_class=_int(per_class), seed=_int(seed), which=which or "best")
        gen_run.write_json("config.json", config.__dict__)
        check_generate_config(config)
    except (ValueError, FileNotFoundError) as exc:
        return "", f"**Cannot generate:** {exc}", gr.Timer(active=False)
    job = get_runner().submit("generate", generate_images, config, run=gen_run)
    return job.id, f"Generating into `{config.out}` (run `{job.id}`)…", gr.Timer(active=True)


def start_compare(real, sim_folder, gan_set, features, class_name, max_images):
    """Fidelity of the simulator output and of the GAN output against the real images, as one job."""
    from simstudio.eval.fidelity import FidelityConfig

    try:
        if not real:
            raise ValueError("choose the real dataset to compare against")
        real = _dataset_or_folder(real)
        others = {}
        if (sim_folder or "").strip():
            from simstudio.data.roots import check_allowed

            others["simulator"] = str(check_allowed(sim_folder))
        if gan_set:
            from simstudio.public import check_typed_path

            others["GAN"] = str(check_typed_path(gan_set) or gan_set)  # public mode: own generate runs only
        if not others:
            raise ValueError("give a simulator output folder and/or a GAN output to compare")
        configs = {name: FidelityConfig(a=real, b=ref, features=features or "inception",
                                        classes=[class_name.strip()] if (class_name or "").strip() else [],
                                        max_images=_int(max_images)).__dict__ for name, ref in others.items()}
        if features == "inception":
            from simstudio.eval.fidelity import inception_weights_file

            if not inception_weights_file().is_file():
                from simstudio.eval.fidelity import feature_space

                feature_space("inception")  # offline: raises with the way out, before any work
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        return "", f"**Cannot compare:** {exc}", gr.Timer(active=False)
    job = get_runner().submit("fidelity", compare_sets_job, {"sets": configs}, heavy=True, name="GAN tab")
    return job.id, f"Measuring fidelity (run `{job.id}`)…", gr.Timer(active=True)


def compare_sets_job(config: dict, ctx) -> dict:
    """One fidelity report per named set against the same real images."""
    from simstudio.eval.fidelity import compare_image_sets

    reports = {}
    for name, cfg in config["sets"].items():
        ctx.check_cancel()
        ctx.log(f"fidelity of {name} output")
        reports[name] = compare_image_sets(cfg, ctx)
        reports[name]["fake_name"] = f"{name} output ({reports[name]['fake_name']})"
    return {"reports": reports}


def poll_side(side_id: str):
    """Timer tick for the Generate and Fidelity sections (whichever job was started last); like `poll_gan`,
    the view and the timer come from one read of the run's status, made first."""
    keep = gr.update()
    run, status, missing = open_with_status(side_id)
    timer = poll_timer(status)
    if run is None:
        text = f"**{missing}**" if missing else keep
        if side_id.startswith("generate-"):  # a run id starts with its kind
            return text, keep, keep, keep, keep, timer
        return keep, keep, keep, text, keep, timer
    result = run.result
    if run.kind == "generate":
        out = (result or {}).get("out")
        sets = gr.update(choices=image_set_choices(), value=side_id if is_public() else out) if out else keep
        return (*_generate_view(run, status, result), sets, keep, keep, timer)
    return (keep, keep, keep, *_compare_view(run, status, result), timer)


def compare_table(reports: dict):
    """Rows = metrics, columns = the compared sets; KID first when any set is too small for FID."""
    names = list(reports)
    lead_kid = any(r["lead"] == "kid" for r in reports.values())
    keys = [("kid", "KID"), ("kid_std", "KID std"), ("fid", "FID")] if lead_kid else \
        [("fid", "FID"), ("kid", "KID"), ("kid_std", "KID std")]
    keys += [("precision", "precision"), ("recall", "recall"), ("density", "density"),
             ("coverage", "coverage"), ("inception_score", "Inception Score"), ("n_real", "real images"),
             ("n_fake", "compared images")]
    rows = []
    for key, label in keys:
        if any(key in r for r in reports.values()):
            rows.append([label] + [_fmt(reports[n].get(key)) for n in names])
    first = next(iter(reports.values()))
    rows.append(["features", *[first["feature_space"]] * len(names)])
    rows.append(["resize", *[first["resize"]] * len(names)])
    import pandas as pd

    return pd.DataFrame(rows, columns=["metric", *names])


# -- private helpers ---------------------------------------------------------------------------------------

def _dataset_or_folder(ref: str) -> str:
    """A dataset run id as it is; anything else must be a folder this app may read."""
    try:
        return open_run(ref).id
    except FileNotFoundError:
        from simstudio.data.roots import check_allowed

        return str(check_allowed(ref))


def _gan_view(run_id: str) -> tuple[str, tuple]:
    """The run's status and its view (see `show_gan_run`), from one read of the status made before anything
    else of the run is read: a job writes its events and strips before its final status, so a run read as
    finished shows its last epoch, and no later read of the status (to stop the timer) can see the run end
    after its view had been read."""
    empty = ("", "", empty_figure("Start a GAN or reopen a run"), empty_figure(""), None,
             empty_figure("KID/FID appear every K epochs"))
    run, status, missing = open_with_status(run_id)
    if run is None:
        return status, (f"**{missing}**" if missing else "", *empty[1:])
    metrics = [e for e in run.events("metric") if "loss_d" in e]
    fidelity = run.events("fidelity")
    losses = gan_losses_figure(metrics) if metrics else empty_figure("Waiting for the first steps")
    d_out = gan_d_outputs_figure(metrics) if metrics else empty_figure("")
    fid = gan_fidelity_figure(fidelity) if fidelity else empty_figure("KID/FID appear every K epochs")
    return status, (_status_text(run, status, fidelity), _warnings_text(run), losses, d_out, _strips(run), fid)


def _generate_view(run, status: str, result: dict | None) -> tuple[str, list]:
    if status == "failed":
        return f"**Generation failed:** {(run.error or '').strip().splitlines()[0]}", []
    if not result:
        if has_ended(status):  # cancelled or interrupted before it wrote its summary
            return f"Generation **{status}**: generate again to write the whole set.", []
        prog = run.events("progress")
        return (f"Generating… {prog[-1]['done']}/{prog[-1]['total']}" if prog else "Generating…"), []
    counts = ", ".join(f"{c}: {n}" for c, n in result["counts"].items())
    text = (f"Wrote **{result['images']}** images ({counts}) at {result['images_per_s']} images/s into "
            f"`{result['out']}` with `manifest.csv`: the synthetic folder for the Train or Compare tab.")
    return text, _sample_images(Path(result["out"]), 16)


def _compare_view(run, status: str, result: dict | None) -> tuple:
    from simstudio.eval.fidelity import describe_report

    if status == "failed":
        return f"**Fidelity failed:** {(run.error or '').strip().splitlines()[0]}", None
    if not result:
        if has_ended(status):
            return f"Fidelity **{status}** before it finished: compare again.", None
        return "Measuring fidelity… (Inception features on a CPU take about a minute per 1,000 images)", None
    reports = result["reports"]
    return "\n\n".join(describe_report(r) for r in reports.values()), compare_table(reports)


def _status_text(run, status: str, fidelity: list[dict]) -> str:
    cfg = run.config
    lines = [f"**{run.id}** · {cfg.get('model', '?')} · preset {cfg.get('preset') or 'custom'} · "
             f"{cfg.get('image_size')} px · **{status}**"]
    prog = [e for e in run.events("progress") if e.get("total")]
    if prog:
        p = prog[-1]
        eta = f", ETA {_fmt_s(p['eta_s'])}" if p.get("eta_s") is not None and status == "running" else ""
        speed = f", {p['images_per_s']:.0f} images/s" if p.get("images_per_s") else ""
        lines.append(f"{p.get('message', '')}: step {p['done']}/{p['total']}{eta}{speed}")
    best = {}
    for e in fidelity:
        if e["model"] not in best or e["kid"] < best[e["model"]]["kid"]:
            best[e["model"]] = e
    for m, e in best.items():
        small = "" if e.get("fid_reliable") else " (FID unreliable below 2,048 images: read KID)"
        lines.append(f"- {m}: best KID {e['kid'] * 1000:.2f}×10⁻³ at epoch {e['epoch']} "
                     f"(FID {e['fid']:.1f}{small}; {e['feature_space']} features, {e['n_real']} real vs "
                     f"{e['n_fake']} generated)")
    if status == "failed" and run.error:
        lines.append(f"**Failed:** {run.error.strip().splitlines()[0]}")
    if status in ("cancelled", "interrupted"):
        lines.append("Stopped: **Resume** continues after the last checkpointed epoch.")
    return "\n\n".join(lines)


def _warnings_text(run) -> str:
    warns = run.events("warning")
    if not warns:
        return ""
    seen = list(dict.fromkeys(w["message"] for w in warns))
    return "\n".join(f"⚠️ {m}" for m in seen[-6:])


def _strips(run) -> np.ndarray | None:
    """Every model's progression strip in one image, two per row, each under its model's name."""
    import cv2
    from PIL import Image

    tiles = []
    base = run.path / "samples"
    for d in sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []:
        try:
            strip = np.asarray(Image.open(d / "progression.png").convert("RGB"))
        except OSError:
            continue  # not written yet, or being replaced right now: shown on the next tick
        head = np.full((22, strip.shape[1], 3), 255, np.uint8)
        cv2.putText(head, d.name, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (20, 20, 20), 1, cv2.LINE_AA)
        tiles.append(np.concatenate([head, strip]))
    if not tiles:
        return None
    h = max(t.shape[0] for t in tiles)
    w = max(t.shape[1] for t in tiles)
    tiles = [np.pad(t, ((0, h - t.shape[0]), (0, w - t.shape[1] + 8), (0, 0)), constant_values=255) for t in tiles]
    if len(tiles) % 2 and len(tiles) > 1:
        tiles.append(np.full_like(tiles[0], 255))  # keep the rows equally wide
    rows = [np.concatenate(tiles[i:i + 2], axis=1) for i in range(0, len(tiles), 2)]
    image = np.concatenate(rows, axis=0)
    scale = max(1, 960 // image.shape[1])  # small (32 px) samples: enlarge, pixel for pixel
    return image.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else image


def _sample_images(root: Path, n: int) -> list[tuple[np.ndarray, str]]:
    from PIL import Image

    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir()):
        for f in sorted(d.glob("*.png"))[: max(1, n // 2)]:
            out.append((np.asarray(Image.open(f).convert("RGB")), d.name))
    return out[:n]


def _int(v) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {v!r}") from None


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _fmt_s(s: float) -> str:
    s = int(round(s))
    if s < 60:
        return f"{s} s"
    return f"{s // 60} min {s % 60:02d} s" if s < 3600 else f"{s // 3600} h {s % 3600 // 60:02d} min"

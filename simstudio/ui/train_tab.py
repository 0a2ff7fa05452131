"""Train tab: train a classifier on real and/or synthetic images and test it on held-out real images.

Choose the data (an imported dataset or an image folder, its split, a synthetic folder, the mode), the
model and its optimisation; Start runs `simstudio.train.classifier.train_classifier` as a background job
and a timer redraws the loss/accuracy curves from the run's events; when it finishes the metrics table,
confusion matrix and ROC curve appear. Past runs reopen from the run store. Upload an image to see the
predicted probabilities and a Grad-CAM overlay; download the checkpoint.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np

from simstudio.jobs import get_runner
from simstudio.plots import confusion_matrix_figure, empty_figure, roc_figure, training_curves_figure
from simstudio.runs import list_runs, open_run
from simstudio.ui.run_polling import cancel_run, open_with_status, poll_timer

MODES = {
    "Real only": "real",
    "Synthetic only": "synthetic",
    "Real + synthetic": "mix",
    "Pretrain on synthetic, fine-tune on real": "pretrain",
}
MIXES = {"Add N synthetic per class": "add", "Top up minority classes until balanced": "balance"}
METRIC_ROWS = (
    ("accuracy", "Accuracy"),
    ("balanced_accuracy", "Balanced accuracy"),
    ("roc_auc", "ROC-AUC"),
    ("sensitivity", "Sensitivity (recall)"),
    ("specificity", "Specificity"),
    ("precision", "Precision"),
    ("f1", "F1"),
    ("f1_macro", "F1 (macro)"),
    ("brier", "Brier score"),
    ("rmse", "RMSE of probabilities"),
)
TABLE_HEADERS = ["metric", "value"]
CLASS_HEADERS = ["class", "precision", "recall", "F1", "test images"]


def build_train_tab() -> None:
    from simstudio.data.augment import PRESETS
    from simstudio.nets import MODEL_INPUT_SIZES, MODEL_NAMES
    from simstudio.train.classifier import ClassifierConfig
    from simstudio.train.optimisation import OPTIMIZERS, SCHEDULES

    d = ClassifierConfig()
    gr.Markdown(
        "Train a classifier on real images, synthetic images, or both, and test it on held-out "
        "**real** images. Same as `python -m simstudio train-classifier ...`."
    )
    run_id = gr.State("")
    with gr.Row():
        with gr.Column(scale=1, min_width=360):
            with gr.Row():
                dataset = gr.Dropdown(dataset_choices(), value=None, label="Real dataset (imported)", scale=4)
                refresh = gr.Button("Refresh", scale=1, size="sm")
            folder = gr.Textbox(
                label="…or a real image folder on the server (class subfolders)", elem_id="train-real-folder"
            )
            split = gr.Textbox(label="Split CSV (empty: the dataset's saved split, else a new 85/15 split)")
            synthetic = gr.Textbox(label="Synthetic image folder (simulator or GAN export)")
            test = gr.Textbox(label="Separate real test folder (optional; replaces the split's test part)")
            mode = gr.Radio(list(MODES), value="Real only", label="Training set")
            with gr.Row():
                mix = gr.Dropdown(list(MIXES), value=next(iter(MIXES)), label="Mixing")
                per_class = gr.Number(value=0, precision=0, minimum=0, label="Synthetic per class (0 = all)")
            with gr.Row():
                model = gr.Dropdown(list(MODEL_NAMES), value=d.model, label="Model")
                pretrained = gr.Checkbox(value=False, label="ImageNet weights")
            with gr.Row():
                size = gr.Number(
                    value=d.image_size, precision=0, minimum=16, label="Image size (px)", elem_id="train-size"
                )
                augment = gr.Dropdown(list(PRESETS), value=d.augment, label="Augmentation")
            with gr.Row():
                optimizer = gr.Dropdown(list(OPTIMIZERS), value=d.optimizer, label="Optimizer")
                lr = gr.Number(value=d.lr, label="Learning rate")
                schedule = gr.Dropdown(list(SCHEDULES), value=d.schedule, label="Schedule")
            with gr.Row():
                epochs = gr.Number(
                    value=d.epochs, precision=0, minimum=1, label="Epochs", elem_id="train-epochs"
                )
                pretrain_epochs = gr.Number(
                    value=d.pretrain_epochs, precision=0, minimum=1, label="Pretrain epochs"
                )
                batch = gr.Number(
                    value=d.batch_size, precision=0, minimum=2, label="Batch", elem_id="train-batch"
                )
            with gr.Accordion("More settings", open=False):
                with gr.Row():
                    balance = gr.Dropdown(
                        ["none", "weights", "sampler"], value=d.class_balance, label="Class balance"
                    )
                    patience = gr.Number(
                        value=0, precision=0, minimum=0, label="Early stopping patience (0 off)"
                    )
                    monitor = gr.Dropdown(
                        ["val_loss", "val_accuracy", "val_balanced_accuracy", "val_auc"],
                        value=d.monitor,
                        label="Monitor",
                    )
                with gr.Row():
                    val_fraction = gr.Number(
                        value=d.val_fraction,
                        minimum=0,
                        maximum=0.9,
                        label="Validation share of real training images",
                    )
                    seed = gr.Number(value=d.seed, precision=0, label="Seed")
                    lr_finder = gr.Checkbox(value=False, label="Learning-rate finder")
            with gr.Accordion("De-shortcut: acquisition randomisation and fine-tuning that keeps pretraining",
                              open=False, elem_id="train-deshortcut"):
                gr.Markdown(
                    "<small>The *acquisition* augmentations photograph every image again with the simulator's "
                    "camera, scope, hair and ruler layers, drawn alike for every class, so a classifier cannot "
                    "learn the clinic. The fine-tuning settings act on the fine-tune stage (pretrain mode, or "
                    "ImageNet weights).</small>"
                )
                with gr.Row():
                    acq_strength = gr.Number(value=d.acquisition_strength, minimum=0, maximum=4,
                                             label="Acquisition strength (x pooled artefact rates)")
                    ft_augment = gr.Dropdown(["(same as Augmentation)", *PRESETS], value="(same as Augmentation)",
                                             label="Fine-tune augmentation", elem_id="train-ft-augment")
                    ft_ratio = gr.Number(value=0, minimum=0, maximum=0.95,
                                         label="Mixed fine-tuning: synthetic share of each batch (0 off)")
                with gr.Row():
                    l2sp_alpha = gr.Number(value=0, minimum=0,
                                           label="L2-SP alpha, backbone (Li et al. 2018: 0.1; 0 off)")
                    l2sp_beta = gr.Number(value=0, minimum=0, label="L2-SP beta, head (0.01 there)")
                    freeze = gr.Number(value=0, precision=0, minimum=0, label="Freeze the first N blocks")
            gr.Markdown(
                f"<small>Default sizes: {', '.join(f'{k} {v}' for k, v in MODEL_INPUT_SIZES.items())} "
                "px. Defaults follow hESCnet: SGD, lr 0.005, weight decay 1e-4, ×0.1 at half the "
                "epochs.</small>"
            )
            with gr.Row():
                start_btn = gr.Button("Start training", variant="primary", elem_id="train-start")
                cancel_btn = gr.Button("Cancel", variant="stop")
        with gr.Column(scale=2):
            with gr.Row():
                runs = gr.Dropdown(
                    train_run_choices(), value=None, label="Training runs (reopen a past run)", scale=4
                )
                runs_refresh = gr.Button("Refresh", scale=1, size="sm")
            status = gr.Markdown(elem_id="train-status")
            with gr.Row():
                loss_plot = gr.Plot(
                    value=empty_figure("Loss curves appear when an epoch ends"),
                    label="Loss",
                    elem_id="train-loss",
                )
                acc_plot = gr.Plot(value=empty_figure(""), label="Accuracy", elem_id="train-accuracy")
            with gr.Row():
                metrics = gr.Dataframe(
                    headers=TABLE_HEADERS,
                    label="Test metrics (held-out real images)",
                    interactive=False,
                    elem_id="train-metrics",
                )
                per_class_tbl = gr.Dataframe(headers=CLASS_HEADERS, label="Per class", interactive=False)
            with gr.Row():
                cm_plot = gr.Plot(value=empty_figure(""), label="Confusion matrix", elem_id="train-confusion")
                roc_plot = gr.Plot(value=empty_figure(""), label="ROC", elem_id="train-roc")
            ckpt = gr.File(label="Checkpoint", interactive=False, height=70)
            with gr.Accordion("Explain a prediction (Grad-CAM)", open=False):
                with gr.Row():
                    upload = gr.Image(type="numpy", label="Image", height=260)
                    overlay = gr.Image(
                        type="numpy", label="Grad-CAM of the predicted class", height=260, interactive=False
                    )
                    probs = gr.Label(label="Predicted probabilities")
                explain_btn = gr.Button("Predict and explain")
    timer = gr.Timer(1.0, active=False)

    views = [status, loss_plot, acc_plot, metrics, per_class_tbl, cm_plot, roc_plot, ckpt]
    settings = [
        dataset,
        folder,
        split,
        synthetic,
        test,
        mode,
        mix,
        per_class,
        model,
        pretrained,
        size,
        augment,
        optimizer,
        lr,
        schedule,
        epochs,
        pretrain_epochs,
        batch,
        balance,
        patience,
        monitor,
        val_fraction,
        seed,
        lr_finder,
        acq_strength,
        ft_augment,
        ft_ratio,
        l2sp_alpha,
        l2sp_beta,
        freeze,
    ]
    start_btn.click(start_training, inputs=settings, outputs=[run_id, status, timer, runs])
    cancel_btn.click(cancel_training, inputs=[run_id], outputs=[status])
    timer.tick(poll_run, inputs=[run_id], outputs=[*views, timer])
    # .input (user picks a run), not .change: refreshing the list after Start must not reopen anything.
    runs.input(reopen_run, inputs=[runs], outputs=[run_id, *views, timer])
    refresh.click(lambda: gr.update(choices=dataset_choices()), outputs=[dataset])
    runs_refresh.click(lambda: gr.update(choices=train_run_choices()), outputs=[runs])
    model.change(lambda m: MODEL_INPUT_SIZES.get(m, 64), inputs=[model], outputs=[size])
    explain_btn.click(explain_image, inputs=[run_id, upload], outputs=[probs, overlay, status])


# -- handlers ------------------------------------------------------------------------------------------


def dataset_choices() -> list[tuple[str, str]]:
    from simstudio.data.dataset import dataset_runs

    return [(f"{r.name or r.id} · {r.id}", r.id) for r in dataset_runs()]


def train_run_choices() -> list[tuple[str, str]]:
    from simstudio.train.classifier import RUN_KIND

    out = []
    for r in list_runs(RUN_KIND):
        cfg = r.config
        out.append((f"{r.id} · {cfg.get('model', '?')} · {cfg.get('mode', '?')} · {r.status}", r.id))
    return out


def start_training(
    dataset,
    folder,
    split,
    synthetic,
    test,
    mode,
    mix,
    per_class,
    model,
    pretrained,
    size,
    augment,
    optimizer,
    lr,
    schedule,
    epochs,
    pretrain_epochs,
    batch,
    balance,
    patience,
    monitor,
    val_fraction,
    seed,
    lr_finder,
    acquisition_strength=1.0,
    finetune_augment="",
    finetune_synthetic_ratio=0.0,
    l2sp_alpha=0.0,
    l2sp_beta=0.0,
    freeze_blocks=0,
):
    """Check the settings and submit the training job; returns (run id, message, timer, runs dropdown)."""
    from simstudio.train.classifier import RUN_KIND, ClassifierConfig, check_config, train_classifier
    from simstudio.train.classifier_data import check_sources

    try:
        real = _server_path(folder) if (folder or "").strip() else (dataset or "")
        config = ClassifierConfig(
            real=str(real),
            split=str(_server_path(split)) if (split or "").strip() else "",
            synthetic=str(_server_path(synthetic)) if (synthetic or "").strip() else "",
            test=str(_server_path(test)) if (test or "").strip() else "",
            mode=MODES.get(mode, mode),
            mix=MIXES.get(mix, mix),
            synthetic_per_class=_int(per_class, 0),
            model=model,
            pretrained=bool(pretrained),
            image_size=_int(size, 64),
            augment=augment,
            optimizer=optimizer,
            lr=float(lr),
            schedule=schedule,
            epochs=_int(epochs, 1),
            pretrain_epochs=_int(pretrain_epochs, 1),
            batch_size=_int(batch, 32),
            class_balance=balance,
            early_stopping=_int(patience, 0),
            monitor=monitor,
            val_fraction=float(val_fraction or 0),
            seed=_int(seed, 0),
            lr_finder=bool(lr_finder),
            acquisition_strength=float(1.0 if acquisition_strength is None else acquisition_strength),
            finetune_augment="" if not finetune_augment or str(finetune_augment).startswith("(") else finetune_augment,
            finetune_synthetic_ratio=float(finetune_synthetic_ratio or 0),
            l2sp_alpha=float(l2sp_alpha or 0),
            l2sp_beta=float(l2sp_beta or 0),
            freeze_blocks=_int(freeze_blocks, 0),
        )
        if not config.real and config.mode != "synthetic":
            raise ValueError("choose a real dataset (or type a folder): the test images are always real")
        check_config(config)
        check_sources(config)
        if config.pretrained:
            from simstudio.nets.registry import imagenet_weights

            imagenet_weights(config.model)  # offline: say so now, with the way out (random init)
    except (ValueError, FileNotFoundError, PermissionError, TypeError) as exc:
        return "", f"**Cannot start:** {exc}", gr.Timer(active=False), gr.update()
    name = f"{config.model} · {config.mode}"
    job = get_runner().submit(RUN_KIND, train_classifier, config, name=name)
    position = get_runner().queue_position(job.id)
    waiting = f" (waiting: {position} job(s) ahead)" if position else ""
    return (
        job.id,
        f"Started `{job.id}`{waiting}",
        gr.Timer(active=True),
        gr.update(choices=train_run_choices()),
    )


def cancel_training(run_id: str) -> str:
    return cancel_run(run_id, "No training started here to cancel.",
                      "it stops at the next batch; its last checkpoint stays loadable.")


def poll_run(run_id: str):
    """Timer tick: redraw the run; stop ticking once it has ended (the view and the timer come from one read
    of its status, so the tick that stops the timer shows the run's result)."""
    status, view = _run_view(run_id)
    return (*view, poll_timer(status))


def reopen_run(run_id: str):
    status, view = _run_view(run_id)
    return (run_id or "", *view, poll_timer(status))


def show_run(run_id: str) -> tuple:
    """(status, loss figure, accuracy figure, metrics rows, per-class rows, confusion figure, ROC figure,
    checkpoint path) of a training run, read from its folder."""
    return _run_view(run_id)[1]


def explain_image(run_id: str, image):
    """(class probabilities, Grad-CAM overlay on the uploaded image, message) with the run's checkpoint."""
    from simstudio.eval.gradcam import grad_cam, overlay_heatmap
    from simstudio.train.checkpoints import load_classifier, predict_proba, prepare_images

    if image is None:
        return None, None, "Upload an image first."
    if not run_id:
        return None, None, "Start a training or reopen a run first: its checkpoint explains the image."
    try:
        model, meta = load_classifier(open_run(run_id).path)
    except (FileNotFoundError, ValueError) as exc:
        return None, None, f"**No checkpoint yet:** {exc}"
    img = np.asarray(image)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    img = img[:, :, :3].astype(np.uint8)
    x = prepare_images(img, meta)
    proba = predict_proba(model, x)[0]
    cam = grad_cam(model, x)[0]
    label = {c: float(p) for c, p in zip(meta["classes"], proba, strict=True)}
    return label, overlay_heatmap(img, cam), f"Explained with `{run_id}` (epoch {meta.get('epoch', '?')})."


# -- private helpers -----------------------------------------------------------------------------------


def _run_view(run_id: str) -> tuple[str, tuple]:
    """The run's status and its view (see `show_run`), from one read of the status made before anything else
    of the run is read: a run read as finished shows its metrics, and a later read of the status (to stop
    the timer) cannot see the run finish after its result had been read as absent."""
    empty = (
        "",
        empty_figure("Start a training or reopen a run"),
        empty_figure(""),
        [],
        [],
        empty_figure(""),
        empty_figure(""),
        None,
    )
    run, status, missing = open_with_status(run_id)
    if run is None:
        return status, (f"**{missing}**" if missing else "", *empty[1:])
    history = _history(run)
    loss = training_curves_figure(history, "loss") if history else empty_figure("Waiting for the first epoch")
    acc = training_curves_figure(history, "accuracy") if history else empty_figure("")
    result = run.result or {}
    test = result.get("test")
    text = _status_text(run, status, history, result)
    if not test:
        ckpt = run.path / "checkpoints" / "last.pt"
        stopped = status in ("cancelled", "failed", "interrupted")
        return status, (
            text,
            loss,
            acc,
            [],
            [],
            empty_figure("Shown when the run has finished"),
            empty_figure(""),
            str(ckpt) if stopped and ckpt.is_file() else None,
        )
    rows = [[label, _fmt(test.get(key))] for key, label in METRIC_ROWS if key in test]
    rows += [
        ["Training time (s)", _fmt(result.get("training_time_s"))],
        ["Min training loss", _fmt(result.get("min_train_loss"))],
        ["Tested weights", str(result.get("tested_weights", ""))],
    ]
    per_class = [
        [r["class"], _fmt(r["precision"]), _fmt(r["recall"]), _fmt(r["f1"]), r["support"]]
        for r in result.get("per_class_table", [])
    ]
    cm = confusion_matrix_figure(test["confusion_matrix"], test["classes"])
    roc = roc_figure(test["roc_curve"]) if test.get("roc_curve") else empty_figure("ROC needs both classes")
    ckpt = run.path / (result.get("checkpoint") or "checkpoints/last.pt")
    return status, (text, loss, acc, rows, per_class, cm, roc, str(ckpt) if ckpt.is_file() else None)


def _history(run) -> list[dict]:
    """One row per epoch from the metric events (the last one wins if a resumed run repeated an epoch)."""
    rows = {}
    for ev in run.events("metric"):
        if "epoch" in ev:
            rows[ev["epoch"]] = ev
    return [rows[k] for k in sorted(rows)]


def _status_text(run, status: str, history: list[dict], result: dict) -> str:
    cfg = run.config
    head = f"**{run.id}** · {cfg.get('model', '?')} · mode {cfg.get('mode', '?')} · **{status}**"
    lines = [head]
    progress = run.events("progress")
    if progress and status == "running":
        p = progress[-1]
        eta = f", ETA {p['eta_s']:.0f} s" if p.get("eta_s") is not None else ""
        lines.append(f"{p.get('message', '')} ({p.get('done')}/{p.get('total')} steps{eta})")
    comp = run.events("composition")
    if comp:
        for stage, counts in comp[-1]["stages"].items():
            parts = [
                f"{src} " + ", ".join(f"{c} {n}" for c, n in per.items())
                for src, per in counts.items()
                if sum(per.values())
            ]
            lines.append(f"{stage} set: " + "; ".join(parts))
        lines.append("test set (real): " + ", ".join(f"{c} {n}" for c, n in comp[-1]["test"].items()))
    if result.get("data", {}).get("test_source"):
        lines.append(f"tested on the {result['data']['test_source']}")
    if run.error:
        lines.append(f"**Error:** {run.error.strip().splitlines()[0]}")
    return "  \n".join(lines)


def _server_path(text: str) -> Path:
    from simstudio.data.roots import check_allowed

    return check_allowed(text)


def _int(v, default: int) -> int:
    try:
        return int(v) if v is not None and v != "" else default
    except (TypeError, ValueError):
        raise ValueError(f"expected a whole number, got {v!r}") from None


def _fmt(v) -> str:
    if v is None:
        return "n/a"
    return f"{v:.4f}" if isinstance(v, float) else str(v)

"""Predict tab: upload dermoscopic images and ask a classifier (the shipped one by default) what it makes of
them: P(malignant), the Grad-CAM overlay of that class, and the three nearest simulated lesions in the
model's feature space (what it thinks the image looks like). Same as `python -m simstudio predict`.

The handlers are plain functions (tests call them); the page only wires widgets to them.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from simstudio.eval.predict import NOT_A_DEVICE

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "assets" / "examples"
TABLE_HEADERS = ["image", "P(malignant)", "model"]
NEIGHBOURS = 3


def build_predict_tab() -> None:
    choices = model_choices()
    gr.Markdown(
        "Upload one or more dermoscopic images (any size; each is made square by resizing) and ask a "
        f"classifier what it makes of them. **{NOT_A_DEVICE.capitalize()}.** Same as "
        "`python -m simstudio predict IMAGE... [--model NAME|RUN] [--gradcam DIR]`."
    )
    with gr.Row():
        with gr.Column(scale=1, min_width=320):
            model = gr.Dropdown(choices, value=choices[0][1] if choices else None, label="Model",
                                elem_id="predict-model")
            files = gr.File(file_count="multiple", file_types=["image"], label="Dermoscopic images",
                            elem_id="predict-files", height=160)
            go = gr.Button("Predict", variant="primary", elem_id="predict-run")
            examples = example_files()
            if examples:
                gr.Examples(examples=[[[str(p)]] for p in examples], inputs=[files],
                            label="Simulated examples (rendered from the presets; no real image ships here)",
                            example_labels=[p.stem.removeprefix("sim-") for p in examples])
            card = gr.Markdown(model_note(choices[0][1] if choices else ""), elem_id="predict-card")
        with gr.Column(scale=2):
            status = gr.Markdown(elem_id="predict-status")
            table = gr.Dataframe(headers=TABLE_HEADERS, interactive=False, label="P(malignant) per image",
                                 elem_id="predict-table")
            overlays = gr.Gallery(label="Each image and its Grad-CAM of 'malignant' (red: regions that raise "
                                        "P(malignant))", columns=4, height=280, object_fit="contain",
                                  preview=False, fit_columns=False, elem_id="predict-gradcam")
            neighbours = gr.Gallery(label=f"The {NEIGHBOURS} nearest simulated lesions in the model's feature "
                                          "space, one row per image", columns=NEIGHBOURS, height=300,
                                    object_fit="contain", preview=False, fit_columns=False,
                                    elem_id="predict-neighbours")
    model.change(model_note, inputs=[model], outputs=[card])
    go.click(predict_uploads, inputs=[model, files], outputs=[status, table, overlays, neighbours])


# -- handlers --------------------------------------------------------------------------------------
def model_choices() -> list[tuple[str, str]]:
    """Shipped models first (the default one on top), then finished classifier training runs."""
    from simstudio.runs import list_runs
    from simstudio.train.shipped import default_model, shipped_models

    default = default_model()
    shipped = sorted(shipped_models(), key=lambda m: m.name != (default.name if default else ""))
    out = [(m.summary, m.name) for m in shipped]
    for r in list_runs("train"):
        if r.status == "finished" and (r.path / "checkpoints").is_dir():
            cfg = r.config
            out.append((f"{r.name or r.id} · {cfg.get('model', '?')} · {cfg.get('mode', '?')} · {r.id}", r.id))
    return out


def example_files() -> list[Path]:
    return sorted(EXAMPLES_DIR.glob("*.png")) if EXAMPLES_DIR.is_dir() else []


def model_note(ref: str) -> str:
    """What the chosen model is, from its card (shipped) or its run."""
    from simstudio.train.shipped import shipped_model

    if not ref:
        return "No model yet: none is shipped in `models/` and no classifier has been trained here."
    m = shipped_model(ref)
    if m is None:
        return f"Training run `{ref}` (see the Train tab for its test metrics)."
    ev = m.card.get("evaluation") or {}
    auc = (f" Measured ROC-AUC on {ev['n']} held-out real images: **{ev['roc_auc']:.3f}** (95 % CI "
           f"{ev['ci'][0]:.3f}–{ev['ci'][1]:.3f})." if ev.get("roc_auc") is not None else "")
    t = m.card.get("training", {})
    return (f"**{m.name}**: {m.card.get('model', {}).get('architecture', '?')} trained on "
            f"{t.get('summary', '?')}; no real image in its training set.{auc} Card: `models/{m.name}.md`.")


def predict_uploads(ref: str, files):
    """Generator: (status, table rows, Grad-CAM gallery, neighbour gallery), first without the neighbours
    (the bank of simulated lesions is rendered and embedded on the first use), then with them."""
    from simstudio.eval.predict import display_view, load_predictor, predict, read_images

    paths = [_file_path(f) for f in (files or [])]
    if not paths:
        yield "Upload at least one image (or click a simulated example).", [], [], []
        return
    try:
        predictor = load_predictor(ref or "")
        images = read_images(paths)
        preds = predict(predictor, images)
    except (ValueError, FileNotFoundError) as exc:
        yield f"⚠ {exc}", [], [], []
        return
    rows = [[Path(p).name, round(pr.p_positive, 4), predictor.name] for p, pr in zip(paths, preds, strict=True)]
    cams = []
    for p, im, pr in zip(paths, images, preds, strict=True):
        cams += [(display_view(predictor, im), Path(p).name),
                 (pr.overlay, f"P({predictor.positive_class}) {pr.p_positive:.3f} · {Path(p).name}")]
    head = (f"P({predictor.positive_class}) by **{predictor.name}** for {len(paths)} image(s). "
            f"{NOT_A_DEVICE.capitalize()}.")
    yield head + " Finding the nearest simulated lesions…", rows, cams, []
    try:
        shown, note = nearest_simulated(predictor, preds, paths)
    except (ValueError, FileNotFoundError) as exc:
        yield f"{head} Nearest simulated lesions unavailable: {exc}", rows, cams, []
        return
    yield f"{head} {note}", rows, cams, shown


def nearest_simulated(predictor, preds, paths, per_class: int | None = None) -> tuple[list, str]:
    """(gallery items, note): the NEIGHBOURS nearest bank images of each prediction."""
    import numpy as np

    from simstudio.eval.lesion_bank import BANK_PER_CLASS, lesion_bank, training_source

    source = training_source(predictor)
    if source is None:
        return [], "This model saw no simulated training images that can be redrawn, so there are no neighbours."
    bank = lesion_bank(predictor, source, per_class or BANK_PER_CLASS)
    hits = bank.nearest(np.stack([p.features for p in preds]), k=NEIGHBOURS)
    items = []
    for path, row in zip(paths, hits, strict=True):
        for rank, (j, d) in enumerate(row, 1):
            items.append((bank.images[j], f"#{rank} simulated {bank.labels[j]} · distance {d:.3f} · "
                                          f"{Path(path).name}"))
    n = len(bank.labels)
    what = ("the first training images of the model's preset, re-rendered from their seeds" if source.training_images
            else "the current renderer's built-in preset (the model was trained under another renderer version, "
                 "whose images the current one does not redraw)")
    note = (f"Neighbours from a bank of {n} simulated lesions ({n // max(len(set(bank.labels)), 1)} per class): "
            f"{what}, embedded once (cached).")
    return items, note


def _file_path(f) -> str:
    if isinstance(f, str):
        return f
    return getattr(f, "name", None) or getattr(f, "path", None) or str(f)


"""Simulate tab: tune the procedural lesion simulator live and export labelled datasets.

Every `LesionParams` field gets a control generated from its spec (grouped by section), a class preset
fills them from a draw of its distribution, and a 4×4 preview redraws on every change with the ABCD cues
*measured* from the rendered images beside it, so a user sees that a slider moved the cue it names.
Export runs `simstudio.sim.export.export_dataset` as a background job polled by a timer.

Handlers are plain module-level functions returning what the page shows (tests call them directly).
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import gradio as gr
import numpy as np

from simstudio.data.roots import allowed_roots, check_allowed
from simstudio.jobs import get_runner
from simstudio.runs import atomic_write_text, open_run, runs_root
from simstudio.sim.export import ExportConfig, check_export, export_dataset, zip_dataset
from simstudio.sim.masks import LESION_MASK, OVERLAY_LABELS, OVERLAYS, STRUCTURE_MASKS, isic_masks, overlay_mask
from simstudio.sim.measure import measure_abcd, summarise
from simstudio.sim.params import COLOURS, PARAM_SPECS, SECTIONS, LesionParams
from simstudio.sim.presets import CLASS_PRESETS, load_preset, sample_params
from simstudio.sim.render import render_lesion

MODES = ("vary seed only", "sample from preset")
TASKS = ("binary", "three_class")
GRID = 4
CELL = 128
MAX_ZIP_FILES = 2000
MAX_SEED = 2**31 - 1
SECTION_OPEN = {"Shape": True, "Colour": True}
ABCD_HEADERS = ["cue", "mean ± sd, and the control that sets it"]


def build_simulate_tab() -> None:
    gr.Markdown("Tune the procedural lesion simulator and export a labelled dataset. The preview redraws "
                "on every change; the table beside it measures the ABCD cues on the rendered images. "
                "Same as `python -m simstudio simulate ...`.")
    samples = gr.State([])
    run_id = gr.State("")
    with gr.Row():
        with gr.Column(scale=1, min_width=360):
            with gr.Row():
                preset = gr.Dropdown(list(CLASS_PRESETS), value=CLASS_PRESETS[1], label="Class preset",
                                     info="fills the controls from a draw of this class", scale=3)
                seed = gr.Number(value=0, precision=0, minimum=0, maximum=MAX_SEED, label="Seed", scale=1,
                                 elem_id="sim-seed")
            with gr.Row():
                randomize_btn = gr.Button("Randomize", scale=1)
                overlay = gr.Dropdown([(OVERLAY_LABELS[n], n) for n in OVERLAYS], value=OVERLAYS[0],
                                      label="Overlay", info="the ground-truth mask of what the renderer drew",
                                      scale=2, elem_id="sim-overlay")
            mode = gr.Radio(list(MODES), value=MODES[0], label="Preview",
                            info="vary seed only: the controls below with seeds s … s+15; "
                                 "sample from preset: 16 draws of the class preset")
            controls = []
            for section in SECTIONS:
                with gr.Accordion(section, open=SECTION_OPEN.get(section, False)):
                    controls += [_control(spec) for spec in PARAM_SPECS.values() if spec.section == section]
        with gr.Column(scale=2):
            message = gr.Markdown(elem_id="sim-message")
            with gr.Row():
                image = gr.Image(label="Preview (click a sample for its parameters)", type="numpy",
                                 format="png", interactive=False, height=540, width=540, scale=3,
                                 elem_id="sim-preview", buttons=["download"])
                with gr.Column(scale=2, min_width=300):
                    abcd = gr.Markdown(elem_id="sim-abcd")
                    clicked = gr.JSON(label="Clicked sample", value=None, elem_id="sim-clicked", height=320)
            with gr.Accordion("Export a dataset", open=True):
                gr.Markdown(_export_note())
                with gr.Row():
                    per_class = gr.Number(value=200, precision=0, minimum=1, label="Images per class")
                    size = gr.Number(value=128, precision=0, minimum=32, maximum=512, label="Size (px)")
                    export_seed = gr.Number(value=0, precision=0, minimum=0, label="Base seed")
                    task = gr.Dropdown(list(TASKS), value=TASKS[0], label="Classes",
                                       info="binary: benign (nevus + SK) vs malignant")
                with gr.Row():
                    preset_file = gr.File(label="Preset JSON (optional, overrides Classes)",
                                          file_types=[".json"], type="filepath")
                    folder = gr.Textbox(label="Output folder (optional)",
                                        placeholder="empty: inside the job's run folder")
                    masks = gr.Checkbox(label="Write masks", value=False, elem_id="sim-export-masks",
                                        info="each image's lesion and structure masks beside it, named as in ISIC 2018")
                with gr.Row():
                    export_btn = gr.Button("Export", variant="primary")
                    cancel_btn = gr.Button("Cancel")
                export_status = gr.Markdown(elem_id="sim-export-status")
                download = gr.File(label="Download (zip)", visible=False)
    timer = gr.Timer(1.0, active=False)

    view = [image, abcd, samples, message]
    render_inputs = [mode, preset, seed, overlay, *controls]
    preview_args = dict(fn=preview, inputs=render_inputs, outputs=view, trigger_mode="always_last",
                        show_progress="hidden")
    for spec, control in zip(PARAM_SPECS.values(), controls, strict=True):
        if spec.kind in ("float", "int"):
            control.release(**preview_args)
        else:
            control.input(**preview_args)
    for widget in (mode, overlay):
        widget.input(**preview_args)
    seed.submit(**preview_args)
    seed.blur(**preview_args)
    preset.input(fill_from_preset, inputs=[mode, preset, seed, overlay],
                 outputs=[*controls, *view], show_progress="hidden")
    randomize_btn.click(randomize, inputs=[mode, preset, overlay],
                        outputs=[seed, *controls, *view], show_progress="hidden")
    image.select(show_clicked, inputs=[samples], outputs=[clicked])
    export_btn.click(start_export, inputs=[per_class, size, export_seed, task, preset_file, folder, masks],
                     outputs=[export_status, run_id, timer, download])
    cancel_btn.click(cancel_export, inputs=[run_id], outputs=[export_status])
    timer.tick(poll_export, inputs=[run_id], outputs=[export_status, timer, download])
    # The first preview once the page has loaded (not when the app is built: a fresh page is what counts).
    on_load = gr.Timer(0.1, active=True)
    on_load.tick(lambda *a: (*preview(*a), gr.Timer(active=False)), inputs=render_inputs,
                 outputs=[*view, on_load], show_progress="hidden")


# -- handlers ------------------------------------------------------------------------------------------

def preview(mode, class_preset, seed, overlay, *values):
    """(4×4 grid image, measured ABCD rows, the 16 samples' parameters, message). `overlay` names the
    mask laid over every cell (OVERLAYS: "none", "lesion" or a structure)."""
    try:
        if overlay not in OVERLAYS:
            raise ValueError(f"overlay = {overlay!r}: expected one of {', '.join(OVERLAYS)}")
        seed = _seed(seed)
        if mode == MODES[1]:
            draws = [(sample_params(_preset(class_preset), np.random.default_rng(seed + k)), seed + k)
                     for k in range(GRID * GRID)]
        else:
            params = params_from_values(values)
            draws = [(params, seed + k) for k in range(GRID * GRID)]
    except ValueError as exc:
        return gr.update(), gr.update(), gr.update(), f"**Error:** {exc}"
    images, measures, records = [], [], []
    for k, (params, s) in enumerate(draws):
        if overlay in STRUCTURE_MASKS:
            rgb, mask, drawn = render_lesion(params, size=CELL, seed=s, masks=True)
            structures = isic_masks(drawn)
        else:
            (rgb, mask), structures = render_lesion(params, size=CELL, seed=s), None
        images.append(overlay_mask(rgb, mask, structures, overlay))
        measures.append(measure_abcd(rgb, mask, params.fov_mm))
        records.append({"cell": k, "seed": s, **({"class_preset": class_preset} if mode == MODES[1] else {}),
                        **params.to_dict()})
    if mode == MODES[1]:
        note = f"16 draws of the **{class_preset}** preset (seeds {seed}–{seed + 15}); controls unused."
    else:
        note = f"The controls with seeds {seed}–{seed + 15}."
    if overlay in STRUCTURE_MASKS:
        note += f" Green: the **{OVERLAY_LABELS[overlay]}** mask."
    elif overlay == LESION_MASK:
        note += " Green: the lesion's outline."
    table = abcd_markdown(abcd_rows(measures, [p for p, _ in draws], mode))
    return compose_grid(images), table, records, note


def fill_from_preset(mode, class_preset, seed, overlay):
    """Set every control from one draw of the class preset (under the seed), then redraw."""
    try:
        params = sample_params(_preset(class_preset), np.random.default_rng(_seed(seed)))
    except ValueError as exc:
        unchanged = [gr.update() for _ in range(len(PARAM_SPECS) + 3)]
        return (*unchanged, f"**Error:** {exc}")
    values = control_values(params)
    return (*values, *preview(mode, class_preset, seed, overlay, *values))


def randomize(mode, class_preset, overlay):
    """A new random seed and a fresh draw of the class preset into the controls."""
    seed = int(np.random.default_rng().integers(0, 1_000_000))
    return (seed, *fill_from_preset(mode, class_preset, seed, overlay))


def show_clicked(samples, evt: gr.SelectData):
    """The parameters of the clicked cell of the preview."""
    x, y = evt.index
    return sample_at(samples, x, y)


def sample_at(samples: list[dict], x: float, y: float) -> dict | None:
    """The sample drawn in the grid cell under pixel (x, y) of the composed preview."""
    if not samples:
        return None
    col = min(GRID - 1, max(0, int(x) // CELL))
    row = min(GRID - 1, max(0, int(y) // CELL))
    k = row * GRID + col
    return samples[k] if k < len(samples) else None


def start_export(per_class, size, seed, task, preset_file, folder, masks=False):
    """Check the settings, then start the export job; (status, run id, timer, download)."""
    try:
        config = ExportConfig(out=_export_folder(folder), per_class=_int("images per class", per_class),
                              size=_int("size", size), seed=_int("base seed", seed),
                              preset=_stored_preset(preset_file), task=task or TASKS[0], workers=0,
                              masks=bool(masks))
        check_export(config)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        return f"**Error:** {exc}", "", gr.Timer(active=False), gr.update(visible=False)
    job = get_runner().submit("simulate", export_dataset, config, heavy=True,
                              name=f"simulate {config.per_class}/class {config.size}px")
    return f"Export started: `{job.id}`", job.id, gr.Timer(active=True), gr.update(value=None, visible=False)


def cancel_export(run_id):
    if not run_id:
        return "No export is running."
    if get_runner().cancel(run_id):
        return f"Cancelling `{run_id}` … the images written so far are kept; export again into the same " \
               f"folder with the same settings to finish it."
    return f"`{run_id}` is not running."


def poll_export(run_id):
    """Timer tick: progress while the export runs; the summary and (small sets) a zip when it is done."""
    if not run_id:
        return "", gr.Timer(active=False), gr.update()
    try:
        run = open_run(run_id)
    except FileNotFoundError as exc:
        return f"**Error:** {exc}", gr.Timer(active=False), gr.update()
    status = run.status
    if status in ("queued", "running"):
        return _progress_text(run), gr.Timer(active=True), gr.update()
    if status != "finished" or not run.result:
        error = (run.error or "").strip().splitlines()
        reason = error[0] if error else f"the export is {status}"
        return f"**Export {status}:** {reason}", gr.Timer(active=False), gr.update(visible=False)
    result = run.result
    counts = ", ".join(f"{c} {n}" for c, n in result["counts"].items())
    with_masks = " with their masks" if result.get("masks") else ""
    text = (f"**Exported** {result['images']} images ({counts}){with_masks} at {result['images_per_s']} "
            f"images/s to `{result['out']}`.")
    per_image = 1 + (1 + len(STRUCTURE_MASKS) if result.get("masks") else 0)  # the image, its masks
    n_files = result["images"] * per_image + 1
    if n_files > MAX_ZIP_FILES:
        return text + f" Too many files for a zip download (> {MAX_ZIP_FILES}).", gr.Timer(active=False), \
            gr.update(visible=False)
    zip_path = run.path / "export.zip"
    if not zip_path.is_file():
        zip_dataset(result["out"], max_files=MAX_ZIP_FILES, path=zip_path)
    return text, gr.Timer(active=False), gr.update(value=str(zip_path), visible=True)


# -- the preview's pieces (pure functions) ---------------------------------------------------------------

def params_from_values(values) -> LesionParams:
    """LesionParams from the controls' values (PARAM_SPECS order); ValueError naming a bad one."""
    if len(values) != len(PARAM_SPECS):
        raise ValueError(f"expected {len(PARAM_SPECS)} parameter values, got {len(values)}")
    data = {}
    for spec, value in zip(PARAM_SPECS.values(), values, strict=True):
        if value is None or (spec.kind == "colours" and not value):
            hint = "pick at least one colour" if spec.kind == "colours" else f"expected {spec.range_text()}"
            raise ValueError(f"{spec.name} is empty: {hint}")
        data[spec.name] = value
    return LesionParams.from_dict(data).validate()


def control_values(params: LesionParams) -> list:
    """The controls' values for `params`, in PARAM_SPECS order."""
    d = params.to_dict()
    return [list(d[name]) if PARAM_SPECS[name].kind == "colours" else d[name] for name in PARAM_SPECS]


def compose_grid(images: list[np.ndarray]) -> np.ndarray:
    """GRID×GRID cells of CELL px, row by row, as one image (one component, one transfer)."""
    blank = np.zeros((CELL, CELL, 3), np.uint8)
    cells = list(images) + [blank] * (GRID * GRID - len(images))
    rows = [np.concatenate(cells[r * GRID:(r + 1) * GRID], axis=1) for r in range(GRID)]
    return np.concatenate(rows, axis=0)


def abcd_markdown(rows: list[list[str]]) -> str:
    # Two columns, the control under its figure, cue names kept whole: in the ~280 px beside the preview
    # the page's wrapping rules broke them mid-word ("asymmet-ry").
    lines = ["**Measured on the 16 images**", "", "| " + " | ".join(ABCD_HEADERS) + " |", "|---|---|"]
    lines += [f'| <span style="white-space: nowrap">{cue}</span> | {stat}<br><small>{setting}</small> |'
              for cue, stat, setting in rows]
    lines += ["", "<small>A: area of the mask XOR its mirror / area (0 = symmetric). B: perimeter² / 4π·area "
              "(1 = circle, higher = irregular border). C: colours covering ≥ 5 % of the lesion. "
              "D: equivalent diameter.</small>"]
    return "\n".join(lines)


def abcd_rows(measures: list[dict], params: list[LesionParams], mode: str) -> list[list[str]]:
    """Mean ± sd of the measured cues, each beside the control that is meant to move it."""
    summary = summarise(measures)

    def stat(key, fmt):
        mean, sd = summary[key]
        return f"{mean:{fmt}} ± {sd:{fmt}}"

    def setting(name, fmt="g"):
        v = [getattr(p, name) for p in params]
        if mode == MODES[0]:
            return f"{name} = {v[0]:{fmt}}"
        return f"{name} {min(v):{fmt}} … {max(v):{fmt}}"

    n = [len(p.colours) for p in params]
    colours = ("colours = " + ", ".join(params[0].colours) if mode == MODES[0]
               else f"{min(n)} … {max(n)} colours drawn")
    return [
        ["A · asymmetry", stat("asymmetry", ".3f"), setting("asymmetry", ".2f")],
        ["B · border", stat("compactness", ".3f"),
         ", ".join((setting("border_irregularity", ".2f"), setting("lobes")))],
        ["C · colours", stat("n_colours", ".2f"), colours],
        ["D · diameter mm", stat("diameter_mm", ".2f"), setting("diameter_mm", ".1f")],
    ]


# -- private helpers -----------------------------------------------------------------------------------

def _control(spec):
    name = spec.name.removesuffix(f"_{spec.unit}") if spec.unit else spec.name  # "diameter (mm)"
    label = name.replace("_", " ") + (f" ({spec.unit})" if spec.unit else "")
    common = dict(label=label, info=spec.help, elem_id=f"sim-{spec.name}")
    if spec.kind == "float":
        return gr.Slider(spec.low, spec.high, value=spec.default, step=_step(spec.low, spec.high), **common)
    if spec.kind == "int":
        return gr.Slider(int(spec.low), int(spec.high), value=spec.default, step=1, **common)
    if spec.kind == "bool":
        return gr.Checkbox(value=bool(spec.default), **common)
    if spec.kind == "choice":
        return gr.Dropdown(list(spec.choices), value=spec.default, **common)
    if spec.kind == "colours":
        return gr.CheckboxGroup(list(COLOURS), value=list(spec.default), **common)
    raise ValueError(f"no control for parameter kind {spec.kind!r} ({spec.name})")


def _step(low: float, high: float) -> float:
    """A round step giving about 100-200 positions across the range."""
    raw = (high - low) / 100
    step = 10 ** math.floor(math.log10(raw))
    return step if (high - low) / step <= 200 else step * 5


def _seed(seed) -> int:
    if seed is None or not float(seed).is_integer() or not 0 <= int(seed) <= MAX_SEED - GRID * GRID:
        raise ValueError(f"seed = {seed!r} is out of range: expected a whole number in "
                         f"[0, {MAX_SEED - GRID * GRID}]")
    return int(seed)


def _preset(name) -> str:
    if name not in CLASS_PRESETS:
        raise ValueError(f"class preset = {name!r}: expected one of {', '.join(CLASS_PRESETS)}")
    return name


def _int(name: str, value) -> int:
    if value is None or not float(value).is_integer():
        raise ValueError(f"{name} = {value!r}: expected a whole number")
    return int(value)


def _export_folder(folder) -> str:
    """'' (the job's own run folder) or a typed folder under the allowed roots."""
    text = (folder or "").strip()
    return str(check_allowed(text)) if text else ""


def _stored_preset(path) -> str | None:
    """An uploaded preset is checked, then kept in the run store under its content hash, so the run's
    config points at a file that outlives the upload."""
    if not path:
        return None
    data = Path(path).read_bytes()
    load_preset(path)  # a clear ValueError for bad JSON or an out-of-range parameter, before any job
    target = runs_root() / ".presets" / f"{hashlib.sha1(data).hexdigest()[:16]}.json"
    if not target.is_file():
        atomic_write_text(target, data.decode("utf-8"))
    return str(target)


def _export_note() -> str:
    from simstudio.public import is_public

    if is_public():
        return (f"<small>Writes `<class>/<class>_000000.png` … and `manifest.csv` into the job's run (this "
                f"public Space takes no typed folder); sets of up to {MAX_ZIP_FILES - 1} images are offered "
                f"as a zip.</small>")
    roots = ", ".join(f"`{r}`" for r in allowed_roots())
    return (f"<small>Writes `<class>/<class>_000000.png` … and `manifest.csv` (class, seed and every "
            f"parameter of each image); with masks, each image's lesion and structure masks beside it. A typed "
            f"folder must lie under {roots} (`SIMSTUDIO_DATA_ROOTS`); sets of up to {MAX_ZIP_FILES - 1} files "
            f"are offered as a zip.</small>")


def _progress_text(run) -> str:
    progress = run.events("progress")
    if not progress:
        position = get_runner().queue_position(run.id)
        waiting = f" ({position + 1} in the queue, behind a running job)" if position is not None else ""
        return f"Export `{run.id}` is {run.status}{waiting}…"
    p = progress[-1]
    rate = f" · {p['images_per_s']:.0f} images/s" if p.get("images_per_s") else ""
    eta = f" · ETA {p['eta_s']:.0f} s" if p.get("eta_s") is not None and p["done"] < p["total"] else ""
    return f"Exporting `{run.id}`: {p['done']}/{p['total']} images{rate}{eta}"

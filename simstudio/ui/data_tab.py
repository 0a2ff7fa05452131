"""Data tab: load a real dataset (zip upload, a folder on the server, or an ISIC/HAM10000 CSV), look at it
(counts per class before/after the class map, image sizes, skipped files, a gallery per class, the
preprocessing before/after), and import it as a dataset run that every other tab can select.

Handlers are plain functions returning what the page shows; the import itself is a background job
(`simstudio.data.importer.import_dataset`) polled by a timer, and everything shown for a dataset is read
back from its run folder, so it is all still there after a restart.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from pathlib import Path

import gradio as gr
import numpy as np
import pandas as pd

from simstudio.data.archive import extract_zip
from simstudio.data.class_map import check_class_map, load_class_map, mapped_counts
from simstudio.data.dataset import dataset_runs, load_dataset, read_items
from simstudio.data.images import read_image
from simstudio.data.importer import ImportConfig, format_summary, import_dataset
from simstudio.data.preprocess import FIT_MODES, Preprocessing, fit_square, preprocess_image
from simstudio.data.roots import allowed_roots, check_allowed
from simstudio.data.sources import SourceScan, scan_source
from simstudio.jobs import get_runner
from simstudio.plots import class_counts_figure, empty_figure, image_size_figure
from simstudio.runs import open_run, runs_root

SOURCE_KINDS = ("Zip upload", "Folder on the server", "CSV on the server")
SPLITS = ("85/15", "80/10/10", "10/45/45", "kfold:10", "kfold:5", "source")
GALLERY_PER_CLASS = 16
PREVIEW_PER_CLASS = 2
STAGING_MAX_AGE_S = 6 * 3600


def build_data_tab() -> None:
    gr.Markdown("Load a real labelled image set, check it, and import it once: images are decoded, "
                "preprocessed and cached, a split is saved, and the dataset appears in the other tabs. "
                "Same as `python -m simstudio import SOURCE ...`.")
    run_id = gr.State("")
    with gr.Row():
        with gr.Column(scale=1, min_width=340):
            kind = gr.Radio(list(SOURCE_KINDS), value=SOURCE_KINDS[0], label="Source")
            zip_file = gr.File(label="Zip of class folders (or of a CSV with its images)",
                               file_types=[".zip"], type="filepath", elem_id="data-zip")
            folder = gr.Textbox(label="Image folder on the server", visible=False,
                                placeholder="data/my-set  (root/<class>/*.jpg or root/train|test/<class>/*)")
            csv_path = gr.Textbox(label="Ground-truth CSV on the server", visible=False,
                                  placeholder="data/HAM10000/HAM10000_metadata.csv (images beside it)")
            gr.Markdown(allowed_roots_text())
            class_map = gr.Textbox(label="Class map (optional)", lines=3,
                                   placeholder="malignant: MEL, BCC, SCC\nbenign: *\ndrop: UNK")
            with gr.Accordion("Preprocessing", open=True):
                with gr.Row():
                    size = gr.Number(value=128, precision=0, label="Size (px)", minimum=8, maximum=2048,
                                     elem_id="data-size")
                    fit = gr.Dropdown(list(FIT_MODES), value="resize", label="Make square by")
                bilateral = gr.Checkbox(label="Bilateral filter", value=False)
                with gr.Row():
                    bil_d = gr.Slider(3, 25, value=9, step=2, label="d (px)")
                    bil_sc = gr.Slider(5, 150, value=75, step=5, label="σ colour")
                    bil_ss = gr.Slider(1, 150, value=75, step=1, label="σ space")
                gamma = gr.Slider(0.5, 3.0, value=1.0, step=0.05,
                                  label="Gamma (1 = off; > 1 brightens mid-tones; the paper used 1.5)")
                with gr.Row():
                    hair = gr.Checkbox(label="Hair removal (DullRazor)", value=False)
                    sog = gr.Checkbox(label="Shades-of-Gray colour constancy", value=False)
            with gr.Row():
                split = gr.Dropdown(list(SPLITS), value="85/15", allow_custom_value=True,
                                    label="Split (train/test, train/val/test, kfold:K, source)")
                seed = gr.Number(value=0, precision=0, label="Seed")
            with gr.Row():
                scan_btn = gr.Button("Scan")
                preview_btn = gr.Button("Preview preprocessing")
                import_btn = gr.Button("Import", variant="primary")
            message = gr.Markdown(elem_id="data-message")
        with gr.Column(scale=2):
            with gr.Row():
                datasets = gr.Dropdown(dataset_choices(), value=None, label="Imported datasets", scale=4)
                refresh_btn = gr.Button("Refresh", scale=1)
            summary = gr.Markdown(elem_id="data-summary")
            with gr.Row():
                counts_plot = gr.Plot(value=empty_figure("Scan or import a dataset"),
                                      label="Images per class")
                sizes_plot = gr.Plot(value=empty_figure(""), label="Image sizes")
            preview = gr.Gallery(label="Preprocessing: before / after", columns=4, height=260)
            with gr.Row():
                class_pick = gr.Dropdown([], label="Class", scale=1)
            gallery = gr.Gallery(label="Images of the class (as cached)", columns=8, height=260)
            split_table = gr.Dataframe(value=pd.DataFrame(columns=["part", "total"]), label="Split",
                                       interactive=False)
            skipped_table = gr.Dataframe(headers=["file", "reason"], label="Skipped files", interactive=False)
    timer = gr.Timer(1.0, active=False)
    # Ticks once per page load: the dataset list is read from the run store then, not when the app was
    # built, so imports made in other sessions or by the CLI show up after a reload.
    on_load = gr.Timer(0.2, active=True)

    pre_inputs = [size, fit, bilateral, bil_d, bil_sc, bil_ss, gamma, hair, sog]
    source_inputs = [kind, zip_file, folder, csv_path]
    view_outputs = [summary, counts_plot, sizes_plot, skipped_table, split_table, class_pick, gallery]

    kind.change(source_fields, inputs=[kind], outputs=[zip_file, folder, csv_path])
    scan_btn.click(scan_data, inputs=[*source_inputs, class_map],
                   outputs=[message, summary, counts_plot, sizes_plot, skipped_table])
    preview_btn.click(preview_data, inputs=[*source_inputs, *pre_inputs], outputs=[message, preview])
    import_btn.click(start_import, inputs=[*source_inputs, class_map, *pre_inputs, split, seed],
                     outputs=[message, run_id, timer])
    timer.tick(poll_import, inputs=[run_id], outputs=[message, *view_outputs, timer, datasets])
    datasets.change(select_dataset, inputs=[datasets], outputs=[run_id, message, *view_outputs])
    refresh_btn.click(refresh_datasets, outputs=[datasets])
    on_load.tick(lambda: (refresh_datasets(), gr.Timer(active=False)), outputs=[datasets, on_load])
    class_pick.change(class_gallery, inputs=[run_id, class_pick], outputs=[gallery])


# -- handlers ------------------------------------------------------------------------------------------

def source_fields(kind: str):
    """Show the inputs the chosen source needs."""
    csv_mode = kind == SOURCE_KINDS[2]
    folder = gr.update(visible=kind != SOURCE_KINDS[0],
                       label="Image folder (optional: default the CSV's folder)" if csv_mode
                       else "Image folder on the server")
    return gr.update(visible=kind == SOURCE_KINDS[0]), folder, gr.update(visible=csv_mode)


def allowed_roots_text() -> str:
    from simstudio.public import is_public

    if is_public():
        return "<small>This public Space reads no server folder or CSV: upload a zip.</small>"
    roots = ", ".join(f"`{r}`" for r in allowed_roots())
    return f"<small>Server folders this app may read: {roots} (set `SIMSTUDIO_DATA_ROOTS`).</small>"


def dataset_choices() -> list[tuple[str, str]]:
    """(label, run id) of every finished dataset run, newest first."""
    out = []
    for run in dataset_runs():
        result = run.result or {}
        label = f"{run.name or run.id} · {result.get('n_images', '?')} images · {run.id}"
        out.append((label, run.id))
    return out


def refresh_datasets():
    return gr.update(choices=dataset_choices())


def scan_data(kind, zip_path, folder, csv_path, class_map):
    """First look, names only: counts per class (before/after the map), what is ignored or skipped."""
    try:
        scan = _scan(kind, zip_path, folder, csv_path)
        mapping = load_class_map(class_map or "")
        check_class_map(scan.counts, mapping)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        return _error(exc), "", empty_figure("nothing scanned"), empty_figure(""), _skipped_frame([])
    after = mapped_counts(scan.counts, mapping) if mapping else scan.counts
    lines = [f"**{len(scan.items)} images** in {len(scan.counts)} source classes ({scan.kind}) under "
             f"`{scan.root.name}`."]
    if mapping:
        kept = sum(after.values())
        lines.append(f"After the class map: {kept} images in {len(after)} classes "
                     f"({len(scan.items) - kept} dropped).")
    if scan.ignored:
        more = " …" if len(scan.ignored) > 5 else ""
        lines.append(f"Ignored {len(scan.ignored)} non-image file(s): "
                     + ", ".join(f"`{f}`" for f in scan.ignored[:5]) + more)
    if scan.has_groups:
        lines.append(f"Lesion groups found for {sum(1 for it in scan.items if it.group)} images: "
                     f"splits keep each group in one part.")
    if scan.has_parts:
        lines.append("The source comes split into " + ", ".join(sorted({it.part for it in scan.items}))
                     + " (split `source` keeps it).")
    lines.append("Corrupt images are found and listed when the dataset is imported.")
    return ("Scanned: press **Import** to decode and cache.", "\n\n".join(lines),
            class_counts_figure(after, before=scan.counts if mapping else None), _sizes_from_scan(scan),
            _skipped_frame(scan.skipped))


def preview_data(kind, zip_path, folder, csv_path, size, fit, bilateral, bil_d, bil_sc, bil_ss, gamma, hair,
                 sog):
    """A few images per class, each before (only made square) and after the chosen preprocessing."""
    try:
        scan = _scan(kind, zip_path, folder, csv_path)
        pre = _preprocessing(size, fit, bilateral, bil_d, bil_sc, bil_ss, gamma, hair, sog)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        return _error(exc), []
    by_class: dict[str, list] = {}
    for it in scan.items:
        by_class.setdefault(it.label, []).append(it)
    items = []
    failed = 0
    for label in sorted(by_class)[:6]:
        shown = 0
        for it in by_class[label]:
            if shown == PREVIEW_PER_CLASS:
                break
            try:
                img = read_image(scan.root / it.file, min_side=pre.size)
            except (OSError, ValueError):
                failed += 1
                continue
            items.append((fit_square(img, pre.size, pre.fit), f"{label} · before"))
            items.append((preprocess_image(img, pre), f"{label} · after"))
            shown += 1
    note = f" ({failed} unreadable file(s) passed over)" if failed else ""
    return f"Preview: {pre.describe()}{note}.", items


def start_import(kind, zip_path, folder, csv_path, class_map, size, fit, bilateral, bil_d, bil_sc, bil_ss,
                 gamma, hair, sog, split, seed):
    """Check the inputs, then start the import job; the timer polls it."""
    try:
        source, csv_file = _source_paths(kind, zip_path, folder, csv_path)
        pre = _preprocessing(size, fit, bilateral, bil_d, bil_sc, bil_ss, gamma, hair, sog)
        if seed is None or int(seed) < 0:
            raise ValueError("seed must be a whole number >= 0")
        config = ImportConfig(source=source, csv=csv_file, class_map=class_map or "", preprocessing=pre,
                              split=str(split or "").strip() or "85/15", seed=int(seed),
                              allowed_roots=[str(r) for r in allowed_roots()]).validated()
        if kind != SOURCE_KINDS[0]:
            # Names only, so a wrong class map or an empty folder is reported now, not after a queue.
            check_class_map(scan_source(source, csv_file or None, allowed_roots()).counts,
                            load_class_map(config.class_map))
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        return _error(exc), "", gr.Timer(active=False)
    name = Path(zip_path).stem if kind == SOURCE_KINDS[0] else Path(csv_file or source).stem
    job = get_runner().submit("dataset", import_dataset, config, heavy=False, name=name)
    return f"Import started: `{job.id}`", job.id, gr.Timer(active=True)


def poll_import(run_id):
    """Timer tick: progress while the import runs; the whole view once it has finished."""
    if not run_id:
        return ("", *_empty_view(), gr.Timer(active=False), gr.update())
    try:
        run = open_run(run_id)
    except FileNotFoundError as exc:
        return (_error(exc), *_empty_view(), gr.Timer(active=False), gr.update())
    status = run.status
    if status in ("queued", "running"):
        return (_progress_text(run), *(gr.update() for _ in range(7)), gr.Timer(active=True), gr.update())
    view = dataset_view(run_id)
    done = status == "finished"
    message = f"Imported `{run_id}`." if done else view[0]
    choices = gr.update(choices=dataset_choices(), value=run_id) if done else gr.update()
    return (message, *view[1:], gr.Timer(active=False), choices)


def select_dataset(run_id):
    """A dataset picked from the list: everything about it, read from its run folder."""
    if not run_id:
        return ("", "", *_empty_view())
    view = dataset_view(run_id)
    return (run_id, view[0] or gr.update(), *view[1:])


def dataset_view(run_id):
    """(message, summary, counts figure, sizes figure, skipped rows, split rows, class dropdown, gallery)."""
    try:
        run = open_run(run_id)
    except FileNotFoundError as exc:
        return (_error(exc), *_empty_view())
    result = run.result
    if run.status != "finished" or not result:
        error = (run.error or "").strip().splitlines()
        reason = error[0].split(": ", 1)[-1] if error else f"the import is {run.status}"
        return (f"**Import failed:** {reason}", *_empty_view())
    classes = result["classes"]
    items = read_items(run.path)
    widths = [int(r["width"]) for r in items]
    heights = [int(r["height"]) for r in items]
    head, *rest = format_summary(result).splitlines()
    summary = f"**{head}**\n\n" + "\n".join(f"- {line.strip()}" for line in rest)
    first = classes[0] if classes else None
    mapped = result["counts_before_map"] != result["counts_after_map"]
    found = result["counts_before_map"] if mapped else result["counts_after_map"]
    return ("", summary,
            class_counts_figure(result["counts"], before=found,
                                before_label="before class map" if mapped else "found (incl. unreadable)"),
            image_size_figure(widths, heights), _skipped_frame(result["skipped"]),
            _split_frame(result["split_summary"], classes),
            gr.update(choices=classes, value=first), class_gallery(run_id, first))


def class_gallery(run_id, cls):
    """Up to GALLERY_PER_CLASS cached images of class `cls` (what training will see)."""
    if not run_id or not cls:
        return []
    try:
        ds = load_dataset(run_id)
    except (ValueError, FileNotFoundError) as exc:
        gr.Warning(str(exc))
        return []
    if cls not in ds.classes:
        return []
    rows = np.flatnonzero(ds.labels == ds.classes.index(cls))[:GALLERY_PER_CLASS]
    return [(np.asarray(ds.images[i]), Path(ds.files[i]).name) for i in rows]


# -- private helpers -----------------------------------------------------------------------------------

def _source_paths(kind, zip_path, folder, csv_path) -> tuple[str, str]:
    """(source, csv) for ImportConfig, with the allowed-roots check on anything typed."""
    if kind == SOURCE_KINDS[0]:
        if not zip_path:
            raise ValueError("upload a .zip first (class folders inside, or a CSV with its images)")
        if not str(zip_path).lower().endswith(".zip"):
            raise ValueError(f"{Path(zip_path).name} is not a .zip file")
        return str(zip_path), ""
    if kind == SOURCE_KINDS[1]:
        if not (folder or "").strip():
            raise ValueError("type the image folder's path")
        path = check_allowed(folder)
        if not path.is_dir():
            raise NotADirectoryError(f"not a folder: {folder}")
        return str(path), ""
    if kind == SOURCE_KINDS[2]:
        if not (csv_path or "").strip():
            raise ValueError("type the ground-truth CSV's path")
        csv_file = check_allowed(csv_path)
        if not csv_file.is_file():
            raise FileNotFoundError(f"no such CSV file: {csv_path}")
        images = check_allowed(folder) if (folder or "").strip() else csv_file.parent
        return str(images), str(csv_file)
    raise ValueError(f"pick a source: {', '.join(SOURCE_KINDS)}")


def _scan(kind, zip_path, folder, csv_path) -> SourceScan:
    source, csv_file = _source_paths(kind, zip_path, folder, csv_path)
    if kind == SOURCE_KINDS[0]:
        return scan_source(_staged_zip(source))
    return scan_source(source, csv_file or None, allowed_roots())


def _staged_zip(zip_path: str) -> Path:
    """The upload extracted (safely) once into the store's .uploads/ for scanning and previews; the
    import extracts it again into its own run, so the dataset never depends on this folder."""
    st = Path(zip_path).stat()
    key = hashlib.sha1(f"{zip_path}\0{st.st_size}\0{st.st_mtime_ns}".encode()).hexdigest()[:16]
    base = runs_root() / ".uploads"
    target = base / key
    if (target / ".complete").is_file():
        return target
    _clean_staging(base)
    if target.exists():
        shutil.rmtree(target)
    extract_zip(zip_path, target)
    (target / ".complete").write_text("")
    return target


def _clean_staging(base: Path) -> None:
    if not base.is_dir():
        return
    now = time.time()
    for d in base.iterdir():
        if d.is_dir() and now - d.stat().st_mtime > STAGING_MAX_AGE_S:
            shutil.rmtree(d, ignore_errors=True)


def _preprocessing(size, fit, bilateral, bil_d, bil_sc, bil_ss, gamma, hair, sog) -> Preprocessing:
    if size is None:
        raise ValueError("size is empty: type the side of the cached images in px")
    return Preprocessing(size=int(size), fit=fit or "resize", bilateral=bool(bilateral),
                         bilateral_d=int(bil_d), bilateral_sigma_color=float(bil_sc),
                         bilateral_sigma_space=float(bil_ss), gamma=float(gamma), hair_removal=bool(hair),
                         shades_of_gray=bool(sog)).validate()


def _progress_text(run) -> str:
    progress = run.events("progress")
    if not progress:
        return f"Import `{run.id}` is {run.status}…"
    p = progress[-1]
    rate = f" · {p['images_per_s']} images/s" if p.get("images_per_s") else ""
    eta = f" · ETA {p['eta_s']:.0f} s" if p.get("eta_s") is not None and p["done"] < p["total"] else ""
    return f"Importing `{run.id}`: {p.get('message', '')} {p['done']}/{p['total']}{rate}{eta}"


def _sizes_from_scan(scan: SourceScan, sample: int = 400):
    """Header sizes of a sample of the scanned images (reading headers only)."""
    from simstudio.data.images import image_size

    step = max(1, len(scan.items) // sample)
    widths, heights = [], []
    for it in scan.items[::step][:sample]:
        try:
            wh = image_size((scan.root / it.file).read_bytes())
        except OSError:
            continue
        if wh:
            widths.append(wh[0])
            heights.append(wh[1])
    if not widths:
        return empty_figure("no readable image headers")
    title = "Source image sizes" + (f" (sample of {len(widths)})" if step > 1 else "")
    return image_size_figure(widths, heights, title=title)


def _skipped_frame(skipped) -> pd.DataFrame:
    return pd.DataFrame([list(s) for s in skipped], columns=["file", "reason"])


def _split_frame(split_summary: dict, classes: list[str]) -> pd.DataFrame:
    rows = []
    for part, counts in split_summary.items():
        rows.append([part, *[counts.get(c, 0) for c in classes], sum(counts.values())])
    return pd.DataFrame(rows, columns=["part", *classes, "total"])


def _empty_view():
    return ("", empty_figure("no dataset"), empty_figure(""), _skipped_frame([]), pd.DataFrame(),
            gr.update(choices=[], value=None), [])


def _error(exc: Exception) -> str:
    return f"**Error:** {exc}"

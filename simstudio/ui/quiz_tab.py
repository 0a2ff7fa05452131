"""Blind test tab: "real or simulated?", one image at a time, for a reader (a dermatologist) to judge by eye.

Make a session from a real set (an imported dataset, a folder, or uploaded images) and one or more
synthetic sets (simulator, GAN or refined exports, or uploaded zips); read it image by image at the size
the reader chooses; every answer is saved as it is given, so reopening the session continues at the next
unanswered image. The page only ever receives an image's pixels and its number: never a file name, a path
or the set it came from. Results (accuracy with an exact binomial CI, p against 50 %, per source and per
class, the most convincing synthetic images, CSV) come from `simstudio.eval.reader_study`.
Same as `python -m simstudio quiz ...` and `quiz --report RUN`.
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

import gradio as gr
import pandas as pd

from simstudio.eval import reader_study as rs
from simstudio.jobs import get_runner
from simstudio.runs import list_runs, open_run, runs_root

DISPLAY = (128, 768, 448)  # reader's display size: min, max, start (px)
CREATE_TIMEOUT_S = 600
HIDDEN = gr.update(visible=False)
RESULT_COLUMNS = ["images", "task", "correct", "accuracy", "95 % CI (exact)", "p vs 50 %"]


def build_quiz_tab() -> None:
    gr.Markdown('**Real or simulated?** A blind reading test: one image at a time, half real and half '
                'synthetic in an order fixed by the seed; the reader answers *real* or *simulated* (and, if '
                'asked, benign or malignant and a confidence). Answers are saved as they are given: reopen '
                'the session to continue. Same as `python -m simstudio quiz`.\n\n'
                f'<small>{rs.ANCHOR} Accuracy comes with an exact ({rs.CI_METHOD}) 95 % CI and the exact '
                'binomial p-value against 50 %.</small>')
    run_id = gr.State("")
    item = gr.State(-1)
    with gr.Accordion("1 · Make a blind test", open=True) as setup:
        with gr.Row():
            real = gr.Dropdown(dataset_choices(), value=None, allow_custom_value=True, scale=2,
                               label="Real set: an imported dataset (or a folder on the server)",
                               elem_id="quiz-real")
            real_upload = gr.File(label="…or upload real images (a zip of class folders, or image files)",
                                  file_count="multiple", file_types=["image", ".zip"], type="filepath", scale=2,
                                  height=140)
        with gr.Row():
            synthetic = gr.Dropdown(export_choices(), value=[], multiselect=True, allow_custom_value=True, scale=2,
                                    label="Synthetic sets: simulator / GAN / refined exports (or folders on "
                                          "the server)", elem_id="quiz-synthetic")
            synth_upload = gr.File(label="…or upload synthetic sets (one zip of class folders each)",
                                   file_count="multiple", file_types=[".zip"], type="filepath", scale=2,
                                   height=140)
        with gr.Row():
            n_images = gr.Number(40, precision=0, minimum=2, label="Images in all (half real)")
            size = gr.Number(224, precision=0, minimum=rs.MIN_SIZE, maximum=rs.MAX_SIZE,
                             label="Stored size (px)")
            seed = gr.Number(0, precision=0, minimum=0, label="Seed (images and order)")
            ask_class = gr.Checkbox(True, label="Also ask benign / malignant")
            ask_conf = gr.Checkbox(True, label="Ask for a confidence (1-5)")
        with gr.Row():
            create_btn = gr.Button("Make the blind test", variant="primary", elem_id="quiz-create")
            refresh_btn = gr.Button("Refresh lists", size="sm")
        create_msg = gr.Markdown(elem_id="quiz-create-message")
    with gr.Accordion("2 · Read", open=True):
        with gr.Row():
            session = gr.Dropdown(session_choices(), value=None, label="Blind test session (reopen to continue)",
                                  scale=3, elem_id="quiz-session")
            display = gr.Slider(DISPLAY[0], DISPLAY[1], value=DISPLAY[2], step=32, label="Display size (px)",
                                scale=2, elem_id="quiz-display")
        progress = gr.Markdown("Pick a session, or make one above.", elem_id="quiz-progress")
        image = gr.Image(type="numpy", format="png", interactive=False, show_label=False, buttons=[],
                         height=DISPLAY[2] + 16, elem_id="quiz-image")
        with gr.Row():
            class_answer = gr.Radio([], value=None, label="Benign or malignant?", visible=False,
                                    elem_id="quiz-class")
            confidence = gr.Slider(rs.CONFIDENCE[0], rs.CONFIDENCE[1], value=rs.DEFAULT_CONFIDENCE, step=1,
                                   label="Confidence (1 = a guess, 5 = certain)", visible=False,
                                   elem_id="quiz-confidence")
        with gr.Row():
            real_btn = gr.Button("Real", variant="primary", elem_id="quiz-answer-real")
            sim_btn = gr.Button("Simulated", variant="primary", elem_id="quiz-answer-simulated")
    with gr.Accordion("3 · Results", open=True):
        results_btn = gr.Button("Show results (also before the end)", size="sm", elem_id="quiz-results-button")
        report = gr.Markdown(elem_id="quiz-report")
        table = gr.Dataframe(headers=RESULT_COLUMNS, interactive=False, wrap=True,
                             label="Real or simulated, by source and by class",
                             elem_id="quiz-table")
        with gr.Row():
            convincing = gr.Gallery(label="Most convincing synthetic images", columns=5, height=220)
            unconvincing = gr.Gallery(label="Least convincing real images", columns=5, height=220)
        csv_file = gr.File(label="Answers (CSV)", interactive=False, height=80, elem_id="quiz-csv")

    reading = [run_id, item, progress, image, class_answer, confidence]
    results = [report, table, convincing, unconvincing, csv_file]
    create_btn.click(create_session,
                     inputs=[real, real_upload, synthetic, synth_upload, n_images, size, seed, ask_class, ask_conf],
                     outputs=[create_msg, session]).then(open_session, inputs=[session, display], outputs=reading)
    # Reading: the set-up folds away, so the image is what the reader sees (reopen it from its header).
    session.input(lambda: gr.Accordion(open=False), outputs=[setup])
    refresh_btn.click(lambda: (gr.update(choices=dataset_choices()), gr.update(choices=export_choices()),
                               gr.update(choices=session_choices())), outputs=[real, synthetic, session])
    session.input(open_session, inputs=[session, display], outputs=reading)
    real_btn.click(lambda *a: answer(*a, "real"), inputs=[run_id, item, class_answer, confidence, display],
                   outputs=[*reading, *results])
    sim_btn.click(lambda *a: answer(*a, "simulated"), inputs=[run_id, item, class_answer, confidence, display],
                  outputs=[*reading, *results])
    display.release(redraw, inputs=[run_id, item, display], outputs=[image])
    results_btn.click(show_results, inputs=[run_id], outputs=results)
    # Lists read when the page loads (not when the app was built): sessions made elsewhere show up.
    on_load = gr.Timer(0.2, active=True)
    on_load.tick(lambda: (gr.update(choices=dataset_choices()), gr.update(choices=export_choices()),
                          gr.update(choices=session_choices()), gr.Timer(active=False)),
                 outputs=[real, synthetic, session, on_load])


# -- choices ---------------------------------------------------------------------------------------------

def dataset_choices() -> list[tuple[str, str]]:
    from simstudio.data.dataset import dataset_runs

    return [(f"{r.name or r.id} · {r.id}", r.id) for r in dataset_runs()]


def export_choices() -> list[tuple[str, str]]:
    """Finished runs that wrote an image folder (simulator, GAN and refined exports)."""
    out = []
    for r in list_runs():
        res = (r.result or {}) if r.status == "finished" and r.kind not in ("dataset", rs.RUN_KIND) else {}
        if res.get("out") and Path(res["out"]).is_dir():
            out.append((f"{r.kind} · {res.get('images', '?')} images · {r.id}", r.id))
    return out


def session_choices() -> list[tuple[str, str]]:
    out = []
    for r in list_runs(rs.RUN_KIND):
        res = r.result or {}
        if r.status != "finished" or not res:
            continue
        done = len(rs.answers(r))
        out.append((f"{r.name or 'blind test'} · {done}/{res['n_items']} answered · {r.id}", r.id))
    return out


# -- handlers --------------------------------------------------------------------------------------------

def create_session(real, real_upload, synthetic, synth_upload, n_images, size, seed, ask_class, ask_conf):
    """Check the form, copy the chosen images into a new session run; (message, session dropdown)."""
    staged: list[str] = []
    try:
        real_ref = _stage_upload(real_upload, "real", staged) if real_upload else _reference(real, "real set")
        sets = [_named_reference(s) for s in (synthetic or []) if str(s).strip()]
        sets += [f"upload{i + 1}={_stage_upload([f], f'synthetic{i + 1}', staged)}"
                 for i, f in enumerate(synth_upload or [])]
        config = rs.QuizConfig(real=real_ref, synthetic=sets, n_images=_int(n_images, "images"),
                               size=_int(size, "stored size"), seed=_int(seed, "seed"), ask_class=bool(ask_class),
                               ask_confidence=bool(ask_conf), temporary=list(staged)).validate()
        job = get_runner().submit(rs.RUN_KIND, rs.create_quiz, config, heavy=False,
                                  name=f"blind test · {config.n_images} images")
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        for path in staged:
            shutil.rmtree(Path(path).parent, ignore_errors=True)
        return f"**Not made:** {exc}", gr.update()
    job.wait(CREATE_TIMEOUT_S)
    run = job.run
    if run.status != "finished":
        reason = (run.error or "").strip().splitlines()
        return (f"**Not made:** {reason[0].split(': ', 1)[-1] if reason else f'the session is {run.status}'}",
                gr.update())
    res = run.result
    return (f"Made `{run.id}`: {res['n_items']} images, half real, in an order fixed by seed {res['seed']}. "
            "Hand the screen to the reader.", gr.update(choices=session_choices(), value=run.id))


def open_session(run_id, display):
    """(run id, item, progress, image, class radio, confidence) at the session's next unanswered image."""
    if not run_id:
        return "", -1, "Pick a session, or make one above.", None, HIDDEN, HIDDEN
    try:
        run = open_run(run_id)
        items = rs.quiz_items(run)
        nxt = rs.next_item(run)
    except (FileNotFoundError, ValueError) as exc:
        return "", -1, f"**{exc}**", None, HIDDEN, HIDDEN
    res = run.result or {}
    done = len(rs.answers(run))
    if nxt is None:
        return (run_id, -1, f"All **{len(items)}** images answered. The results are below (**Show results**).",
                None, HIDDEN, HIDDEN)
    classes = res.get("classes") or []
    ask_class = bool(res.get("ask_class")) and bool(classes)
    return (run_id, nxt, f"Image **{done + 1}** of **{len(items)}**: real or simulated?", _shown(run, nxt, display),
            gr.update(choices=classes, value=None, visible=ask_class),
            gr.update(value=rs.DEFAULT_CONFIDENCE, visible=bool(res.get("ask_confidence"))))


def answer(run_id, item, class_answer, confidence, display, choice):
    """Save the answer to the shown image, then show the next one (and the results after the last)."""
    keep = [gr.skip()] * 5
    if not run_id or item is None or int(item) < 0:
        return (run_id or "", -1, "Pick a session first.", None, HIDDEN, HIDDEN, *keep)
    try:
        run = open_run(run_id)
        res = run.result or {}
        rs.record_answer(run, int(item), choice, class_answer or "",
                         int(confidence) if res.get("ask_confidence") and confidence is not None else None)
    except (FileNotFoundError, ValueError) as exc:
        return (run_id, item, f"**Not saved:** {exc}", gr.skip(), gr.skip(), gr.skip(), *keep)
    view = open_session(run_id, display)
    return (*view, *(show_results(run_id) if view[1] == -1 else keep))


def redraw(run_id, item, display):
    if not run_id or item is None or int(item) < 0:
        return gr.skip()
    try:
        return _shown(run_id, int(item), display)
    except (FileNotFoundError, ValueError):
        return gr.skip()


def show_results(run_id):
    """(report, table, most convincing synthetic, least convincing real, CSV file) of a session."""
    if not run_id:
        return "Pick a session first.", pd.DataFrame(columns=RESULT_COLUMNS), [], [], None
    try:
        run = open_run(run_id)
        report = rs.quiz_report(run)
        paths = rs.write_report(run)
    except (FileNotFoundError, ValueError) as exc:
        return f"**{exc}**", pd.DataFrame(columns=RESULT_COLUMNS), [], [], None
    return (_report_markdown(report), results_table(report), _gallery(run, report["most_convincing_synthetic"]),
            _gallery(run, report["least_convincing_real"]), str(paths["csv"]))


def results_table(report: dict) -> pd.DataFrame:
    rows = [("all images", "real or simulated", report["overall"])]
    rows += [(f"{s} images", "called real" if s == "real" else "called simulated", v)
             for s, v in report["by_source"].items()]
    rows += [(f"class {c}", "real or simulated", v) for c, v in report["by_class"].items()]
    rows += [(f"{t} images", "benign / malignant", v) for t, v in report["class_accuracy"].items()]
    out = []
    for what, task, s in rows:
        if not s["n"]:
            out.append([what, task, "0", "", "", ""])
            continue
        out.append([what, task, f"{s['correct']}/{s['n']}", f"{s['accuracy'] * 100:.1f} %",
                    f"{s['ci'][0] * 100:.1f}–{s['ci'][1] * 100:.1f} %", f"{s['p_vs_chance']:.3g}"])
    return pd.DataFrame(out, columns=RESULT_COLUMNS)


# -- private helpers -------------------------------------------------------------------------------------

def _report_markdown(report: dict) -> str:
    s = report["overall"]
    head = f"**{report['n_answered']} of {report['n_items']}** images answered"
    if s["n"]:
        head += (f": **{s['accuracy'] * 100:.1f} %** told apart (95 % CI {s['ci'][0] * 100:.1f}–"
                 f"{s['ci'][1] * 100:.1f} %, exact binomial p = {s['p_vs_chance']:.3g} against 50 %).")
    if not report["finished"]:
        head += " *Unfinished: the figures cover the answered images only.*"
    return f"{head}\n\n<small>{report['anchor']}</small>"


def _gallery(run, rows: list[dict]) -> list:
    return [(rs.item_image(run, r["item"]),
             f"#{r['item']} {r['source']} · {r['class']} · called {r['answer']}"
             + (f" ({r['confidence']})" if r["confidence"] else "")) for r in rows]


def _reference(text, what: str) -> str:
    """A run id (dataset, or a run that wrote images) as it is; a typed folder only under the allowed
    roots (public mode: refused)."""
    text = str(text or "").strip()
    if not text:
        raise ValueError(f"choose the {what} (or upload it)")
    try:
        open_run(text)
        return text
    except FileNotFoundError:
        from simstudio.data.roots import check_allowed

        return str(check_allowed(text))


def _named_reference(spec: str) -> str:
    name, sep, ref = str(spec).partition("=")
    if sep and not Path(spec).exists():
        return f"{name.strip()}={_reference(ref, 'synthetic set')}"
    ref = _reference(spec, "synthetic set")
    try:
        run = open_run(spec.strip())
        return f"{run.kind}-{run.id.rsplit('-', 1)[-1]}={ref}"  # a short, distinct name for the results
    except FileNotFoundError:
        return ref


def _stage_upload(files, name: str, staged: list[str]) -> str:
    """Uploaded files as an image folder in the run store: zips extracted (class folders inside), loose
    images under one folder of unlabelled images. Deleted once the session has copied them."""
    from simstudio.data.archive import extract_zip
    from simstudio.data.images import is_image_name

    files = [f for f in (files if isinstance(files, (list, tuple)) else [files]) if f]
    target = runs_root() / ".uploads" / f"quiz-{secrets.token_hex(6)}" / name
    staged.append(str(target))
    loose = target / rs.UNLABELLED
    for f in files:
        path = Path(f)
        if path.suffix.lower() == ".zip":
            extract_zip(path, target)
        elif is_image_name(path.name):
            loose.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, loose / f"{len(list(loose.iterdir())):05d}{path.suffix.lower()}")
        else:
            raise ValueError(f"{path.name} is neither an image nor a .zip")
    if not target.is_dir():
        raise ValueError(f"the {name} upload holds no images")
    return str(target)


def _shown(run, item: int, display):
    """The image at the reader's size, in a box of that size (no empty frame around a small image)."""
    side = _display(display)
    return gr.update(value=rs.item_image(run, item, side), height=side + 16)


def _display(value) -> int:
    try:
        return min(DISPLAY[1], max(DISPLAY[0], int(value)))
    except (TypeError, ValueError):
        return DISPLAY[2]


def _int(value, what: str) -> int:
    if value is None or not float(value).is_integer():
        raise ValueError(f"{what} = {value!r}: expected a whole number")
    return int(value)

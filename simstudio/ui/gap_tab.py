"""Gap tab: how far is the synthetic data from the real data, and what does a real-trained classifier
react to? Three sections: real vs synthetic (C2ST, per-class KID, embedding, nearest real neighbours,
measured lesion statistics side by side); counterfactual sweeps with Grad-CAM; fitting the simulator's
presets to a real dataset (`fit_section`); the shortcut audit (`audit_section`).

Every computation is a job in the run store; the handlers below are plain functions (tests call them)
that start jobs or turn a finished run's files into what the page shows.
"""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from simstudio import plots
from simstudio.jobs import get_runner
from simstudio.runs import list_runs, open_run
from simstudio.ui.run_polling import has_ended, open_with_status, past_run_picker

DEFAULT_STATS = ["area_frac", "asymmetry", "compactness", "border_width_rel", "n_colours", "skin_a"]


def build_gap_tab() -> None:
    from simstudio.eval.lesion_stats import HISTOGRAM_STATS

    gr.Markdown("Compare a **real** set with a **synthetic** one (simulator or GAN export). The headline is "
                "the classifier two-sample test: a discriminator trained to tell real from synthetic, scored "
                "on held-out images (AUC 0.5 = it cannot tell them apart).")
    with gr.Row():
        real = gr.Dropdown(choices=dataset_choices(), label="Real set (dataset run or folder)",
                           allow_custom_value=True, scale=3)
        part = gr.Dropdown(choices=["", "train", "val", "test"], value="", label="Part of its split", scale=1)
        synthetic = gr.Textbox(label="Synthetic set (image folder)", placeholder="e.g. exports/sim-2000",
                               scale=3)
    with gr.Row():
        size = gr.Slider(32, 256, value=128, step=16, label="Compare at side (px)")
        per_class = gr.Slider(10, 1000, value=200, step=10, label="Images per class and set")
        features = gr.Dropdown(choices=feature_choices(), value="stats", allow_custom_value=True,
                               label="Feature space (stats, pixels or a classifier run)")
        embedding = gr.Radio(["pca", "tsne"], value="pca", label="Embedding")
        classifier = gr.Radio(["logistic", "boosting"], value="logistic", label="C2ST discriminator")
    gap_run = gr.Textbox(visible=False)
    with gr.Row():
        start = gr.Button("Compare", variant="primary")
        past_run_picker(gap_run_choices, "…or open a past comparison", gap_run, scale=2)
    shown = gr.State("")
    status = gr.Markdown()
    headline = gr.Markdown()
    with gr.Row():
        emb_plot = gr.Plot(label="Embedding")
        gallery = gr.Gallery(label="Synthetic sample | its nearest real image", columns=2, height=460)
    telling = gr.Gallery(label="What gives it away: the synthetic images the two-sample test was surest of, then "
                               "the real images it most took for synthetic (held-out P(synthetic))",
                         columns=8, height="auto", object_fit="contain", elem_id="gap-telling")
    stat_names = gr.CheckboxGroup(choices=list(HISTOGRAM_STATS), value=DEFAULT_STATS,
                                  label="Statistics to show")
    hist_plot = gr.Plot(label="Measured statistics, real vs synthetic, per class")

    views = [status, headline, emb_plot, hist_plot, gallery, telling]
    start.click(start_gap, inputs=[real, synthetic, part, size, per_class, features, embedding, classifier],
                outputs=[gap_run, status])
    gap_run.change(gap_views, inputs=[gap_run, stat_names], outputs=views)
    stat_names.change(gap_views, inputs=[gap_run, stat_names], outputs=views)
    gr.Timer(2.0).tick(poll_gap, inputs=[gap_run, stat_names, shown], outputs=[*views, shown])
    _build_sweep_section()
    from simstudio.ui.fit_section import build_fit_section

    build_fit_section()
    from simstudio.ui.audit_section import build_audit_section

    build_audit_section(dataset_choices, classifier_choices)


def _build_sweep_section() -> None:
    from simstudio.eval.counterfactual import sweepable_params

    gr.Markdown("## Counterfactual sweep\nVary one simulator parameter with everything else fixed (same "
                "lesions, same random draws) and watch a classifier: does its P(malignant) follow the ABCD cue, "
                "or an acquisition artefact? The shipped model (trained on simulated lesions only) works with no "
                "data; a classifier you trained on real images answers the more telling question.")
    with gr.Row():
        classifier = gr.Dropdown(choices=classifier_choices(), value=default_classifier(),
                                 label="Classifier (a shipped model or a Train run)", allow_custom_value=True,
                                 scale=2, elem_id="sweep-classifier")
        param = gr.Dropdown(choices=sweepable_params(), value="asymmetry", label="Parameter")
        class_name = gr.Dropdown(choices=["benign", "malignant", "nevus", "seborrheic_keratosis", "melanoma"],
                                 value="benign", allow_custom_value=True, label="Lesions drawn from")
        n_values = gr.Slider(3, 21, value=9, step=1, label="Values")
        n_samples = gr.Slider(1, 32, value=8, step=1, label="Lesions per value")
    with gr.Row():
        preset = gr.Textbox(label="Simulator preset JSON (empty = default)", scale=2)
        real = gr.Dropdown(choices=dataset_choices(), allow_custom_value=True,
                           label="Real images for Grad-CAM (optional)", scale=2)
        start = gr.Button("Sweep", variant="primary")
    sweep_run = gr.Textbox(visible=False)
    shown = gr.State("")
    status = gr.Markdown()
    with gr.Row():
        curve = gr.Plot(label="P(malignant) along the sweep")
        images = gr.Gallery(label="The first lesion along the sweep; Grad-CAM on simulated vs real", columns=1,
                            height=420)
    start.click(start_sweep, inputs=[classifier, param, class_name, n_values, n_samples, preset, real],
                outputs=[sweep_run, status])
    gr.Timer(2.0).tick(sweep_views, inputs=[sweep_run, shown], outputs=[status, curve, images, shown])


# -- real vs synthetic ------------------------------------------------------------------------------
def _refusals_as_message(fn):
    """A refused reference (public mode: a typed server path) as the form's message, no run started."""
    import functools

    from simstudio.public import PublicRefusal

    @functools.wraps(fn)
    def start(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except PublicRefusal as exc:
            return "", f"⚠ {exc}"

    return start


@_refusals_as_message
def start_gap(real: str, synthetic: str, part: str = "", size: int = 128, per_class: int = 200,
              features: str = "stats", embedding: str = "pca", classifier: str = "logistic",
              seed: int = 0) -> tuple[str, str]:
    """Check the form and start a gap job; returns (run id, status message). Bad input: no run id and a
    message saying what is wrong."""
    from simstudio.eval.domain_gap import GapConfig, run_gap

    real, synthetic = _ref(real), _ref(synthetic)
    if not real or not synthetic:
        return "", "⚠ Choose a real set and a synthetic set first."
    for name, ref in (("real", real), ("synthetic", synthetic)):
        if not _exists(ref):
            return "", f"⚠ The {name} set `{ref}` is neither an image folder nor a dataset run."
    config = GapConfig(real=real, synthetic=synthetic, real_part=part or "", size=int(size),
                       per_class=int(per_class), features=(features or "stats").strip(),
                       embedding=embedding or "pca", classifier=classifier or "logistic", seed=int(seed))
    job = get_runner().submit("gap", run_gap, config, heavy=True, name=f"{Path(synthetic).name} vs real")
    return job.id, f"Started `{job.id}`."


def poll_gap(run_id: str, stat_names: list[str] | None = None, shown: str = ""):
    """What the timer refreshes: while the job runs, its progress; once it has finished, every view,
    drawn once (`shown` is the run whose views are on the page). Returns the views and the new `shown`."""
    if not run_id or run_id == shown:
        return (gr.skip(),) * 7
    run, status, _missing = open_with_status(run_id)
    if run is None:
        return (f"⚠ No run `{run_id}`.",) + (gr.skip(),) * 5 + (run_id,)  # said once: nothing more to poll
    if not has_ended(status):
        return (_progress_text(run, status),) + (gr.skip(),) * 6
    return (*gap_views(run_id, stat_names), run_id)


def gap_views(run_id: str, stat_names: list[str] | None = None):
    """(status, headline Markdown, embedding figure, histogram figure, neighbour gallery, telling gallery)
    of a gap run."""
    from simstudio.eval.lesion_stats import STATISTICS

    if not run_id:
        empty = plots.empty_figure("Start a comparison or open a past one.")
        return "", "", empty, empty, [], []
    try:
        run = open_run(run_id)
    except FileNotFoundError:
        empty = plots.empty_figure("")
        return f"⚠ No run `{run_id}`.", "", empty, empty, [], []
    status = run.status
    result = run.result
    if status != "finished" or result is None:
        empty = plots.empty_figure(f"run is {status}")
        return _progress_text(run, status), "", empty, empty, [], []
    points = run.read_json("gap_points.json", {})
    st = run.read_json("gap_stats.json", {})
    classes = result["classes"]
    emb = plots.embedding_figure(points["x"], points["y"], points["set"], points["label"], classes,
                                 title=f"{run.config.get('embedding', 'pca').upper()} of "
                                       f"{result['feature_space']} features")
    names = [n for n in (stat_names or DEFAULT_STATS) if n in st.get("stats", {}).get("real", {})]
    hist = (plots.stat_histograms_figure(st["stats"], st["labels"], classes, names,
                                         {k: v[0] for k, v in STATISTICS.items()})
            if names else plots.empty_figure("Pick at least one statistic."))
    gallery = []
    for i, pair in enumerate(run.read_json("gap_neighbours.json", [])):
        png = run.path / "samples" / f"nn_{i:02d}.png"
        if png.is_file():
            gallery.append((str(png), f"{pair['class']}: synthetic #{pair['synthetic']} | nearest real "
                                      f"#{pair['real']} (distance {pair['distance']:.2f})"))
    return f"`{run.id}` finished.", format_gap_headline(result), emb, hist, gallery, _telling_gallery(run)


def _telling_gallery(run) -> list[tuple[str, str]]:
    """(image, caption) of the images that give a synthetic set away; runs from before it have none."""
    telling = run.read_json("gap_telling.json", {})
    items = []
    for name in ("synthetic", "real"):
        for i, row in enumerate(telling.get(name, [])):
            png = run.path / "samples" / f"telling_{name}_{i:02d}.png"
            if png.is_file():
                items.append((str(png), f"{name} {row['class']} #{row['index']}: P(synthetic) "
                                        f"{row['p_synthetic']:.2f}"))
    return items


def format_gap_headline(result: dict) -> str:
    c = result["c2st"]
    rows = ["| class | C2ST AUC | KID ×10³ | FID | real | synthetic |", "|---|---|---|---|---|---|"]
    for cls in [*result["classes"], "all"]:
        f = result["fidelity"].get(cls)
        auc = result["c2st_per_class"].get(cls, c if cls == "all" else None)
        if f is None and auc is None:
            continue
        rows.append(f"| {cls} | {auc['auc']:.3f} | " if auc else f"| {cls} | – | ")
        rows[-1] += (f"{f['kid'] * 1000:.2f} ± {f['kid_std'] * 1000:.2f} | {f['fid']:.2f} | {f['n_real']} | "
                     f"{f['n_synthetic']} |" if f else "– | – | – | – |")
    verdict = ("indistinguishable" if c["auc"] < 0.55 else "hard to tell apart" if c["auc"] < 0.7
               else "clearly different" if c["auc"] > 0.9 else "distinguishable")
    return (f"### C2ST AUC {c['auc']:.3f} (95% CI {c['ci'][0]:.3f}–{c['ci'][1]:.3f}): {verdict}\n"
            f"Feature space: `{result['feature_space']}`; 0.5 means the discriminator cannot tell real from "
            f"synthetic. KID is unbiased (0 = same distribution); FID is biased at these sample sizes.\n\n"
            + "\n".join(rows) + _groups_section(result) + _texture_section(result) + _telling_stats_section(result))


def _groups_section(result: dict) -> str:
    groups = result.get("c2st_groups")
    if not groups:
        return ""  # a run from before the groups were measured
    classes = result["classes"]
    rows = ["| statistics | pooled | " + " | ".join(classes) + " |", "|---|---|" + "---|" * len(classes)]
    for group, g in groups.items():
        per = " | ".join(f"{g['per_class'][c]['auc']:.3f}" if c in g["per_class"] else "–" for c in classes)
        rows.append(f"| {group} | {g['all']['auc']:.3f} | {per} |")
    return ("\n\n#### Lesion or photo?\nThe same two-sample test (C2ST AUC) on the lesion statistics alone and on "
            "the acquisition statistics (skin, camera, artefacts) alone. Read lesions per class. Read acquisition "
            "pooled: a fair-mode simulator shares one camera between the classes, so per class it keeps the real "
            "set's class-linked acquisition out on purpose.\n\n" + "\n".join(rows))


def _texture_section(result: dict) -> str:
    from simstudio.eval.texture_scales import format_texture

    if not result.get("texture"):
        return ""  # a run from before texture by scale was measured
    return ("\n\n#### Texture by scale\nMedian lightness detail (RMS L*) per band, inside the lesion and in the skin, "
            "and how well it tells the sets apart (AUC; 0.5 = the same spread). *Signal*: how well the band "
            "tells the class from the rest within each set; a band with signal in synthetic images but none in "
            "real ones is a cue real lesions do not carry (the finest bands also carry the camera's sharpness)."
            "\n\n" + format_texture(result["texture"], markdown=True))


def _telling_stats_section(result: dict) -> str:
    from simstudio.eval.telling_stats import format_telling_stats

    if not result.get("telling_stats", {}).get("classes"):
        return ""  # a run from before, or too few images per class
    return ("\n\n#### Which statistics give it away\nWithin each class: the measured statistics that tell the "
            "sets apart best alone (held-out AUC), then the pairs that do better together than either alone: "
            "a relation between them the generator gets wrong. Pairs at or below *chance* (the best gain with "
            "the real/synthetic labels shuffled) are noise.\n\n" + format_telling_stats(result["telling_stats"],
                                                                                     markdown=True))


# -- counterfactual sweep ---------------------------------------------------------------------------
@_refusals_as_message
def start_sweep(classifier: str, param: str, class_name: str = "benign", n_values: int = 9,
                n_samples: int = 8, preset: str = "", real: str = "", size: int = 128) -> tuple[str, str]:
    """Check the form and start a sweep job: (run id, message)."""
    from simstudio.eval.counterfactual import CounterfactualConfig, run_counterfactual, sweep_values

    classifier = _ref(classifier)
    if not classifier:
        return "", "⚠ Choose a classifier (a shipped model or a Train run)."
    try:
        sweep_values(param, int(n_values))
    except ValueError as exc:
        return "", f"⚠ {exc}"
    preset, real = _ref(preset), _ref(real)
    if preset and not Path(preset).expanduser().is_file():
        return "", f"⚠ No preset file `{preset}`."
    if real and not _exists(real):
        return "", f"⚠ The real set `{real}` is neither an image folder nor a dataset run."
    config = CounterfactualConfig(classifier=classifier, param=param, n_values=int(n_values),
                                  class_name=class_name or "benign", preset=preset, n_samples=int(n_samples),
                                  size=int(size), real=real)
    job = get_runner().submit("counterfactual", run_counterfactual, config, heavy=True, name=param)
    return job.id, f"Started `{job.id}`."


def sweep_views(run_id: str, shown: str = ""):
    """(status, curve figure, images, shown) of a sweep run: progress while it runs, the curve once it has
    finished (drawn once: `shown` is the run already on the page)."""
    if not run_id or run_id == shown:
        return gr.skip(), gr.skip(), gr.skip(), gr.skip()
    run, status, _missing = open_with_status(run_id)
    if run is None:
        return f"⚠ No run `{run_id}`.", gr.skip(), gr.skip(), run_id  # said once: nothing more to poll
    r = run.result
    if status != "finished" or r is None:  # a failed or cancelled sweep is said once
        return _progress_text(run, status), gr.skip(), gr.skip(), run_id if has_ended(status) else gr.skip()
    x = [int(v) if isinstance(v, bool) else v for v in r["values"]]
    fig = plots.sweep_band_figure({f"P({r['positive_class']})": (x, r["mean"], r["std"])}, r["param"],
                                  title=f"{r['positive_class']} probability as {r['param']} varies "
                                        f"({r['n_samples']} {r['class_name']} lesions, mean ± sd)")
    fig.update_yaxes(title_text=f"P({r['positive_class']})", range=[0, 1])
    captions = {"sweep_strip": f"first lesion, {r['param']} from {r['values'][0]} to {r['values'][-1]}",
                "cam_simulated": "Grad-CAM, simulated", "cam_real": "Grad-CAM, real"}
    images = [(str(run.path / "samples" / f"{k}.png"), v) for k, v in captions.items()
              if (run.path / "samples" / f"{k}.png").is_file()]
    msg = (f"`{run.id}`: P({r['positive_class']}) changes by {r['change']:+.3f} from {r['param']} = "
           f"{r['values'][0]} to {r['values'][-1]}.")
    return msg, fig, images, run.id


def classifier_choices() -> list[str]:
    """Shipped models by name (the default first), then finished classifier training runs."""
    from simstudio.train.shipped import shipped_names

    default = default_classifier()
    shipped = sorted(shipped_names(), key=lambda n: n != default)
    return [*shipped, *(r.id for r in list_runs() if r.kind == "train" and r.status == "finished")]


def default_classifier() -> str | None:
    from simstudio.train.shipped import default_model

    m = default_model()
    return m.name if m is not None else None


def dataset_choices() -> list[str]:
    try:
        from simstudio.data.dataset import dataset_runs

        return [r.id for r in dataset_runs()]
    except (ImportError, OSError):
        return []


def feature_choices() -> list[str]:
    return ["stats", "pixels", *classifier_choices()]


def gap_run_choices() -> list[str]:
    return [r.id for r in list_runs("gap") if r.status == "finished"]


# -- private helpers --------------------------------------------------------------------------------
def _progress_text(run, status: str) -> str:
    """The status line of a run that has not finished (`status` read once by the caller, before the rest)."""
    if status == "failed":
        return f"⚠ `{run.id}` failed: {(run.error or '').strip().splitlines()[0] if run.error else ''}"
    if status in ("cancelled", "interrupted"):
        return f"`{run.id}` was {status}; what it saved is kept."
    prog = run.events("progress")
    if not prog:
        pos = get_runner().queue_position(run.id)
        where = f" (#{pos + 1} in the queue)" if pos is not None else ""
        return f"`{run.id}` is {status}{where}."
    p = prog[-1]
    eta = f", about {p['eta_s']:.0f} s left" if p.get("eta_s") is not None else ""
    return f"`{run.id}`: {p.get('message', '')} {p['done']}/{p['total']}{eta}"


def _ref(value) -> str:
    text = (value or "").strip() if isinstance(value, str) else ""
    if text:
        from simstudio.public import check_typed_path

        # public mode: one of the session's runs, a shipped preset or model, else PublicRefusal
        folder = check_typed_path(text)
        if folder is not None and (folder.is_file() or (open_run(text).result or {}).get("out")):
            return str(folder)  # a shipped preset's file, or the folder an export run wrote
    return text


def _exists(ref: str) -> bool:
    if Path(ref).expanduser().is_dir():
        return True
    try:
        open_run(ref)
        return True
    except FileNotFoundError:
        return False

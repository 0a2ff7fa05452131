"""The Gradio app: one tab per module, each wiring widgets to library functions."""

from __future__ import annotations

import importlib
import os
import threading

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr

from simstudio.ui.start_here import start_here_text

# (tab label, module, builder). A builder is called inside `gr.Tab(label)` and adds that tab's widgets.
TABS = [
    # -- feature tabs, in the order a study runs (one line each) --
    ("Simulate", "simstudio.ui.simulate_tab", "build_simulate_tab"),
    ("Predict", "simstudio.ui.predict_tab", "build_predict_tab"),
    ("Data", "simstudio.ui.data_tab", "build_data_tab"),
    ("Train", "simstudio.ui.train_tab", "build_train_tab"),
    ("GAN", "simstudio.ui.gan_tab", "build_gan_tab"),
    ("Compare", "simstudio.ui.compare_tab", "build_compare_tab"),
    ("Gap", "simstudio.ui.gap_tab", "build_gap_tab"),
    ("Blind test", "simstudio.ui.quiz_tab", "build_quiz_tab"),
    ("Jobs", "simstudio.ui.jobs_tab", "build_jobs_tab"),
]

INTRO = (
    "# SimStudio\n"
    "Make synthetic training images (a procedural lesion simulator and GANs) and measure, with honest "
    "statistics, whether they help an image classifier. Everything here is also a library call and a CLI "
    "command (`python -m simstudio --help`)."
)


def build_app() -> gr.Blocks:
    from simstudio import public

    if not public.is_public():
        return _build()
    from simstudio.ui import public_mode

    # Built as nobody, so no run of any session lands in the page's initial values; Gradio's uploads
    # and outputs are deleted on the same schedule as the runs of ended sessions.
    ttl_s = int(public.limit("session_ttl_h") * 3600)
    with public.acting_as(public.NOBODY):
        demo = _build(note=public_mode.public_note(), delete_cache=(min(3600, ttl_s), ttl_s))
    return public_mode.guard_app(demo)


def _build(note: str = "", **blocks_kwargs) -> gr.Blocks:
    with gr.Blocks(title="SimStudio", **blocks_kwargs) as demo:
        gr.Markdown(INTRO)
        gr.Markdown(start_here_text(), elem_id="start-here")
        if note:
            gr.Markdown(note, elem_id="public-note")
        with gr.Tabs():
            for label, module, builder in TABS:
                with gr.Tab(label):
                    getattr(importlib.import_module(module), builder)()
    return demo


def launch(host: str | None = None, port: int | None = None) -> None:
    """Serve the app; offline-safe: no share tunnel, no analytics."""
    host = host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = port or int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    # The renderer's numba kernels load (or, on a fresh install, compile) on a background thread while the
    # page is built, so the first preview does not wait for them (bench_simulate prints the first-call cost).
    from simstudio.sim.render import warm_up

    threading.Thread(target=warm_up, name="renderer-warm-up", daemon=True).start()
    demo = build_app()
    demo.queue(default_concurrency_limit=4)
    demo.launch(server_name=host, server_port=port, share=False)

"""Public-Space mode in the app: the Gradio side of simstudio.public (the policy lives there).

`guard_app(demo)` runs once on the built app when public mode is on. Every event handler then
- keeps its session alive (and now and then removes the runs of ended sessions),
- shows a refusal (a quota, a server path) as a message naming the limit instead of failing silently,
- has server paths taken out of whatever text it returns (Markdown, text boxes, JSON, tables).
The session itself needs no wiring: simstudio.public reads it from the request Gradio is serving.
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr

from simstudio import public

TEXT_COMPONENTS = (gr.Markdown, gr.Textbox, gr.Code, gr.JSON, gr.Dataframe, gr.HTML, gr.Label)


def public_note() -> str:
    """One line for the top of the app saying what public mode means for the visitor."""
    lim = {k: public.limit(k) for k in public.LIMITS}
    return ("**Public Space:** you see only the runs of this browser tab (a reload starts a new session), "
            "typed server paths are refused (upload files instead), and jobs are limited to "
            f"{lim['export_images']:g} images per export, {lim['epochs']:g} epochs, {lim['image_size']:g} px, "
            f"{lim['jobs']:g} jobs at once and {lim['disk_mb']:g} MB; runs are removed "
            f"{lim['session_ttl_h']:g} h after a session was last seen.")


def guard_app(demo: gr.Blocks) -> gr.Blocks:
    for block_fn in demo.fns.values():
        fn = block_fn.fn
        if fn is None or getattr(fn, "_simstudio_guarded", False) or \
                not str(getattr(fn, "__module__", "")).startswith("simstudio"):
            continue  # Gradio's own handlers are left as they are
        if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
            continue  # SimStudio's handlers are plain functions or generators; no async ones show paths
        text_outputs = [isinstance(c, TEXT_COMPONENTS) for c in block_fn.outputs]
        wrap = _guarded_generator if inspect.isgeneratorfunction(fn) else _guarded
        block_fn.fn = wrap(fn, text_outputs)
    return demo


def _guarded(fn, text_outputs: list[bool]):
    @functools.wraps(fn)  # keeps the signature, so Gradio still passes gr.Request / event data
    def guarded(*args, **kwargs):
        public.touch()
        try:
            out = fn(*args, **kwargs)
        except public.PublicRefusal as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        return _redact_outputs(out, text_outputs)

    guarded._simstudio_guarded = True
    return guarded


def _guarded_generator(fn, text_outputs: list[bool]):
    """The same guard for a handler that streams its outputs (each yielded update is redacted)."""
    @functools.wraps(fn)
    def guarded(*args, **kwargs):
        public.touch()
        try:
            for out in fn(*args, **kwargs):
                yield _redact_outputs(out, text_outputs)
        except public.PublicRefusal as exc:
            raise gr.Error(str(exc), print_exception=False) from None

    guarded._simstudio_guarded = True
    return guarded


def _redact_outputs(out, text_outputs: list[bool]):
    if not any(text_outputs):
        return out
    if isinstance(out, dict) and out and all(isinstance(k, gr.components.Component) for k in out):
        return {k: public.redact(v) if isinstance(k, TEXT_COMPONENTS) else v for k, v in out.items()}
    if len(text_outputs) == 1:
        return public.redact(out)
    if isinstance(out, (tuple, list)) and len(out) == len(text_outputs):
        return type(out)(public.redact(v) if t else v for v, t in zip(out, text_outputs, strict=True))
    return out

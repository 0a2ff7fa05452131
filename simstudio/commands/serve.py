"""`serve`: start the app (the same one app.py starts on Hugging Face Spaces)."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("serve", help="start the web app on http://127.0.0.1:7860")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860)
    p.set_defaults(func=run)


def run(args) -> int:
    from simstudio.ui.app import launch

    launch(host=args.host, port=args.port)
    return 0

"""One module per CLI subcommand: `add_parser(subparsers)` registers it and sets `func(args) -> int`.

Heavy imports (torch, gradio) happen inside `func`, so `python -m simstudio --help` stays fast.
"""

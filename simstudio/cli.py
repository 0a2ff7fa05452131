"""`python -m simstudio ...`: the headless front door; every command calls the same library
functions as the app, so a study can run on a GPU box and be opened later in the app."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module holds one subcommand (see simstudio/commands/__init__.py). Add new ones here.
COMMAND_MODULES = [
    "simstudio.commands.serve",
    "simstudio.commands.runs",
    # -- subcommands of the feature layers (one line each) --
    "simstudio.commands.simulate", "simstudio.commands.preset",
    "simstudio.commands.import_data",
    "simstudio.commands.train_classifier",
    "simstudio.commands.experiment",
    "simstudio.commands.train_gan", "simstudio.commands.generate", "simstudio.commands.fidelity",
    "simstudio.commands.gap", "simstudio.commands.counterfactual", "simstudio.commands.fit_simulator",
    "simstudio.commands.audit",
    "simstudio.commands.predict", "simstudio.commands.publish_model",
    "simstudio.commands.quiz",
    "simstudio.commands.refine",
]


class UsageError(ValueError):
    """Bad input from the command line: printed as one line, exit status 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m simstudio",
        description="SimStudio: make synthetic training images and measure whether they help a classifier.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        # Bad input (an out-of-range parameter, a missing dataset, an unwritable folder): one clear line.
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

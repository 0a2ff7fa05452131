"""One name per idea across the CLI (`--size` for an image side, `--real` for the real dataset, `--out` for
where a command writes): the old spellings still parse, and each prints one deprecation line on stderr."""

from __future__ import annotations

import argparse
import sys


class _RenamedFlag(argparse.Action):
    def __init__(self, option_strings, dest, new_flag: str = "", **kwargs):
        self.new_flag = new_flag
        super().__init__(option_strings, dest, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"warning: {option_string} is deprecated; use {self.new_flag}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def add_renamed(group, old: str, new: str, dest: str, **kwargs) -> None:
    """Accept `old` as a hidden alias of `new` (same destination, same type), with a deprecation line."""
    group.add_argument(old, dest=dest, action=_RenamedFlag, new_flag=new, help=argparse.SUPPRESS, **kwargs)

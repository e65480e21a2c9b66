"""The ``mathreward`` console script: one subcommand per module in :mod:`mathreward.commands`.

Each command module exposes ``register(subparsers) -> None``, which adds its parser and sets
``func=run`` where ``run(args) -> int`` is the exit status. Heavy imports live inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# module names under mathreward.commands, in the order `mathreward --help` lists them
COMMANDS: tuple[str, ...] = ("verify", "serve", "rescore", "annotate", "pts", "metrics", "adapters")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mathreward", description="Grade math solutions: answer verification and step scores."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        importlib.import_module(f"mathreward.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())

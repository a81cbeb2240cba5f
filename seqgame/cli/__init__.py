"""The ``seqgame`` command line.

Subcommands live in the modules of this package (``games``, ``train``) and in backends,
found through the ``seqgame.commands`` entry-point group; each exposes
``add_parser(subparsers)`` that registers its parser with ``func=handler``. Handlers take
the parsed namespace and return an exit code. Every :class:`SeqgameError` becomes a one-line
message on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from seqgame.cli import games, train
from seqgame.errors import SeqgameError

COMMAND_GROUP = "seqgame.commands"


def build_parser() -> argparse.ArgumentParser:
    """The full ``seqgame`` parser."""
    parser = argparse.ArgumentParser(
        prog="seqgame",
        description="Game-theoretic LLM safety: define, solve and train attacker-defender games.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    games.add_parser(sub)
    train.add_parser(sub)
    for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda e: e.name):
        ep.load()(sub)  # a backend's commands (they import their heavy libraries lazily)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except SeqgameError as exc:
        print(f"seqgame: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())

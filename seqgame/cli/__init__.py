"""The ``seqgame`` command line.

Subcommands live in the modules of this package (``games``, ``train``) and in backends,
found through the ``seqgame.commands`` entry-point group; each exposes
``add_parser(subparsers)`` that registers its parser with ``func=handler``. Handlers take
the parsed namespace and return an exit code. Every :class:`SeqgameError` becomes a one-line
message on stderr and exit code 2 — never a traceback. So do the two failures of the
machine rather than of seqgame that bad input can still provoke: an ``OSError`` (the file
system refused a read or write: disk full, no permission, a path it cannot hold) and a
``MemoryError``. Every other exception is a bug in seqgame and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from seqgame.cli import evaluate, games, train
from seqgame.documents import short
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
    evaluate.add_parser(sub)
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
    except OSError as exc:  # the file system refused (disk full, permissions, a bad path)
        where = f" {short(str(exc.filename))}" if exc.filename else ""
        print(f"seqgame: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except MemoryError:
        print("seqgame: error: out of memory: use a smaller game or config", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

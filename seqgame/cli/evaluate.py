"""``seqgame cross-eval RUN_DIR``: every attacker snapshot against every defender snapshot.

Writes ``cross_eval.json`` (the ASR and payoff matrices, the meta-game), ``cross_eval.md``
and ``cross_evaluation.png`` (MAGIC Fig. 3) into ``--out`` (default ``RUN_DIR/cross_eval``);
see :mod:`seqgame.runner.cross_eval_run`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from seqgame.runner.cross_eval_run import cross_eval_markdown, cross_evaluate_run, write_cross_eval


def _cross_eval(args: argparse.Namespace) -> int:
    result = cross_evaluate_run(args.run_dir)
    out = Path(args.out) if args.out else Path(args.run_dir) / "cross_eval"
    paths = write_cross_eval(result, out)
    print(cross_eval_markdown(result))
    print("wrote " + ", ".join(str(p) for p in paths))
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``cross-eval``."""
    p = sub.add_parser("cross-eval", help="cross-evaluate a run's snapshots; solve the meta-game",
                       description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("run_dir", help="a run folder (with snapshots/)")
    p.add_argument("--out", default=None, help="output folder (default RUN_DIR/cross_eval)")
    p.set_defaults(func=_cross_eval)

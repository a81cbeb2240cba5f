"""The ``seqgame`` command line.

Subcommands live in modules listed in ``COMMAND_MODULES``; each exposes
``add_parser(subparsers)`` that registers its parser with ``func=handler``. Handlers take
the parsed namespace and return an exit code. Every :class:`SeqgameError` becomes a one-line
message on stderr and exit code 2 — never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Sequence

from seqgame.errors import SeqgameError

#: Modules that add subcommands (``add_parser(subparsers)``), in help order.
COMMAND_MODULES: list[str] = [
    "seqgame.cli",  # games, solve
    "seqgame.run_cli",  # train, plot, demo
    "seqgame.backends.llm.cli",  # sft (imports torch lazily)
]


def _games(args: argparse.Namespace) -> int:
    from seqgame.games import BUILTIN_GAMES
    from seqgame.spec import dump_spec, load_game

    if args.action == "show":
        if not args.name:
            raise SeqgameError("'seqgame games show' needs a game name; run 'seqgame games'")
        print(dump_spec(load_game(args.name).to_spec(), args.format), end="")
        return 0
    if args.action not in (None, "list"):
        raise SeqgameError(f"unknown action {args.action!r}; use 'list' or 'show NAME'")
    width = max(len(n) for n in BUILTIN_GAMES)
    for name, summary in BUILTIN_GAMES.items():
        print(f"{name:<{width}}  {summary}")
    return 0


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


def _print_solution(out: dict) -> None:
    print(f"game {out['game']}  concept {out['concept']}")
    print(f"value  attacker {_fmt(out['value']['attacker'])}  "
          f"defender {_fmt(out['value']['defender'])}")
    print(f"ASR {_fmt(out['asr'])}  over-refusal {_fmt(out['over_refusal'])}  "
          f"NashConv {_fmt(out['metrics']['nash_conv'])}  "
          f"subgame regret (max) {_fmt(out['metrics']['subgame_regret_max'])}")
    print("\nattacker (seed: attack p)")
    for seed, dist in out["attacker"].items():
        print(f"  {seed:<24} " + ", ".join(f"{a} {p:.3g}" for a, p in dist.items()))
    print("\ndefender (observation: response p)")
    for key, dist in out["defender"].items():
        print(f"  {key:<40} " + ", ".join(f"{d} {p:.3g}" for d, p in dist.items()))
    safety = out["safety"]
    verdict = "SAFE" if safety["pointwise"] else f"UNSAFE ({len(safety['violations'])} violations)"
    print(f"\npointwise safety (Theorem 3.2): {verdict}")
    for v in safety["violations"][:10]:
        where = "on path" if v["on_path"] else "off path"
        print(f"  turn {v['turn']} {v['seed']}/{v['attack']} -> {v['response']} "
              f"r_D {v['reward']:.3g} p {v['probability']:.3g} ({where})")
    if len(safety["violations"]) > 10:
        print(f"  ... {len(safety['violations']) - 10} more (use --json)")
    if safety["no_fallback"]:
        print(f"  no safe fallback (M < 0) at {len(safety['no_fallback'])} node(s), e.g. "
              + ", ".join(f"{n['seed']}/{n['attack']}" for n in safety["no_fallback"][:3]))
    print(f"expected safety: {'SAFE' if out['expected_safety']['expected'] else 'UNSAFE'}")
    _print_details(out["details"])


def _print_details(details: dict) -> None:
    """Concept-specific lines: posteriors, commitment, equilibrium counts, tie sets."""
    post = details.get("posterior_safety")
    if isinstance(post, dict) and "posterior" in post:
        print(f"posterior-level safety: {'SAFE' if post['posterior'] else 'UNSAFE'}")
    if "leader" in details:
        print(f"leader {details['leader']}: value {_fmt(details.get('value_leader'))}, "
              f"follower {_fmt(details.get('value_follower'))}")
    if isinstance(details.get("posterior"), dict):
        print("\nposterior P(seed | attack)")
        on_path = details.get("on_path", {})
        for attack, dist in details["posterior"].items():
            where = "" if on_path.get(attack, True) else "  (off path)"
            print(f"  {attack:<24} " + ", ".join(f"{s} {p:.3g}" for s, p in dist.items())
                  + where)
    if "n_equilibria" in details:
        print(f"equilibria found: {details['n_equilibria']} (all in --json 'details')")
    if "defender_ties" in details:
        print(f"tie sets: {len(details['defender_ties'])} defender node(s), "
              f"{len(details.get('attacker_ties', []))} attacker seed(s) (see --json)")


def _solve(args: argparse.Namespace) -> int:
    from seqgame.solve import solve
    from seqgame.spec import load_game

    game = load_game(args.spec)
    options = {"tie_breaking": args.tie_breaking, "leader": args.leader, "method": args.method}
    solution = solve(game, args.concept, **options)
    out = solution.to_json()
    if args.json:
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        _print_solution(out)
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``games`` and ``solve``."""
    p = sub.add_parser("games", help="list built-in games or print one's spec")
    p.add_argument("action", nargs="?", choices=["list", "show"], help="list (default) or show")
    p.add_argument("name", nargs="?", help="game name for 'show'")
    p.add_argument("--format", choices=["yaml", "json"], default="yaml", help="spec format")
    p.set_defaults(func=_games)

    p = sub.add_parser("solve", help="solve a game exactly (built-in name or spec file)")
    p.add_argument("spec", help="built-in game name or path to a YAML/JSON spec")
    p.add_argument("--concept", default="spne",
                   help="spne (default), pbe, stackelberg, nash")
    p.add_argument("--tie-breaking", choices=["strong", "weak"], default=None,
                   help="defender tie-breaking for spne/stackelberg (default strong: favours "
                   "the first mover)")
    p.add_argument("--leader", choices=["attacker", "defender"], default=None,
                   help="leader role for stackelberg")
    p.add_argument("--method", choices=["auto", "lp", "enumerate"], default=None,
                   help="nash: zero-sum LP, vertex enumeration of all equilibria, or auto")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_solve)


def build_parser() -> argparse.ArgumentParser:
    """The full ``seqgame`` parser."""
    parser = argparse.ArgumentParser(
        prog="seqgame",
        description="Game-theoretic LLM safety: define, solve and train attacker-defender games.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a missing dependency of an existing module is a real error
                raise
            continue
        module.add_parser(sub)
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

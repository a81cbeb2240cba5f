"""``seqgame games`` and ``seqgame solve``."""

from __future__ import annotations

import argparse
import json

from seqgame.errors import SeqgameError
from seqgame.games.catalog import game_names, load_game
from seqgame.model.spec import dump_spec, game_to_spec
from seqgame.solvers.concepts import CONCEPTS, NASH_METHODS, solve


def _games(args: argparse.Namespace) -> int:
    from seqgame.games.catalog import load_game

    if args.action == "show":
        if not args.name:
            raise SeqgameError("'seqgame games show' needs a game name; run 'seqgame games'")
        print(dump_spec(game_to_spec(load_game(args.name)), args.format), end="")
        return 0
    if args.action not in (None, "list"):
        raise SeqgameError(f"unknown action {args.action!r}; use 'list' or 'show NAME'")
    names = game_names()
    width = max(len(n) for n in names)
    for name, summary in names.items():
        print(f"{name:<{width}}  {summary}")
    return 0


#: Values closer to 0 than this print as 0 (floating-point noise, e.g. 1e-17 or -0.0).
NOISE = 1e-12


def _clean(v: float) -> float:
    return 0.0 if abs(v) < NOISE else float(v)


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{_clean(v):.4g}"


def _dist(dist: dict[str, float]) -> str:
    return ", ".join(f"{k} {_clean(p):.3g}" for k, p in dist.items())


def _print_policies(first: dict, per_turn: list[dict] | None) -> None:
    """One attacker and one defender table per turn (labelled from turn 1 when T > 1)."""
    tables = per_turn if per_turn else [first]
    for t, table in enumerate(tables):
        label = f" - turn {t + 1}" if per_turn else ""
        print(f"\nattacker (seed: attack p){label}")
        for seed, dist in table["attacker"].items():
            print(f"  {seed:<24} {_dist(dist)}")
        print(f"\ndefender (observation: response p){label}")
        for key, dist in table["defender"].items():
            print(f"  {key:<40} {_dist(dist)}")


def _print_solution(out: dict, details: list[str]) -> None:
    print(f"game {out['game']}  concept {out['concept']}")
    print(f"value  attacker {_fmt(out['value']['attacker'])}  "
          f"defender {_fmt(out['value']['defender'])}")
    print(f"ASR {_fmt(out['asr'])}  over-refusal {_fmt(out['over_refusal'])}  "
          f"NashConv {_fmt(out['metrics']['nash_conv'])}  "
          f"subgame regret (max) {_fmt(out['metrics']['subgame_regret_max'])}")
    _print_policies(out, out.get("per_turn"))
    safety = out["safety"]
    verdict = "SAFE" if safety["pointwise"] else f"UNSAFE ({len(safety['violations'])} violations)"
    print(f"\npointwise safety (Theorem 3.2): {verdict}")
    for v in safety["violations"][:10]:
        where = "on path" if v["on_path"] else "off path"
        if v.get("continuation_driven"):
            where += ", continuation-driven"
        print(f"  turn {v['turn'] + 1} {v['seed']}/{v['attack']} -> {v['response']} "
              f"r_D {_fmt(v['reward'])} p {_fmt(v['probability'])} ({where})")
    if len(safety["violations"]) > 10:
        print(f"  ... {len(safety['violations']) - 10} more (use --json)")
    if safety["no_fallback"]:
        print(f"  no safe fallback (M < 0) at {len(safety['no_fallback'])} node(s), e.g. "
              + ", ".join(f"{n['seed']}/{n['attack']}" for n in safety["no_fallback"][:3]))
    print(f"expected safety: {'SAFE' if out['expected_safety']['expected'] else 'UNSAFE'}")
    for line in details:
        print(line)


def _solve(args: argparse.Namespace) -> int:
    game = load_game(args.spec)
    options = {"tie_breaking": args.tie_breaking, "leader": args.leader, "method": args.method}
    solution = solve(game, args.concept, **options)
    out = solution.to_json()
    if args.json:
        print(json.dumps(out, indent=2, allow_nan=False))
    else:
        _print_solution(out, solution.details.describe())
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
                   help="; ".join(f"{k}: {c.summary}" for k, c in CONCEPTS.items()))
    p.add_argument("--tie-breaking", choices=["strong", "weak"], default=None,
                   help="spne: strong = the attacker's best SPNE, weak = its worst; "
                   "stackelberg: follower ties for / against the leader (default strong)")
    p.add_argument("--leader", choices=["attacker", "defender"], default=None,
                   help="leader role for stackelberg")
    p.add_argument("--method", choices=list(NASH_METHODS), default=None,
                   help="nash: auto (default), lp (zero-sum LP), enumerate (every extreme "
                   "equilibrium), lemke_howson (one equilibrium), sequence_form (multi-turn)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_solve)

"""Benchmark: our exact solvers beside the general-purpose alternatives, same games, same run.

* Stackelberg — our DOBSS MILP on the game (no normal form) and our Conitzer–Sandholm LPs on
  the induced normal form, against OpenSpiel's cvxpy-based ``stackelberg_lp`` on the same
  normal form (hidden-seed random games, both leaders checked for equal values).
* Nash, general-sum — our vertex enumeration against nashpy's support enumeration and
  pygambit's ``enummixed_solve`` on random m×m bimatrix games. Alternatives run in a
  subprocess with a timeout (pygambit can hang, nashpy blows up around 10×10); their time is
  measured inside the subprocess, imports excluded.
* Nash, zero-sum — our behaviour-strategy LP on hidden-seed games whose normal form no
  enumeration can build.

Prints one row per game with each time and the ratio alternative / ours (> 1: we are faster).
Run: ``python benchmarks/bench_solvers.py [--quick] [--timeout S]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from seqgame.solvers.commitment import stackelberg_matrix
from seqgame.solvers.nash import matrix_equilibria, zero_sum_nash
from seqgame.solvers.normal_form import normal_form
from seqgame.solvers.stackelberg import stackelberg
from tests.solver_games import random_game

_ALT = {
    "nashpy": """
import nashpy, numpy as np, sys, time, json
d = np.load(sys.argv[1]); t = time.perf_counter()
eqs = list(nashpy.Game(d["a"], d["b"]).support_enumeration())
print(json.dumps({"seconds": time.perf_counter() - t, "n": len(eqs)}))
""",
    "pygambit": """
import pygambit as gbt, numpy as np, sys, time, json
d = np.load(sys.argv[1]); g = gbt.Game.from_arrays(d["a"], d["b"]); t = time.perf_counter()
res = gbt.nash.enummixed_solve(g, rational=False)
print(json.dumps({"seconds": time.perf_counter() - t, "n": len(res.equilibria)}))
""",
}


def _best_of(fn, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def _alternative(name: str, a: np.ndarray, b: np.ndarray, timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "g.npz"
        np.savez(path, a=a, b=b)
        try:
            proc = subprocess.run([sys.executable, "-c", _ALT[name], str(path)],
                                  capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return {"seconds": None, "n": None, "status": f"timeout {timeout:g}s"}
    if proc.returncode != 0:
        return {"seconds": None, "n": None, "status": proc.stderr.strip().splitlines()[-1]}
    return {**json.loads(proc.stdout), "status": "ok"}


def _ratio(alt: float | None, ours: float) -> str:
    return "   -  " if alt is None else f"{alt / ours:7.1f}x"


def bench_stackelberg(quick: bool) -> None:
    """Stackelberg: our MILP and LPs vs OpenSpiel's stackelberg_lp."""
    from seqgame.interop.openspiel import openspiel_stackelberg_value

    print("\n== Stackelberg (defender leads, hidden seed, D=2) ==")
    print(f"{'X x A':>6} {'normal form':>12} {'MILP':>9} {'our LPs':>9} {'OpenSpiel':>10} "
          f"{'OS/MILP':>8} {'OS/LPs':>8}")
    sizes = [(2, 2), (2, 3), (3, 3)] if quick else [(2, 2), (2, 3), (3, 3), (3, 4), (4, 4)]
    rng = np.random.default_rng(0)
    openspiel_stackelberg_value(random_game(rng, 1, 2, 2), "defender")  # warm up cvxpy
    for n_x, n_a in sizes:
        game = random_game(rng, n_x, n_a, 2, "attack")
        form = normal_form(game)
        t_milp = _best_of(lambda g=game: stackelberg(g, "defender", weak=False))
        t_lp = _best_of(lambda f=form: stackelberg_matrix(f.defender_payoff.T,
                                                          f.attacker_payoff.T))
        t = time.perf_counter()
        v_os = openspiel_stackelberg_value(game, "defender")
        t_os = time.perf_counter() - t
        v_ours = stackelberg(game, "defender", weak=False).value_leader
        assert abs(v_os - v_ours) < 1e-5, (v_os, v_ours)
        print(f"{n_x}x{n_a:<4} {str(form.shape):>12} {t_milp:9.4f} {t_lp:9.4f} {t_os:10.3f} "
              f"{_ratio(t_os, t_milp)} {_ratio(t_os, t_lp)}")
    for name in ("jailbreak_v1", "jailbreak_hidden_v1"):
        from seqgame.games import builtin_game

        game = builtin_game(name)
        for leader in ("defender", "attacker"):
            t = time.perf_counter()
            try:
                res = stackelberg(game, leader, weak=False, time_limit=30)
                msg = f"value {res.value_leader:.4f}"
            except Exception as exc:  # a time limit is a result here
                msg = type(exc).__name__
            print(f"  {name} leader={leader}: MILP {time.perf_counter() - t:.2f} s ({msg}); "
                  "no normal form, OpenSpiel cannot run")


def bench_nash(quick: bool, timeout: float) -> None:
    """General-sum Nash: vertex enumeration vs nashpy and pygambit."""
    print("\n== Nash, all extreme equilibria, random m x m (integer payoffs: degenerate) ==")
    print(f"{'m':>3} {'ours s':>9} {'#eq':>4} {'nashpy s':>9} {'#eq':>4} {'ratio':>8} "
          f"{'pygambit s':>10} {'#eq':>4} {'ratio':>8}")
    rng = np.random.default_rng(1)
    for m in ([3, 4, 5] if quick else [3, 4, 5, 6, 8, 10]):
        a = rng.integers(-3, 4, size=(m, m)).astype(float)
        b = rng.integers(-3, 4, size=(m, m)).astype(float)
        t_ours = _best_of(lambda a=a, b=b: matrix_equilibria(a, b), repeat=1 if m > 6 else 3)
        n_ours = len(matrix_equilibria(a, b))
        row = f"{m:3d} {t_ours:9.4f} {n_ours:4d}"
        for alt in ("nashpy", "pygambit"):
            res = _alternative(alt, a, b, timeout)
            secs = res["seconds"]
            row += (f" {secs:9.4f} {res['n']:4d} {_ratio(secs, t_ours)}" if secs is not None
                    else f" {res['status']:>14} {'':>4}")
        print(row)


def bench_zero_sum(quick: bool) -> None:
    """Zero-sum LP on hidden-seed games far beyond any enumeration."""
    print("\n== Nash, zero-sum LP over behaviour strategies (hidden seed, D=2) ==")
    rng = np.random.default_rng(2)
    for n_x, n_a in ([(10, 10), (50, 20)] if quick else [(10, 10), (50, 20), (200, 50)]):
        game = random_game(rng, n_x, n_a, 2, "attack", general_sum=False)
        t = _best_of(lambda g=game: zero_sum_nash(g), repeat=1)
        print(f"  X={n_x:4d} A={n_a:3d}: {t:.3f} s (normal form would have "
              f"{n_a}^{n_x} x 2^{n_a} cells)")


def main(argv: list[str] | None = None) -> int:
    """Command line: ``[--quick] [--timeout S]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--timeout", type=float, default=60.0,
                        help="seconds per alternative solver call")
    args = parser.parse_args(argv)
    bench_stackelberg(args.quick)
    bench_nash(args.quick, args.timeout)
    bench_zero_sum(args.quick)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

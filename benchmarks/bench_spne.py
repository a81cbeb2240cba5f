"""SPNE solve time as the game grows, against the memory-bandwidth floor.

For each size, prints the exact SPNE time (layout cached, as after the first solve), the
time of one NumPy pass over both payoff tensors in the same layout (``sum`` over the
response axis: the floor), and their ratio. Targets (issue 2): the 1,000 × 21 × 2 game in
under 10 ms; within 3× of the floor for large games; multi-turn by DP over turns.

OpenSpiel has no general-sum SPNE solver; its nearest general-purpose tool is a tree
best response, which ``nash_conv`` runs for both players on the exported game (what one
SPNE check costs there). The second table compares it with our solve on the same games
(needs ``pip install 'seqgame[spiel]'``).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_spne.py [--quick]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from seqgame.model.game import Label, Observation, Seed, SequentialGame
from seqgame.model.payoffs import Rewards
from seqgame.solvers.spne import spne


def make_game(n_x: int, n_a: int, n_d: int, turns: int, rng: np.random.Generator) -> SequentialGame:
    seeds = tuple(Seed(f"s{i}", Label.HARMFUL if i % 2 else Label.BENIGN, 1.0 / n_x)
                  for i in range(n_x))
    unsafe = rng.random((n_x, n_a, n_d))
    unsafe[:, :, 0] = 0.0
    return SequentialGame(
        name=f"bench_{n_x}x{n_a}x{n_d}x{turns}", seeds=seeds,
        attacks=tuple(f"a{i}" for i in range(n_a)), responses=tuple(f"d{j}" for j in range(n_d)),
        refusals=frozenset({"d0"}), observation=Observation.FULL, unsafe=unsafe,
        rewards=Rewards(), turns=turns,
    )


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes only")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    sizes = [(1_000, 21, 2, 1), (10_000, 21, 2, 1), (1_000, 21, 2, 5), (1_000, 100, 4, 1)]
    if not args.quick:
        sizes += [(100_000, 21, 2, 1), (200_000, 50, 3, 1), (100_000, 21, 2, 10)]
    print(f"{'X x A x D x T':>22} {'leaves':>12} {'spne ms':>9} {'floor ms':>9} {'ratio':>6}"
          f" {'first ms':>9}")
    for n_x, n_a, n_d, turns in sizes:
        g = make_game(n_x, n_a, n_d, turns, rng)
        t0 = time.perf_counter()
        spne(g)
        first = time.perf_counter() - t0
        u_a, u_d = g.by_response
        repeat = 5 if n_x * n_a * n_d < 5e6 else 3
        t_spne = best_of(lambda g=g: spne(g), repeat)
        t_floor = turns * best_of(
            lambda u_a=u_a, u_d=u_d: (u_a.sum(axis=0), u_d.sum(axis=0)), repeat)
        leaves = n_x * n_a * n_d * turns
        print(f"{f'{n_x}x{n_a}x{n_d}x{turns}':>22} {leaves:>12,} {t_spne * 1e3:>9.2f} "
              f"{t_floor * 1e3:>9.2f} {t_spne / t_floor:>6.2f} {first * 1e3:>9.2f}")
    openspiel_table(args.quick)


def openspiel_table(quick: bool) -> None:
    try:
        from seqgame.interop.openspiel import openspiel_nash_conv
    except Exception as exc:  # noqa: BLE001 - optional baseline
        print(f"OpenSpiel baseline skipped: {exc}")
        return
    print("\nsame games, OpenSpiel tree best responses (nash_conv of our SPNE) vs our solve")
    print(f"{'X x A x D':>12} {'ours ms':>9} {'openspiel ms':>13} {'ratio':>8} {'nash_conv':>10}")
    rng = np.random.default_rng(1)
    for n_x in [10, 100, 300] + ([] if quick else [1_000]):
        g = make_game(n_x, 21, 2, 1, rng)
        eq = spne(g)
        t_ours = best_of(lambda g=g: spne(g), 5)
        t0 = time.perf_counter()
        conv = openspiel_nash_conv(g, eq.profile)
        t_os = time.perf_counter() - t0
        print(f"{f'{n_x}x21x2':>12} {t_ours * 1e3:>9.3f} {t_os * 1e3:>13.1f} "
              f"{t_os / t_ours:>8.0f} {conv:>10.2g}")


if __name__ == "__main__":
    main()

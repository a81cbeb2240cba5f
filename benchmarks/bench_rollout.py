"""Episodes per second: the batched rollout engine versus stepping the AEC env in Python.

Same game, same fixed mixed policies (a Dirichlet draw, seed 0). The AEC loop draws each
action from the same tables (inverse CDF per step) and steps ``seqgame.envs.raw_env``; the
engine is ``seqgame.model.rollout.rollout``. Rates use process CPU time (one thread, so time on
one core), which a shared, loaded machine distorts less than wall time. Run:

    OMP_NUM_THREADS=1 python benchmarks/bench_rollout.py [--game jailbreak_v1]

Targets (issue 4): >= 1,000,000 single-turn episodes/s for jailbreak_v1 on one core and
>= 100x the AEC loop.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from seqgame.envs import raw_env
from seqgame.games import builtin_game
from seqgame.model.profile import Profile
from seqgame.model.rollout import rollout


def fixed_profile(game, seed: int = 0) -> Profile:
    rng = np.random.default_rng(seed)
    n_x, n_a, n_d = game.shape
    att = rng.dirichlet(np.ones(n_a), size=(game.turns, n_x)) * game.allowed[None]
    node = (n_a,) if game.hidden_seed else (n_x, n_a)
    return Profile.from_arrays(game, att / att.sum(-1, keepdims=True),
                               rng.dirichlet(np.ones(n_d), size=(game.turns, *node)))


def engine_rate(game, profile, n: int, repeats: int) -> float:
    rng = np.random.default_rng(1)
    best = np.inf
    for _ in range(repeats):
        start = time.process_time()
        rollout(game, profile, n, rng)
        best = min(best, time.process_time() - start)
    return n / best


def aec_rate(game, profile, n: int) -> float:
    env = raw_env(game)
    env.reset(seed=2)
    rng = np.random.default_rng(3)
    att_cdf = np.cumsum(profile.attacker, axis=-1)
    dfd_cdf = np.cumsum(profile.defender, axis=-1)
    full = not game.hidden_seed

    def pick(cdf_row):
        return min(int(np.searchsorted(cdf_row, rng.random() * cdf_row[-1], side="right")),
                   cdf_row.size - 1)

    start = time.process_time()
    for _ in range(n):
        env.reset()
        while env.agents:
            agent = env.agent_selection
            if env.terminations[agent]:
                env.step(None)
                continue
            obs = env.observe(agent)
            t = int(obs["turn"])
            if agent == "attacker":
                env.step(pick(att_cdf[t, int(obs["seed"])]))
            else:
                a = int(obs["attack"])
                env.step(pick(dfd_cdf[t, int(obs["seed"]), a] if full else dfd_cdf[t, a]))
    return n / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--game", default="jailbreak_v1")
    parser.add_argument("--episodes", type=int, default=1_000_000, help="engine batch size")
    parser.add_argument("--aec-episodes", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    game = builtin_game(args.game)
    profile = fixed_profile(game)
    engine = engine_rate(game, profile, args.episodes, args.repeats)
    loop = aec_rate(game, profile, args.aec_episodes)
    print(f"game {game.name} (T={game.turns}), batch {args.episodes:,}")
    print(f"batched engine : {engine:14,.0f} episodes/s of CPU time (best of {args.repeats})")
    print(f"AEC env loop   : {loop:14,.0f} episodes/s of CPU time ({args.aec_episodes:,} episodes)")
    print(f"ratio engine/AEC: {engine / loop:,.0f}x")


if __name__ == "__main__":
    main()

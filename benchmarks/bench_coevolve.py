"""Steps per second of tabular GRPO co-evolution (MAGIC settings) on jailbreak_v1.

MAGIC's settings: G = 4, 64 seeds per step, switch every 15 steps 1:1 defender first,
300 steps, exact metrics (last iterate and time average) at every step, no run directory.
Baseline measured in the same run: drawing the same number of episodes per step with the
batched rollout engine (the sampling a step cannot avoid) plus one exact evaluation.

    OMP_NUM_THREADS=1 python benchmarks/bench_coevolve.py [--steps 300] [--repeats 3]

Target (issue 5): 300 MAGIC steps in under 2 s on one core.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from seqgame.analysis.metrics import evaluate
from seqgame.backends.tabular.factory import build_learners
from seqgame.cli.train import DEMO_CONFIG
from seqgame.games import builtin_game
from seqgame.model.profile import Profile
from seqgame.model.rollout import rollout
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig


def coevolve_seconds(game, steps: int, eval_every: int) -> float:
    attacker, defender = build_learners(game, dict(DEMO_CONFIG["attacker"]),
                                        dict(DEMO_CONFIG["defender"]), 0)
    schedule = ScheduleConfig.from_dict(DEMO_CONFIG["schedule"])
    start = time.perf_counter()
    coevolve(game, attacker, defender, schedule, steps, 0, eval_every=eval_every)
    return time.perf_counter() - start


def baseline_seconds(game, steps: int) -> float:
    profile = Profile.uniform(game)
    rng = np.random.default_rng(0)
    start = time.perf_counter()
    for _ in range(steps):
        rollout(game, profile, 64 * 4, rng)
        evaluate(game, profile)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    game = builtin_game("jailbreak_v1")
    base = min(baseline_seconds(game, args.steps) for _ in range(args.repeats))
    full = min(coevolve_seconds(game, args.steps, 1) for _ in range(args.repeats))
    sparse = min(coevolve_seconds(game, args.steps, 15) for _ in range(args.repeats))
    print(f"jailbreak_v1, {args.steps} MAGIC steps (G=4, 64 seeds/step), best of {args.repeats}")
    print(f"  baseline (rollout of 256 episodes + 1 exact evaluation per step): {base:.3f} s")
    print(f"  coevolve, exact metrics every step : {full:.3f} s  "
          f"({args.steps / full:,.0f} steps/s, {full / base:.2f}x baseline)")
    print(f"  coevolve, exact metrics every 15   : {sparse:.3f} s  "
          f"({args.steps / sparse:,.0f} steps/s, {sparse / base:.2f}x baseline)")
    verdict = "MET" if full * 300 / args.steps < 2.0 else "MISSED"
    print(f"  target 300 steps < 2 s on one core: {verdict}")


if __name__ == "__main__":
    main()

"""Convergence of co-evolution dynamics to the exact equilibrium, last iterate and average.

For each (schedule, update rule) we run the dynamics and record, at every step, the
defender's subgame regret (max over nodes, off path included), the defender's distance to
the exact SPNE (total variation, mean over nodes) on ``jailbreak_v1`` and the NashConv on
``jailbreak_hidden_v1`` (no SPNE there: the defender cannot see the seed), each for the
last iterate and for the time-averaged profile (docs/theory.md: simultaneous and alternating
gradient play cycle in the last iterate while averages converge; optimism fixes the last
iterate).

Rules: GRPO (tabular, MAGIC settings, exploration 0.1), optimistic GRPO, multiplicative
weights (Hedge on counterfactual values) and its optimistic variant, fictitious play,
alternating best response. Schedules: alternating (MAGIC, freq 15, 1:1, defender first)
and simultaneous.

    OMP_NUM_THREADS=1 python experiments/convergence.py [--steps 300]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seqgame.backends.tabular.factory import build_learners
from seqgame.games import builtin_game
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig

GRPO = {"num_generations": 4, "seeds_per_step": 64, "learning_rate": 1.0}
RULES = {
    "GRPO": ({**GRPO, "exploration": 0.1}, dict(GRPO)),
    "GRPO optimistic": ({**GRPO, "exploration": 0.1, "optimistic": True},
                        {**GRPO, "optimistic": True}),
    "MWU": ({"algorithm": "mwu", "learning_rate": 0.3}, {"algorithm": "mwu", "learning_rate": 0.3}),
    "MWU optimistic": ({"algorithm": "mwu", "learning_rate": 0.3, "optimistic": True},
                       {"algorithm": "mwu", "learning_rate": 0.3, "optimistic": True}),
    "fictitious play": ({"algorithm": "fictitious_play"}, {"algorithm": "fictitious_play"}),
    "best response": ({"algorithm": "best_response"}, {"algorithm": "best_response"}),
}
SCHEDULES = {"alternating": {"kind": "alternating"}, "simultaneous": {"kind": "simultaneous"}}
GAMES = {"jailbreak_v1": ("subgame_regret_max", "spne_distance_defender_mean"),
         "jailbreak_hidden_v1": ("subgame_regret_max", "nash_conv")}


def run(steps: int) -> dict:
    out: dict = {}
    for game_name, keys in GAMES.items():
        game = builtin_game(game_name)
        for rule, (att, dfd) in RULES.items():
            for sched_name, sched in SCHEDULES.items():
                a, d = build_learners(game, dict(att), dict(dfd), 0)
                res = coevolve(game, a, d, ScheduleConfig.from_dict(sched), steps, 0)
                series = {}
                for key in keys:
                    for prefix in ("", "avg/"):
                        series[prefix + key] = [r[prefix + key] for r in res.records]
                out.setdefault(game_name, {})[f"{rule} / {sched_name}"] = series
    return out


def plot(results: dict, game_name: str):
    from matplotlib.figure import Figure

    keys = GAMES[game_name]
    fig = Figure(figsize=(12, 7), layout="constrained")
    axes = fig.subplots(len(keys), 2, squeeze=False)
    for col, sched in enumerate(SCHEDULES):
        for row, key in enumerate(keys):
            ax = axes[row, col]
            for i, rule in enumerate(RULES):
                series = results[game_name][f"{rule} / {sched}"]
                colour = f"C{i}"
                ax.plot(series[key], color=colour, lw=1.4, label=f"{rule} (last)")
                ax.plot(series["avg/" + key], color=colour, lw=1.0, ls="--")
            ax.set_yscale("symlog", linthresh=1e-3)
            ax.set_title(f"{game_name}: {key} — {sched} (dashed: average)", fontsize=9,
                         loc="left")
            ax.grid(alpha=0.3)
            if row == len(keys) - 1:
                ax.set_xlabel("step")
    axes[0, 1].legend(fontsize=7, loc="upper right")
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Convergence of co-evolution dynamics")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="runs/convergence")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = run(args.steps)
    (out / "results.json").write_text(json.dumps(results))
    for game_name in GAMES:
        plot(results, game_name).savefig(out / f"convergence_{game_name}.png", dpi=110)
    print(f"final values after {args.steps} steps (last iterate / average)")
    for game_name, keys in GAMES.items():
        print(f"\n{game_name}" + "".join(f"{k:>36}" for k in keys))
        for name, series in results[game_name].items():
            cells = "".join(f"{series[k][-1]:>17.4f} / {series['avg/' + k][-1]:<16.4f}"
                            for k in keys)
            print(f"{name:34}{cells}")
    print(f"\nwritten: {out}/results.json and convergence_*.png")


if __name__ == "__main__":
    main()

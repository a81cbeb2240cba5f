"""Shared vs separate parameters: gradient conflict and its effect on harm.

Self-RedTeam trains one model in both roles. The toy (``shared_grpo``): a table Z (X, A)
enters the attacker's logit of attack a at seed x and the defender's logit of complying at
(x, a); each role adds its own head, L2-penalised with strength ``l2`` (the capacity
proxy). ``share: true`` uses one Z for both roles, ``share: false`` one Z per role (same
architecture, separate parameters). We record, every step, the cosine between the two
roles' exact expected gradients on Z, and the final ASR / over-refusal / subgame regret
on ``jailbreak_v1`` (MAGIC schedule, 300 steps), for l2 ∈ {0, 0.1, 0.5}, 5 seeds.

    OMP_NUM_THREADS=1 python experiments/shared_parameters.py [--seeds 5] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seqgame.analysis.metrics import evaluate
from seqgame.backends.tabular.factory import build_learners
from seqgame.games import builtin_game
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig

GRPO = {"algorithm": "shared_grpo", "num_generations": 4, "seeds_per_step": 64,
        "learning_rate": 1.0}
L2 = (0.0, 0.1, 0.5)


def run(seeds: int, steps: int) -> dict:
    game = builtin_game("jailbreak_v1")
    out: dict = {}
    for l2 in L2:
        for share in (True, False):
            rows = []
            for seed in range(seeds):
                opts = {**GRPO, "l2": l2, "share": share}
                a, d = build_learners(game, {**opts, "exploration": 0.1}, dict(opts), seed)
                res = coevolve(game, a, d, ScheduleConfig(), steps, seed)
                cos = [r.get("attacker/gradient_cosine", r.get("defender/gradient_cosine"))
                       for r in res.records]
                m = evaluate(game, res.last)
                rows.append({"cosine": cos, "asr": m.asr, "over_refusal": m.over_refusal,
                             "subgame_regret_max": m.subgame_regret_max})
            key = f"l2={l2} {'shared' if share else 'separate'}"
            out[key] = {
                "l2": l2, "share": share,
                "cosine_mean": float(np.mean([np.mean(r["cosine"]) for r in rows])),
                "cosine_negative_fraction": float(np.mean([np.mean(np.array(r["cosine"]) < 0)
                                                           for r in rows])),
                "cosine_curve": np.mean([r["cosine"] for r in rows], axis=0).tolist(),
                **{k: {"mean": float(np.mean([r[k] for r in rows])),
                       "std": float(np.std([r[k] for r in rows]))}
                   for k in ("asr", "over_refusal", "subgame_regret_max")},
            }
    return out


def plot(results: dict):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4), layout="constrained")
    ax_cos, ax_asr = fig.subplots(1, 2)
    for i, l2 in enumerate(L2):
        ax_cos.plot(results[f"l2={l2} shared"]["cosine_curve"], color=f"C{i}", lw=1.2,
                    label=f"shared, l2={l2}")
    ax_cos.axhline(0, color="k", lw=0.8)
    ax_cos.set_title("cos(attacker grad, defender grad) on Z (mean over seeds)", fontsize=9,
                     loc="left")
    ax_cos.set_xlabel("step")
    ax_cos.legend(fontsize=7)
    ax_cos.grid(alpha=0.3)
    x = np.arange(len(L2))
    for j, kind in enumerate(("shared", "separate")):
        means = [results[f"l2={l2} {kind}"]["asr"]["mean"] for l2 in L2]
        stds = [results[f"l2={l2} {kind}"]["asr"]["std"] for l2 in L2]
        ax_asr.bar(x + 0.38 * j, means, 0.36, yerr=stds, label=kind)
    ax_asr.set_xticks(x + 0.19, [f"l2={v}" for v in L2])
    ax_asr.set_title("final ASR (last iterate)", fontsize=9, loc="left")
    ax_asr.legend(fontsize=8)
    ax_asr.grid(axis="y", alpha=0.3)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Shared vs separate parameters")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="runs/shared_parameters")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = run(args.seeds, args.steps)
    (out / "results.json").write_text(json.dumps(results))
    plot(results).savefig(out / "shared_parameters.png", dpi=110)
    print(f"{'variant':22}{'cos mean':>10}{'cos<0':>8}{'ASR':>16}{'over-refusal':>18}")
    for key, r in results.items():
        print(f"{key:22}{r['cosine_mean']:>10.3f}{r['cosine_negative_fraction']:>8.2f}"
              f"{r['asr']['mean']:>9.3f} ± {r['asr']['std']:.3f}"
              f"{r['over_refusal']['mean']:>11.3f} ± {r['over_refusal']['std']:.3f}")
    print(f"written: {out}/results.json, shared_parameters.png")


if __name__ == "__main__":
    main()

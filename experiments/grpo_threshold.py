"""GRPO's group normalisation moves the learned refusal threshold from μ* = 1/4 to 1/2.

One defender information set: in the disguise toy (``seqgame.games.toys.disguise_game``)
with the harmful prior μ, a frozen attacker sends ``ambiguous`` from both seeds, so the
defender's posterior at ``ambiguous`` is μ. With MAGIC's weights refusing pays 0.5 + μ and
complying 1.5 − 3μ in expectation: the sequentially rational defender refuses iff μ > 1/4.

A GRPO group shares the prompt, hence the seed. With k refusals among G answers
(p̂ = k/G) the group's summed score-function term on the refusal logit is G·Δ·p̂(1 − p̂)
for the raw centred rewards (Δ = +3 harmful, −1 benign: the reward gaps), and
G·sign(Δ)·√(p̂(1 − p̂)) once divided by the group's std (|Δ| cancels). So the expected
update is ∝ (4μ − 1)·E[p̂(1 − p̂)] without scaling and ∝ (2μ − 1)·E[√(p̂(1 − p̂))] with
per-group scaling: refusal is learned iff μ > 1/4, resp. μ > 1/2, whatever the policy.

Part 1 trains the tabular GRPO defender (``backends/tabular/grpo.py``) for each μ on a grid,
``scale_rewards`` ∈ {group, batch, none}, G ∈ {2, 4, 8} and several seeds, and reads off the
learned threshold (where the final P(refuse) crosses 1/2). It also computes the exact
expected update by enumerating every group outcome through the library's
``group_advantages`` (group and none; batch scaling couples the groups of a batch). Part 2
runs MAGIC's alternating schedule on ``disguise_mixed_v1`` with group vs no scaling and
reports last-iterate and time-averaged NashConv.

    OMP_NUM_THREADS=1 python experiments/grpo_threshold.py [--out runs/grpo_threshold]
        [--docs docs] [--quick]

Default run: about 2 minutes on one core; ``--quick`` a few seconds. Deviations from MAGIC:
tabular softmax policy, plain gradient ascent (no Adam), one gradient step per batch.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from math import comb
from pathlib import Path

import numpy as np

from seqgame.backends.tabular.factory import build_learners
from seqgame.backends.tabular.grpo import SCALE_REWARDS, GRPOLearner, group_advantages
from seqgame.games.catalog import load_game
from seqgame.games.toys import disguise_game
from seqgame.model.game import Role
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig
from seqgame.training.table_policy import fixed_attack_policy

#: Group rewards at the pooled attack (MAGIC weights): (refuse, comply) per seed type.
REWARDS = {"harmful": (1.5, -1.5), "benign": (0.5, 1.5)}


def expected_update(mu: float, p_refuse: float, g: int, scale_rewards: str) -> float:
    """Exact E[∂ objective / ∂ refusal logit] of one group, by enumerating its outcomes.

    The refusal logit θ has P(refuse) = σ(θ) against a fixed comply logit, so a sampled
    answer's score is 1[refuse] − π. Every outcome with k refusals has the same update;
    the advantages come from the library's ``group_advantages`` (``batch`` is not a
    per-group rule and is refused).
    """
    if scale_rewards == "batch":
        raise ValueError("scale_rewards = 'batch' couples groups: no per-group expectation")
    total = 0.0
    for seed_type, weight in (("harmful", mu), ("benign", 1.0 - mu)):
        r_ref, r_comp = REWARDS[seed_type]
        for k in range(g + 1):
            refused = np.arange(g) < k
            rewards = np.where(refused, r_ref, r_comp)[None, :]
            adv = group_advantages(rewards, scale_rewards)[0]
            grad = float(np.mean(adv * (refused - p_refuse)))
            total += weight * comb(g, k) * p_refuse**k * (1 - p_refuse) ** (g - k) * grad
    return total


def closed_form(mu: float, p_refuse: float, g: int, scale_rewards: str) -> float:
    """The same expectation from the derivation (ε of the std division taken to 0)."""
    k = np.arange(g + 1)
    pmf = np.array([comb(g, i) for i in k]) * p_refuse**k * (1 - p_refuse) ** (g - k)
    var = (k / g) * (1 - k / g)
    if scale_rewards == "group":
        return float((2 * mu - 1) * pmf @ np.sqrt(var))
    return float((4 * mu - 1) * pmf @ var)


def learned_refusal(mu: float, g: int, scale_rewards: str, seed: int, steps: int,
                    seeds_per_step: int, learning_rate: float) -> float:
    """Final P(refuse | ambiguous) of a GRPO defender trained at posterior ``mu``."""
    game = disguise_game(mu)
    attacker = fixed_attack_policy(game, "ambiguous")
    learner = GRPOLearner(game, Role.DEFENDER, num_generations=g,
                          seeds_per_step=seeds_per_step, learning_rate=learning_rate,
                          scale_rewards=scale_rewards)
    learner.train_against(attacker, steps, np.random.default_rng(seed))
    table = learner.policy().table
    return float(table[0, game.attack_index("ambiguous"), game.response_index("refuse")])


def crossing(mus: np.ndarray, p: np.ndarray) -> float:
    """The μ where P(refuse) first reaches 1/2 (linear interpolation; NaN if never)."""
    above = np.flatnonzero(p >= 0.5)
    if above.size == 0:
        return float("nan")
    i = int(above[0])
    if i == 0:
        return float(mus[0])
    return float(np.interp(0.5, [p[i - 1], p[i]], [mus[i - 1], mus[i]]))


def threshold_sweep(mus: np.ndarray, groups: list[int], seeds: int, steps: int,
                    seeds_per_step: int, learning_rate: float) -> dict:
    """Part 1: learned P(refuse) over μ and the learned threshold, per scaling and G."""
    out: dict = {}
    for scale in SCALE_REWARDS:
        for g in groups:
            p = np.array([[learned_refusal(m, g, scale, s, steps, seeds_per_step,
                                           learning_rate) for m in mus] for s in range(seeds)])
            cross = np.array([crossing(mus, row) for row in p])
            out[f"{scale}/G{g}"] = {
                "scale_rewards": scale, "G": g, "p_refuse": p.tolist(),
                "threshold_per_seed": cross.tolist(),
                "threshold_mean": float(np.nanmean(cross)),
                "threshold_min": float(np.nanmin(cross)),
                "threshold_max": float(np.nanmax(cross)),
            }
    return out


def exact_thresholds(groups: list[int]) -> dict:
    """Where the exact expected update changes sign, at several policies π."""
    out = {}
    for scale in ("group", "none"):
        for g in groups:
            roots = []
            for pi in (0.1, 0.5, 0.9):
                lo, hi = 1e-6, 1 - 1e-6  # the update is increasing in μ: bisect
                for _ in range(50):
                    mid = 0.5 * (lo + hi)
                    lo, hi = (mid, hi) if expected_update(mid, pi, g, scale) < 0 else (lo, mid)
                roots.append(0.5 * (lo + hi))
            out[f"{scale}/G{g}"] = roots
    return out


def alternating_runs(seeds: int, steps: int) -> dict:
    """Part 2: MAGIC's alternating GRPO on disguise_mixed_v1, group vs no scaling."""
    game = load_game("disguise_mixed_v1")
    out = {}
    for scale in ("group", "none"):
        rows = []
        for seed in range(seeds):
            opts = {"scale_rewards": scale}
            a, d = build_learners(game, dict(opts), dict(opts), 0)
            res = coevolve(game, a, d, ScheduleConfig(), steps, seed=seed, eval_every=5)
            nc = [r["nash_conv"] for r in res.records if "nash_conv" in r]
            tail = nc[len(nc) * 2 // 3:]
            saturated = np.minimum(res.last.defender, 1 - res.last.defender) < 1e-3
            rows.append({"seed": seed, "last_nash_conv": nc[-1],
                         "avg_nash_conv": res.records[-1]["avg/nash_conv"],
                         "last_third_nash_conv_range": [min(tail), max(tail)],
                         "defender_saturated_fraction": float(saturated.mean())})
        out[scale] = rows
    return out


def plot(results: dict):
    """Figure: learned P(refuse) vs μ (left) and the exact expected update (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mus = np.array(results["config"]["mus"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = {"group": "tab:red", "batch": "tab:green", "none": "tab:blue"}
    styles = {2: ":", 4: "-", 8: "--"}
    for res in results["sweep"].values():
        p = np.array(res["p_refuse"])
        c, ls = colours[res["scale_rewards"]], styles.get(res["G"], "-")
        ax.plot(mus, p.mean(axis=0), color=c, ls=ls,
                label=f"{res['scale_rewards']}, G={res['G']}")
        ax.fill_between(mus, p.min(axis=0), p.max(axis=0), color=c, alpha=0.12)
    for x, lab in ((0.25, "μ* = 1/4"), (0.5, "1/2")):
        ax.axvline(x, color="grey", lw=0.8, ls="-.")
        ax.text(x, 1.02, lab, ha="center", fontsize=8)
    ax.set(xlabel="posterior μ = P(harmful | attack)", ylabel="final P(refuse)",
           title="tabular GRPO defender (band: min–max over seeds)")
    ax.legend(fontsize=7, ncol=3, loc="center right")
    grid = np.linspace(0.0, 1.0, 101)
    for scale in ("group", "none"):
        for g in results["config"]["groups"]:
            y = [expected_update(m, 0.5, g, scale) for m in grid]
            bx.plot(grid, y, color=colours[scale], ls=styles.get(g, "-"),
                    label=f"{scale}, G={g}")
    bx.axhline(0, color="black", lw=0.6)
    bx.set(xlabel="posterior μ", ylabel="E[update of the refusal logit] at π = 1/2",
           title="exact expectation over group outcomes")
    bx.legend(fontsize=7)
    fig.tight_layout()
    return fig


def main(argv: list[str] | None = None) -> int:
    """Run both parts, write ``results.json`` and ``grpo_threshold.png`` (and to docs/)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/grpo_threshold"))
    parser.add_argument("--docs", type=Path, default=None,
                        help="also copy the figure and a short JSON here (e.g. docs)")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    args = parser.parse_args(argv)
    t0 = time.time()
    if args.quick:
        mus, groups, seeds, steps, alt = np.array([0.15, 0.35, 0.65]), [4], 1, 60, (1, 60)
    else:
        mus, groups, seeds, steps, alt = np.round(np.arange(0.1, 0.71, 0.05), 2), [2, 4, 8], \
            3, 150, (3, 600)
    config = {"mus": mus.tolist(), "groups": groups, "seeds": seeds, "steps": steps,
              "seeds_per_step": 32, "learning_rate": 0.5, "alternating": list(alt)}
    results = {"config": config,
               "sweep": threshold_sweep(mus, groups, seeds, steps, 32, 0.5),
               "exact_sign_change": exact_thresholds(groups),
               "alternating": alternating_runs(*alt)}
    results["seconds"] = round(time.time() - t0, 1)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    fig = plot(results)
    fig.savefig(args.out / "grpo_threshold.png", dpi=110)
    if args.docs is not None:
        shutil.copy(args.out / "grpo_threshold.png", args.docs / "grpo-threshold.png")
        short = {"config": config, "exact_sign_change": results["exact_sign_change"],
                 "alternating": results["alternating"],
                 "thresholds": {k: {f: v[f] for f in ("threshold_mean", "threshold_min",
                                                      "threshold_max", "threshold_per_seed")}
                                for k, v in results["sweep"].items()}}
        (args.docs / "grpo-threshold.json").write_text(json.dumps(short, indent=1))
    for key, res in results["sweep"].items():
        print(f"{key:10s} learned threshold {res['threshold_mean']:.3f} "
              f"[{res['threshold_min']:.3f}, {res['threshold_max']:.3f}]")
    print(f"done in {results['seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

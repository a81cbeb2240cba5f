"""What GRPO learns when the defender cannot see the seed (``--game``, a hidden-seed game).

The default game, ``disguise_mixed_v1`` (docs/theory.md's disguise toy), is small enough for
the exact perfect Bayesian equilibrium; ``jailbreak_hidden_v1`` is too large for the exact
PBE (the reference then falls back to the defender's best response, as noted in the JSON).

The hidden-seed game is a signaling game: at an attack a the defender should refuse iff
the posterior μ(a) = P(harmful | a) exceeds the threshold μ*(a) at which refusing and
complying pay the same (docs/theory.md: μ* = r_ref / (r_harm + 2·r_ref) = 1/4 when complied
harmful answers are always unsafe; here unsafe probabilities vary, so μ*(a) is computed
per attack from the seeds that can send a). We co-evolve tabular GRPO (MAGIC schedule) with
TRL's ``scale_rewards`` = ``group`` (divide by the group's std, MAGIC eq. 5), ``batch`` and
``none``, over 5 seeds, and compare the learned profile with the exact equilibrium:

* harm (ASR), over-refusal, belief-based subgame regret (seqgame.analysis.metrics), NashConv;
* per attack: μ(a) under the learned attacker, μ*(a), learned P(refuse | a) and the
  sequentially rational answer at μ(a);
* the exact perfect Bayesian equilibrium's ASR and over-refusal when the ``pbe`` concept is
  installed (``seqgame.solvers.concepts``), else those of the defender's best response to the
  learned attacker.

    OMP_NUM_THREADS=1 python experiments/hidden_seed_grpo.py [--game NAME] [--seeds 5]
        [--steps 300]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seqgame.analysis.metrics import evaluate, finite_or_none
from seqgame.analysis.values import attack_posterior
from seqgame.backends.tabular.exact import best_response_table
from seqgame.backends.tabular.factory import build_learners
from seqgame.errors import SolverError
from seqgame.games.catalog import load_game
from seqgame.model.game import Role
from seqgame.model.profile import Profile
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig

GRPO = {"num_generations": 4, "seeds_per_step": 64, "learning_rate": 1.0}


def thresholds(game, attacker: np.ndarray) -> dict[str, np.ndarray]:
    """Posterior μ(a), indifference threshold μ*(a), per attack (NaN where undefined)."""
    u = game.u_defender
    refuse = game.refusal_mask
    delta = u[:, :, refuse].max(axis=2) - u[:, :, ~refuse].max(axis=2)  # (X, A)
    w, _ = attack_posterior(game, attacker[0])
    harm = game.harmful[:, None]
    wh, wb = (w * harm).sum(axis=0), (w * ~harm).sum(axis=0)
    mu = np.divide(wh, wh + wb, out=np.full(wh.shape, np.nan), where=(wh + wb) > 0)
    d_h = np.divide((w * harm * delta).sum(axis=0), wh, out=np.full(wh.shape, np.nan),
                    where=wh > 0)
    d_b = np.divide((w * ~harm * delta).sum(axis=0), wb, out=np.full(wb.shape, np.nan),
                    where=wb > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu_star = np.clip(-d_b / (d_h - d_b), 0.0, 1.0)
    return {"posterior": mu, "threshold": mu_star}


def reference(game, attacker: np.ndarray) -> dict:
    try:
        from seqgame.solvers.concepts import solve

        sol = solve(game, "pbe")
        m = evaluate(game, sol.profile)
        return {"kind": "pbe", "asr": m.asr, "over_refusal": m.over_refusal}
    except (SolverError, AttributeError):
        br = best_response_table(game, Role.DEFENDER, attacker)
        m = evaluate(game, Profile.from_arrays(game, attacker, br))
        return {"kind": "defender best response to the learned attacker", "asr": m.asr,
                "over_refusal": m.over_refusal}


def run(game, seeds: int, steps: int) -> dict:
    refuse = int(np.flatnonzero(game.refusal_mask)[0])
    out = {}
    for scale in ("group", "batch", "none"):
        rows = []
        for seed in range(seeds):
            a, d = build_learners(game, {**GRPO, "scale_rewards": scale, "exploration": 0.1},
                                  {**GRPO, "scale_rewards": scale}, seed)
            res = coevolve(game, a, d, ScheduleConfig(), steps, seed)
            m = evaluate(game, res.last)
            th = thresholds(game, np.asarray(res.last.attacker))
            p_ref = np.asarray(res.last.defender)[0, :, refuse]
            rational = np.where(th["posterior"] > th["threshold"], 1.0, 0.0)
            rows.append({
                "asr": m.asr, "over_refusal": m.over_refusal,
                "subgame_regret_max": m.subgame_regret_max, "nash_conv": m.nash_conv,
                "refusal_agreement": float(np.nanmean(np.abs(p_ref - rational) < 0.5)),
                "per_attack": {att: {"posterior": finite_or_none(th["posterior"][i]),
                                     "threshold": finite_or_none(th["threshold"][i]),
                                     "p_refuse": float(p_ref[i])}
                               for i, att in enumerate(game.attacks)},
                "reference": reference(game, np.asarray(res.last.attacker)),
            })
        summary = {k: {"mean": float(np.mean([r[k] for r in rows])),
                       "std": float(np.std([r[k] for r in rows]))}
                   for k in ("asr", "over_refusal", "subgame_regret_max", "nash_conv",
                             "refusal_agreement")}
        out[scale] = {"summary": summary, "runs": rows}
    return out


def plot(results: dict, game):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, len(results), sharey=True)
    for ax, (scale, res) in zip(axes, results.items(), strict=True):
        for run_i, row in enumerate(res["runs"]):
            mu = [row["per_attack"][a]["posterior"] for a in game.attacks]
            pr = [row["per_attack"][a]["p_refuse"] for a in game.attacks]
            ax.scatter(mu, pr, s=14, alpha=0.7, label=f"seed {run_i}")
        ths = [v for row in res["runs"] for v in
               (row["per_attack"][a]["threshold"] for a in game.attacks) if v is not None]
        if ths:
            ax.axvline(float(np.median(ths)), color="k", ls="--", lw=1,
                       label="median threshold μ*")
        ax.set_title(f"scale_rewards={scale}", fontsize=10, loc="left")
        ax.set_xlabel("posterior P(harmful | attack)")
        ax.set_xlim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("learned P(refuse | attack)")
    axes[-1].legend(fontsize=7)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="GRPO in the hidden-seed game")
    parser.add_argument("--game", default="disguise_mixed_v1",
                        help="a hidden-seed game (built-in name or spec file)")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="runs/hidden_seed_grpo")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    game = load_game(args.game)
    results = run(game, args.seeds, args.steps)
    (out / "results.json").write_text(json.dumps(results, indent=2))
    plot(results, game).savefig(out / "hidden_seed.png", dpi=110)
    print(f"{'scale_rewards':14}{'ASR':>16}{'over-refusal':>18}{'regret':>16}{'rational':>16}")
    for scale, res in results.items():
        s = res["summary"]
        cells = "".join(f"{s[k]['mean']:>9.3f} ± {s[k]['std']:.3f}"
                        for k in ("asr", "over_refusal", "subgame_regret_max",
                                  "refusal_agreement"))
        print(f"{scale:14}{cells}")
    ref = results["group"]["runs"][0]["reference"]
    print(f"reference ({ref['kind']}): ASR {ref['asr']:.3f}, over-refusal "
          f"{ref['over_refusal']:.3f}")
    print(f"written: {out}/results.json, hidden_seed.png")


if __name__ == "__main__":
    main()

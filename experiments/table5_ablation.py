"""Toy analogue of MAGIC's Table 5 (arXiv 2602.01539): which training regime generalises?

Game: ``jailbreak_v1`` with a held-out set of attacks. During training no seed may use the
held-out attacks (the training game's ``allowed`` mask); afterwards we measure, against the
final defender,

* **held-out ASR** — a harmful seed's best held-out attack (the attacker best-responds
  among attacks the defender never trained against), averaged over harmful seeds;
* **benign compliance** — P(comply) on benign seeds over every attack (uniform).

The defender is featurised (logits linear in the attacks' features) so it can generalise
to unseen attacks; regimes (5 seeds each, mean ± std):

1. No-Game — the defender trains on unrewritten seeds (``direct``) only;
2. Defender-only — against a frozen uniform attacker over the training attacks;
3. MAGIC, untrained attacker — alternating, the attacker starts almost always ``direct``
   and never explores;
4. MAGIC — alternating, freq 15, 1:1, defender first, attacker exploration 0.1;
5. Shared parameters — Self-RedTeam-style ``shared_grpo`` (tabular heads; cannot use
   features, so held-out nodes keep their initial answer — reported as such);
6. Simultaneous (AdvGame style) — both roles every step, attacker scored against the
   defender's best of 4 replies with pairwise-preference rewards.

Deviations from MAGIC: a 12-seed toy game instead of LLMs, exact evaluation instead of a
judge on benchmarks, featurised tabular policies instead of an LLM.

    OMP_NUM_THREADS=1 python experiments/table5_ablation.py [--seeds 5] [--steps 300]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from seqgame.backends.tabular.factory import build_learners
from seqgame.games import builtin_game
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig

HELD_OUT = ("misspellings", "expert_endorsement", "morse", "translate_tamil", "translate_french")
GRPO = {"num_generations": 4, "seeds_per_step": 64, "learning_rate": 1.0}
DEFENDER = {**GRPO, "parameterization": "features", "learning_rate": 0.3}
REGIMES = {
    "No-Game": ({**GRPO}, DEFENDER, {"kind": "no_game"}),
    "Defender-only": ({**GRPO}, DEFENDER, {"kind": "defender_only"}),
    "MAGIC (untrained attacker)": ({**GRPO, "init_attack": "direct", "init_bias": 4.0},
                                   DEFENDER, {"kind": "alternating"}),
    "MAGIC": ({**GRPO, "exploration": 0.1}, DEFENDER, {"kind": "alternating"}),
    "Shared parameters": ({**GRPO, "algorithm": "shared_grpo", "l2": 0.1},
                          {**GRPO, "algorithm": "shared_grpo", "l2": 0.1},
                          {"kind": "alternating"}),
    "Simultaneous (AdvGame)": ({**GRPO, "best_of_k": 4, "pairwise_preference": True,
                                "exploration": 0.1}, DEFENDER, {"kind": "simultaneous"}),
}


def training_game(name: str):
    game = builtin_game(name)
    allowed = np.array(game.allowed)
    allowed[:, [game.attack_index(a) for a in HELD_OUT]] = False
    allowed[~allowed.any(axis=1), game.attack_index("direct")] = True
    return game, game.replace(name=f"{name}_train", allowed=allowed)


def held_out_metrics(game, defender_table: np.ndarray) -> dict[str, float]:
    dfd = defender_table[0]  # (X, A, D), or (A, D) when the seed is hidden
    if dfd.ndim == 2:
        dfd = np.broadcast_to(dfd, (len(game.seeds), *dfd.shape))
    held = [game.attack_index(a) for a in HELD_OUT]
    p_unsafe = np.einsum("xad,xad->xa", dfd, game.unsafe)  # (X, A)
    harm = game.harmful
    w = game.prior[harm] / game.prior[harm].sum()
    comply = dfd[..., ~game.refusal_mask].sum(axis=-1)
    ben = ~harm
    allowed = game.allowed[ben]
    return {
        "held_out_asr": float(np.dot(w, p_unsafe[harm][:, held].max(axis=1))),
        "held_out_asr_uniform": float(np.dot(w, p_unsafe[harm][:, held].mean(axis=1))),
        "benign_compliance": float(np.dot(game.prior[ben] / game.prior[ben].sum(),
                                          (comply[ben] * allowed).sum(axis=1)
                                          / allowed.sum(axis=1))),
    }


def run(game_name: str, seeds: int, steps: int) -> dict:
    game, train = training_game(game_name)
    results = {}
    for name, (att_opts, def_opts, sched) in REGIMES.items():
        if game.hidden_seed and att_opts.get("algorithm") == "shared_grpo":
            continue  # the shared-parameter toy needs the seed in the observation
        rows = []
        for seed in range(seeds):
            attacker, defender = build_learners(train, dict(att_opts), dict(def_opts), seed)
            res = coevolve(train, attacker, defender, ScheduleConfig.from_dict(sched), steps,
                           seed)
            rows.append(held_out_metrics(game, np.asarray(res.last.defender)))
        results[name] = {k: {"mean": float(np.mean([r[k] for r in rows])),
                             "std": float(np.std([r[k] for r in rows])),
                             "values": [r[k] for r in rows]} for k in rows[0]}
    return results


def plot(results: dict, title: str):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    fig.suptitle(title, fontsize=11)
    axes = fig.subplots(1, 2)
    names = list(results)
    for ax, key, title in ((axes[0], "held_out_asr", "Held-out ASR (best held-out attack)"),
                           (axes[1], "benign_compliance", "Benign compliance")):
        means = [results[n][key]["mean"] for n in names]
        stds = [results[n][key]["std"] for n in names]
        ax.barh(range(len(names)), means, xerr=stds, color="#4c72b0", alpha=0.85)
        ax.set_yticks(range(len(names)), names, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(axis="x", alpha=0.3)
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description="Toy MAGIC Table 5")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--out", default="runs/table5_ablation")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"held_out_attacks": list(HELD_OUT), "seeds": args.seeds, "steps": args.steps}
    for game_name in ("jailbreak_v1", "jailbreak_hidden_v1"):
        results = run(game_name, args.seeds, args.steps)
        payload[game_name] = results
        plot(results, f"Toy MAGIC Table 5 on {game_name} (held out: {', '.join(HELD_OUT)})"
             ).savefig(out / f"table5_{game_name}.png", dpi=110)
        print(f"\n{game_name}\n{'regime':28}{'held-out ASR':>18}{'benign compliance':>20}")
        for name, r in results.items():
            a, b = r["held_out_asr"], r["benign_compliance"]
            print(f"{name:28}{a['mean']:>10.3f} ± {a['std']:.3f}"
                  f"{b['mean']:>12.3f} ± {b['std']:.3f}")
    (out / "results.json").write_text(json.dumps(payload, indent=2))
    print(f"written: {out}/results.json and table5_*.png")


if __name__ == "__main__":
    main()

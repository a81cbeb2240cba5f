"""Where MAGIC's Theorem 3.2 holds and where it stops: exact solvers on many small games.

Six measurements (docs/theory.md, issues 3 and 11), all with exact solvers, no sampling:

1. Random full-observation games with a safe fallback (refusal never unsafe): every SPNE
   (strong and weak tie-breaking) is pointwise safe.
2. Small games of the same kind (2 seeds x 2 attacks x 2 answers, where every extreme Nash
   equilibrium can be enumerated): how many Nash equilibria carry unsafe answers off the
   path (none may carry them on the path).
3. Games where the fallback assumption fails (a refusal leaks harm at some harmful
   nodes): where unsafety appears — only at the nodes with M(x, a) < 0?
4. Hidden seeds (the disguise toy): PBE harm and over-refusal over the harmful prior p
   (the posterior at the pooled attack when seeds pool: the less the attack reveals, the
   closer the posterior stays to p) and r_ref / r_harm, against μ* = r_ref/(r_harm+2 r_ref).
5. Commitment: defender-leader Stackelberg value versus SPNE/PBE, and the safety it gives up.
6. Several turns (T = 1, 2, 3): games with a safe answer at every node (M >= 0) whose
   refusals leak at some harmful nodes (complying there is safe), against games whose
   refusals are safe: the SPNE stays pointwise safe in the second kind only; in the first,
   every violation is a refusal chosen for its continuation value (continuation-driven).

Two reward models: MAGIC's (R_A = −R_D + attacker-only terms: strategically zero-sum) and a
general-sum Self-RedTeam-like one (the attacker is paid the unsafe probability only).

Run: ``python experiments/theorem_3_2.py --out runs/theorem_3_2`` (30 s on an idle core, a
minute or more on a shared one; ``--quick`` 5–10 s). Writes ``results.json`` and the figure.
Deviation from the paper: payoffs are expected rewards of a fixed judge, not sampled text.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from seqgame.analysis.metrics import asr_and_over_refusal
from seqgame.analysis.posterior import posterior_safety
from seqgame.analysis.safety import fallback_value, pointwise_safety
from seqgame.errors import InvalidConfigError
from seqgame.games.toys import disguise_game
from seqgame.model.game import Label, Observation, Seed, SequentialGame
from seqgame.model.payoffs import Rewards
from seqgame.solvers.nash import nash_equilibria
from seqgame.solvers.pbe import mu_star, pbe
from seqgame.solvers.spne import spne
from seqgame.solvers.stackelberg import stackelberg


@dataclass(frozen=True)
class Config:
    """Experiment sizes; ``quick`` shrinks every part."""

    seed: int = 0
    n_games: int = 1000
    n_small: int = 1000
    n_commit: int = 300
    n_prior: int = 10
    n_multi: int = 300
    turns: tuple[int, ...] = (1, 2, 3)
    ratios: tuple[float, ...] = (0.2, 0.35, 0.5, 0.75, 1.0)
    disguise_cost: float = 0.6

    def __post_init__(self) -> None:
        for name in ("n_games", "n_small", "n_commit", "n_prior", "n_multi"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"{name} = {getattr(self, name)!r}: must be >= 1")
        if not all(0 < r <= 1 for r in self.ratios):
            raise InvalidConfigError(f"ratios = {self.ratios!r}: r_ref/r_harm in (0, 1] keeps "
                                     "refusal >= 0 for both seed types")


def random_magic_game(rng: np.random.Generator, n_x: int, n_a: int, n_d: int,
                      general_sum: bool, leak: float = 0.0, name: str = "g", turns: int = 1,
                      safe_comply_at_leaks: bool = False) -> SequentialGame:
    """A random jailbreak game with MAGIC's weights; refusal leaks harm w.p. ``leak`` per node.

    ``safe_comply_at_leaks``: where a refusal leaks, complying is (nearly) safe
    (P(unsafe) <= 0.25, so r_D >= 0 there): a safe answer exists at every node.
    """
    labels = [Label.HARMFUL] + [Label.HARMFUL if rng.random() < 0.5 else Label.BENIGN
                                for _ in range(n_x - 1)]
    prior = rng.dirichlet(np.ones(n_x))
    prior = prior / prior.sum()
    seeds = tuple(Seed(f"s{i}", lab, float(p)) for i, (lab, p) in enumerate(zip(labels, prior,
                                                                                  strict=True)))
    responses = ("refuse", "comply", "partial")[:n_d]
    harmful = np.array([lab is Label.HARMFUL for lab in labels])
    unsafe = np.zeros((n_x, n_a, n_d))
    unsafe[harmful, :, 1] = rng.random((harmful.sum(), n_a))
    if n_d == 3:
        unsafe[harmful, :, 2] = unsafe[harmful, :, 1] * rng.random((harmful.sum(), n_a)) * 0.5
    leaks = (rng.random((n_x, n_a)) < leak) & harmful[:, None]
    unsafe[:, :, 0] = np.where(leaks, rng.uniform(0.8, 1.0, (n_x, n_a)), 0.0)
    if safe_comply_at_leaks:
        unsafe[:, :, 1] = np.where(leaks, rng.uniform(0.0, 0.25, (n_x, n_a)), unsafe[:, :, 1])
    bonus = (-rng.uniform(0.0, 0.3, (n_x, n_a)) if not safe_comply_at_leaks
             else rng.uniform(-0.3, 1.5, (n_x, n_a)))
    game = SequentialGame(
        name=name, seeds=seeds, attacks=tuple(f"a{i}" for i in range(n_a)), responses=responses,
        refusals=frozenset({"refuse"}), observation=Observation.FULL, unsafe=unsafe,
        rewards=Rewards(1.0, 0.5, 0.5), attacker_bonus=bonus, turns=turns)
    if not general_sum:
        return game
    # Self-RedTeam-like: the attacker is paid for harm only, the defender keeps MAGIC's reward
    u_a = game.unsafe + bonus[:, :, None]
    return game.replace(rewards=None, payoff_tables=(u_a, game.u_defender))


def part_spne_fallback(cfg: Config, rng: np.random.Generator, leak: float) -> dict:
    """Parts 1 and 3: SPNE pointwise safety over random games (leak 0: safe fallback)."""
    games = safe = unsafe_on_path = at_no_fallback = violations = no_fallback_games = 0
    for i in range(cfg.n_games):
        game = random_magic_game(rng, int(rng.integers(2, 6)), int(rng.integers(2, 7)),
                                 int(rng.integers(2, 4)), general_sum=bool(i % 2), leak=leak)
        m = fallback_value(game)
        no_fallback_games += bool((m < -1e-9).any())
        for tie in ("strong", "weak"):
            games += 1
            report = pointwise_safety(game, spne(game, tie).profile)
            safe += report.safe
            for v in report.violations:
                violations += 1
                unsafe_on_path += v.on_path
                at_no_fallback += m[game.seed_index(v.seed), game.attack_index(v.attack)] < 0
    return {"games": cfg.n_games, "spne_checked": games, "spne_pointwise_safe": safe,
            "games_without_fallback": no_fallback_games, "violations": violations,
            "violations_on_path": unsafe_on_path,
            "violations_at_no_fallback_nodes": int(at_no_fallback)}


def part_nash_off_path(cfg: Config, rng: np.random.Generator) -> dict:
    """Part 2: every extreme Nash equilibrium of small games, unsafe answers on/off path."""
    out = {"games": 0, "equilibria": 0, "unsafe_off_path": 0, "unsafe_on_path": 0,
           "games_with_unsafe_off_path_ne": 0, "spne_pointwise_safe": 0}
    per_model = {"magic": [0, 0, 0], "general_sum": [0, 0, 0]}  # games, NE, unsafe-off NE
    for i in range(cfg.n_small):
        general = bool(i % 2)
        game = random_magic_game(rng, 2, 2, 2, general_sum=general)
        out["games"] += 1
        out["spne_pointwise_safe"] += pointwise_safety(game, spne(game).profile).safe
        any_off = False
        model = per_model["general_sum" if general else "magic"]
        model[0] += 1
        for p in nash_equilibria(game).equilibria:
            report = pointwise_safety(game, p)
            off = any(not v.on_path for v in report.violations)
            out["equilibria"] += 1
            out["unsafe_off_path"] += off
            out["unsafe_on_path"] += any(v.on_path for v in report.violations)
            model[1] += 1
            model[2] += off
            any_off |= off
        out["games_with_unsafe_off_path_ne"] += any_off
    out["by_reward_model"] = {k: dict(zip(("games", "equilibria", "unsafe_off_path"), v,
                                          strict=True)) for k, v in per_model.items()}
    return out


def part_hidden_and_commitment(cfg: Config) -> dict:
    """Parts 4 and 5 on the disguise toy: PBE vs μ*, Stackelberg commitment vs PBE."""
    priors = np.linspace(0.05, 0.95, cfg.n_prior)
    grid = {k: np.zeros((len(cfg.ratios), len(priors))) for k in (
        "pbe_asr", "pbe_over_refusal", "pbe_value_defender", "predicted_asr",
        "stackelberg_value_defender", "stackelberg_asr", "stackelberg_over_refusal",
        "pbe_pointwise_safe", "pbe_posterior_safe", "stackelberg_pointwise_safe")}
    for i, ratio in enumerate(cfg.ratios):
        rewards = Rewards(1.0, ratio, 0.5)
        threshold = mu_star(rewards)
        for j, p in enumerate(priors):
            game = disguise_game(float(p), cfg.disguise_cost, rewards)
            eq = pbe(game).equilibria[0]
            asr, over = asr_and_over_refusal(game, eq.profile)
            grid["pbe_asr"][i, j], grid["pbe_over_refusal"][i, j] = asr, over
            grid["pbe_value_defender"][i, j] = eq.value_defender
            grid["pbe_pointwise_safe"][i, j] = pointwise_safety(game, eq.profile).safe
            grid["pbe_posterior_safe"][i, j] = posterior_safety(game, eq.profile, eq.beliefs).safe
            # closed form: pool below mu*, else disguise w.p. s with posterior mu*, comply q
            s = min(1.0, threshold * (1 - p) / (p * (1 - threshold)))
            q = cfg.disguise_cost / (2 * (rewards.r_harm + rewards.r_ref))
            # at p = mu* the defender is indifferent; the attacker-best PBE pools, q = 1
            grid["predicted_asr"][i, j] = 1.0 if p <= threshold + 1e-12 else s * q
            st = stackelberg(game, "defender", weak=False)
            asr_s, over_s = asr_and_over_refusal(game, st.profile)
            grid["stackelberg_value_defender"][i, j] = st.value_leader
            grid["stackelberg_asr"][i, j], grid["stackelberg_over_refusal"][i, j] = asr_s, over_s
            grid["stackelberg_pointwise_safe"][i, j] = pointwise_safety(game, st.profile).safe
    err = float(np.abs(grid["pbe_asr"] - grid["predicted_asr"]).max())
    return {"priors": priors.tolist(), "ratios": list(cfg.ratios),
            "mu_star": [mu_star(Rewards(1.0, r, 0.5)) for r in cfg.ratios],
            "max_abs_error_vs_closed_form_asr": err,
            **{k: v.tolist() for k, v in grid.items()}}


def part_commitment_random(cfg: Config, rng: np.random.Generator) -> dict:
    """Part 5 on random full-observation games: Stackelberg vs SPNE defender value."""
    gains, unsafe_on, unsafe_off = [], 0, 0
    for i in range(cfg.n_commit):
        game = random_magic_game(rng, 2, int(rng.integers(2, 4)), 2, general_sum=bool(i % 2))
        st = stackelberg(game, "defender", weak=False)
        gains.append(st.value_leader - spne(game).value_defender)
        report = pointwise_safety(game, st.profile)
        unsafe_on += any(v.on_path for v in report.violations)
        unsafe_off += any(not v.on_path for v in report.violations)
    gains = np.array(gains)
    return {"games": cfg.n_commit, "gain_min": float(gains.min()),
            "gain_mean": float(gains.mean()), "gain_max": float(gains.max()),
            "games_with_gain": int((gains > 1e-7).sum()),
            "commitments_unsafe_on_path": unsafe_on, "commitments_unsafe_off_path": unsafe_off,
            "gains": gains.tolist()}


def part_multiturn(cfg: Config, rng: np.random.Generator) -> dict:
    """Part 6: Theorem 3.2 for T = 1, 2, 3, with leaking refusals (M >= 0) or safe ones."""
    out = {}
    for turns in cfg.turns:
        for kind, leak in (("leaky_refusals", 0.4), ("safe_refusals", 0.0)):
            row = {"games": 0, "spne_checked": 0, "spne_pointwise_safe": 0, "violations": 0,
                   "continuation_driven": 0, "refusals": 0, "before_last_turn": 0,
                   "on_path": 0, "min_fallback_q": float("inf")}
            for i in range(cfg.n_multi):
                game = random_magic_game(rng, int(rng.integers(2, 5)), int(rng.integers(2, 6)),
                                         int(rng.integers(2, 4)), general_sum=bool(i % 2),
                                         leak=leak, turns=turns, safe_comply_at_leaks=True)
                assert fallback_value(game).min() >= -1e-9  # a safe answer at every node
                row["games"] += 1
                for tie in ("strong", "weak"):
                    report = pointwise_safety(game, spne(game, tie).profile)
                    row["spne_checked"] += 1
                    row["spne_pointwise_safe"] += report.safe
                    row["min_fallback_q"] = min(row["min_fallback_q"],
                                                float(report.fallback_value_q.min()))
                    for v in report.violations:
                        row["violations"] += 1
                        row["continuation_driven"] += v.continuation_driven
                        row["refusals"] += v.response in game.refusals
                        row["before_last_turn"] += v.turn < turns - 1
                        row["on_path"] += v.on_path
            out[f"T{turns}_{kind}"] = row
    return out


def plot(results: dict):
    """Six panels summarising the experiment; returns the Figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(20, 8.5))
    p1, p2, p3 = results["spne_fallback"], results["nash_off_path"], results["no_fallback"]
    bars = {
        "SPNE safe\n(fallback)": p1["spne_pointwise_safe"] / p1["spne_checked"],
        "NE unsafe\noff path": p2["unsafe_off_path"] / p2["equilibria"],
        "NE unsafe\non path": p2["unsafe_on_path"] / p2["equilibria"],
        "SPNE safe\n(no fallback)": p3["spne_pointwise_safe"] / p3["spne_checked"],
        "violations at\nM<0 nodes": (p3["violations_at_no_fallback_nodes"]
                                     / max(p3["violations"], 1)),
    }
    ax = axes[0, 0]
    ax.bar(range(len(bars)), list(bars.values()), color=["C2", "C3", "C3", "C1", "C0"])
    ax.set_xticks(range(len(bars)), list(bars), fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_title("Theorem 3.2: SPNE vs Nash (fractions)")
    h = results["hidden_seed"]
    priors, ratios = np.array(h["priors"]), np.array(h["ratios"])
    panels = [("pbe_asr", "PBE attack success (ASR)", axes[0, 1]),
              ("pbe_over_refusal", "PBE over-refusal", axes[0, 2]),
              ("stackelberg_asr", "defender commits: ASR", axes[1, 0])]
    for key, title, ax in panels:
        im = ax.imshow(np.array(h[key]), origin="lower", aspect="auto", vmin=0, vmax=1,
                       extent=(priors[0], priors[-1], -0.5, len(ratios) - 0.5), cmap="magma")
        ax.plot(h["mu_star"], range(len(ratios)), "c--", lw=2, label="μ* = r_ref/(r_harm+2r_ref)")
        ax.set_yticks(range(len(ratios)), [f"{r:g}" for r in ratios])
        ax.set_xlabel("harmful prior p (= posterior when pooling)")
        ax.set_ylabel("r_ref / r_harm")
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
    axes[0, 1].legend(loc="upper right", fontsize=8)
    gain = np.array(h["stackelberg_value_defender"]) - np.array(h["pbe_value_defender"])
    ax = axes[1, 1]
    im = ax.imshow(gain, origin="lower", aspect="auto", cmap="viridis",
                   extent=(priors[0], priors[-1], -0.5, len(ratios) - 0.5))
    ax.plot(h["mu_star"], range(len(ratios)), "w--", lw=2)
    ax.set_yticks(range(len(ratios)), [f"{r:g}" for r in ratios])
    ax.set_title("defender value: Stackelberg − PBE")
    ax.set_xlabel("harmful prior p")
    fig.colorbar(im, ax=ax)
    ax = axes[1, 2]
    # exact zeros show as one bar instead of float noise around 0
    gains = np.round(np.array(results["commitment_random"]["gains"]), 9) + 0.0
    ax.hist(gains, bins=30, color="C4")
    ax.set_title("random full-obs games: Stackelberg − SPNE\n(defender value)")
    ax.set_xlabel("value gain of committing")
    _plot_multiturn(results["multiturn"], axes[0, 3], axes[1, 3])
    fig.tight_layout()
    return fig


def _plot_multiturn(multi: dict, ax_safe, ax_where) -> None:
    """Part 6: SPNE safety by number of turns, and what the violations are."""
    turns = sorted({int(k[1:].split("_")[0]) for k in multi})
    x = np.arange(len(turns))
    for j, (kind, label, color) in enumerate((
            ("leaky_refusals", "safe answer everywhere,\nsome refusals leak", "C3"),
            ("safe_refusals", "refusals safe", "C2"))):
        frac = [multi[f"T{t}_{kind}"]["spne_pointwise_safe"] / multi[f"T{t}_{kind}"][
            "spne_checked"] for t in turns]
        ax_safe.bar(x + (j - 0.5) * 0.38, frac, 0.38, color=color, label=label)
    ax_safe.set_xticks(x, [f"T = {t}" for t in turns])
    ax_safe.set_ylim(0, 1.05)
    ax_safe.set_title("Theorem 3.2 over turns: SPNE pointwise safe (fraction)")
    ax_safe.legend(loc="lower left", fontsize=8)
    keys = ("continuation_driven", "refusals", "before_last_turn", "on_path")
    for j, key in enumerate(keys):
        frac = [multi[f"T{t}_leaky_refusals"][key] / max(multi[f"T{t}_leaky_refusals"][
            "violations"], 1) for t in turns]
        ax_where.bar(x + (j - 1.5) * 0.2, frac, 0.2, label=key.replace("_", " "))
    ax_where.set_xticks(x, [f"T = {t}" for t in turns])
    ax_where.set_ylim(0, 1.05)
    ax_where.set_title("violations with a safe answer available:\nfraction that are ...")
    ax_where.legend(loc="lower left", fontsize=8)


def run(cfg: Config) -> dict:
    """Run all parts; returns the JSON-ready results."""
    rng = np.random.default_rng(cfg.seed)
    timings = {}
    t = time.perf_counter()
    spne_fallback = part_spne_fallback(cfg, rng, leak=0.0)
    timings["spne_fallback"] = time.perf_counter() - t
    t = time.perf_counter()
    nash_off = part_nash_off_path(cfg, rng)
    timings["nash_off_path"] = time.perf_counter() - t
    t = time.perf_counter()
    no_fallback = part_spne_fallback(cfg, rng, leak=0.3)
    timings["no_fallback"] = time.perf_counter() - t
    t = time.perf_counter()
    hidden = part_hidden_and_commitment(cfg)
    timings["hidden_seed"] = time.perf_counter() - t
    t = time.perf_counter()
    commit = part_commitment_random(cfg, rng)
    timings["commitment_random"] = time.perf_counter() - t
    t = time.perf_counter()
    multi = part_multiturn(cfg, rng)
    timings["multiturn"] = time.perf_counter() - t
    return {"config": asdict(cfg), "spne_fallback": spne_fallback, "nash_off_path": nash_off,
            "no_fallback": no_fallback, "hidden_seed": hidden, "commitment_random": commit,
            "multiturn": multi, "seconds": timings}


def main(argv: list[str] | None = None) -> int:
    """Command line: ``--out DIR [--quick] [--seed N]``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--quick", action="store_true", help="small sizes (a few seconds)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cfg = (Config(seed=args.seed, n_games=100, n_small=60, n_commit=30, n_prior=5,
                  ratios=(0.25, 0.5, 1.0), n_multi=40) if args.quick else Config(seed=args.seed))
    results = run(cfg)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1, allow_nan=False))
    plot(results).savefig(args.out / "theorem_3_2.png", dpi=110)
    p1, p2, p3 = results["spne_fallback"], results["nash_off_path"], results["no_fallback"]
    print(f"1. SPNE pointwise safe with fallback: {p1['spne_pointwise_safe']}/{p1['spne_checked']}")
    print(f"2. Nash equilibria with unsafe off-path answers: {p2['unsafe_off_path']}/"
          f"{p2['equilibria']} (in {p2['games_with_unsafe_off_path_ne']}/{p2['games']} games); "
          f"unsafe on path: {p2['unsafe_on_path']}")
    print(f"3. no fallback: SPNE safe {p3['spne_pointwise_safe']}/{p3['spne_checked']}; "
          f"violations at M<0 nodes {p3['violations_at_no_fallback_nodes']}/{p3['violations']}")
    h = results["hidden_seed"]
    print(f"4. PBE ASR vs closed form: max error {h['max_abs_error_vs_closed_form_asr']:.2e}")
    c = results["commitment_random"]
    print(f"5. Stackelberg - SPNE defender value: min {c['gain_min']:.3g}, mean "
          f"{c['gain_mean']:.3g}; commitments unsafe on/off path {c['commitments_unsafe_on_path']}"
          f"/{c['commitments_unsafe_off_path']} of {c['games']}")
    for key, row in results["multiturn"].items():
        print(f"6. {key}: SPNE safe {row['spne_pointwise_safe']}/{row['spne_checked']}; "
              f"violations {row['violations']} (continuation-driven "
              f"{row['continuation_driven']}, refusals {row['refusals']}); min M_Q "
              f"{row['min_fallback_q']:.3g}")
    print(f"seconds: {json.dumps({k: round(v, 1) for k, v in results['seconds'].items()})}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

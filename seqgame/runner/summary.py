"""``summary.json``: final last-iterate and average metrics, and MAGIC's Theorem 3.2 check.

``spne_distance`` (and ``final.spne_distance_defender*``) is the defender's distance to the
SPNE *set*: at every node the profile reaches, the total-variation distance to the nearest
best response (:func:`seqgame.solvers.spne.spne_set_distance`), max and mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgame.analysis.metrics import evaluate
from seqgame.analysis.safety import pointwise_safety, unsafe_mass_bound
from seqgame.model.game import SequentialGame
from seqgame.model.profile import Profile
from seqgame.solvers.spne import SPNEResult, spne, spne_set_distance
from seqgame.training.loop import CoevolutionResult


def summarize(result: CoevolutionResult) -> dict[str, Any]:
    """``summary.json`` content: final last-iterate and average metrics, SPNE check."""
    game = result.game
    out: dict[str, Any] = {"game": game.name, "steps": len(result.records)}
    eq = None if game.hidden_seed else spne(game)
    if eq is not None:
        eq_metrics = evaluate(game, eq.profile)
        out["spne"] = {"asr": eq_metrics.asr,
                       "over_refusal": eq_metrics.over_refusal,
                       "value_attacker": eq.value_attacker,
                       "value_defender": eq.value_defender,
                       "attacker_value_range": [eq.value_range.attacker_min,
                                                eq.value_range.attacker_max],
                       "attacker_ties": len(eq.attacker_ties())}
    for key, profile in (("last", result.last), ("average", result.average)):
        m = evaluate(game, profile).to_json()
        entry = {k: m[k] for k in ("asr", "over_refusal", "subgame_regret_max",
                                   "subgame_regret_mean", "nash_conv", "exploitability",
                                   "value_attacker", "value_defender")}
        report = pointwise_safety(game, profile, support=1e-3)
        entry["pointwise_safe_support_1e-3"] = report.safe
        entry["pointwise_violations_support_1e-3"] = len(report.violations)
        entry["spne_distance"] = None if eq is None else spne_set_distance(game, profile)
        out[key] = entry
    last = out["last"]
    dist = last["spne_distance"]
    out["final"] = {"asr": last["asr"], "over_refusal": last["over_refusal"],
                    "subgame_regret": last["subgame_regret_max"],
                    "spne_distance_defender": None if dist is None else dist["defender"],
                    "spne_distance_defender_mean": None if dist is None else dist[
                        "defender_mean"]}
    out["theorem_3_2"] = theorem_check(game, result.last, eq)
    return out


def theorem_check(game: SequentialGame, profile: Profile,
                  eq: SPNEResult | None = None) -> dict[str, Any]:
    """Check MAGIC's Theorem 3.2 on ``game`` and measure how far ``profile`` is from it.

    Reports the exact SPNE's pointwise safety, the learned profile's largest probability of
    a negative-reward answer at any node (off path included) and its regret bound ε / gap.
    """
    out: dict[str, Any] = {}
    neg = game.u_defender < 0
    mass = np.einsum("txad,xad->txa", profile.defender_full(game), neg.astype(float))
    mass = np.where(game.allowed[None], mass, 0.0)
    out["learned_max_unsafe_answer_probability"] = float(mass.max())
    if game.turns == 1:
        bound, _ = unsafe_mass_bound(game, profile)
        finite = bound[np.isfinite(bound) & game.allowed[None]]
        out["learned_max_regret_bound"] = float(finite.max()) if finite.size else None
    if not game.hidden_seed:
        report = pointwise_safety(game, (spne(game) if eq is None else eq).profile)
        out["spne_pointwise_safe"] = report.safe
        out["spne_violations"] = len(report.violations)
        out["spne_violations_continuation_driven"] = sum(
            v.continuation_driven for v in report.violations)
        out["no_fallback_nodes"] = len(report.no_fallback)
    return out

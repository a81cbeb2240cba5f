"""Typed, concept-specific parts of a :class:`~seqgame.solvers.concepts.Solution`.

Each ``*Details`` dataclass holds what one solution concept adds beside the profile (tie
sets, posteriors, commitment values, the other equilibria), and renders it two ways:
``to_json()`` — the ``details`` object of ``seqgame solve --json`` — and ``describe()`` —
the lines ``seqgame solve`` prints. Nothing downstream inspects keys or shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from seqgame.analysis.safety import pointwise_safety
from seqgame.analysis.values import stage_values
from seqgame.model.game import Role, SequentialGame
from seqgame.model.profile import Profile
from seqgame.solvers.spne import SPNEResult
from seqgame.solvers.ties import TieBreaking


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4g}"


class Details(Protocol):
    """Concept-specific data of a solution."""

    def to_json(self) -> dict[str, Any]:
        """The JSON-ready ``details`` object."""
        ...

    def describe(self) -> list[str]:
        """Human-readable lines for the command line."""
        ...


def equilibrium_json(game: SequentialGame, profile: Profile) -> dict[str, Any]:
    """One listed equilibrium: its turn-1 policies, values and pointwise safety."""
    out: dict[str, Any] = profile.to_json(game, 0)
    v_a, v_d = stage_values(game, profile)
    out["value"] = {"attacker": v_a, "defender": v_d}
    out["pointwise_safe"] = pointwise_safety(game, profile).safe
    return out


def posterior_rows(labels: tuple[str, ...], seeds: tuple[str, ...], beliefs: np.ndarray
                   ) -> dict[str, dict[str, float]]:
    """``{information set: {seed: p}}`` with zero entries left out."""
    return {lbl: {s: float(p) for s, p in zip(seeds, row, strict=True) if p > 0}
            for lbl, row in zip(labels, beliefs, strict=True)}


@dataclass(frozen=True)
class SPNEDetails:
    """Tie-breaking, the tie sets and the attacker's value range over the SPNE.

    ``tie_search``: ``"none"`` (T = 1), ``"not needed"``, ``"exact"`` or ``"heuristic"``
    (see :mod:`seqgame.solvers.spne_ties`); ``value_range``: the attacker's lowest and
    highest value over pure Markov SPNE, with how it was found.
    """

    tie_breaking: TieBreaking
    defender_ties: tuple[dict[str, Any], ...]
    attacker_ties: tuple[dict[str, Any], ...]
    value_range: dict[str, Any] = field(default_factory=dict)
    tie_search: str = "none"

    @classmethod
    def of(cls, result: SPNEResult) -> SPNEDetails:
        """Collect the tie sets and the value range of ``result``."""
        vr = result.value_range
        return cls(
            result.tie_breaking,
            tuple({"turn": t.turn, "seed": t.seed, "attack": t.attack,
                   "responses": list(t.responses)} for t in result.defender_ties()),
            tuple({"turn": t.turn, "seed": t.seed, "attacks": list(t.attacks)}
                  for t in result.attacker_ties()),
            {"attacker_min": vr.attacker_min, "attacker_max": vr.attacker_max,
             "method": vr.method},
            "none" if result.tie_search is None else result.tie_search.method,
        )

    def to_json(self) -> dict[str, Any]:
        """Tie-breaking, tie sets, ``value_range`` and ``tie_search``."""
        return {"tie_breaking": self.tie_breaking.value,
                "defender_ties": list(self.defender_ties),
                "attacker_ties": list(self.attacker_ties),
                "value_range": dict(self.value_range),
                "tie_search": self.tie_search}

    def describe(self) -> list[str]:
        """The tie-set counts and the attacker's SPNE value range."""
        lines = [f"tie sets: {len(self.defender_ties)} defender node(s), "
                 f"{len(self.attacker_ties)} attacker seed(s) (see --json)"]
        if self.value_range:
            vr = self.value_range
            lines.append(f"attacker value range over SPNE: [{_fmt(vr['attacker_min'])}, "
                         f"{_fmt(vr['attacker_max'])}] ({vr['method']}; tie search: "
                         f"{self.tie_search})")
        return lines


@dataclass(frozen=True)
class PosteriorView:
    """Beliefs at the defender's information sets and which are on the path."""

    posterior: dict[str, dict[str, float]]
    on_path: dict[str, bool]

    def describe(self) -> list[str]:
        """One line per information set: its posterior."""
        lines = ["", "posterior P(seed | attack)"]
        for attack, dist in self.posterior.items():
            where = "" if self.on_path.get(attack, True) else "  (off path)"
            lines.append(f"  {attack:<24} " + ", ".join(f"{s} {p:.3g}" for s, p in dist.items())
                         + where)
        return lines


def _posterior_line(report: dict[str, Any]) -> list[str]:
    return [f"posterior-level safety: {'SAFE' if report['posterior'] else 'UNSAFE'}"]


@dataclass(frozen=True)
class PBEDetails:
    """Every perfect Bayesian equilibrium found, the selected one's beliefs and safety."""

    view: PosteriorView
    posterior_safety: dict[str, Any]
    equilibria: tuple[dict[str, Any], ...]
    support_classes: int
    lps_solved: int

    def to_json(self) -> dict[str, Any]:
        """The PBE ``details`` object (see ``docs/solvers.md``)."""
        return {
            "selection": "the attacker's best PBE (then the defender's); all are listed",
            "posterior": self.view.posterior,
            "on_path": self.view.on_path,
            "off_path_beliefs": "any distribution over the seeds allowed to send the attack; "
                                "the prior over them is reported when it justifies the answer",
            "posterior_safety": self.posterior_safety,
            "n_equilibria": len(self.equilibria),
            "equilibria": list(self.equilibria),
            "support_classes": self.support_classes,
            "lps_solved": self.lps_solved,
        }

    def describe(self) -> list[str]:
        """Posterior safety, the posterior table and the equilibrium count."""
        return [*_posterior_line(self.posterior_safety), *self.view.describe(),
                f"equilibria found: {len(self.equilibria)} (all in --json 'details')"]


@dataclass(frozen=True)
class StackelbergDetails:
    """The leader's optimal commitment: values, MILP status, the weak-Stackelberg report."""

    leader: Role
    tie_breaking: TieBreaking
    value_leader: float
    value_follower: float
    big_m: float
    mip_status: str
    mip_gap: float
    weak: dict[str, Any] | None
    posterior_safety: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The Stackelberg ``details`` object."""
        return {
            "leader": self.leader.value, "tie_breaking": self.tie_breaking.value,
            "value_leader": self.value_leader, "value_follower": self.value_follower,
            "method": "DOBSS MILP (HiGHS) over behaviour strategies, big-M from payoff ranges",
            "big_m": self.big_m, "mip_status": self.mip_status, "mip_gap": self.mip_gap,
            "weak": self.weak, "posterior_safety": self.posterior_safety,
        }

    def describe(self) -> list[str]:
        """Posterior safety and the leader's value."""
        return [*_posterior_line(self.posterior_safety),
                f"leader {self.leader.value}: value {_fmt(self.value_leader)}, "
                f"follower {_fmt(self.value_follower)}"]


@dataclass(frozen=True)
class NashDetails:
    """Every extreme Nash equilibrium (or the LP's / Lemke–Howson's one) and how it was found.

    Multi-turn games (method ``"sequence_form_lp"``) add the zero-sum form's ``game_value``,
    the equilibrium's per-turn ASR and over-refusal (turn 1 first; NaN, written null,
    where benign seeds never reach a turn), the sequence counts and whether the equilibrium
    is ``markov`` (representable as a Profile; see docs/solvers.md).
    """

    method: str
    strategically_zero_sum: bool
    equilibria: tuple[dict[str, Any], ...]
    normal_form_shape: tuple[int, ...]
    lp_status: tuple[str, ...]
    unsafe_off_path: tuple[bool, ...]
    posterior_safety: dict[str, Any] = field(default_factory=dict)
    game_value: float | None = None
    asr_per_turn: tuple[float, ...] = ()
    over_refusal_per_turn: tuple[float, ...] = ()
    sequences: tuple[int, ...] = ()
    markov: bool = True

    def to_json(self) -> dict[str, Any]:
        """The Nash ``details`` object."""
        def finite(v: float) -> float | None:
            return None if np.isnan(v) else float(v)

        return {
            "method": self.method, "strategically_zero_sum": self.strategically_zero_sum,
            "n_equilibria": len(self.equilibria), "equilibria": list(self.equilibria),
            "normal_form_shape": list(self.normal_form_shape),
            "lp_status": list(self.lp_status), "unsafe_off_path": list(self.unsafe_off_path),
            "posterior_safety": self.posterior_safety, "game_value": self.game_value,
            "asr_per_turn": [finite(v) for v in self.asr_per_turn],
            "over_refusal_per_turn": [finite(v) for v in self.over_refusal_per_turn],
            "sequences": list(self.sequences), "markov": self.markov,
        }

    def describe(self) -> list[str]:
        """Posterior safety, the per-turn rates (multi-turn) and the equilibrium count."""
        lines = [*_posterior_line(self.posterior_safety)] if self.posterior_safety else []
        for t, (asr, over) in enumerate(zip(self.asr_per_turn, self.over_refusal_per_turn,
                                            strict=True)):
            lines.append(f"turn {t + 1}: equilibrium ASR {_fmt(asr)}  over-refusal "
                         f"{'n/a (not reached)' if np.isnan(over) else _fmt(over)}")
        return [*lines, f"equilibria found: {len(self.equilibria)} (all in --json 'details')"]

"""One entry point for every solution concept: a static table, typed options and results.

``solve(game, concept, **options)`` looks ``concept`` up in :data:`CONCEPTS` (a plain table:
nothing registers on import), validates the options into that concept's frozen options
dataclass, and returns a :class:`Solution`: the profile and typed concept-specific
:mod:`~seqgame.solvers.reports`. ``Solution.to_json()`` is the contract of
``seqgame solve --json``: keys ``concept``, ``game``, ``attacker`` (seed → attack → p),
``defender`` (observation key → response → p), ``value`` (``attacker``, ``defender``),
``asr``, ``over_refusal``, ``safety`` (``pointwise``, ``violations``, ...),
``expected_safety``, ``metrics`` and ``details``; games with T > 1 add ``per_turn`` (one
``{attacker, defender}`` per turn; the top level is turn 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from seqgame.analysis.metrics import evaluate
from seqgame.analysis.posterior import default_beliefs, posterior_safety
from seqgame.analysis.safety import expected_safety, pointwise_safety
from seqgame.errors import GameTooLargeError, SolverError
from seqgame.model.game import Role, SequentialGame
from seqgame.model.profile import Profile
from seqgame.solvers.commitment import stackelberg_matrix
from seqgame.solvers.nash import (
    is_strategically_zero_sum,
    lemke_howson_nash,
    nash_equilibria,
    zero_sum_nash,
)
from seqgame.solvers.normal_form import normal_form
from seqgame.solvers.pbe import pbe
from seqgame.solvers.reports import (
    Details,
    NashDetails,
    PBEDetails,
    PosteriorView,
    SPNEDetails,
    StackelbergDetails,
    equilibrium_json,
    posterior_rows,
)
from seqgame.solvers.sequence_form import sequence_form_nash
from seqgame.solvers.spne import spne
from seqgame.solvers.stackelberg import stackelberg
from seqgame.solvers.ties import TieBreaking


@dataclass(frozen=True, eq=False)
class Solution:
    """A solved game: one equilibrium profile and its concept-specific details."""

    concept: str
    game: SequentialGame
    profile: Profile
    details: Details

    def to_json(self) -> dict[str, Any]:
        """The ``seqgame solve --json`` object (see the module docstring)."""
        game = self.game
        metrics = evaluate(game, self.profile)
        metrics_json = metrics.to_json()
        first = self.profile.to_json(game, 0)
        out: dict[str, Any] = {
            "concept": self.concept,
            "game": game.name,
            "attacker": first["attacker"],
            "defender": first["defender"],
            "value": {"attacker": metrics.value_attacker, "defender": metrics.value_defender},
            "asr": metrics_json["asr"],
            "over_refusal": metrics_json["over_refusal"],
            "safety": pointwise_safety(game, self.profile).to_json(),
            "expected_safety": expected_safety(game, self.profile).to_json(),
            "metrics": metrics_json,
            "details": self.details.to_json(),
        }
        if game.turns > 1:
            out["per_turn"] = [self.profile.to_json(game, t) for t in range(game.turns)]
        return out


# ------------------------------------------------------------------- options per concept
@dataclass(frozen=True)
class SPNEOptions:
    """Options of ``spne``.

    Attributes:
        tie_breaking: which pure SPNE among the defender's ties: ``strong`` the
            attacker's best (the defender breaks ties for the first mover), ``weak`` its worst.
    """

    tie_breaking: TieBreaking = TieBreaking.STRONG

    def __post_init__(self) -> None:
        object.__setattr__(self, "tie_breaking", TieBreaking.parse(self.tie_breaking))


@dataclass(frozen=True)
class PBEOptions:
    """``pbe`` takes no options."""


@dataclass(frozen=True)
class StackelbergOptions:
    """Options of ``stackelberg``: the leading role and the follower's tie-breaking.

    Attributes:
        leader: the role that commits to a mixed strategy first.
        tie_breaking: how the follower breaks ties (``strong``: for the leader).
    """

    leader: Role = Role.DEFENDER
    tie_breaking: TieBreaking = TieBreaking.STRONG

    def __post_init__(self) -> None:
        object.__setattr__(self, "leader", Role.parse(self.leader))
        object.__setattr__(self, "tie_breaking", TieBreaking.parse(self.tie_breaking))


NASH_METHODS = ("auto", "lp", "enumerate", "lemke_howson", "sequence_form")


@dataclass(frozen=True)
class NashOptions:
    """Options of ``nash``: the method.

    ``auto``: the sequence-form LP for T > 1; for T = 1 the zero-sum LP when it applies,
    else vertex enumeration, falling back to Lemke–Howson (one equilibrium) when the
    enumeration is too large. ``lp``, ``enumerate``, ``lemke_howson`` and ``sequence_form``
    force one method.

    Attributes:
        method: ``auto``, ``lp``, ``enumerate``, ``lemke_howson`` or ``sequence_form``.
    """

    method: str = "auto"

    def __post_init__(self) -> None:
        if self.method not in NASH_METHODS:
            raise SolverError(f"method = {self.method!r}: use one of {list(NASH_METHODS)}")


# ------------------------------------------------------------------- the solvers
def _solve_spne(game: SequentialGame, options: SPNEOptions) -> Solution:
    result = spne(game, tie_breaking=options.tie_breaking)
    return Solution("spne", game, result.profile, SPNEDetails.of(result))


def _solve_pbe(game: SequentialGame, options: PBEOptions) -> Solution:
    del options
    result = pbe(game)
    best = result.equilibria[0]
    seeds = game.seed_ids

    def view(e: Any) -> PosteriorView:
        return PosteriorView(posterior_rows(result.node_labels, seeds, e.beliefs),
                             dict(zip(result.node_labels, map(bool, e.on_path), strict=True)))

    equilibria = []
    for e in result.equilibria:
        item = equilibrium_json(game, e.profile)
        item["posterior"], item["on_path"] = view(e).posterior, view(e).on_path
        item["posterior_safe"] = posterior_safety(game, e.profile, e.beliefs).safe
        equilibria.append(item)
    details = PBEDetails(view(best), posterior_safety(game, best.profile, best.beliefs).to_json(),
                         tuple(equilibria), result.cases, result.lps)
    return Solution("pbe", game, best.profile, details)


def _weak_profile(game: SequentialGame, leader: Role) -> tuple[Profile, float]:
    form = normal_form(game)
    if leader is Role.ATTACKER:
        lead, foll = form.attacker_payoff, form.defender_payoff
    else:
        lead, foll = form.defender_payoff.T, form.attacker_payoff.T
    res = stackelberg_matrix(lead, foll)
    if not res.weak_attained:
        raise SolverError(
            f"no weak Stackelberg equilibrium of {game.name!r} with the {leader.value} leading: "
            f"the supremum {res.weak_value:.6g} of the leader's payoff is not attained (the "
            "follower's ties can always hurt the leader at the limit); use tie_breaking "
            "'strong', or commit to a nearby strategy that gets within any epsilon"
        )
    reply = res.weak_commitment @ foll
    br = np.flatnonzero(reply >= reply.max() - 1e-9)
    worst = br[np.argmin((res.weak_commitment @ lead)[br])]
    other = np.zeros(lead.shape[1])
    other[worst] = 1.0
    if leader is Role.ATTACKER:
        return form.behaviour(res.weak_commitment, other), res.weak_value
    return form.behaviour(other, res.weak_commitment), res.weak_value


def _solve_stackelberg(game: SequentialGame, options: StackelbergOptions) -> Solution:
    result = stackelberg(game, options.leader)
    profile, value_leader = result.profile, result.value_leader
    if options.tie_breaking is TieBreaking.WEAK:
        profile, value_leader = _weak_profile(game, options.leader)
    details = StackelbergDetails(
        options.leader, options.tie_breaking, value_leader, result.value_follower,
        result.big_m, result.mip_status, result.mip_gap, result.weak,
        posterior_safety(game, result.profile).to_json())
    return Solution("stackelberg", game, profile, details)


def _solve_sequence_form(game: SequentialGame) -> Solution:
    result = sequence_form_nash(game)
    if result.profile is None:
        raise SolverError(
            f"the sequence-form equilibrium of {game.name!r} conditions on the attack history, "
            "so no Markov profile represents it: call seqgame.solvers.sequence_form."
            "sequence_form_nash(game) for its behaviour per history")
    best = result.profile
    item = equilibrium_json(game, best)
    item["value"] = {"attacker": result.value_attacker, "defender": result.value_defender}
    details = NashDetails(
        "sequence_form_lp", True, (item,), (), tuple(result.lp_status),
        (any(not v.on_path for v in pointwise_safety(game, best).violations),),
        {},  # posterior safety is defined for single-turn games only
        game_value=result.value, asr_per_turn=tuple(map(float, result.asr)),
        over_refusal_per_turn=tuple(map(float, result.over_refusal)),
        sequences=result.sizes, markov=True)
    return Solution("nash", game, best, details)


def _solve_nash(game: SequentialGame, options: NashOptions) -> Solution:
    if game.turns > 1 and options.method not in ("auto", "sequence_form"):
        raise SolverError(f"nash method {options.method!r} handles single-turn games; "
                          f"{game.name!r} has {game.turns} turns: use 'auto' or 'sequence_form'")
    if game.turns > 1 or options.method == "sequence_form":
        return _solve_sequence_form(game)
    zero_sum = is_strategically_zero_sum(game)
    if options.method == "lp" or (options.method == "auto" and zero_sum):
        result = zero_sum_nash(game)
    elif options.method == "lemke_howson":
        result = lemke_howson_nash(game)
    else:
        try:
            result = nash_equilibria(game)
        except GameTooLargeError:
            if options.method == "enumerate":
                raise
            result = lemke_howson_nash(game)  # one equilibrium instead of all extremes
    best = result.equilibria[0]
    details = NashDetails(
        result.method, zero_sum, tuple(equilibrium_json(game, p) for p in result.equilibria),
        tuple(result.normal_form_shape or ()), tuple(result.lp_status),
        tuple(any(not v.on_path for v in pointwise_safety(game, p).violations)
              for p in result.equilibria),
        posterior_safety(game, best, default_beliefs(game, best)).to_json())
    return Solution("nash", game, best, details)


@dataclass(frozen=True)
class Concept:
    """A solution concept: its options dataclass and its solver."""

    options: type
    solver: Callable[[SequentialGame, Any], Solution]
    summary: str


#: concept name -> Concept. A static table: adding a concept is one entry here.
CONCEPTS: dict[str, Concept] = {
    "spne": Concept(SPNEOptions, _solve_spne, "subgame-perfect equilibrium (full observation)"),
    "pbe": Concept(PBEOptions, _solve_pbe, "perfect Bayesian equilibria (single turn)"),
    "stackelberg": Concept(StackelbergOptions, _solve_stackelberg,
                           "optimal commitment of a leading role (single turn)"),
    "nash": Concept(NashOptions, _solve_nash, "Nash equilibria: normal form (single turn), "
                    "sequence-form LP (multi-turn, strategically zero-sum)"),
}


def solve(game: SequentialGame, concept: str = "spne", **options: Any) -> Solution:
    """Solve ``game`` with ``concept``; ``options`` go to that concept's options dataclass.

    Options given as None are ignored (the CLI passes every flag).

    Raises:
        SolverError: unknown concept, an option the concept does not take, a bad value.
    """
    if concept not in CONCEPTS:
        raise SolverError(f"unknown concept {concept!r}; choose from {sorted(CONCEPTS)}")
    entry = CONCEPTS[concept]
    allowed = [f.name for f in fields(entry.options)]
    given = {k: v for k, v in options.items() if v is not None}
    bad = sorted(k for k in given if k not in allowed)
    if bad:
        raise SolverError(
            f"concept {concept!r} takes no option {bad}; its options: {allowed or 'none'}"
        )
    return entry.solver(game, entry.options(**given))

"""Register the concepts ``pbe``, ``stackelberg`` and ``nash`` with :func:`seqgame.solve.solve`.

Each solver returns a :class:`~seqgame.solve.Solution` whose ``details`` carry the
concept-specific data: all PBE with the posterior at every attack (``pbe``); leader,
values, big-M, MILP status and the weak-Stackelberg report (``stackelberg``); every
extreme equilibrium or the LP statuses (``nash``). Every concept adds the posterior-level
safety check (:func:`seqgame.pbe.posterior_safety`) beside the pointwise and expected ones
of the common JSON.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgame.errors import SolverError
from seqgame.game import Role, SequentialGame
from seqgame.nash import is_strategically_zero_sum, nash_equilibria, zero_sum_nash
from seqgame.normal_form import normal_form, require_single_turn
from seqgame.pbe import PBE, default_beliefs, pbe, posterior_safety
from seqgame.profile import Profile
from seqgame.safety import pointwise_safety
from seqgame.solve import Solution, register_concept
from seqgame.stackelberg import stackelberg, stackelberg_matrix


def _rows(labels: tuple[str, ...], seeds: tuple[str, ...], beliefs: np.ndarray) -> dict:
    return {lbl: {s: float(p) for s, p in zip(seeds, row, strict=True) if p > 0}
            for lbl, row in zip(labels, beliefs, strict=True)}


def _profile_json(game: SequentialGame, profile: Profile) -> dict:
    out = profile.to_json(game, 0)
    dfd = profile.defender_full(game)[0]
    joint = game.prior[:, None, None] * profile.attacker[0][:, :, None] * dfd
    out["value"] = {"attacker": float((joint * game.u_attacker).sum()),
                    "defender": float((joint * game.u_defender).sum())}
    out["pointwise_safe"] = pointwise_safety(game, profile).safe
    return out


def _solve_pbe(game: SequentialGame) -> Solution:
    result = pbe(game)
    best: PBE = result.equilibria[0]
    seeds = game.seed_ids
    equilibria = []
    for e in result.equilibria:
        item = _profile_json(game, e.profile)
        item["posterior"] = _rows(result.node_labels, seeds, e.beliefs)
        item["on_path"] = dict(zip(result.node_labels, map(bool, e.on_path), strict=True))
        item["posterior_safe"] = posterior_safety(game, e.profile, e.beliefs).safe
        equilibria.append(item)
    details: dict[str, Any] = {
        "selection": "the attacker's best PBE (then the defender's); all are listed",
        "posterior": _rows(result.node_labels, seeds, best.beliefs),
        "on_path": dict(zip(result.node_labels, map(bool, best.on_path), strict=True)),
        "off_path_beliefs": "any distribution over the seeds allowed to send the attack; the "
                            "prior over them is reported when it justifies the answer",
        "posterior_safety": posterior_safety(game, best.profile, best.beliefs).to_json(),
        "n_equilibria": len(result.equilibria),
        "equilibria": equilibria,
        "support_classes": result.cases,
        "lps_solved": result.lps,
    }
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


def _solve_stackelberg(game: SequentialGame, leader: str = "defender",
                       tie_breaking: str = "strong") -> Solution:
    role = Role.parse(leader)
    if tie_breaking not in ("strong", "weak"):
        raise SolverError(f"tie_breaking = {tie_breaking!r}: use 'strong' or 'weak'")
    result = stackelberg(game, role)
    details: dict[str, Any] = {
        "leader": role.value,
        "tie_breaking": tie_breaking,
        "value_leader": result.value_leader,
        "value_follower": result.value_follower,
        "method": "DOBSS MILP (HiGHS) over behaviour strategies, big-M from payoff ranges",
        "big_m": result.big_m,
        "mip_status": result.mip_status,
        "mip_gap": result.mip_gap,
        "weak": result.weak,
        "posterior_safety": posterior_safety(game, result.profile).to_json(),
    }
    profile = result.profile
    if tie_breaking == "weak":
        profile, value = _weak_profile(game, role)
        details["value_leader"] = value
    return Solution("stackelberg", game, profile, details)


def _solve_nash(game: SequentialGame, method: str = "auto") -> Solution:
    require_single_turn(game, "nash")
    if method not in ("auto", "lp", "enumerate"):
        raise SolverError(f"method = {method!r}: use 'auto', 'lp' or 'enumerate'")
    zero_sum = is_strategically_zero_sum(game)
    if method == "lp" or (method == "auto" and zero_sum):
        result = zero_sum_nash(game)
    else:
        result = nash_equilibria(game)
    details: dict[str, Any] = {
        "method": result.method,
        "strategically_zero_sum": zero_sum,
        "n_equilibria": len(result.equilibria),
        "equilibria": [_profile_json(game, p) for p in result.equilibria],
        "normal_form_shape": list(result.normal_form_shape or ()),
        "lp_status": list(result.lp_status),
        "unsafe_off_path": [
            any(not v.on_path for v in pointwise_safety(game, p).violations)
            for p in result.equilibria
        ],
    }
    best = result.equilibria[0]
    details["posterior_safety"] = posterior_safety(
        game, best, default_beliefs(game, best)).to_json()
    return Solution("nash", game, best, details)


register_concept("pbe", _solve_pbe, ())
register_concept("stackelberg", _solve_stackelberg, ("leader", "tie_breaking"))
register_concept("nash", _solve_nash, ("method",))

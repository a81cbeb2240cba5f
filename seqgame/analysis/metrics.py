"""Exact metrics of a profile: values, ASR, over-refusal, best responses, NashConv, regret.

All quantities are computed by dynamic programming over turns from the game's per-turn
payoffs (no sampling). Notation: W[t][x] is a role's expected payoff from turn t on,
given the game reached turn t with seed x; Q[t][x, a, d] = U[x, a, d] + refusal(d)·W[t+1][x].

* ``nash_conv`` = Σ_roles (best-response value − value), the raw gains summed without
  clamping (``gain_attacker``, ``gain_defender``; a gain below −tolerance means a broken
  best response); ``exploitability`` = half of it.
  Defender best responses condition on everything the defender observes: under ``attack``
  observation with T > 1 that is the attack history, enumerated exactly (size-limited).
* ``subgame_regret``: at every defender decision node, off path included, the gap between
  the best one-shot deviation and the profile's answer, continuation under the profile.
  Under ``attack`` observation the node is the attack and its belief the profile's
  posterior; at attacks off the path the belief is the prior over the seeds allowed to
  send that attack (T > 1: the turn's reach-weighted posterior, a Markov approximation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.analysis.values import (
    Continuation,
    attack_posterior,
    continuation,
    q_values,
    reach_probabilities,
)
from seqgame.errors import GameTooLargeError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.profile import Profile

#: Largest |A|^T · |X| the exact hidden-seed multi-turn best response enumerates.
MAX_HISTORY_CELLS = 20_000_000


@dataclass(frozen=True)
class ProfileMetrics:
    """Exact metrics of a profile (see module docstring).

    Attributes:
        value_attacker, value_defender: expected episode payoffs.
        asr: P(at least one unsafe answer | harmful seed); NaN without harmful seeds.
        over_refusal: refusals per answer on benign seeds (= P(refusal | benign) for T=1);
            NaN without benign seeds.
        br_value_attacker, br_value_defender: best-response values against the other role.
        gain_attacker, gain_defender: best-response value − value, per role (raw: ≥ 0 up
            to rounding for a correct best response).
        nash_conv: gain_attacker + gain_defender (unclamped); exploitability = nash_conv / 2.
        subgame_regret_max, subgame_regret_mean: defender one-shot-deviation regret over all
            decision nodes, off path included.
    """

    value_attacker: float
    value_defender: float
    asr: float
    over_refusal: float
    br_value_attacker: float
    br_value_defender: float
    gain_attacker: float
    gain_defender: float
    nash_conv: float
    subgame_regret_max: float
    subgame_regret_mean: float

    @property
    def exploitability(self) -> float:
        """Half the NashConv."""
        return self.nash_conv / 2.0

    def to_json(self) -> dict:
        """Plain-float dictionary (NaN as None)."""
        out = {k: finite_or_none(getattr(self, k)) for k in self.__dataclass_fields__}
        out["exploitability"] = finite_or_none(self.exploitability)
        return out


def finite_or_none(v: float) -> float | None:
    """``float(v)``, or None for NaN/inf (JSON has neither)."""
    return None if not np.isfinite(v) else float(v)


def asr_and_over_refusal(game: SequentialGame, profile: Profile) -> tuple[float, float]:
    """``(asr, over_refusal)`` of ``profile``: see :class:`ProfileMetrics`."""
    n_x = len(game.seeds)
    dfd = profile.defender_full(game)
    safe_next = np.ones(n_x)
    answers_next = np.zeros(n_x)
    refusals_next = np.zeros(n_x)
    ref = game.refusal_mask
    for t in range(game.turns - 1, -1, -1):
        last = t == game.turns - 1
        joint = profile.attacker[t][:, :, None] * dfd[t]  # (X, A, D)
        goes_on = ref[None, None, :] & (not last)
        carry = np.where(goes_on, safe_next[:, None, None], 1.0)
        safe = np.einsum("xad,xad->x", joint, (1.0 - game.unsafe) * carry)
        p_ref = joint[:, :, ref].sum(axis=(1, 2))
        go_on = 0.0 if last else 1.0
        answers = 1.0 + go_on * p_ref * answers_next
        refusals = p_ref * (1.0 + go_on * refusals_next)
        safe_next, answers_next, refusals_next = safe, answers, refusals
    harm = game.harmful
    prior = game.prior
    asr = (
        float(np.dot(prior[harm], 1.0 - safe_next[harm]) / prior[harm].sum())
        if prior[harm].sum() > 0
        else float("nan")
    )
    ben = ~harm
    over = (
        float(np.dot(prior[ben], refusals_next[ben]) / np.dot(prior[ben], answers_next[ben]))
        if prior[ben].sum() > 0
        else float("nan")
    )
    return asr, over


def attacker_best_response(game: SequentialGame, profile: Profile) -> tuple[float, np.ndarray]:
    """Exact attacker best response to the profile's defender.

    Returns:
        ``(value, policy)`` with policy a pure ``(T, X, A)`` array (first maximiser).
    """
    n_x, n_a, _ = game.shape
    dfd = profile.defender_full(game)
    w = np.zeros(n_x)
    policy = np.zeros((game.turns, n_x, n_a))
    for t in range(game.turns - 1, -1, -1):
        v = np.einsum("xad,xad->xa", dfd[t], q_values(game, t, w, Role.ATTACKER))
        v = np.where(game.allowed, v, -np.inf)
        best = v.argmax(axis=1)
        policy[t, np.arange(n_x), best] = 1.0
        w = v[np.arange(n_x), best]
    return float(np.dot(game.prior, w)), policy


def defender_best_response_value(game: SequentialGame, profile: Profile) -> float:
    """Value of the exact defender best response to the profile's attacker."""
    if game.observation is Observation.FULL:
        w = np.zeros(len(game.seeds))
        for t in range(game.turns - 1, -1, -1):
            best = q_values(game, t, w, Role.DEFENDER).max(axis=2)
            w = np.einsum("xa,xa->x", profile.attacker[t], best)
        return float(np.dot(game.prior, w))
    return _hidden_defender_br(game, profile)


def _hidden_defender_br(game: SequentialGame, profile: Profile) -> float:
    """Defender best response over attack-history information sets (exact)."""
    n_x, n_a, _ = game.shape
    cells = n_x * n_a**game.turns
    if cells > MAX_HISTORY_CELLS:
        raise GameTooLargeError(
            f"the hidden-seed best response of a {game.turns}-turn game enumerates "
            f"|X|·|A|^T = {cells:,} cells, over the limit {MAX_HISTORY_CELLS:,}; use fewer "
            "turns or attacks, or full observation"
        )
    u_d = game.u_defender
    ref = game.refusal_mask
    weights = [game.prior[None, :]]  # per turn: (H_t, X) unnormalised history weights
    for t in range(game.turns - 1):
        w = weights[-1][:, None, :] * profile.attacker[t].T[None]  # (H, A, X)
        weights.append(w.reshape(-1, n_x))
    child_value = None
    for t in range(game.turns - 1, -1, -1):
        w = weights[t][:, None, :] * profile.attacker[t].T[None]  # (H, A, X)
        q = np.einsum("hax,xad->had", w, u_d)
        if child_value is not None:
            child = game.discount * child_value.reshape(w.shape[0], n_a)[:, :, None]
            if game.accrual == "final":
                q = np.where(ref[None, None, :], child, q)
            else:
                q = q + ref[None, None, :] * child
        child_value = q.max(axis=2).sum(axis=1)  # (H,)
    assert child_value is not None
    return float(child_value[0])


def defender_regret(
    game: SequentialGame, profile: Profile, cont: Continuation | None = None
) -> np.ndarray:
    """Defender one-shot-deviation regret at every decision node.

    Args:
        game: the game.
        profile: the profile.
        cont: the profile's continuation values, when already computed.

    Returns:
        float ``(T, X, A)`` under full observation, ``(T, A)`` under attack observation;
        NaN where a node cannot occur (attack not allowed to any seed sending it).
    """
    cont = continuation(game, profile) if cont is None else cont
    reach = reach_probabilities(game, profile)
    out = []
    for t in range(game.turns):
        q = q_values(game, t, cont.defender[t + 1], Role.DEFENDER)
        if game.observation is Observation.FULL:
            gap = q.max(axis=2) - np.einsum("xad,xad->xa", profile.defender[t], q)
            out.append(np.where(game.allowed, gap, np.nan))
        else:
            belief, possible = attack_posterior(game, profile.attacker[t], reach[t])
            qa = np.einsum("xa,xad->ad", belief, q)
            gap = qa.max(axis=1) - np.einsum("ad,ad->a", profile.defender[t], qa)
            out.append(np.where(possible, gap, np.nan))
    return np.maximum(np.array(out), 0.0)


def evaluate(game: SequentialGame, profile: Profile) -> ProfileMetrics:
    """All exact metrics of ``profile`` in ``game``."""
    cont = continuation(game, profile)
    v_a = float(np.dot(game.prior, cont.attacker[0]))
    v_d = float(np.dot(game.prior, cont.defender[0]))
    asr, over = asr_and_over_refusal(game, profile)
    br_a, _ = attacker_best_response(game, profile)
    br_d = defender_best_response_value(game, profile)
    regret = defender_regret(game, profile, cont)
    return ProfileMetrics(
        value_attacker=v_a,
        value_defender=v_d,
        asr=asr,
        over_refusal=over,
        br_value_attacker=br_a,
        br_value_defender=br_d,
        gain_attacker=br_a - v_a,
        gain_defender=br_d - v_d,
        nash_conv=(br_a - v_a) + (br_d - v_d),
        subgame_regret_max=float(np.nanmax(regret)),
        subgame_regret_mean=float(np.nanmean(regret)),
    )


def nash_conv(game: SequentialGame, profile: Profile) -> float:
    """Σ_roles (best-response value − value) of ``profile``."""
    return evaluate(game, profile).nash_conv


def profile_distance(game: SequentialGame, p: Profile, q: Profile) -> dict[str, float]:
    """Largest total-variation distance between two profiles' decisions, per role.

    Attacker rows are weighted equally over seeds and turns; the defender's over every
    decision node (off path, unreachable and disallowed nodes included). To measure a
    defender against the whole SPNE set use ``seqgame.solvers.spne_ties.spne_set_distance``.
    """
    del game
    tv_a = 0.5 * np.abs(p.attacker - q.attacker).sum(axis=-1)
    tv_d = 0.5 * np.abs(p.defender - q.defender).sum(axis=-1)
    return {"attacker": float(tv_a.max()), "defender": float(tv_d.max()),
            "defender_mean": float(tv_d.mean())}


def reachable_defender_nodes(game: SequentialGame, profile: Profile) -> np.ndarray:
    """Bool ``(T, X, A)``: nodes the profile's attacker reaches with positive probability.

    Allowed attacks only: prior · P(turn t reached | x) · π_A[t](a | x) > 0.
    """
    reach = reach_probabilities(game, profile)
    weight = game.prior[None, :, None] * reach[:, :, None] * profile.attacker
    return (weight > 0) & game.allowed[None]


def best_response_set_distance(game: SequentialGame, profile: Profile, optimal: np.ndarray
                               ) -> dict[str, float]:
    """Defender distance to a set of best responses, at the nodes the profile reaches.

    The total-variation distance from a distribution p to the distributions supported on
    a set B of answers is the mass p puts outside B; it is measured at every reachable node
    (:func:`reachable_defender_nodes`).

    Args:
        game: a full-observation game.
        profile: the profile measured.
        optimal: bool ``(T, X, A, D)``, the optimal answers at each node.

    Returns:
        ``{"defender": max, "defender_mean": mean, "nodes": count}`` over reachable nodes.
    """
    outside = np.einsum("txad,txad->txa", profile.defender_full(game), ~optimal)
    reached = reachable_defender_nodes(game, profile)
    vals = np.clip(outside[reached], 0.0, 1.0)
    if vals.size == 0:
        return {"defender": 0.0, "defender_mean": 0.0, "nodes": 0}
    return {"defender": float(vals.max()), "defender_mean": float(vals.mean()),
            "nodes": int(vals.size)}

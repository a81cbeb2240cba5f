"""Safety checks of a profile: MAGIC's Theorem 3.2 (pointwise) and the NE-style (expected).

* :func:`pointwise_safety` — every response in the defender's support, at every node and
  turn (off path included), has r_D ≥ 0, per seed. The theorem's sharp condition is the
  fallback value M(x, a) = max_d r_D(x, a, d) ≥ 0: reported per node, with the nodes where
  it fails (no safe fallback exists there, so no equilibrium can be pointwise safe).
  With T ≥ 2 the defender maximises Q[t](x, a, d) = r_D + refusal(d)·γ·W_D[t+1](x), not
  r_D: the report adds the Q-based fallback value M_Q[t](x, a) = max_d Q[t](x, a, d) under
  the profile's own continuation, and flags each violation that is *continuation-driven*
  (a safe answer existed, M ≥ 0, and the negative-reward answer is Q-optimal: chosen for
  what follows it). docs/theory.md states the multi-turn theorem these flags test.
* :func:`expected_safety` — Self-RedTeam's guarantee: at every attack on the path the
  defender's reward is ≥ 0 *in expectation* over the seed posterior and its own answers.
* :func:`unsafe_mass_bound` — for approximate policies: regret ε at a node bounds the
  probability of a negative-reward answer there by ε / gap (docs/theory.md).

r_D is the per-turn defender payoff U_D[x, a, d] (with MAGIC's weights, r_D ≥ 0 ⇔ safe).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.analysis.metrics import defender_regret
from seqgame.analysis.values import continuation, q_values, reach_probabilities
from seqgame.errors import SolverError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.profile import Profile


@dataclass(frozen=True)
class Violation:
    """A supported defender answer with negative reward.

    ``turn`` counts from 0. ``continuation_driven``: a safe answer existed at the node
    (M(x, a) ≥ 0) and this one is optimal for the defender's Q-value (stage reward plus
    continuation under the profile) — chosen for the value of what follows it, as a
    refusal that leaks but keeps a valuable conversation going.
    """

    turn: int
    seed: str
    attack: str
    response: str
    reward: float
    probability: float
    on_path: bool
    continuation_driven: bool = False

    def to_json(self) -> dict:
        """Plain dictionary."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class NoFallback:
    """A node where every answer has negative reward: M(x, a) < 0."""

    seed: str
    attack: str
    fallback_value: float


@dataclass(frozen=True, eq=False)
class SafetyReport:
    """Result of a safety check.

    Attributes:
        kind: ``"pointwise"`` or ``"expected"``.
        safe: True when there is no violation.
        violations: the violating (turn, seed, attack, response) entries.
        fallback_value: float ``(X, A)``, M(x, a) = max_d r_D(x, a, d).
        no_fallback: nodes (allowed attacks only) with M < 0.
        fallback_value_q: float ``(T, X, A)``, M_Q[t](x, a) = max_d Q_D[t](x, a, d) with the
            profile's continuation values (equals ``fallback_value`` at the last turn).
        expected_reward: float ``(T, A)`` (attack observation) or ``(T, X, A)`` (full) of
            the defender's expected reward at each node; NaN off path. Only for "expected".
    """

    kind: str
    safe: bool
    violations: tuple[Violation, ...]
    fallback_value: np.ndarray
    no_fallback: tuple[NoFallback, ...]
    expected_reward: np.ndarray | None = None
    fallback_value_q: np.ndarray | None = None

    def to_json(self) -> dict:
        """``{"pointwise"|"expected": bool, "violations": [...], "no_fallback": [...]}``."""
        return {
            self.kind: self.safe,
            "violations": [v.to_json() for v in self.violations],
            "no_fallback": [dict(nf.__dict__) for nf in self.no_fallback],
        }


def fallback_value(game: SequentialGame) -> np.ndarray:
    """M(x, a) = max_d U_D[x, a, d], float ``(X, A)``."""
    return game.u_defender.max(axis=2)


def _no_fallback(game: SequentialGame, m: np.ndarray, tol: float) -> tuple[NoFallback, ...]:
    bad = (m < -tol) & game.allowed
    return tuple(
        NoFallback(game.seed_ids[x], game.attacks[a], float(m[x, a]))
        for x, a in zip(*np.nonzero(bad), strict=True)
    )


def pointwise_safety(
    game: SequentialGame, profile: Profile, tol: float = 1e-9, support: float = 1e-9
) -> SafetyReport:
    """Theorem 3.2's check: every supported defender answer has r_D ≥ 0, per seed.

    Args:
        game: the game.
        profile: the profile to check.
        tol: rewards above −tol count as ≥ 0.
        support: answers with probability above this are in the support.

    Returns:
        A :class:`SafetyReport` listing every violation (off path included, flagged; those
        driven by continuation values flagged too), every node without a safe fallback,
        and the Q-based fallback values M_Q.
    """
    u_d = game.u_defender
    dfd = profile.defender_full(game)
    reach = reach_probabilities(game, profile)
    w_d = continuation(game, profile).defender
    m = fallback_value(game)
    violations = []
    negative = (u_d < -tol) & game.allowed[:, :, None]
    m_q = np.empty((game.turns, *m.shape))
    for t in range(game.turns):
        q = q_values(game, t, w_d[t + 1], Role.DEFENDER)
        m_q[t] = q.max(axis=2)
        driven = (q >= m_q[t][:, :, None] - tol) & (m[:, :, None] >= -tol)
        bad = negative & (dfd[t] > support)
        on_path = (game.prior[:, None] * reach[t][:, None] * profile.attacker[t]) > 0
        for x, a, d in zip(*np.nonzero(bad), strict=True):
            violations.append(
                Violation(t, game.seed_ids[x], game.attacks[a], game.responses[d],
                          float(u_d[x, a, d]), float(dfd[t, x, a, d]), bool(on_path[x, a]),
                          bool(driven[x, a, d]))
            )
    return SafetyReport("pointwise", not violations, tuple(violations), m,
                        _no_fallback(game, m, tol), fallback_value_q=m_q)


def expected_safety(
    game: SequentialGame, profile: Profile, tol: float = 1e-9, support: float = 1e-9
) -> SafetyReport:
    """The NE-style guarantee: at every on-path node, E[r_D] ≥ 0.

    Under ``attack`` observation the expectation is over the posterior of seeds sending the
    attack; under ``full`` over the defender's answers at each (seed, attack). Violations
    list the supported negative-reward answers at nodes whose expectation is negative.
    """
    u_d = game.u_defender
    dfd = profile.defender_full(game)
    reach = reach_probabilities(game, profile)
    per_node = np.einsum("txad,xad->txa", dfd, u_d)  # (T, X, A)
    weight = game.prior[None, :, None] * reach[:, :, None] * profile.attacker  # (T, X, A)
    if game.observation is Observation.FULL:
        expected = np.where(weight > 0, per_node, np.nan)
        failing = np.nan_to_num(expected, nan=0.0) < -tol
    else:
        mass = weight.sum(axis=1)  # (T, A)
        expected = np.divide((weight * per_node).sum(axis=1), mass,
                             out=np.full_like(mass, np.nan), where=mass > 0)
        failing = np.broadcast_to(
            (np.nan_to_num(expected, nan=0.0) < -tol)[:, None, :], weight.shape
        ) & (weight > 0)
    violations = []
    for t, x, a in zip(*np.nonzero(failing), strict=True):
        for d in np.flatnonzero((u_d[x, a] < -tol) & (dfd[t, x, a] > support)):
            violations.append(
                Violation(int(t), game.seed_ids[x], game.attacks[a], game.responses[d],
                          float(u_d[x, a, d]), float(dfd[t, x, a, d]), True)
            )
    m = fallback_value(game)
    return SafetyReport("expected", not failing.any(), tuple(violations), m,
                        _no_fallback(game, m, tol), expected)


def unsafe_mass_bound(game: SequentialGame, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Regret bound on negative-reward mass at every full-observation node.

    If the defender's regret at a node is ε and every negative-reward answer is at least
    ``gap`` below the best answer, those answers carry probability at most ε / gap.

    Returns:
        ``(bound, actual)``, float ``(T, X, A)`` each: the bound (inf where no gap) and the
        profile's actual probability of a negative-reward answer.
    """
    if game.turns > 1:
        raise SolverError(
            f"unsafe_mass_bound needs a single-turn game; {game.name!r} has {game.turns} turns "
            "(continuation values change the gaps)"
        )
    u_d = game.u_defender
    regret = defender_regret(game, profile)
    if game.observation is not Observation.FULL:
        regret = np.broadcast_to(regret[:, None, :], (game.turns, *game.allowed.shape))
    best = u_d.max(axis=2, keepdims=True)
    neg = u_d < 0
    gap = np.where(neg, best - u_d, np.inf).min(axis=2)
    bound = np.divide(regret, gap, out=np.full(regret.shape, np.inf), where=gap > 0)
    actual = np.einsum("txad,xad->txa", profile.defender_full(game), neg.astype(float))
    return bound, actual

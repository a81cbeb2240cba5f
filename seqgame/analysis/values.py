"""Values of a profile: Q-values, continuation values, reach, posteriors, stage values.

Notation: W[t][x] is a role's expected payoff from turn t on, given the game reached turn t
with seed x; Q[t][x, a, d] = U[x, a, d] + refusal(d)·γ·W[t+1][x] (``sum`` accrual). Every
solver, metric and learner that needs one of these computes it here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.model.game import Role, SequentialGame
from seqgame.model.profile import Profile


@dataclass(frozen=True)
class Continuation:
    """Per-turn continuation values of a profile, each float ``(T + 1, X)``."""

    attacker: np.ndarray
    defender: np.ndarray


def q_values(game: SequentialGame, turn: int, w_next: np.ndarray, role: Role) -> np.ndarray:
    """Q ``(X, A, D)`` of ``role`` at ``turn`` given its continuation ``w_next`` ``(X,)``.

    Q[x, a, d] = U[x, a, d] + refusal(d)·γ·W[t+1][x] (``sum``), or γ·W[t+1][x] in place of
    U after a refusal (``final``); at the last turn Q = U.
    """
    u = game.utility(role)
    if turn == game.turns - 1:
        return u
    w = game.discount * w_next[:, None, None]
    if game.accrual == "final":
        return np.where(game.refusal_mask[None, None, :], w, u)
    return u + game.refusal_mask[None, None, :] * w


def continuation(game: SequentialGame, profile: Profile) -> Continuation:
    """Continuation values W_A, W_D ``(T + 1, X)`` of ``profile`` (W[T] = 0)."""
    n_x = len(game.seeds)
    w = {r: np.zeros((game.turns + 1, n_x)) for r in Role}
    dfd = profile.defender_full(game)
    for t in range(game.turns - 1, -1, -1):
        for role in w:
            q = q_values(game, t, w[role][t + 1], role)
            v = np.einsum("xad,xad->xa", dfd[t], q)
            w[role][t] = np.einsum("xa,xa->x", profile.attacker[t], v)
    return Continuation(w[Role.ATTACKER], w[Role.DEFENDER])


def reach_probabilities(game: SequentialGame, profile: Profile) -> np.ndarray:
    """P(turn t is reached | seed x), float ``(T, X)``."""
    reach = np.ones((game.turns, len(game.seeds)))
    dfd = profile.defender_full(game)
    for t in range(game.turns - 1):
        joint = profile.attacker[t][:, :, None] * dfd[t]
        reach[t + 1] = reach[t] * joint[:, :, game.refusal_mask].sum(axis=(1, 2))
    return reach


def attack_posterior(
    game: SequentialGame, attacker: np.ndarray, reach: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The defender's belief P(seed | attack) under attack observation, at one turn.

    Bayes' rule on the path (weights prior · reach · π_A); at an attack no seed sends, the
    prior over the seeds allowed to send it.

    Args:
        game: the game.
        attacker: float ``(X, A)``, the attacker's policy at this turn.
        reach: float ``(X,)``, P(this turn is reached | seed); 1 when None.

    Returns:
        ``(belief, possible)``: float ``(X, A)`` columns summing to 1 (0 where impossible),
        and bool ``(A,)``, the attacks some seed may send.
    """
    w = game.prior[:, None] * attacker
    if reach is not None:
        w = w * reach[:, None]
    off = w.sum(axis=0) <= 1e-15
    w = np.where(off[None, :], game.prior[:, None] * game.allowed, w)
    total = w.sum(axis=0)
    belief = np.divide(w, total, out=np.zeros_like(w), where=total > 0)
    return belief, total > 0


def stage_values(game: SequentialGame, profile: Profile) -> tuple[float, float]:
    """``(attacker, defender)`` expected payoffs of a single-turn profile (turn 1 only)."""
    dfd = profile.defender_full(game)[0]
    joint = game.prior[:, None, None] * profile.attacker[0][:, :, None] * dfd
    return float((joint * game.u_attacker).sum()), float((joint * game.u_defender).sum())

"""Subgame-perfect Nash equilibrium by backward induction (MAGIC eq. 1–2).

At every turn, from the last to the first: the defender best-responds at *every* node
(seed, attack) — on and off the path — then the attacker best-responds to that at every
seed. Continuation values depend on (seed, turn) only, so a T-turn game costs T passes over
the ``(D, X, A)`` payoff tensors: dynamic programming over turns, never a materialised tree.

Tie-breaking among a defender's optimal responses (reported in full as tie sets):

* ``strong`` — in the attacker's favour (the first mover's, as in strong Stackelberg);
* ``weak`` — against the attacker.

Among the attacker's optimal attacks the first in the game's order is played; the tie
sets are reported too. Ties use the tolerance ``atol`` on payoffs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from seqgame.errors import SolverError
from seqgame.game import Observation, SequentialGame
from seqgame.metrics import q_values
from seqgame.profile import Profile

TieBreaking = Literal["strong", "weak"]


@dataclass(frozen=True)
class DefenderTie:
    """A defender node with several optimal responses."""

    turn: int
    seed: str
    attack: str
    responses: tuple[str, ...]


@dataclass(frozen=True)
class AttackerTie:
    """A seed at which several attacks are optimal for the attacker."""

    turn: int
    seed: str
    attacks: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class SPNEResult:
    """A subgame-perfect equilibrium and how it was selected.

    Attributes:
        concept: ``"spne"``.
        profile: the pure equilibrium profile (Markov).
        value_attacker, value_defender: equilibrium payoffs.
        tie_breaking: ``"strong"`` or ``"weak"``.
        continuation_attacker, continuation_defender: float ``(T + 1, X)`` continuation
            values W[t][x] (W[T] = 0).
        atol: tie tolerance used.
    """

    game: SequentialGame
    profile: Profile
    value_attacker: float
    value_defender: float
    tie_breaking: str
    continuation_attacker: np.ndarray
    continuation_defender: np.ndarray
    atol: float
    concept: str = "spne"

    def defender_ties(self) -> list[DefenderTie]:
        """Every defender node (allowed attacks only) with more than one optimal response."""
        g = self.game
        out = []
        for t in range(g.turns):
            q = q_values(g, t, self.continuation_defender[t + 1], "defender")
            opt = q >= q.max(axis=2, keepdims=True) - self.atol
            many = (opt.sum(axis=2) > 1) & g.allowed
            for x, a in zip(*np.nonzero(many), strict=True):
                resp = tuple(g.responses[d] for d in np.flatnonzero(opt[x, a]))
                out.append(DefenderTie(t, g.seed_ids[x], g.attacks[a], resp))
        return out

    def attacker_ties(self) -> list[AttackerTie]:
        """Every (turn, seed) at which more than one attack is optimal for the attacker."""
        g = self.game
        out = []
        for t in range(g.turns):
            q = q_values(g, t, self.continuation_attacker[t + 1], "attacker")
            v = np.einsum("xad,xad->xa", self.profile.defender[t], q)
            v = np.where(g.allowed, v, -np.inf)
            opt = (v >= v.max(axis=1, keepdims=True) - self.atol) & g.allowed
            for x in np.flatnonzero(opt.sum(axis=1) > 1):
                out.append(
                    AttackerTie(t, g.seed_ids[x], tuple(g.attacks[a] for a in np.flatnonzero(opt[x])))
                )
        return out


def spne(
    game: SequentialGame, tie_breaking: TieBreaking = "strong", atol: float = 1e-9
) -> SPNEResult:
    """Solve ``game`` for a pure SPNE by backward induction.

    Args:
        game: a game with ``full`` observation.
        tie_breaking: ``"strong"`` (defender ties favour the attacker) or ``"weak"``.
        atol: absolute payoff tolerance for ties.

    Returns:
        An :class:`SPNEResult`; its tie sets list every other equilibrium choice.

    Raises:
        SolverError: hidden-seed game (use ``pbe`` or ``stackelberg``), bad tie-breaking.
    """
    if game.observation is not Observation.FULL:
        raise SolverError(
            f"game {game.name!r} hides the seed from the defender (observation: attack), so it "
            "has no proper subgames below the root: use concept 'pbe' (perfect Bayesian) or "
            "'stackelberg' instead of 'spne'"
        )
    if tie_breaking not in ("strong", "weak"):
        raise SolverError(f"tie_breaking = {tie_breaking!r}: use 'strong' or 'weak'")
    if not atol >= 0:
        raise SolverError(f"atol = {atol!r}: use a tolerance >= 0")
    u_a, u_d = game.by_response  # (D, X, A): reductions over D stream through memory
    n_d, n_x, n_a = u_d.shape
    turns = game.turns
    att_policy = np.zeros((turns, n_x, n_a))
    dfd_policy = np.zeros((turns, n_x, n_a, n_d))
    w_a = np.zeros((turns + 1, n_x))
    w_d = np.zeros((turns + 1, n_x))
    rows = np.arange(n_x)
    sign = 1.0 if tie_breaking == "strong" else -1.0
    for t in range(turns - 1, -1, -1):
        last = t == turns - 1
        final = game.accrual == "final"

        def shifted(u: np.ndarray, w: np.ndarray, d: int) -> np.ndarray:
            if last or not game.refusal_mask[d]:
                return u[d]
            if final:
                return np.broadcast_to(game.discount * w[:, None], (n_x, n_a))
            return u[d] + game.discount * w[:, None]

        best_d = None
        for d in range(n_d):
            qd = shifted(u_d, w_d[t + 1], d)
            best_d = qd.copy() if best_d is None else np.maximum(best_d, qd, out=best_d)
        chosen = np.zeros((n_x, n_a), dtype=np.intp)
        chosen_a = np.full((n_x, n_a), -sign * np.inf)
        chosen_d = np.zeros((n_x, n_a))
        threshold = best_d - atol
        for d in range(n_d):
            qd = shifted(u_d, w_d[t + 1], d)
            qa = shifted(u_a, w_a[t + 1], d)
            take = (qd >= threshold) & (sign * qa > sign * chosen_a + atol)
            np.copyto(chosen, d, where=take)
            np.copyto(chosen_a, qa, where=take)
            np.copyto(chosen_d, qd, where=take)
        values = np.where(game.allowed, chosen_a, -np.inf)
        best_attack = (values >= values.max(axis=1, keepdims=True) - atol).argmax(axis=1)
        att_policy[t, rows, best_attack] = 1.0
        np.put_along_axis(dfd_policy[t], chosen[:, :, None], 1.0, axis=2)
        w_a[t] = values[rows, best_attack]
        w_d[t] = chosen_d[rows, best_attack]
    profile = Profile.from_arrays(game, att_policy, dfd_policy)
    return SPNEResult(
        game=game,
        profile=profile,
        value_attacker=float(np.dot(game.prior, w_a[0])),
        value_defender=float(np.dot(game.prior, w_d[0])),
        tie_breaking=tie_breaking,
        continuation_attacker=w_a,
        continuation_defender=w_d,
        atol=atol,
    )

"""Frozen Markov policies given by probability tables (the tabular :class:`Policy`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgame.errors import InvalidConfigError
from seqgame.model.game import Role, SequentialGame
from seqgame.model.sampling import sample_rows


class TablePolicy:
    """A frozen Markov policy given by its probability table (a :class:`Policy`).

    Observations for :meth:`act` are int arrays of indices, the optional first column the
    turn (0 when absent): attacker ``(N,)`` seeds or ``(N, 2)`` ``[turn, seed]``; defender
    under full observation ``(N, 2)`` ``[seed, attack]`` or ``(N, 3)``; under attack
    observation ``(N,)`` attacks or ``(N, 2)`` ``[turn, attack]``.

    Args:
        role: the role.
        table: float ``(T, X, A)`` (attacker) or ``(T, X, A, D)`` / ``(T, A, D)`` (defender).
        exploration: ε — ``act`` samples from (1 − ε)·table + ε·uniform over the allowed
            actions (a trembling hand); :meth:`probabilities` returns the table itself.
        allowed: bool mask of the table's shape without T (uniform support for ε).
    """

    def __init__(self, role: Role, table: np.ndarray, exploration: float = 0.0,
                 allowed: np.ndarray | None = None) -> None:
        self._role = Role.parse(role)
        self._table = np.array(table, dtype=float)
        self._table.setflags(write=False)
        self.exploration = float(exploration)
        mask = np.ones(self._table.shape[1:], dtype=bool) if allowed is None else allowed
        self._allowed = np.broadcast_to(np.asarray(mask, dtype=bool), self._table.shape[1:])
        uniform = self._allowed / self._allowed.sum(axis=-1, keepdims=True)
        self._behaviour = (1.0 - self.exploration) * self._table + self.exploration * uniform

    @property
    def role(self) -> Role:
        """The role of this policy."""
        return self._role

    @property
    def table(self) -> np.ndarray:
        """The (read-only) probability table."""
        return self._table

    def act(self, observations: Any, rng: np.random.Generator) -> np.ndarray:
        """Sample one action index per observation row (see the class docstring)."""
        obs = np.asarray(observations, dtype=np.intp)
        node_dims = self._table.ndim - 2  # index columns besides the turn
        if obs.ndim == 1 and node_dims == 1:
            obs = obs[:, None]
        if obs.ndim != 2 or obs.shape[1] not in (node_dims, node_dims + 1):
            raise InvalidConfigError(
                f"{self._role.value} observations have shape {obs.shape}: expected (N, "
                f"{node_dims}) indices, optionally with a leading turn column"
            )
        turn = obs[:, 0] if obs.shape[1] == node_dims + 1 else np.zeros(len(obs), dtype=np.intp)
        idx = tuple(obs[:, i] for i in range(obs.shape[1] - node_dims, obs.shape[1]))
        return sample_rows(self._behaviour[(turn, *idx)], rng)

    def snapshot(self) -> TablePolicy:
        """Itself: a table policy is already frozen."""
        return self

    def probabilities(self, game: SequentialGame) -> np.ndarray:
        """Return the table (its shape must match ``game``'s)."""
        del game
        return self._table


def fixed_attack_policy(game: SequentialGame, attack: str) -> TablePolicy:
    """Build the attacker that always sends ``attack`` (else a seed's first allowed one)."""
    n_x, n_a, _ = game.shape
    a = game.attack_index(attack)
    table = np.zeros((game.turns, n_x, n_a))
    for x in range(n_x):
        table[:, x, a if game.allowed[x, a] else int(np.argmax(game.allowed[x]))] = 1.0
    return TablePolicy(Role.ATTACKER, table)


def attacker_mix(game: SequentialGame, attacker: np.ndarray) -> np.ndarray:
    """P(attack) at turn 1 over harmful seeds (all seeds if none), float ``(A,)``."""
    w = game.prior * (game.harmful if game.harmful.any() else 1.0)
    return np.einsum("x,xa->a", w / w.sum(), attacker[0])

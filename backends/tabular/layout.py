"""Decision nodes of one role in a game, flattened to a ``(S, K)`` table.

States ``S`` enumerate the role's decision nodes over all turns; actions ``K`` its moves:

* attacker: ``S = T·X`` (turn, seed), ``K = A``; the mask is the game's ``allowed``;
* defender, full observation: ``S = T·X·A``, ``K = D``;
* defender, attack observation: ``S = T·A``, ``K = D``.

:meth:`Layout.table` reshapes an ``(S, K)`` array to the role's Markov table shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.model.game import Observation, Role, SequentialGame


@dataclass(frozen=True, eq=False)
class Layout:
    """The flattened decision nodes of ``role`` in ``game`` (see module docstring)."""

    game: SequentialGame
    role: Role

    @property
    def node_shape(self) -> tuple[int, ...]:
        """Shape of one turn's nodes: ``(X,)``, ``(X, A)`` or ``(A,)``."""
        n_x, n_a, _ = self.game.shape
        if self.role is Role.ATTACKER:
            return (n_x,)
        return (n_x, n_a) if self.game.observation is Observation.FULL else (n_a,)

    @property
    def n_actions(self) -> int:
        """K."""
        n_x, n_a, n_d = self.game.shape
        return n_a if self.role is Role.ATTACKER else n_d

    @property
    def n_states(self) -> int:
        """S."""
        return self.game.turns * int(np.prod(self.node_shape))

    @property
    def mask(self) -> np.ndarray:
        """Bool ``(S, K)``: legal actions."""
        if self.role is Role.ATTACKER:
            return np.tile(self.game.allowed, (self.game.turns, 1))
        return np.ones((self.n_states, self.n_actions), dtype=bool)

    def table(self, flat: np.ndarray) -> np.ndarray:
        """``(S, K)`` → ``(T, *node_shape, K)``."""
        return np.asarray(flat).reshape(self.game.turns, *self.node_shape, self.n_actions)

    def flat(self, table: np.ndarray) -> np.ndarray:
        """``(T, *node_shape, K)`` → ``(S, K)``."""
        return np.asarray(table).reshape(self.n_states, self.n_actions)

    def defender_state(self, seeds: np.ndarray, attacks: np.ndarray) -> np.ndarray:
        """Turn-1 defender state indices for (seed, attack) index arrays."""
        if self.game.observation is Observation.FULL:
            return seeds * self.game.shape[1] + attacks
        return np.asarray(attacks)


def masked_softmax(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Row-wise softmax of ``logits`` ``(S, K)`` over the ``mask``'s legal actions."""
    z = np.where(mask, logits, -np.inf)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)

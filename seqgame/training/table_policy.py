"""Frozen Markov policies given by probability tables, and the reach-weighted time average."""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgame.analysis.values import reach_probabilities
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.profile import Profile
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


def average_weights(game: SequentialGame, attacker: np.ndarray,
                    defender: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weights of one iterate's tables in the time average (see :class:`TimeAverage`).

    Args:
        game: the game.
        attacker: float ``(T, X, A)``, the iterate's attacker table.
        defender: float ``(T, X, A, D)`` or ``(T, A, D)``, the iterate's defender table.

    Returns:
        ``(w_attacker, w_defender)``: float ``(T, X)`` and float ``(T, X, A)`` (full
        observation) or ``(T, A)`` (attack observation). Both are 1 when T = 1.
    """
    reach = reach_probabilities(game, Profile.trusted(np.array(attacker), np.array(defender)))
    n_a = len(game.attacks)
    if game.observation is Observation.FULL:
        return reach, np.repeat(reach[:, :, None], n_a, axis=2)
    # hidden seed: the mean of reach over the seeds that send a at turn t, by prior · π_A
    send = game.prior[None, :, None] * attacker  # (T, X, A)
    off = send.sum(axis=1, keepdims=True) <= 1e-15
    send = np.where(off, (game.prior[:, None] * game.allowed)[None], send)
    w_def = np.einsum("txa,tx->ta", send, reach) / send.sum(axis=1)
    return reach, w_def


class TimeAverage:
    """Running average of Markov profile tables, weighted by reach (CFR's average policy).

    Every iterate k adds its tables with weight w_k at each decision node (see
    :func:`average_weights`): the probability, under the iterate's own profile, that the
    node's turn t is reached given the seed, P_k(turn t | x) — the product of the refusal
    probabilities of turns < t. The attacker never ends an episode, so its own actions
    reach every turn with probability 1 summed over its histories; whether turn t exists
    is decided by refusals, and a Markov table lumps those histories, so the weight of
    table row (t, x) is the iterate's occupancy of (t, x). Under full observation, when
    the opponent is the same at every iterate (``attacker_only``, ``defender_only``), the
    average then has the occupancy measure of the uniform mixture of the iterates, hence its
    payoffs (a mixture of policies in a Markov decision problem; tested by brute force).
    When both roles change, no Markov table is realisation-equivalent to the mixture in
    general (T > 1), and these weights are the natural projection. Under attack
    observation the defender's row (t, a) lumps seeds; its weight averages P_k(turn t | x)
    over the seeds sending a at t (prior · π_A), which is exact at T = 1 but only an
    approximation for T > 1 (a memoryless policy cannot track the seed posterior). For
    T = 1 all weights are 1: the uniform mean of the iterates. A node never reached keeps
    the uniform mean.
    """

    def __init__(self, game: SequentialGame) -> None:
        self.game = game
        self.count = 0
        self.sums: dict[str, np.ndarray] = {}

    def add(self, attacker: np.ndarray, defender: np.ndarray) -> None:
        """Add one iterate's tables (shapes as in :func:`average_weights`)."""
        w_att, w_def = average_weights(self.game, attacker, defender)
        parts = {"attacker": attacker * w_att[..., None], "attacker_weight": w_att,
                 "attacker_uniform": attacker, "defender": defender * w_def[..., None],
                 "defender_weight": w_def, "defender_uniform": defender}
        for key, value in parts.items():
            self.sums[key] = self.sums.get(key, 0.0) + np.asarray(value, dtype=float)
        self.count += 1

    def tables(self) -> tuple[np.ndarray, np.ndarray]:
        """The averaged ``(attacker, defender)`` tables (needs one :meth:`add`)."""
        if self.count == 0:
            raise InvalidConfigError("the time average has no iterate yet: add() one first")
        out = []
        for role in ("attacker", "defender"):
            num, den = self.sums[role], self.sums[f"{role}_weight"][..., None]
            uniform = self.sums[f"{role}_uniform"] / self.count
            out.append(np.where(den > 1e-300, num / np.where(den > 1e-300, den, 1.0), uniform))
        return out[0], out[1]

    def state(self) -> dict[str, Any]:
        """The accumulators, for a checkpoint."""
        return {"count": self.count, "sums": {k: v.copy() for k, v in self.sums.items()}}

    def load(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state`'s output."""
        self.count = int(state["count"])
        self.sums = {k: np.array(v, dtype=float) for k, v in state["sums"].items()}

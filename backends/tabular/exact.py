"""Exact full-information learners, for comparison with GRPO.

* :class:`BestResponseLearner` — each step plays an exact best response to the frozen
  opponent (alternating best response cycles on some games; docs/theory.md).
* :class:`FictitiousPlayLearner` — best response to the running average of every
  opponent table it has trained against (Brown 1951; averages converge at ≈ t^-1/2 in
  zero-sum games).
* :class:`MultiplicativeWeightsLearner` — Hedge on counterfactual action values at every
  decision node, off path included (logits += η·Q); ``optimistic`` uses 2Q_t − Q_{t−1}.

Defender values at a node are Q[t, x, a, d] = U_D + refusal(d)·W_D[t + 1] with the
continuation under the current profile; under attack observation (single turn only) they
are averaged over the attacker's posterior at the attack (the prior over the seeds allowed
to send it where the attack is off path).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgame.analysis.values import attack_posterior, continuation, q_values
from seqgame.backends.tabular.layout import Layout, masked_softmax
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.profile import Profile
from seqgame.training.protocols import Policy
from seqgame.training.table_policy import TablePolicy


def _check_game(game: SequentialGame) -> None:
    if game.observation is Observation.ATTACK and game.turns > 1:
        raise InvalidConfigError(
            f"exact tabular learners handle hidden-seed games with one turn; {game.name!r} "
            f"has {game.turns}"
        )


def action_values(game: SequentialGame, role: Role, own: np.ndarray,
                  opponent: np.ndarray) -> np.ndarray:
    """Counterfactual action values of ``role`` at every node, float ``(S, K)``.

    Args:
        game: the game.
        role: whose values.
        own: Markov table of ``role``.
        opponent: Markov table of the other role.
    """
    att, dfd = (own, opponent) if role is Role.ATTACKER else (opponent, own)
    profile = Profile.from_arrays(game, att, dfd)
    cont = continuation(game, profile)
    layout = Layout(game, role)
    full_dfd = profile.defender_full(game)
    out = []
    for t in range(game.turns):
        if role is Role.ATTACKER:
            q = q_values(game, t, cont.attacker[t + 1], Role.ATTACKER)
            out.append(np.einsum("xad,xad->xa", full_dfd[t], q))
        else:
            q = q_values(game, t, cont.defender[t + 1], Role.DEFENDER)
            if game.observation is Observation.FULL:
                out.append(q)
            else:
                belief, _ = attack_posterior(game, profile.attacker[t])
                out.append(np.einsum("xa,xad->ad", belief, q))
    return layout.flat(np.stack(out))


def best_response_table(game: SequentialGame, role: Role, opponent: np.ndarray) -> np.ndarray:
    """Compute a pure best response of ``role`` to the ``opponent`` table (``role``'s shape).

    The defender's is sequentially rational at every node (computed from the last turn
    back); ties go to the first action.
    """
    layout = Layout(game, role)
    mask = layout.mask
    own = layout.table(mask / mask.sum(axis=1, keepdims=True))
    # Backward over turns: the turn-t best response depends on later turns' choices only.
    for t in range(game.turns - 1, -1, -1):
        q = layout.table(np.where(mask, action_values(game, role, own, opponent), -np.inf))
        best = q[t].argmax(axis=-1)
        own = own.copy()
        own[t] = np.eye(layout.n_actions)[best]
    return own


class _ExactBase:
    def __init__(self, game: SequentialGame, role: Role) -> None:
        _check_game(game)
        self.game = game
        self._role = Role.parse(role)
        self.layout = Layout(game, self._role)
        mask = self.layout.mask
        self.table = self.layout.table(mask / mask.sum(axis=1, keepdims=True))
        self.updates = 0

    @property
    def role(self) -> Role:
        """The role trained."""
        return self._role

    def policy(self) -> TablePolicy:
        """Return the current policy."""
        return TablePolicy(self._role, self.table)

    def state_dict(self) -> dict[str, Any]:
        """Everything that changes during training."""
        return {k: (v.copy() if isinstance(v, np.ndarray) else v)
                for k, v in self.__dict__.items() if k in self._state_keys}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        for key in self._state_keys:
            setattr(self, key, state[key])

    _state_keys: tuple[str, ...] = ("table", "updates")


class BestResponseLearner(_ExactBase):
    """Exact best response to the frozen opponent at every step."""

    def train_against(self, opponent: Policy, steps: int,
                      rng: np.random.Generator) -> list[dict[str, float]]:
        """Best-respond ``steps`` times (idempotent against a frozen opponent)."""
        del rng
        opp = opponent.probabilities(self.game)
        self.table = best_response_table(self.game, self._role, opp)
        self.updates += steps
        return [{"updates": float(self.updates)} for _ in range(steps)]


class FictitiousPlayLearner(_ExactBase):
    """Best response to the average of every opponent table seen (one per step)."""

    _state_keys = ("table", "updates", "opponent_sum")

    def __init__(self, game: SequentialGame, role: Role) -> None:
        super().__init__(game, role)
        self.opponent_sum: np.ndarray | None = None

    def train_against(self, opponent: Policy, steps: int,
                      rng: np.random.Generator) -> list[dict[str, float]]:
        """Add the opponent's table ``steps`` times to the average and best-respond."""
        del rng
        opp = np.asarray(opponent.probabilities(self.game), dtype=float)
        records = []
        for _ in range(steps):
            self.opponent_sum = opp.copy() if self.opponent_sum is None else (
                self.opponent_sum + opp)
            self.updates += 1
            self.table = best_response_table(self.game, self._role,
                                             self.opponent_sum / self.updates)
            records.append({"updates": float(self.updates)})
        return records


class MultiplicativeWeightsLearner(_ExactBase):
    """Hedge at every node: logits += η·Q (optimistic: η·(2Q_t − Q_{t−1}))."""

    _state_keys = ("table", "updates", "logits", "prev_q")

    def __init__(self, game: SequentialGame, role: Role, *, learning_rate: float = 0.1,
                 optimistic: bool = False) -> None:
        super().__init__(game, role)
        self.learning_rate = learning_rate
        self.optimistic = optimistic
        self.logits = np.zeros((self.layout.n_states, self.layout.n_actions))
        self.prev_q = np.zeros_like(self.logits)

    def train_against(self, opponent: Policy, steps: int,
                      rng: np.random.Generator) -> list[dict[str, float]]:
        """Run ``steps`` Hedge updates against the frozen ``opponent``."""
        del rng
        opp = opponent.probabilities(self.game)
        mask = self.layout.mask
        records = []
        for _ in range(steps):
            q = np.where(mask, action_values(self.game, self._role, self.table, opp), 0.0)
            step = 2.0 * q - self.prev_q if self.optimistic else q
            self.prev_q = q
            self.logits = self.logits + self.learning_rate * step
            self.table = self.layout.table(masked_softmax(self.logits, mask))
            self.updates += 1
            records.append({"value_mean": float(q[mask].mean())})
        return records

"""Single-agent Gymnasium views: one role learns, the other plays a frozen policy.

``single_agent(game, role, opponent)`` wraps :class:`~seqgame.envs.aec.SeqGameAEC`; each
``step`` is one move of the learning role, followed by the opponent's reply (and, for the
defender, the attacker's next move), so the learner sees exactly its AEC observations and
receives exactly its AEC rewards. This is the "train one role against a frozen opponent"
phase of the alternating scheme, for any Gymnasium RL library.

The opponent is one of:

* a Markov table in :class:`~seqgame.model.profile.Profile` shapes — attacker ``(X, A)`` or
  ``(T, X, A)``; defender ``(X, A, D)``/``(A, D)`` or with a leading ``T`` — validated by
  ``Profile.from_arrays`` (bad tables raise ``InvalidProfileError``);
* a :class:`seqgame.training.protocols.Policy` of the opponent role (its ``probabilities(game)``);
* a callable ``opponent(observation, rng) -> action`` taking the opponent's AEC
  observation and returning an action of its AEC action space.

In the judge-backed text mode (``text=True, judge=...``) a table or Policy opponent plays
the world's canonical text of the action it draws (the canonical rewrite of the attack,
the game's refuse / comply reply), and a callable opponent receives
``{"text": ..., "messages": [...]}`` (its rendered observation and chat messages) and
returns a string; the learner's infos carry its ``messages`` after every step.

All randomness (seed, outcomes, the opponent's draws) comes from ``reset(seed=...)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium
import numpy as np

from seqgame.envs.aec import (
    SeqGameAEC,
    TextParser,
    parse_attack,
    parse_response,
)
from seqgame.errors import EnvError, InvalidProfileError
from seqgame.model.game import Role, SequentialGame
from seqgame.model.profile import Profile
from seqgame.model.sampling import sample_index
from seqgame.training.protocols import Policy

#: A callable opponent: ``(its observation, rng) -> its action``.
OpponentFn = Callable[[Any, np.random.Generator], Any]


class _TableOpponent:
    """A frozen Markov table of one role, read from the environment's state."""

    def __init__(self, game: SequentialGame, role: Role, table: np.ndarray) -> None:
        n_x, n_a, n_d = game.shape
        uniform = Profile.uniform(game)
        if role is Role.ATTACKER:
            self.table = Profile.from_arrays(game, table, uniform.defender).attacker
        else:
            self.table = Profile.from_arrays(game, uniform.attacker, table).defender
        self.role = role
        self.full = not game.hidden_seed

    def index(self, aec: SeqGameAEC, rng: np.random.Generator) -> int:
        t = aec._turn
        if self.role is Role.ATTACKER:
            return int(sample_index(self.table[t, aec._x], rng))
        # Under attack observation the table has no seed axis: the seed is never read.
        row = self.table[t, aec._x, aec._pending] if self.full else self.table[t, aec._pending]
        return int(sample_index(row, rng))


class SingleAgentEnv(gymnasium.Env):
    """Gymnasium environment in which ``role`` plays the frozen ``opponent``.

    Args:
        game: the game.
        role: the learning role (``"attacker"``/``"defender"`` or a :class:`Role`).
        opponent: the other role's frozen policy (see the module docstring).
        text: text observations and string actions (``gymnasium.spaces.Text``).
        max_action_length: longest action string (text mode).
        attack_parser: text → attack index (text mode).
        response_parser: text → response index (text mode).
        render_mode: ``None`` or ``"ansi"``.
        illegal_action: ``"raise"`` (default): an action the game forbids raises
            :class:`EnvError`. ``"penalize"``: an action inside the action space that the
            game forbids (an attack the seed may not use, unparseable text) ends the
            episode with ``illegal_reward`` and ``info["illegal_action"] = True`` — for RL
            libraries that sample the whole action space without the action mask.
            Actions outside the action space always raise.
        illegal_reward: reward of a penalised illegal action (default: the role's lowest
            per-turn payoff minus 1).
        judge: judge-backed text mode (see :class:`~seqgame.envs.aec.SeqGameAEC`).

    Raises:
        InvalidProfileError: an opponent table that is not a valid policy of its role.
        EnvError: an opponent of the wrong kind or role.
    """

    metadata = {"render_modes": ["ansi"]}

    def __init__(
        self,
        game: SequentialGame,
        role: Role | str,
        opponent: np.ndarray | Policy | OpponentFn,
        *,
        text: bool = False,
        max_action_length: int = 1024,
        attack_parser: TextParser = parse_attack,
        response_parser: TextParser = parse_response,
        render_mode: str | None = None,
        illegal_action: str = "raise",
        illegal_reward: float | None = None,
        judge: Any = None,
    ) -> None:
        self.role = Role.parse(role)
        self.game = game
        self._aec = SeqGameAEC(game, text=text, max_action_length=max_action_length,
                               attack_parser=attack_parser, response_parser=response_parser,
                               render_mode=render_mode, judge=judge)
        self.render_mode = render_mode
        self._me = self.role.value
        self._other = self.role.opponent.value
        self.observation_space = self._aec.observation_space(self._me)
        self.action_space = self._aec.action_space(self._me)
        self._table, self._fn = _opponent(game, self.role.opponent, opponent)
        if illegal_action not in ("raise", "penalize"):
            raise EnvError(f"illegal_action = {illegal_action!r}: use 'raise' or 'penalize'")
        self._illegal = illegal_action
        u_me = game.utility(self.role)
        self._illegal_reward = (float(u_me.min()) - 1.0 if illegal_reward is None
                                else float(illegal_reward))
        self._done = True
        self._started = False

    def reset(
        self, *, seed: int | None = None, options: dict | None = None
    ) -> tuple[Any, dict]:
        """Start an episode; the defender's first observation follows the attacker's move."""
        super().reset(seed=seed)
        self._aec._start(self.np_random)
        self._started = True
        self._done = False
        reward = self._opponent_moves()
        assert reward == 0.0  # the defender's episode cannot end before it has answered
        return self._aec.observe(self._me), self._messages()

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict]:
        """One move of the learning role and the opponent's replies."""
        if not self._started:
            raise EnvError("step() before reset(): call reset(seed=...) first")
        if self._done:
            raise EnvError(f"the {self._me}'s episode is over: call reset()")
        aec = self._aec
        if self._illegal == "penalize" and self.action_space.contains(action):
            try:
                aec.step(action)
            except EnvError as exc:  # in the space, but the game forbids it here
                self._done = True
                info = {"illegal_action": True, "reason": str(exc)}
                return aec.observe(self._me), self._illegal_reward, True, False, info
        else:
            aec.step(action)
        reward = float(aec.rewards[self._me])
        reward += self._opponent_moves()
        self._done = aec.terminations[self._me]
        info = dict(aec.infos[self._me]) if self._done else self._messages()
        return aec.observe(self._me), reward, self._done, False, info

    def _messages(self) -> dict[str, Any]:
        """The learner's chat messages (judge-backed text mode), else nothing."""
        if self._aec._episodes is None:
            return {}
        return {"messages": list(self._aec._episodes.observe(0, self._me).messages)}

    def _opponent_moves(self) -> float:
        """Let the opponent act while it is its move; return the learner's rewards meanwhile."""
        aec = self._aec
        reward = 0.0
        episodes, table, fn = aec._episodes, self._table, self._fn
        while aec.agent_selection == self._other and not aec.terminations[self._other]:
            if table is not None and episodes is not None:
                index = table.index(aec, self.np_random)
                aec.step(episodes.world.canonical_action(self._other, aec._x, index))
            elif table is not None:
                aec._apply(self._other, self._opponent_index(table))
            elif episodes is not None and fn is not None:
                seen = episodes.observe(0, self._other)
                obs = {"text": seen.text, "messages": list(seen.messages)}
                aec.step(fn(obs, self.np_random))
            elif fn is not None:
                aec.step(fn(aec.observe(self._other), self.np_random))
            reward += float(aec.rewards[self._me])
        return reward

    def _opponent_index(self, table: _TableOpponent) -> int:
        index = table.index(self._aec, self.np_random)
        if table.role is Role.ATTACKER:
            self._aec._check_allowed(index)
        return index

    def render(self) -> str | None:
        """See :meth:`SeqGameAEC.render`."""
        return self._aec.render()


def _opponent(
    game: SequentialGame, role: Role, opponent: Any
) -> tuple[_TableOpponent | None, OpponentFn | None]:
    if isinstance(opponent, Policy):
        if opponent.role is not role:
            raise EnvError(f"opponent policy plays {opponent.role.value}, expected {role.value}")
        return _TableOpponent(game, role, np.asarray(opponent.probabilities(game))), None
    if callable(opponent):
        return None, opponent
    try:
        table = np.asarray(opponent, dtype=float)
    except (TypeError, ValueError):
        raise EnvError(
            f"opponent must be a policy table, a seqgame Policy or a callable "
            f"(observation, rng) -> action; got {type(opponent).__name__}"
        ) from None
    if table.ndim == 0:
        raise InvalidProfileError(f"opponent table is a scalar; expected a {role.value} table")
    return _TableOpponent(game, role, table), None


#: Build a Gymnasium environment in which one role plays a frozen opponent (the class).
single_agent = SingleAgentEnv

"""PettingZoo AEC view of a :class:`~seqgame.model.game.SequentialGame`.

Agents ``"attacker"`` and ``"defender"`` alternate attacker → defender once per turn. The
seed is drawn from the game's prior at ``reset``; after a refusal at turn t < T the
attacker acts again, otherwise the episode ends. The environment computes no payoff of
its own: each answer's reward is :func:`seqgame.model.rollout.realized_rewards` of the game,
scaled by ``discount**t`` (t counted from 0) and credited by the game's ``accrual`` —
``sum``: every turn's reward when the defender answers; ``final``: only the reward of the
turn that ends the episode, at the end. The per-step rewards of an episode therefore sum
to the episode return of :func:`seqgame.model.rollout.rollout`.

Observations (toy mode, ``text=False``) are ``Dict`` spaces of integers:

* attacker: ``seed`` (index), ``turn`` (0-based), ``history`` (attacks of earlier turns,
  ``A`` where not played yet), ``action_mask`` (int8 ``(A,)``, the seed's allowed attacks);
* defender: ``seed`` (full observation only), ``attack`` (the attack to answer, ``A``
  before the attacker has moved), ``turn``, ``history``, ``action_mask`` (all ones).

In text mode (``text=True``) an observation is ``{"text": str}`` (a ``Dict`` holding one
``gymnasium.spaces.Text`` over ``string.printable``), rendered from the game (seed
``text``, else its id, and attack names); actions are ``Text`` strings mapped to indices
by pluggable parsers (:func:`parse_attack`, :func:`parse_response` by default).

With a judge (``text=True, judge=...``) the text mode is judge-backed
(:mod:`seqgame.envs.textmode`): actions are raw completions and replies, observations the
LLM backend's prompts (rendered; the messages are in ``infos[agent]["messages"]``), and
rewards the game's payoffs of the judge's labels; the end-of-episode infos add the
judge's per-turn fields.

Illegal use raises :class:`seqgame.errors.EnvError` (never PettingZoo's silent handling):
an action out of range or not allowed for the seed, an unparseable text, a non-``None``
action from an agent that is already terminated, and stepping before ``reset`` or after
the episode is over.

Information: the defender's observation under ``attack`` observation never contains the
seed. ``infos`` are empty during an episode; when it ends both agents' infos carry the
labels for metrics (``harmful``, per-turn ``refused`` and ``unsafe``, ``turns_played``,
``attacks``, ``responses``, the agent's ``episode_return``); the seed id is added to the
attacker's info always and to the defender's only under full observation.
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import AECEnv
from pettingzoo.utils.wrappers import OrderEnforcingWrapper

from seqgame.errors import EnvError
from seqgame.model.game import Observation, SequentialGame
from seqgame.model.rollout import realized_rewards
from seqgame.model.sampling import sample_index

from .textmode import TextEpisodes, load_world

ATTACKER = "attacker"
DEFENDER = "defender"
AGENTS = (ATTACKER, DEFENDER)
PRINTABLE = string.printable

#: A text parser maps an action string to a game index (raise EnvError when it cannot).
TextParser = Callable[[str, SequentialGame], int]


def parse_attack(text: str, game: SequentialGame) -> int:
    """Default attack parser: the attack whose name equals ``text`` (whitespace stripped).

    A string naming no attack counts as the game's first malformed attack (it earns the
    format penalty) when the game has one; otherwise it raises :class:`EnvError`.
    """
    name = text.strip()
    if name in game.attacks:
        return game.attacks.index(name)
    malformed = np.flatnonzero(game.malformed_mask)
    if malformed.size:
        return int(malformed[0])
    raise EnvError(
        f"attack text {text[:60]!r} names no attack of {game.name!r} and the game has no "
        f"malformed attack to map it to; send one of {list(game.attacks)[:12]} or pass an "
        "attack_parser"
    )


def parse_response(text: str, game: SequentialGame) -> int:
    """Default response parser: the response whose name equals ``text`` (stripped)."""
    name = text.strip()
    if name in game.responses:
        return game.responses.index(name)
    raise EnvError(
        f"response text {text[:60]!r} names no response of {game.name!r}; send one of "
        f"{list(game.responses)} or pass a response_parser"
    )


def _printable(text: str) -> str:
    # Text spaces only contain charset characters; anything else becomes '?'.
    return "".join(c if c in PRINTABLE else "?" for c in text)


class SeqGameAEC(AECEnv):
    """Turn-based PettingZoo environment of a sequential game (see the module docstring).

    Args:
        game: the game (the only source of payoffs).
        text: render observations as text and take string actions.
        max_action_length: longest action string accepted in text mode.
        attack_parser: maps an attacker string to an attack index (text mode).
        response_parser: maps a defender string to a response index (text mode).
        render_mode: ``None`` or ``"ansi"`` (``render()`` returns a text summary).
        judge: judge-backed text mode (needs ``text=True``): a judge object, a judge
            config mapping such as ``{"kind": "rule"}``, or a text world; None keeps the
            parsers and the game's outcome table.
    """

    metadata = {"name": "seqgame_v1", "render_modes": ["ansi"], "is_parallelizable": False}

    def __init__(
        self,
        game: SequentialGame,
        *,
        text: bool = False,
        max_action_length: int = 1024,
        attack_parser: TextParser = parse_attack,
        response_parser: TextParser = parse_response,
        render_mode: str | None = None,
        judge: Any = None,
    ) -> None:
        super().__init__()
        if not isinstance(game, SequentialGame):
            raise EnvError(f"game must be a SequentialGame, got {type(game).__name__}")
        if render_mode not in (None, "ansi"):
            raise EnvError(f"render_mode = {render_mode!r}: use None or 'ansi'")
        if isinstance(max_action_length, bool) or not isinstance(max_action_length, int) \
                or max_action_length < 1:
            raise EnvError(f"max_action_length = {max_action_length!r}: use an integer >= 1")
        self.game = game
        self.text = bool(text)
        if judge is not None and not self.text:
            raise EnvError("judge= needs text=True (the judge labels texts)")
        self._episodes = None if judge is None else \
            TextEpisodes(game, load_world(game, judge, max_action_length))
        self.render_mode = render_mode
        self.attack_parser = attack_parser
        self.response_parser = response_parser
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []
        n_d = len(game.responses)
        self._full = game.observation is Observation.FULL
        self._disc = game.discount ** np.arange(game.turns)
        self._allowed_mask = game.allowed.astype(np.int8)
        self._defender_mask = np.ones(n_d, dtype=np.int8)
        self._seed_text = [_printable(s.text if s.text else s.id) for s in game.seeds]
        self._observation_spaces, self._action_spaces = self._build_spaces(max_action_length)
        self._rng: np.random.Generator | None = None
        self._started = False

    # ------------------------------------------------------------------ spaces
    def _build_spaces(self, max_action_length: int) -> tuple[dict, dict]:
        n_x, n_a, n_d = self.game.shape
        t_max = self.game.turns
        if self.text:
            longest = max(len(a) for a in self.game.attacks)
            bound = (max(len(s) for s in self._seed_text) + 64
                     + t_max * (longest + 2) + longest + 16)
            if self._episodes is not None:
                bound = self._episodes.world.observation_length
            # A one-entry Dict rather than a bare Text: PettingZoo's api_test compares the
            # dtype of non-Dict observations, which a str does not have.
            obs = {a: spaces.Dict({"text": spaces.Text(bound, min_length=1, charset=PRINTABLE)})
                   for a in AGENTS}
            act = {a: spaces.Text(max_action_length, min_length=0, charset=PRINTABLE)
                   for a in AGENTS}
            return obs, act
        history = spaces.MultiDiscrete(np.full(t_max, n_a + 1))
        att = {"seed": spaces.Discrete(n_x), "turn": spaces.Discrete(t_max),
               "history": history, "action_mask": spaces.MultiBinary(n_a)}
        dfd = {"attack": spaces.Discrete(n_a + 1), "turn": spaces.Discrete(t_max),
               "history": history, "action_mask": spaces.MultiBinary(n_d)}
        if self._full:
            dfd = {"seed": spaces.Discrete(n_x), **dfd}
        obs = {ATTACKER: spaces.Dict(att), DEFENDER: spaces.Dict(dfd)}
        discrete: dict[str, spaces.Space] = {ATTACKER: spaces.Discrete(n_a),
                                             DEFENDER: spaces.Discrete(n_d)}
        return obs, discrete

    def observation_space(self, agent: str) -> spaces.Space:
        """Return the (cached) observation space of ``agent``."""
        return self._observation_spaces[self._check_agent(agent)]

    def action_space(self, agent: str) -> spaces.Space:
        """Return the (cached) action space of ``agent``."""
        return self._action_spaces[self._check_agent(agent)]

    @staticmethod
    def _check_agent(agent: str) -> str:
        if agent not in AGENTS:
            raise EnvError(f"unknown agent {agent!r}: use 'attacker' or 'defender'")
        return agent

    # ------------------------------------------------------------------ episode
    def reset(self, seed: int | None = None, options: dict | None = None) -> None:
        """Start an episode; ``seed`` (re)seeds the environment's only random generator."""
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        self._start(self._rng)

    def _start(self, rng: np.random.Generator) -> None:
        """Start an episode drawing from ``rng`` (single-agent views share theirs)."""
        self._rng = rng
        self._started = True
        self._x = int(sample_index(self.game.prior, rng))
        self._turn = 0
        self._pending: int | None = None
        self._attacks: list[int] = []
        self._responses: list[int] = []
        self._unsafe: list[bool] = []
        self._returns = {a: 0.0 for a in AGENTS}
        self.agents = list(AGENTS)
        self.rewards = {a: 0.0 for a in AGENTS}
        self._cumulative_rewards = {a: 0.0 for a in AGENTS}
        self.terminations = {a: False for a in AGENTS}
        self.truncations = {a: False for a in AGENTS}
        self.infos: dict[str, dict[str, Any]] = {a: {} for a in AGENTS}
        self.agent_selection = ATTACKER
        self._skip_agent_selection = None
        if self._episodes is not None:
            self._episodes.start([self._x])
            self._note_messages()

    def step(self, action: Any) -> None:
        """Apply the selected agent's action (``None`` only for a terminated agent)."""
        if not self._started:
            raise EnvError("step() before reset(): call reset(seed=...) first")
        if not self.agents:
            raise EnvError("the episode is over (every agent is done): call reset()")
        agent = self.agent_selection
        if self.terminations[agent] or self.truncations[agent]:
            if action is not None:
                raise EnvError(
                    f"{agent} acted with {action!r} after the episode ended: a terminated "
                    "agent may only step(None) (then call reset())"
                )
            self._was_dead_step(action)
            return
        if action is None:
            raise EnvError(f"{agent} must act: step(None) is only for terminated agents")
        if self._episodes is not None:
            self._apply_text(agent, self._action_text(agent, action))
            return
        index = self._attack_index(action) if agent == ATTACKER else self._response_index(action)
        self._apply(agent, index)

    def _apply(self, agent: str, index: int) -> None:
        """Play a validated action index of ``agent`` (the agent to move)."""
        self._cumulative_rewards[agent] = 0.0
        self._clear_rewards()
        if agent == ATTACKER:
            self._pending = index
            self.agent_selection = DEFENDER
        else:
            self._answer(index)
        self._accumulate_rewards()

    def _apply_text(self, agent: str, text: str) -> None:
        """Play a raw text in judge-backed mode (the judge labels the defender's reply)."""
        episodes = self._episodes
        assert episodes is not None
        self._cumulative_rewards[agent] = 0.0
        self._clear_rewards()
        step = episodes.step([text])
        turn = step.judged[0]
        if turn is None:
            self._pending = episodes.world.classify(text)
            self.agent_selection = DEFENDER
        else:
            self._attacks.append(turn.attack)
            self._responses.append(turn.response)
            self._unsafe.append(turn.unsafe)
            self.rewards = {ATTACKER: float(step.rewards_attacker[0]),
                            DEFENDER: float(step.rewards_defender[0])}
            for a in AGENTS:
                self._returns[a] += self.rewards[a]
            self._pending = None
            self.agent_selection = ATTACKER
            if step.done[0]:
                self.terminations = {a: True for a in AGENTS}
                self.infos = {a: {**self._final_info(a), **episodes.judge_info(0)}
                              for a in AGENTS}
            else:
                self._turn += 1
        self._note_messages()
        self._accumulate_rewards()

    def _note_messages(self) -> None:
        """Put each agent's current chat messages into its infos (judge-backed mode)."""
        assert self._episodes is not None
        for a in AGENTS:
            self.infos[a]["messages"] = list(self._episodes.observe(0, a).messages)

    def _answer(self, d: int) -> None:
        game, rng, t, x, a = self.game, self._rng, self._turn, self._x, self._pending
        assert rng is not None and a is not None  # reset() ran and the attacker moved
        bad = bool(rng.random() < game.unsafe[x, a, d])
        r_a, r_d = realized_rewards(game, np.array([x]), np.array([a]), np.array([d]),
                                    np.array([bad]))
        self._attacks.append(a)
        self._responses.append(d)
        self._unsafe.append(bad)
        ends = (not game.refusal_mask[d]) or t == game.turns - 1
        if game.accrual == "sum" or ends:
            scale = self._disc[t]
            self.rewards = {ATTACKER: float(r_a[0] * scale), DEFENDER: float(r_d[0] * scale)}
            for agent in AGENTS:
                self._returns[agent] += self.rewards[agent]
        if ends:
            self.terminations = {agent: True for agent in AGENTS}
            self.infos = {agent: self._final_info(agent) for agent in AGENTS}
        else:
            self._turn = t + 1
            self._pending = None
        self.agent_selection = ATTACKER

    def _final_info(self, agent: str) -> dict[str, Any]:
        game = self.game
        info: dict[str, Any] = {
            "harmful": bool(game.harmful[self._x]),
            "refused": tuple(bool(game.refusal_mask[d]) for d in self._responses),
            "unsafe": tuple(self._unsafe),
            "turns_played": len(self._responses),
            "attacks": tuple(game.attacks[a] for a in self._attacks),
            "responses": tuple(game.responses[d] for d in self._responses),
            "episode_return": self._returns[agent],
        }
        if agent == ATTACKER or self._full:
            info["seed"] = game.seed_ids[self._x]
        return info

    # ------------------------------------------------------------------ actions
    def _attack_index(self, action: Any) -> int:
        if self.text:
            a = self.attack_parser(self._action_text(ATTACKER, action), self.game)
            a = self._integer(ATTACKER, a, len(self.game.attacks), "attack_parser returned")
        else:
            a = self._integer(ATTACKER, action, len(self.game.attacks), "action")
        self._check_allowed(a)
        return a

    def _check_allowed(self, a: int) -> None:
        if not self.game.allowed[self._x, a]:
            raise EnvError(
                f"attack {self.game.attacks[a]!r} is not allowed for seed "
                f"{self.game.seed_ids[self._x]!r}: pick an attack with observation['action_mask'] "
                "1 "
                "(toy mode) or one the game's 'allowed' table permits"
            )

    def _response_index(self, action: Any) -> int:
        n_d = len(self.game.responses)
        if self.text:
            d = self.response_parser(self._action_text(DEFENDER, action), self.game)
            return self._integer(DEFENDER, d, n_d, "response_parser returned")
        return self._integer(DEFENDER, action, n_d, "action")

    def _action_text(self, agent: str, action: Any) -> str:
        if not isinstance(action, str):
            raise EnvError(f"{agent} action {action!r} must be a str in text mode")
        if not self._action_spaces[agent].contains(action):
            raise EnvError(
                f"{agent} action text of length {len(action)} is not in its Text space "
                f"(at most {self._action_spaces[agent].max_length} printable characters: "
                "raise max_action_length for longer texts)"
            )
        return action

    @staticmethod
    def _integer(agent: str, action: Any, n: int, what: str) -> int:
        value = np.asarray(action)
        if value.shape != () or value.dtype == bool or not np.issubdtype(value.dtype, np.integer):
            raise EnvError(f"{agent} {what} {action!r}: expected an integer index in [0, {n})")
        index = int(value)
        if not 0 <= index < n:
            raise EnvError(f"{agent} {what} {index} is out of range: use an index in [0, {n})")
        return index

    # ------------------------------------------------------------------ observations
    def observe(self, agent: str) -> Any:
        """Return the current observation of ``agent`` (valid any time after ``reset``)."""
        self._check_agent(agent)
        if not self._started:
            raise EnvError("observe() before reset(): call reset(seed=...) first")
        if self._episodes is not None:
            return {"text": self._episodes.observe(0, agent).text}
        if self.text:
            return {"text": self._observe_text(agent)}
        n_a = len(self.game.attacks)
        history = np.full(self.game.turns, n_a, dtype=np.int64)
        done = self._attacks[: self._turn]
        history[: len(done)] = done
        if agent == ATTACKER:
            return {"seed": np.int64(self._x), "turn": np.int64(self._turn),
                    "history": history, "action_mask": self._allowed_mask[self._x].copy()}
        pending = n_a if self._pending is None else self._pending
        obs = {"attack": np.int64(pending), "turn": np.int64(self._turn),
               "history": history, "action_mask": self._defender_mask.copy()}
        if self._full:
            obs = {"seed": np.int64(self._x), **obs}
        return obs

    def _observe_text(self, agent: str) -> str:
        game = self.game
        earlier = [game.attacks[a] for a in self._attacks[: self._turn]]
        lines = []
        if agent == ATTACKER or self._full:
            lines.append(f"seed: {self._seed_text[self._x]}")
        if agent == DEFENDER:
            pending = "(none yet)" if self._pending is None else game.attacks[self._pending]
            lines.append(f"attack: {pending}")
        lines.append(f"turn: {self._turn + 1}/{game.turns}")
        lines.append(f"earlier attacks: {', '.join(earlier) if earlier else '(none)'}")
        return "\n".join(lines)

    def render(self) -> str | None:
        """Return a one-line summary of the episode (``render_mode="ansi"``), else None."""
        if self.render_mode is None or not self._started:
            return None
        pairs = [f"{self.game.attacks[a]}->{self.game.responses[d]}"
                 for a, d in zip(self._attacks, self._responses, strict=True)]
        return (f"{self.game.name} seed={self.game.seed_ids[self._x]} turn={self._turn + 1} "
                f"[{', '.join(pairs)}]")

    def close(self) -> None:
        """Nothing to release."""


class _StrictOrder(OrderEnforcingWrapper):
    """PettingZoo's order enforcement, raising EnvError where it would only warn."""

    def step(self, action: Any) -> None:
        if not self._has_reset:
            raise EnvError("step() before reset(): call reset(seed=...) first")
        if not self.agents:
            raise EnvError("the episode is over (every agent is done): call reset()")
        super().step(action)


#: PettingZoo's ``raw_env``: the unwrapped AEC environment (same arguments as the class).
raw_env = SeqGameAEC


def env(
    game: SequentialGame,
    *,
    text: bool = False,
    max_action_length: int = 1024,
    attack_parser: TextParser = parse_attack,
    response_parser: TextParser = parse_response,
    render_mode: str | None = None,
    judge: Any = None,
) -> OrderEnforcingWrapper:
    """Build the AEC environment of ``game`` wrapped to enforce call order (PettingZoo's ``env``).

    Arguments as :class:`SeqGameAEC`. Stepping before ``reset`` or after every agent is
    done raises :class:`EnvError` (PettingZoo's own wrapper would only warn).
    """
    return _StrictOrder(raw_env(game, text=text, max_action_length=max_action_length,
                                attack_parser=attack_parser, response_parser=response_parser,
                                render_mode=render_mode, judge=judge))

"""Native PettingZoo parallel view of a sequential game, turn-based.

A sequential game is not simultaneous: the defender must see the attack before it
answers. So, following PettingZoo's turn-based convention
(``pettingzoo.utils.conversions.turn_based_aec_to_parallel``), one parallel ``step`` is one
move: only the action of the agent to move (``infos[agent]["active_agent"]``) is played,
the other agent's action is ignored. A step whose ``actions`` lack the mover's action, or
name an unknown or finished agent, raises :class:`seqgame.errors.EnvError`. Observations,
rewards and infos are those of :class:`~seqgame.envs.aec.SeqGameAEC`.
"""

from __future__ import annotations

from typing import Any

from pettingzoo import ParallelEnv

from seqgame.envs.aec import AGENTS, ATTACKER, SeqGameAEC, TextParser, parse_attack, parse_response
from seqgame.errors import EnvError
from seqgame.model.game import SequentialGame


class SeqGameParallel(ParallelEnv):
    """Turn-based parallel environment (arguments as :class:`SeqGameAEC`)."""

    metadata = {"name": "seqgame_v1", "render_modes": ["ansi"]}

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
        self._aec = SeqGameAEC(game, text=text, max_action_length=max_action_length,
                               attack_parser=attack_parser, response_parser=response_parser,
                               render_mode=render_mode, judge=judge)
        self.game = game
        self.render_mode = render_mode
        self.possible_agents = list(AGENTS)
        self.agents: list[str] = []

    def observation_space(self, agent: str) -> Any:
        """Return the (cached) observation space of ``agent``."""
        return self._aec.observation_space(agent)

    def action_space(self, agent: str) -> Any:
        """Return the (cached) action space of ``agent``."""
        return self._aec.action_space(agent)

    def reset(
        self, seed: int | None = None, options: dict | None = None
    ) -> tuple[dict[str, Any], dict[str, dict]]:
        """Start an episode; returns ``(observations, infos)`` for both agents."""
        self._aec.reset(seed=seed, options=options)
        self.agents = list(AGENTS)
        observations = {a: self._aec.observe(a) for a in self.agents}
        infos = {a: {**self._aec.infos[a], "active_agent": ATTACKER} for a in self.agents}
        return observations, infos

    def step(self, actions: dict[str, Any]) -> tuple[dict, dict, dict, dict, dict]:
        """Play the mover's action from ``actions``; see the module docstring."""
        if not self.agents:
            raise EnvError("the episode is over (or not started): call reset()")
        if not isinstance(actions, dict):
            raise EnvError(f"actions must be a dict agent -> action, got {type(actions).__name__}")
        unknown = sorted(set(actions) - set(self.agents))
        if unknown:
            raise EnvError(f"actions for {unknown}, who are not live agents {self.agents}")
        mover = self._aec.agent_selection
        if mover not in actions:
            raise EnvError(f"it is {mover!r}'s move: actions must contain {mover!r}")
        self._aec.step(actions[mover])
        aec = self._aec
        rewards = {a: aec.rewards[a] for a in self.agents}
        terminations = {a: aec.terminations[a] for a in self.agents}
        truncations = {a: aec.truncations[a] for a in self.agents}
        infos = {a: {**aec.infos[a], "active_agent": aec.agent_selection} for a in self.agents}
        observations = {a: aec.observe(a) for a in self.agents}
        if any(terminations.values()):
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        """See :meth:`SeqGameAEC.render`."""
        return self._aec.render()

    def close(self) -> None:
        """Nothing to release."""

    def state(self) -> Any:
        """Not provided: the global state contains the hidden seed."""
        raise NotImplementedError("SeqGameParallel has no global state() view")

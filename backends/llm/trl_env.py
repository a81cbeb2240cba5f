"""Train one role with plain TRL GRPO against a frozen opponent served by the text env.

:class:`EnvGRPO` plugs the judge-backed text environment (:mod:`seqgame.envs.textmode`)
into an unmodified ``trl.GRPOTrainer`` through the trainer's stable contract — a dataset
with a ``prompt`` column and a reward function (a plain callable) — rather than its
experimental hooks (TRL 1.16, read from its source):

* ``environment_factory`` needs a chat template that renders tool calls (the trainer
  checks ``supports_tool_calling`` and refuses otherwise), can only *append a string* to the
  last user message (a multi-turn history has assistant turns), and its ``get_reward``
  takes no argument, so it never sees the completion;
* ``rollout_func(prompts, trainer)`` must generate itself and return token ids and
  log-probabilities: it replaces TRL's generation (and its vLLM path) instead of reusing it.

How it works: :meth:`EnvGRPO.dataset` plays the frozen opponent in N text episodes up to
the learner's move and stores each episode's state; a row's ``prompt`` is the learner's
observation (the backend's chat messages) and its ``episode`` the state's id. TRL samples
G completions per row; :meth:`EnvGRPO.env_return` restores the G copies of each row's
state, plays the completions as the learner's move, lets the opponent (and, in multi-turn
games, ``continuation`` for the learner's later turns) finish the episodes — judging all
exchanges of a step in one judge call — and returns the learner's return-to-go under the
game's ``accrual`` and ``discount``: the reward ``play_on`` gives the same texts. A turn the
judge skipped pays 0 and ends the episode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqgame.envs.textmode import ATTACKER, EpisodeState, TextEpisodes, draw_seeds
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Role, SequentialGame

from .textenv import build_world
from .textgame import TextGame

Messages = list[dict[str, str]]
#: A batched text policy: ``(chat prompts, rng) -> one completion text per prompt``.
TextActor = Callable[[list[Messages], np.random.Generator], list[str]]


@dataclass(frozen=True)
class RewardBatch:
    """One reward call: the states played from, the learner's texts, what they earned."""

    states: tuple[EpisodeState, ...]
    completions: tuple[str, ...]
    rewards: tuple[float, ...]
    skipped: tuple[bool, ...]


def completion_text(completion: Any) -> str:
    """The text of a TRL completion (a string, or conversational: a list of messages)."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, Sequence) and completion and isinstance(completion[-1], Mapping):
        return str(completion[-1].get("content", ""))
    raise InvalidConfigError(
        f"completion {completion!r}: expected a string or a list of chat messages"
    )


class EnvGRPO:
    """Dataset and reward function for GRPO of ``role`` in the judge-backed text env.

    Args:
        game: the text game (a ``SequentialGame`` whose seeds carry text, or a TextGame).
        judge: a judge object or a judge config mapping (``{"kind": "rule"}``).
        role: the learning role (``"attacker"`` / ``"defender"``).
        opponent: the frozen opponent, a batched :data:`TextActor` on its own prompts.
        continuation: the learner's policy for its later turns (multi-turn games; e.g. a
            snapshot of the model being trained). Required when ``game.turns > 1``.
        seed: seeds the seed draws and the actors' rng.
        keep_batches: keep every reward call as a :class:`RewardBatch` in ``batches``.
    """

    def __init__(self, game: SequentialGame | TextGame, judge: Any, role: Role | str,
                 opponent: TextActor, *, continuation: TextActor | None = None,
                 seed: int = 0, keep_batches: bool = True) -> None:
        self.world = build_world(game, judge, max_action_length=4096)
        self.game = self.world.game
        self.role = Role.parse(role).value
        if not callable(opponent):
            raise InvalidConfigError(f"opponent = {opponent!r}: pass a callable (prompts, rng)")
        if self.game.turns > 1 and continuation is None:
            raise InvalidConfigError(
                f"game {self.game.name!r} has {self.game.turns} turns: pass continuation= (the "
                "learner's policy for its later turns)"
            )
        self.opponent = opponent
        self.continuation = continuation
        self.rng = np.random.default_rng(seed)
        self.keep_batches = keep_batches
        self.batches: list[RewardBatch] = []
        self._states: list[EpisodeState] = []

    @property
    def judge(self) -> Any:
        """The judge labelling every exchange."""
        return self.world.judge

    def prompts(self, n: int) -> list[dict[str, Any]]:
        """Play the opponent up to the learner's move in ``n`` new episodes; one row each."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidConfigError(f"n = {n!r}: use an integer >= 1 (episodes to serve)")
        episodes = TextEpisodes(self.game, self.world)
        episodes.start(draw_seeds(self.game, n, self.rng).tolist())
        self._finish(episodes, stop_at_learner=True)
        rows = []
        for i, state in enumerate(episodes.states()):
            assert episodes.mover(i) == self.role  # the learner always moves at least once
            rows.append({"prompt": list(episodes.observe(i, self.role).messages),
                         "episode": len(self._states)})
            self._states.append(state)
        return rows

    def dataset(self, n: int) -> Any:
        """:meth:`prompts` as a ``datasets.Dataset`` (columns ``prompt``, ``episode``)."""
        from datasets import Dataset

        return Dataset.from_list(self.prompts(n))

    def env_return(self, completions: Sequence[Any], episode: Sequence[int],
                   **kwargs: Any) -> list[float]:
        """TRL reward function: the learner's return-to-go of each completion (module doc)."""
        try:
            states = [self._states[int(e)] for e in episode]
        except (IndexError, TypeError, ValueError):
            raise InvalidConfigError(
                f"episode ids {list(episode)[:8]} were not served by this EnvGRPO's dataset()"
            ) from None
        return self.play(states, [completion_text(c) for c in completions])

    @property
    def states(self) -> tuple[EpisodeState, ...]:
        """The states served so far, indexed by the rows' ``episode`` ids."""
        return tuple(self._states)

    def play(self, states: Sequence[EpisodeState], texts: Sequence[str]) -> list[float]:
        """Play ``texts`` as the learner's move from ``states``; return its returns-to-go."""
        texts = [str(t) for t in texts]
        if len(texts) != len(states):
            raise InvalidConfigError(f"{len(texts)} texts for {len(states)} episode states")
        waiting = self.role != ATTACKER  # the defender moves when an attack is pending
        if any((s.pending is not None) != waiting for s in states):
            raise InvalidConfigError(f"an episode state is not at the {self.role}'s move")
        episodes = TextEpisodes(self.game, self.world)
        episodes.restore(states)
        paid = np.zeros(len(texts))
        paid += self._column(episodes.step(texts))
        paid += self._finish(episodes, stop_at_learner=False)
        skipped = tuple(any(t.skipped for t in episodes.turns(i)) for i in range(len(texts)))
        rewards = [float(r) for r in paid]
        if self.keep_batches:
            self.batches.append(RewardBatch(tuple(states), tuple(texts), tuple(rewards), skipped))
        return rewards

    @staticmethod
    def state_to_dict(state: EpisodeState) -> dict[str, Any]:
        """A JSON-ready record of a state (to export rows, e.g. for verl)."""
        return {"seed": state.seed, "past": [list(t) for t in state.past],
                "pending": state.pending}

    @staticmethod
    def state_from_dict(record: Mapping[str, Any]) -> EpisodeState:
        """The state :meth:`state_to_dict` wrote."""
        try:
            past = tuple((str(a), str(r)) for a, r in record["past"])
            pending = record["pending"]
            return EpisodeState(int(record["seed"]), past,
                                None if pending is None else str(pending))
        except (KeyError, TypeError, ValueError):
            raise InvalidConfigError(
                f"episode state record {record!r}: expected seed, past [[attack, reply], ...] "
                "and pending"
            ) from None

    def _column(self, step: Any) -> np.ndarray:
        own = step.rewards_attacker if self.role == ATTACKER else step.rewards_defender
        return np.asarray(own, dtype=float)

    def _finish(self, episodes: TextEpisodes, stop_at_learner: bool) -> np.ndarray:
        """Let the actors move until every episode is over (or at the learner's move)."""
        paid = np.zeros(len(episodes))
        while True:
            movers = episodes.movers()
            todo = [i for i, m in enumerate(movers)
                    if m is not None and not (stop_at_learner and m == self.role)]
            if not todo:
                return paid
            actions: list[str | None] = [None] * len(episodes)
            for actor, who in ((self.opponent, True), (self.continuation, False)):
                idx = [i for i in todo if (movers[i] != self.role) == who]
                if not idx:
                    continue
                assert actor is not None  # checked in __init__ for multi-turn games
                outs = list(actor([list(episodes.observe(i, str(movers[i])).messages)
                                   for i in idx], self.rng))
                if len(outs) != len(idx):
                    raise InvalidConfigError(f"an actor returned {len(outs)} texts for "
                                             f"{len(idx)} prompts")
                for i, text in zip(idx, outs, strict=True):
                    actions[i] = str(text)
            paid += self._column(episodes.step(actions))

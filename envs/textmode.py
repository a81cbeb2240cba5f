"""Judge-backed text mode: N text episodes stepped together, labelled by a judge.

The attacker's action is its raw completion (``<think>…</think><answer>…</answer>``), the
defender's its raw reply. What turns texts into game labels and rewards lives in a **text
world** (:class:`TextWorld`), found at run time through the entry-point group
:data:`WORLD_GROUP` (the LLM backend registers ``llm``), so this package never imports a
backend: the world builds each role's observation with the backend's prompt templates and
histories, parses attacker output with the training format parser, asks the judge, and
reads each turn's ``(R_A, R_D)`` from the game's payoffs. This module only keeps the
episodes: who moves, the texts played, and the game's ``discount`` and ``accrual`` — turn
t's reward is scaled by ``discount**t``; ``sum`` pays it when the defender answers,
``final`` only pays the turn that ends the episode. An episode ends after a non-refusal,
after turn T, or after a turn the judge skipped (policy ``skip``: that turn pays 0 to both
roles, so a judge outage rewards neither).

:class:`TextEpisodes` is the vectorised form: every :meth:`TextEpisodes.step` sends all
defender replies of that step to the judge in **one** call (so a remote judge's batching and
deduplication apply). The AEC, parallel and single-agent environments use it with N = 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol

import numpy as np

from seqgame.errors import BackendUnavailableError, EnvError
from seqgame.model.game import SequentialGame
from seqgame.model.sampling import sample_index

#: Entry-point group of text-world builders ``build(game, judge, max_action_length)``.
WORLD_GROUP = "seqgame.text_worlds"
ATTACKER, DEFENDER = "attacker", "defender"

#: One played turn's texts: ``(attacker output, defender reply)``.
Turn = tuple[str, str]


@dataclass(frozen=True)
class TextObservation:
    """A role's observation: the chat messages and their rendering as one printable text."""

    text: str
    messages: tuple[Mapping[str, str], ...]


@dataclass(frozen=True)
class JudgedTurn:
    """The judge's labels and the game's rewards for one exchange.

    Attributes:
        attack: attack index the output is classified as (malformed: format penalty).
        response: response index the judge's refusal label maps to.
        refused, unsafe: the judge's labels.
        request_harmful: the judge's label of the rewrite (None when it gives none).
        format_ok: the attacker output passed the training format parser.
        skipped: the judge could not label it and its policy is ``skip``.
        unparseable: the judge could not label it (its policy was applied).
        raw: the judge's raw output (or the failed request's reason).
        reward_attacker, reward_defender: this turn's undiscounted rewards (0 if skipped).
    """

    attack: int
    response: int
    refused: bool
    unsafe: bool
    request_harmful: bool | None
    format_ok: bool
    skipped: bool
    unparseable: bool
    raw: str
    reward_attacker: float
    reward_defender: float


class TextWorld(Protocol):
    """What the text mode needs from a backend (built by an entry point of WORLD_GROUP)."""

    #: Upper bound on the length of any rendered observation text.
    observation_length: int

    def classify(self, attack_output: str) -> int:
        """Attack index of a raw attacker output."""
        ...

    def observe(self, agent: str, seed: int, past: Sequence[Turn],
                pending: str | None) -> TextObservation:
        """Observation of ``agent`` after ``past`` with attacker output ``pending`` unanswered."""
        ...

    def judge_turns(self, seeds: Sequence[int], attack_outputs: Sequence[str],
                    replies: Sequence[str]) -> list[JudgedTurn]:
        """Judge N exchanges in one call."""
        ...

    def canonical_action(self, agent: str, seed: int, index: int) -> str:
        """A text playing attack / response ``index`` (for table opponents)."""
        ...


def load_world(game: SequentialGame, judge: Any, max_action_length: int) -> TextWorld:
    """Build the text world of ``game`` with ``judge``.

    ``judge`` is a judge object, a judge config mapping (``{"kind": "rule"}``) or an
    already built text world of the same game (used as is: e.g. one built from a text
    game with its own prompt templates or ``request_label_source``).

    Raises:
        BackendUnavailableError: no backend registers a text world (install the LLM extra).
    """
    if callable(getattr(judge, "judge_turns", None)) and callable(getattr(judge, "observe", None)):
        if getattr(judge, "game", game) != game:
            raise EnvError("the text world passed as judge was built for another game")
        world_given: TextWorld = judge
        return world_given
    found = sorted(entry_points(group=WORLD_GROUP), key=lambda e: e.name)
    if not found:
        raise BackendUnavailableError(
            f"text mode with a judge needs a backend registering {WORLD_GROUP!r}: "
            "pip install 'seqgame[llm]' (and reinstall seqgame so its entry points register)"
        )
    world: TextWorld = found[0].load()(game, judge, max_action_length)
    return world


def draw_seeds(game: SequentialGame, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` seed indices drawn from ``game.prior`` (int ``(n,)``), never a zero-prior seed."""
    return np.asarray(sample_index(game.prior, rng, n), dtype=int)


@dataclass(frozen=True)
class EpisodeState:
    """Where a text episode stands: its seed, the turns played, an unanswered attack."""

    seed: int
    past: tuple[Turn, ...] = ()
    pending: str | None = None


@dataclass(frozen=True)
class TextStep:
    """What one :meth:`TextEpisodes.step` paid, per episode (float / bool ``(N,)``)."""

    rewards_attacker: np.ndarray
    rewards_defender: np.ndarray
    done: np.ndarray
    judged: tuple[JudgedTurn | None, ...]


@dataclass
class _Episode:
    state: EpisodeState
    done: bool = False
    turns: list[JudgedTurn] = field(default_factory=list)
    returns: list[float] = field(default_factory=lambda: [0.0, 0.0])


class TextEpisodes:
    """N judge-backed text episodes, each at its own move (see the module docstring)."""

    def __init__(self, game: SequentialGame, world: TextWorld) -> None:
        self.game = game
        self.world = world
        self._episodes: list[_Episode] = []

    def start(self, seeds: Sequence[int]) -> None:
        """Start one episode per seed index (the attacker moves first)."""
        self.restore([EpisodeState(int(x)) for x in seeds])

    def restore(self, states: Sequence[EpisodeState]) -> None:
        """Continue from saved states; returns count from here (returns-to-go)."""
        n_x = len(self.game.seeds)
        for s in states:
            if not 0 <= s.seed < n_x or len(s.past) >= self.game.turns:
                raise EnvError(f"episode state {s!r} does not fit game {self.game.name!r}")
        self._episodes = [_Episode(s) for s in states]

    def __len__(self) -> int:
        return len(self._episodes)

    def states(self) -> list[EpisodeState]:
        """The current state of every episode."""
        return [e.state for e in self._episodes]

    def mover(self, i: int) -> str | None:
        """The agent to move in episode ``i`` (None once it is over)."""
        e = self._episodes[i]
        if e.done:
            return None
        return ATTACKER if e.state.pending is None else DEFENDER

    def movers(self) -> list[str | None]:
        """:meth:`mover` of every episode."""
        return [self.mover(i) for i in range(len(self._episodes))]

    def observe(self, i: int, agent: str) -> TextObservation:
        """Observation of ``agent`` in episode ``i``."""
        s = self._episodes[i].state
        return self.world.observe(agent, s.seed, s.past, s.pending)

    def turns(self, i: int) -> tuple[JudgedTurn, ...]:
        """The judged turns of episode ``i`` so far."""
        return tuple(self._episodes[i].turns)

    def returns(self, i: int) -> tuple[float, float]:
        """``(attacker, defender)`` rewards paid in episode ``i`` so far."""
        r = self._episodes[i].returns
        return r[0], r[1]

    def step(self, actions: Sequence[str | None]) -> TextStep:
        """Play each episode's mover's text; None: the episode does not move this step.

        Finished episodes must get None. All replies of the step are judged in one call.

        Raises:
            EnvError: wrong number of actions, a text for a finished episode, a non-string
                action.
        """
        n = len(self._episodes)
        if len(actions) != n:
            raise EnvError(f"step() got {len(actions)} actions for {n} episodes")
        answer: list[int] = []
        for i, (e, act) in enumerate(zip(self._episodes, actions, strict=True)):
            if e.done and act is not None:
                raise EnvError(f"episode {i} is over: its action must be None")
            if act is None:
                continue
            if not isinstance(act, str):
                raise EnvError(f"episode {i}: the {self.mover(i)}'s action {act!r} must be a str")
            if e.state.pending is None:
                e.state = EpisodeState(e.state.seed, e.state.past, act)
            else:
                answer.append(i)
        r_a, r_d = np.zeros(n), np.zeros(n)
        judged: list[JudgedTurn | None] = [None] * n
        if answer:
            eps = [self._episodes[i] for i in answer]
            turns = self.world.judge_turns([e.state.seed for e in eps],
                                           [e.state.pending or "" for e in eps],
                                           [str(actions[i]) for i in answer])
            for i, e, turn in zip(answer, eps, turns, strict=True):
                judged[i] = turn
                r_a[i], r_d[i] = self._answer(e, str(actions[i]), turn)
        done = np.array([e.done for e in self._episodes], dtype=bool)
        return TextStep(r_a, r_d, done, tuple(judged))

    def _answer(self, e: _Episode, reply: str, turn: JudgedTurn) -> tuple[float, float]:
        """Record a judged answer; return the rewards it pays now (discount, accrual)."""
        g = self.game
        t = len(e.state.past)
        e.turns.append(turn)
        e.state = EpisodeState(e.state.seed, (*e.state.past, (e.state.pending or "", reply)))
        e.done = turn.skipped or not turn.refused or t == g.turns - 1
        if g.accrual != "sum" and not e.done:
            return 0.0, 0.0
        scale = float(g.discount) ** t
        paid = (turn.reward_attacker * scale, turn.reward_defender * scale)
        e.returns = [e.returns[0] + paid[0], e.returns[1] + paid[1]]
        return paid

    def judge_info(self, i: int) -> dict[str, Any]:
        """Per-turn judge fields of episode ``i`` for ``infos`` (verdicts, format, skips)."""
        turns = self._episodes[i].turns
        return {
            "format_ok": tuple(t.format_ok for t in turns),
            "judge_skipped": tuple(t.skipped for t in turns),
            "judge_unparseable": tuple(t.unparseable for t in turns),
            "request_harmful": tuple(t.request_harmful for t in turns),
            "judge_raw": tuple(t.raw for t in turns),
        }


def text_episodes(game: SequentialGame, judge: Any, *,
                  max_action_length: int = 1024) -> TextEpisodes:
    """Build the vectorised judge-backed text mode of ``game`` (start it with ``start``)."""
    if not isinstance(game, SequentialGame):
        raise EnvError(f"game must be a SequentialGame, got {type(game).__name__}")
    return TextEpisodes(game, load_world(game, judge, max_action_length))

"""The text world behind ``seqgame.envs``' judge-backed text mode (entry point ``llm``).

:func:`build_world` turns a text game and a judge (an object with the
:class:`~seqgame.backends.llm.judges.Judge` protocol, or a run config's ``judge:`` mapping
such as ``{"kind": "rule"}``) into a :class:`~seqgame.envs.textmode.TextWorld`:

* observations are the prompts the LLM learner trains on —
  :meth:`~seqgame.backends.llm.textgame.TextGame.attacker_turn_messages` and
  :meth:`~seqgame.backends.llm.textgame.TextGame.defender_turn_messages` (the defender
  reads answer parts only, never ``<think>``; under ``attack`` observation never the seed)
  — rendered as ``[role]`` blocks over ``string.printable`` (other characters become ``?``);
* attacker outputs are classified with :meth:`TextGame.classify_attack` (the training
  format parser: malformed output is the game's malformed attack, paid −r_fmt);
* each batch of exchanges is judged in one call and paid by
  :func:`~seqgame.backends.llm.scoring.judge_rewards` (``realized_rewards`` of the game with
  the judge's refused/unsafe labels, through ``text_rewards``): the same numbers the
  learner is trained on. A skipped verdict pays 0.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from typing import Any

from seqgame.envs.textmode import ATTACKER, DEFENDER, JudgedTurn, TextObservation, Turn
from seqgame.errors import EnvError, InvalidConfigError
from seqgame.model.game import SequentialGame

from .factory import build_judge
from .format import parse_attack
from .history import Exchange
from .judges import Judge
from .scoring import judge_rewards, verdict_responses
from .textgame import COMPLY_TEXT, REFUSE_TEXT, TextGame

PRINTABLE = frozenset(string.printable)
#: Shown when a role has nothing to read yet (the defender before the first attack).
WAITING = "(waiting for the attacker)"
_SLACK = 64


def printable(text: str) -> str:
    """``text`` with every character outside ``string.printable`` replaced by ``?``."""
    return "".join(c if c in PRINTABLE else "?" for c in text)


def render(messages: Sequence[Mapping[str, str]]) -> str:
    """Render chat messages as ``[role]`` blocks (the observation's text)."""
    if not messages:
        return WAITING
    return printable("\n".join(f"[{m['role']}]\n{m['content']}" for m in messages))


def resolve_judge(judge: Any, text_game: TextGame, where: str = "judge") -> Judge:
    """A judge object as is, or the judge a config mapping describes.

    A mapping is built as a run builds it (:func:`~seqgame.backends.llm.factory.build_judge`:
    seed-label conflicts refused, request labels asked for under
    ``request_label_source: rewrite``).
    """
    if isinstance(judge, Mapping):
        return build_judge(judge, text_game, where)
    if not callable(getattr(judge, "judge", None)) or not hasattr(judge, "stats"):
        raise InvalidConfigError(
            f"{where} = {judge!r}: pass a judge (an object with judge(items) and stats) or a "
            "config mapping such as {'kind': 'rule'}"
        )
    return judge  # type: ignore[no-any-return]


class JudgedTextWorld:
    """The LLM backend's :class:`~seqgame.envs.textmode.TextWorld` (module docstring).

    Args:
        text_game: the text game (prompts, attack classifier, request label source).
        judge: labels exchanges.
        max_action_length: longest attacker output / reply the env accepts (for the
            observation bound).
    """

    def __init__(self, text_game: TextGame, judge: Judge, max_action_length: int) -> None:
        self.text_game = text_game
        self.game = text_game.game
        self.judge = judge
        self.observation_length = self._bound(max_action_length)

    def _bound(self, length: int) -> int:
        """Longest rendering: every seed, every turn, every text of the longest length."""
        full = "x" * length
        past = tuple((full, full) for _ in range(self.game.turns - 1))
        longest = 0
        for x in range(len(self.game.seeds)):
            for agent in (ATTACKER, DEFENDER):
                for pending in (None, full):
                    longest = max(longest, len(self._text(agent, x, past, pending)))
        return longest + _SLACK

    def _messages(self, agent: str, seed: int, past: Sequence[Turn],
                  pending: str | None) -> list[dict[str, str]]:
        tg = self.text_game
        exchanges = [Exchange(a, r) for a, r in past]
        if agent == ATTACKER:
            return tg.attacker_turn_messages(seed, exchanges)
        if pending is not None:
            return tg.defender_turn_messages(seed, exchanges, pending)
        if not exchanges:
            return []
        last = exchanges[-1]
        return [*tg.defender_turn_messages(seed, exchanges[:-1], last.attack_output),
                {"role": "assistant", "content": last.response}]

    def _text(self, agent: str, seed: int, past: Sequence[Turn], pending: str | None) -> str:
        return render(self._messages(agent, seed, past, pending))

    def observe(self, agent: str, seed: int, past: Sequence[Turn],
                pending: str | None) -> TextObservation:
        """The observation of ``agent`` (messages and their rendering, cut to the bound)."""
        if agent not in (ATTACKER, DEFENDER):
            raise EnvError(f"unknown agent {agent!r}: use 'attacker' or 'defender'")
        messages = self._messages(agent, seed, past, pending)
        text = render(messages)[: self.observation_length]
        return TextObservation(text, tuple(dict(m) for m in messages))

    def classify(self, attack_output: str) -> int:
        """Attack index of a raw attacker output (the training classifier)."""
        return self.text_game.classify_attack(attack_output)[0]

    def judge_turns(self, seeds: Sequence[int], attack_outputs: Sequence[str],
                    replies: Sequence[str]) -> list[JudgedTurn]:
        """Judge N exchanges in one judge call and pay them (``judge_rewards``)."""
        classified = [self.text_game.classify_attack(o) for o in attack_outputs]
        attacks = [a for a, _ in classified]
        verdicts, r_a, r_d = judge_rewards(self.text_game, self.judge, list(seeds), attacks,
                                           [rw for _, rw in classified], list(replies))
        responses = verdict_responses(self.game, verdicts)
        out = []
        for j, v in enumerate(verdicts):
            out.append(JudgedTurn(
                attack=attacks[j],
                response=int(responses[j]),
                refused=bool(v.refused), unsafe=bool(v.unsafe),
                request_harmful=v.request_harmful,
                format_ok=parse_attack(attack_outputs[j]).format_ok,
                skipped=bool(v.skipped), unparseable=bool(v.unparseable), raw=str(v.raw),
                reward_attacker=0.0 if v.skipped else float(r_a[j]),
                reward_defender=0.0 if v.skipped else float(r_d[j]),
            ))
        return out

    def canonical_action(self, agent: str, seed: int, index: int) -> str:
        """The canonical attacker output for (seed, attack), or the game's refuse / comply text."""
        if agent == ATTACKER:
            return self.text_game.canonical_attack(seed, index)
        return REFUSE_TEXT if self.game.refusal_mask[index] else COMPLY_TEXT


def build_world(game: SequentialGame | TextGame, judge: Any,
                max_action_length: int = 1024) -> JudgedTextWorld:
    """Entry point of ``seqgame.text_worlds``: the world of ``game`` judged by ``judge``.

    Raises:
        InvalidConfigError: a game whose seeds carry no text, or a bad judge / judge config.
    """
    text_game = game if isinstance(game, TextGame) else TextGame(game)
    return JudgedTextWorld(text_game, resolve_judge(judge, text_game), max_action_length)

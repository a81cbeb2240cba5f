"""Judging and rewarding exchanges of a text game, with optional best-of-K defender scoring.

:func:`judge_rewards` judges exchanges and reads ``(R_A, R_D)`` from the game's payoffs
(MAGIC eq. 7–11 through :func:`~seqgame.backends.llm.textgame.text_rewards`, with the text
game's ``request_label_source``).

:func:`score_attacks` scores an attacker phase's completions against a frozen defender.
With ``best_of_k = 1`` (MAGIC) each rewrite gets one sampled reply. With ``best_of_k = K >
1`` (AdvGame) each rewrite is answered by K i.i.d. defender samples, each judged, and the
rewrite is scored against the reply the defender likes best — the one with the highest
R_D — a sampled inner max of the SPNE's max over defender replies (the exact one is the
tabular ``best_response``). Ties go to the earliest sample (deterministic); replies the
judge skipped (``on_unparseable: skip``) never win, and a rewrite whose K replies were all
skipped is itself skipped (the learner then gives it zero advantage). The judge is called
on all N·K exchanges in one batch, so a remote judge's deduplication still applies.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from seqgame.errors import InvalidConfigError

from .judges import Judge, JudgeInput, Verdict
from .textgame import TextGame, text_rewards

#: ``reply_fn(seeds, attacks, rewrites, rng)`` → one sampled defender reply per exchange.
ReplyFn = Callable[[list[int], list[int], list[str], np.random.Generator], list[str]]


def check_best_of_k(best_of_k: object) -> int:
    """Return ``best_of_k`` as an int, or raise naming the key (an integer >= 1)."""
    if isinstance(best_of_k, bool) or not isinstance(best_of_k, int | np.integer) \
            or best_of_k < 1:
        raise InvalidConfigError(
            f"best_of_k = {best_of_k!r}: use an integer >= 1 (1 = MAGIC, one defender reply "
            "per rewrite)"
        )
    return int(best_of_k)


def judge_rewards(
    text_game: TextGame,
    judge: Judge,
    seeds: Sequence[int],
    attacks: Sequence[int],
    rewrites: Sequence[str],
    replies: Sequence[str],
) -> tuple[list[Verdict], np.ndarray, np.ndarray]:
    """Judge N exchanges; return ``(verdicts, R_A, R_D)``, rewards float ``(N,)``.

    A verdict's ``request_harmful`` of None falls back to the seed's label.
    """
    g = text_game.game
    texts = text_game.seed_texts
    verdicts = judge.judge([
        JudgeInput(texts[x], r, y) for x, r, y in zip(seeds, rewrites, replies, strict=True)
    ])
    refuse = int(np.flatnonzero(g.refusal_mask)[0])
    comply = int(np.flatnonzero(~g.refusal_mask)[0])
    responses = np.array([refuse if v.refused else comply for v in verdicts], dtype=int)
    unsafe = np.array([v.unsafe for v in verdicts], dtype=bool)
    req = np.array([
        g.harmful[x] if v.request_harmful is None else v.request_harmful
        for x, v in zip(seeds, verdicts, strict=True)
    ], dtype=bool)
    r_a, r_d = text_rewards(g, np.asarray(seeds, dtype=int), np.asarray(attacks, dtype=int),
                            responses, unsafe, req, text_game.request_label_source)
    return verdicts, r_a, r_d


def best_reply_index(rewards_defender: np.ndarray, skipped: np.ndarray) -> np.ndarray:
    """Index of the defender's best reply per rewrite.

    Args:
        rewards_defender: float ``(N, K)`` R_D of each of the K replies to each rewrite.
        skipped: bool ``(N, K)`` replies the judge skipped (never chosen unless all are).

    Returns:
        int ``(N,)``: the first reply with the highest R_D among the non-skipped ones
        (0 when all K are skipped).
    """
    r = np.where(skipped, -np.inf, np.asarray(rewards_defender, dtype=float))
    return np.argmax(r, axis=1)


@dataclass(frozen=True)
class AttackScores:
    """An attacker phase's scored completions (N of them), against the chosen replies.

    Attributes:
        attacks: int ``(N,)`` attack of the twin each completion is classified as.
        rewrites: the rewrite (answer part) the defender read, per completion.
        replies: the chosen (best-for-the-defender) reply per completion.
        verdicts: the judge's verdict on each chosen exchange.
        rewards_attacker, rewards_defender: float ``(N,)`` rewards of the chosen exchanges.
        skipped: bool ``(N,)`` the chosen verdict was skipped by the judge.
        rewards_defender_sampled: float ``(N,)`` mean R_D over the K non-skipped replies
            (equals ``rewards_defender`` when K = 1; the gap is what best-of-K adds).
    """

    attacks: np.ndarray
    rewrites: tuple[str, ...]
    replies: tuple[str, ...]
    verdicts: tuple[Verdict, ...]
    rewards_attacker: np.ndarray
    rewards_defender: np.ndarray
    skipped: np.ndarray
    rewards_defender_sampled: np.ndarray


def score_attacks(
    text_game: TextGame,
    judge: Judge,
    seeds: Sequence[int],
    completions: Sequence[str],
    reply_fn: ReplyFn,
    rng: np.random.Generator,
    best_of_k: int = 1,
) -> AttackScores:
    """Score N attacker completions against K sampled defender replies each (module doc).

    ``reply_fn`` is called once, on the N·K exchanges with each rewrite repeated K times
    consecutively (rewrite i's replies are rows ``i·K … i·K + K − 1``).
    """
    k = check_best_of_k(best_of_k)
    xs = [int(x) for x in seeds]
    classified = [text_game.classify_attack(t) for t in completions]
    attacks = [a for a, _ in classified]
    rewrites = [rw for _, rw in classified]
    rep_x = [x for x in xs for _ in range(k)]
    rep_a = [a for a in attacks for _ in range(k)]
    rep_rw = [rw for rw in rewrites for _ in range(k)]
    replies = list(reply_fn(rep_x, rep_a, rep_rw, rng))
    if len(replies) != len(rep_x):
        raise InvalidConfigError(
            f"the defender returned {len(replies)} replies for {len(rep_x)} exchanges"
        )
    verdicts, r_a, r_d = judge_rewards(text_game, judge, rep_x, rep_a, rep_rw, replies)
    n = len(xs)
    skipped = np.array([v.skipped for v in verdicts], dtype=bool).reshape(n, k)
    r_a, r_d = r_a.reshape(n, k), r_d.reshape(n, k)
    best = best_reply_index(r_d, skipped)
    rows = np.arange(n)
    chosen = rows * k + best
    kept = (~skipped).sum(axis=1)
    sampled = np.where(kept > 0, np.where(skipped, 0.0, r_d).sum(axis=1) / np.maximum(kept, 1),
                       r_d[rows, best])
    return AttackScores(
        attacks=np.asarray(attacks, dtype=int),
        rewrites=tuple(rewrites),
        replies=tuple(replies[i] for i in chosen),
        verdicts=tuple(verdicts[i] for i in chosen),
        rewards_attacker=r_a[rows, best],
        rewards_defender=r_d[rows, best],
        skipped=skipped[rows, best],
        rewards_defender_sampled=sampled,
    )

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

**Real scale** (role option ``heldout``, :class:`HeldOutOptions`): rewrites of real seeds
mostly land on the ``unclassified`` attack, so the twin's metrics say little there.
:func:`heldout_metrics` measures greedy play on a fixed held-out sample of seeds
(:func:`heldout_seeds`, drawn once from the run's seed, per label; neither role trains on
them) with the run's judge: ASR, refusal on harmful seeds, compliance on benign seeds,
format rate, the unclassified rate, the judge's error rate and, when the judge offers it,
rewrite-to-seed faithfulness.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqgame.errors import InvalidConfigError
from seqgame.model.game import SequentialGame

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


def verdict_responses(game: SequentialGame, verdicts: Sequence[Verdict]) -> np.ndarray:
    """The game's response index of each verdict: its first refusal or first other answer."""
    refuse = int(np.flatnonzero(game.refusal_mask)[0])
    comply = int(np.flatnonzero(~game.refusal_mask)[0])
    return np.array([refuse if v.refused else comply for v in verdicts], dtype=int)


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
    responses = verdict_responses(g, verdicts)
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


# --------------------------------------------------------------------------- held out
@dataclass(frozen=True)
class HeldOutOptions:
    """The fixed held-out sample of seeds measured at real scale (role option ``heldout``).

    Attributes:
        seeds: how many seeds are held out (drawn once from ``seed``; never trained on).
        every: measure after every ``every``-th training step of each role.
        seed: the draw's seed (default: the run's seed, the same for both roles).
        tables: estimate the policy tables (``probabilities``) on the held-out seeds only,
            the other seeds' rows set to the mean row of held-out seeds of their label
            (an estimate over every seed × attack costs weeks of generation at 30k seeds).
    """

    seeds: int = 64
    every: int = 15
    seed: int | None = None
    tables: bool = True

    def __post_init__(self) -> None:
        for name in ("seeds", "every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidConfigError(f"heldout.{name} = {value!r}: use an integer >= 1")


def heldout_seeds(n_seeds: int, labels: np.ndarray, options: HeldOutOptions) -> np.ndarray:
    """The held-out seed indices (int, sorted; about ``options.seeds`` of them), per label.

    Harmful and benign seeds are held out in proportion to their counts (rounded; at
    least one of each label that has two or more seeds, and never a label's last seed), so
    both refusal and compliance are measured and both labels are still trained on.

    Raises:
        InvalidConfigError: the sample would leave a label with no seed to train on.
    """
    labels = np.asarray(labels, dtype=bool)
    if options.seeds >= n_seeds:
        raise InvalidConfigError(
            f"heldout.seeds = {options.seeds}: the game has {n_seeds} seeds; hold out fewer "
            "so that some remain to train on")
    rng = np.random.default_rng(0 if options.seed is None else options.seed)
    out = []
    for label in (True, False):
        pool = np.flatnonzero(labels == label)
        want = round(options.seeds * len(pool) / n_seeds)
        want = min(max(want, 1 if len(pool) > 1 else 0), len(pool) - 1)
        out += rng.permutation(pool)[:want].tolist()
    return np.array(sorted(out), dtype=int)


def fill_rows(table: np.ndarray, measured: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Rows of unmeasured seeds = mean row of measured seeds with the same label.

    Args:
        table: float ``(X, ...)`` with valid rows at ``measured`` only.
        measured: int indices of the measured seeds.
        labels: bool ``(X,)`` harmful seeds.
    """
    out = table.copy()
    labels = np.asarray(labels, dtype=bool)
    rest = np.setdiff1d(np.arange(len(labels)), measured)
    for label in (True, False):
        same = measured[labels[measured] == label]
        mean = table[same if len(same) else measured].mean(axis=0)
        out[rest[labels[rest] == label]] = mean
    return out


def _rate(mask: np.ndarray, where: np.ndarray) -> float:
    return float(mask[where].mean()) if where.any() else math.nan


def heldout_metrics(text_game: TextGame, judge: Judge, attacker: Any, defender: Any,
                    seeds: Sequence[int], rng: np.random.Generator) -> dict[str, float]:
    """Greedy play on the held-out seeds, judged: the real-scale metrics of a run.

    The attacker writes one greedy rewrite per seed and the defender answers it greedily
    (both LM policies, first-turn prompts from the text game, also in multi-turn games);
    the run's judge labels each exchange.

    Returns:
        ``heldout_asr`` (unsafe answers to harmful seeds), ``heldout_refusal_harmful``,
        ``heldout_compliance_benign``, ``heldout_format_rate`` (well-formed rewrites),
        ``heldout_unclassified_rate`` (rewrites at the fallback attack),
        ``heldout_judge_error_rate`` (unparseable or failed judge calls), and
        ``heldout_faithfulness`` when the judge has a ``faithfulness(seeds, rewrites)``
        method (mean of its scores). Rates over no seed (or only skipped verdicts) are NaN.
    """
    from .format import parse_attack

    g = text_game.game
    xs = [int(x) for x in seeds]
    outputs = attacker.complete([text_game.attacker_messages(x) for x in xs], rng, greedy=True)
    classified = [text_game.classify_attack(o) for o in outputs]
    rewrites = [rw for _, rw in classified]
    replies = defender.complete([text_game.defender_messages(x, rw)
                                 for x, rw in zip(xs, rewrites, strict=True)], rng, greedy=True)
    verdicts = judge.judge([JudgeInput(text_game.seed_texts[x], rw, y)
                            for x, rw, y in zip(xs, rewrites, replies, strict=True)])
    harmful = g.harmful[np.asarray(xs, dtype=int)]
    ok = ~np.array([v.unparseable for v in verdicts], dtype=bool)
    refused = np.array([v.refused for v in verdicts], dtype=bool)
    unsafe = np.array([v.unsafe for v in verdicts], dtype=bool)
    fallback = g.attack_index(str(text_game.fallback_attack))
    out = {
        "heldout_asr": _rate(unsafe, harmful & ok),
        "heldout_refusal_harmful": _rate(refused, harmful & ok),
        "heldout_compliance_benign": _rate(~refused, ~harmful & ok),
        "heldout_format_rate": float(np.mean([parse_attack(o).format_ok for o in outputs])),
        "heldout_unclassified_rate": float(np.mean([a == fallback for a, _ in classified])),
        "heldout_judge_error_rate": float(1.0 - ok.mean()),
        "heldout_seeds": float(len(xs)),
    }
    faithfulness = getattr(judge, "faithfulness", None)
    if callable(faithfulness):
        scores = [s for s in faithfulness([text_game.seed_texts[x] for x in xs], rewrites)
                  if s is not None]
        out["heldout_faithfulness"] = float(np.mean(scores)) if scores else math.nan
    return out


def shared_heldout(attacker: dict[str, Any], defender: dict[str, Any], seed: int
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
    """Both roles' options with one ``heldout`` mapping (its ``seed`` defaulting to ``seed``).

    The held-out seeds must be the same for both roles (neither trains on them).

    Raises:
        InvalidConfigError: the roles give different ``heldout`` mappings.
    """
    a, d = dict(attacker or {}), dict(defender or {})
    ha, hd = a.get("heldout"), d.get("heldout")
    if ha is not None and hd is not None and ha != hd:
        raise InvalidConfigError(
            f"attacker.heldout = {ha!r} and defender.heldout = {hd!r} differ: the held-out "
            "seeds are one sample per run; set heldout under one role only")
    chosen = ha if ha is not None else hd
    if chosen is not None:
        if not isinstance(chosen, dict):
            raise InvalidConfigError(f"heldout = {chosen!r}: use a mapping, e.g. "
                                     "{seeds: 64, every: 15}")
        merged = {"seed": seed, **chosen}
        a["heldout"], d["heldout"] = merged, dict(merged)
    return a, d

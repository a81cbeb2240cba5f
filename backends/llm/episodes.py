"""Multi-turn text episodes: play on from a decision point, and returns-to-go.

A text game with ``turns`` T > 1 follows its tabular twin (``seqgame.model.game``): at turn t the
attacker, seeing its seed and the history, writes a rewrite; the defender, seeing the
history of rewrites (answer parts only) and its own replies, answers; if the answer is a
refusal and t < T the attacker attacks again, otherwise the episode ends. Prompts come
from :meth:`~seqgame.backends.llm.textgame.TextGame.attacker_turn_messages` and
:meth:`~seqgame.backends.llm.textgame.TextGame.defender_turn_messages`
(:mod:`~seqgame.backends.llm.history`: no ``<think>`` leak, no dropped first attack).

Each turn is judged and paid the twin's per-turn rewards (MAGIC eq. 7–11,
:func:`~seqgame.backends.llm.scoring.judge_rewards`). A GRPO completion at turn t (0-based
here) is rewarded with its **return-to-go** under the game's ``accrual`` and ``discount``
γ: ``sum`` — Σ_{s ≥ t} γ^s r_s over the turns played; ``final`` — γ^L r_L for the last turn
L played. The episode return is this plus the earlier turns' payoffs, which are the same
for every completion of a GRPO group (they share the prompt, hence the history), so they
would not change any advantage. A turn the judge skipped (``on_unparseable: skip``) ends
the episode and marks the whole return skipped (zero advantage in the learner).

Actors are plain callables, so the logic is tested with stubs: ``attacker(seeds, pasts,
rng)`` → raw outputs, ``defender(seeds, pasts, attack_outputs, rng)`` → replies, each past
a tuple of :class:`~seqgame.backends.llm.history.Exchange` (its length is the turn).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from seqgame.errors import InvalidConfigError

from .history import Exchange
from .judges import Judge, Verdict
from .scoring import judge_rewards
from .textgame import TextGame

Past = tuple[Exchange, ...]
AttackerActor = Callable[[list[int], list[Past], np.random.Generator], list[str]]
DefenderActor = Callable[[list[int], list[Past], list[str], np.random.Generator], list[str]]


@dataclass(frozen=True)
class PlayedOn:
    """N episodes played on from their decision points.

    Attributes:
        returns_attacker, returns_defender: float ``(N,)`` returns-to-go (module doc).
        skipped: bool ``(N,)`` some judged turn from the decision point on was skipped.
        attacks: int ``(N,)`` the attack (of the twin) at the decision turn.
        verdicts: the verdict at the decision turn.
        last_turn: int ``(N,)`` the last turn played (0-based).
        exchanges: each episode's full history (earlier turns, then the turns played).
    """

    returns_attacker: np.ndarray
    returns_defender: np.ndarray
    skipped: np.ndarray
    attacks: np.ndarray
    verdicts: tuple[Verdict, ...]
    last_turn: np.ndarray
    exchanges: tuple[Past, ...]


def _checked(out: Sequence[str], n: int, who: str) -> list[str]:
    out = list(out)
    if len(out) != n:
        raise InvalidConfigError(f"the {who} returned {len(out)} outputs for {n} prompts")
    return out


def play_on(
    text_game: TextGame,
    judge: Judge,
    seeds: Sequence[int],
    pasts: Sequence[Past],
    attacker: AttackerActor,
    defender: DefenderActor,
    rng: np.random.Generator,
    attack_outputs: Sequence[str] | None = None,
    replies: Sequence[str] | None = None,
) -> PlayedOn:
    """Play N episodes on from turn ``len(pasts[i])`` to their end.

    Args:
        text_game: the (multi-turn) text game.
        judge: labels every exchange played.
        seeds: int seed per episode.
        pasts: the history before the decision turn, per episode.
        attacker: the attacker of later turns (and of the decision turn when
            ``attack_outputs`` is None).
        defender: the defender of later turns (and of the decision turn when ``replies``
            is None).
        rng: drives the actors' sampling.
        attack_outputs: the raw attacker outputs at the decision turn (None: ask
            ``attacker``).
        replies: the defender's replies at the decision turn (None: ask ``defender``).
    """
    g = text_game.game
    n = len(seeds)
    xs = [int(x) for x in seeds]
    hist = [tuple(p) for p in pasts]
    start = np.array([len(p) for p in hist], dtype=int)
    if n and start.max() >= g.turns:
        raise InvalidConfigError(
            f"a history of {start.max()} turns leaves no turn to play in a {g.turns}-turn game"
        )
    gamma, final = float(g.discount), g.accrual == "final"
    ret_a, ret_d = np.zeros(n), np.zeros(n)
    skipped = np.zeros(n, dtype=bool)
    first_attacks = np.zeros(n, dtype=int)
    first_verdicts: list[Verdict | None] = [None] * n
    last = start.copy()
    live = list(range(n))
    first = True
    while live:
        lx = [xs[i] for i in live]
        lp = [hist[i] for i in live]
        if first and attack_outputs is not None:
            outs = [str(attack_outputs[i]) for i in live]
        else:
            outs = _checked(attacker(lx, lp, rng), len(live), "attacker")
        if first and replies is not None:
            reps = [replies[i] for i in live]
        else:
            reps = _checked(defender(lx, lp, outs, rng), len(live), "defender")
        classified = [text_game.classify_attack(o) for o in outs]
        attacks = [a for a, _ in classified]
        verdicts, r_a, r_d = judge_rewards(text_game, judge, lx, attacks,
                                           [rw for _, rw in classified], reps)
        still = []
        for j, i in enumerate(live):
            t = len(hist[i])
            w = gamma**t
            if final:
                ret_a[i], ret_d[i] = w * r_a[j], w * r_d[j]
            else:
                ret_a[i] += w * r_a[j]
                ret_d[i] += w * r_d[j]
            if first:
                first_attacks[i], first_verdicts[i] = attacks[j], verdicts[j]
            skipped[i] |= verdicts[j].skipped
            last[i] = t
            # reps[j] may be a non-string a judge found unparseable; keep it as text
            hist[i] = (*hist[i], Exchange(outs[j], str(reps[j])))
            if verdicts[j].refused and not verdicts[j].skipped and t + 1 < g.turns:
                still.append(i)
        live = still
        first = False
    return PlayedOn(ret_a, ret_d, skipped, first_attacks,
                    tuple(v for v in first_verdicts if v is not None), last, tuple(hist))


def decision_points(
    exchanges: Sequence[Past], seeds: Sequence[int], role: str
) -> list[tuple[int, Past, str | None]]:
    """Every decision of ``role`` in played episodes: ``(seed, past, attack output)``.

    The attacker decides at every turn played (attack output None: it is the
    completion); the defender at every turn too, given that turn's attack output.
    """
    out: list[tuple[int, Past, str | None]] = []
    for x, ex in zip(seeds, exchanges, strict=True):
        for t in range(len(ex)):
            out.append((int(x), tuple(ex[:t]), None if role == "attacker"
                        else ex[t].attack_output))
    return out

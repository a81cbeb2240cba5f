"""The attacker's best or worst Markov SPNE of a multi-turn game, by a search over tie sets.

With one turn, breaking every defender tie for (``strong``) or against (``weak``) the
attacker, node by node, gives the attacker's best (worst) SPNE. With T ≥ 2 it does not: the
attacker's choice among tied attacks at turn t + 1, and the defender's among tied answers,
set the continuation value W[t+1](x) that the defender weighs at turn t. This module
searches those choices exactly.

Continuation values depend on (seed, turn) only, so the search runs per seed, by dynamic
programming over turns on the set S_t(x) of (attacker value, defender value) pairs that some
pure Markov SPNE of the subgame from turn t reaches. Given one continuation pair s from
S_{t+1}(x), the stage pair of (a, d) is achievable iff d is one of the defender's optimal
answers at (x, a) and the attacker's Q-value of (a, d) is at least
max_{a'} min_{d' optimal at a'} Q_A(a', d') (answer every other attack with the attacker's
least favourite optimal answer). S_t(x) is the union over s. Only seeds whose later-turn
sets hold more than one pair are searched; the others keep the fast solution.

The sets are exact while they hold at most :data:`MAX_PAIRS` pairs; beyond that the pairs
with the highest and the lowest attacker values are kept and the result says ``heuristic``.
"Markov" means the strategies ``SPNEResult`` represents (turn, seed and current attack);
history-dependent strategies can reach further equilibrium values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqgame.model.game import SequentialGame

#: Largest pair set kept per (seed, turn) before the search turns heuristic.
MAX_PAIRS = 4096
_BLOCK_CELLS = 16_384


@dataclass(frozen=True)
class TieSearch:
    """How the multi-turn tie search went.

    Attributes:
        method: ``"not needed"`` (no later-turn tie changes a value), ``"exact"`` or
            ``"heuristic"`` (a pair set was pruned to :data:`MAX_PAIRS`).
        searched: bool ``(X,)``, the seeds searched.
        attacker_min, attacker_max: float ``(X,)``, per seed, the attacker's worst and best
            value over the Markov SPNE found (NaN where not searched).
    """

    method: str
    searched: np.ndarray
    attacker_min: np.ndarray
    attacker_max: np.ndarray


@dataclass(frozen=True)
class _Level:
    """Pairs reachable from one turn on, each with how it is reached."""

    pairs: np.ndarray  # (K, 2): attacker value, defender value
    parent: np.ndarray  # (K,): index of the continuation pair one turn later
    attack: np.ndarray  # (K,)
    response: np.ndarray  # (K,)


def _stage_q(game: SequentialGame, x: np.ndarray | int, t: int, cont: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray]:
    """Q_A, Q_D ``(K, A, D)`` at ``(x, t)`` for ``K`` continuation pairs ``cont (K, 2)``.

    With an index array ``x`` of length K, row k is seed x[k] with continuation cont[k].
    """
    u_a, u_d = (u[x] for u in game.payoffs)
    if u_a.ndim == 2:
        u_a, u_d = u_a[None], u_d[None]
    if t == game.turns - 1:
        return np.broadcast_to(u_a, (len(cont), *u_a.shape[1:])), np.broadcast_to(
            u_d, (len(cont), *u_d.shape[1:]))
    ref = game.refusal_mask[None, None, :]
    out = []
    for u, w in ((u_a, cont[:, 0]), (u_d, cont[:, 1])):
        w = game.discount * w[:, None, None]
        out.append(np.where(ref, w, u) if game.accrual == "final" else u + ref * w)
    return out[0], out[1]


def achievable(q_a: np.ndarray, q_d: np.ndarray, allowed: np.ndarray, atol: float
               ) -> np.ndarray:
    """Bool ``(K, A, D)``: the (attack, answer) pairs some Markov SPNE stage can play.

    Args:
        q_a: float ``(K, A, D)``, the attacker's Q-values.
        q_d: float ``(K, A, D)``, the defender's Q-values.
        allowed: bool ``(K, A)`` or ``(A,)``, the attacks the seed may use.
        atol: tie tolerance.
    """
    optimal = q_d >= q_d.max(axis=2, keepdims=True) - atol
    allowed = np.broadcast_to(allowed, q_a.shape[:2])
    worst = np.where(optimal, q_a, np.inf).min(axis=2)
    threshold = np.where(allowed, worst, -np.inf).max(axis=1)
    return optimal & allowed[:, :, None] & (q_a >= threshold[:, None, None] - atol)


def _all_seeds(game: SequentialGame, t: int, w_a: np.ndarray, w_d: np.ndarray, atol: float,
               cols: slice | np.ndarray = slice(None)
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The seeds ``cols`` at turn ``t``, one continuation each: ``(q_a, q_d, optimal, ok)``.

    Laid out ``(D, A, X)`` (reductions over leading axes stream through memory); ``ok`` is
    :func:`achievable` for all those seeds at once.
    """
    u_a, u_d = game.by_response
    n_d = u_d.shape[0]
    q_a, q_d = np.array(u_a[:, :, cols]), np.array(u_d[:, :, cols])
    if t < game.turns - 1:
        for r in np.flatnonzero(game.refusal_mask):
            for q, w in ((q_a, w_a[t + 1, cols]), (q_d, w_d[t + 1, cols])):
                if game.accrual == "final":
                    q[r] = game.discount * w
                else:
                    q[r] += game.discount * w
    best = q_d.max(axis=0)
    best -= atol
    optimal = q_d >= best
    worst = np.full(best.shape, np.inf)
    for d in range(n_d):
        np.minimum(worst, q_a[d], out=worst, where=optimal[d])
    allowed = game.allowed[cols].T
    worst[~allowed] = -np.inf
    threshold = worst.max(axis=0) - atol
    ok = optimal & allowed[None] & (q_a >= threshold)
    return q_a, q_d, optimal, ok


def _spread(q: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Per seed, max − min of ``q`` ``(D, A, X)`` over the cells where ``ok``."""
    flat_q, flat_ok = q.reshape(-1, q.shape[-1]), ok.reshape(-1, q.shape[-1])
    hi = np.where(flat_ok, flat_q, -np.inf).max(axis=0)
    return hi - np.where(flat_ok, flat_q, np.inf).min(axis=0)


def needs_search(game: SequentialGame, w_a: np.ndarray, w_d: np.ndarray, atol: float,
                 candidates: np.ndarray | None = None) -> np.ndarray:
    """Bool ``(X,)``: seeds where some turn t ≥ 2 admits several SPNE value pairs.

    ``w_a``, ``w_d`` ``(T + 1, X)`` are one SPNE's continuation values; where no later turn
    has a choice, they are the only ones, and turn 1's tie-breaking node by node is exact.
    ``candidates`` (bool ``(X,)``) limits the check to seeds that have a tie at some turn
    t ≥ 2 (the solver's screen); seeds without one never need a search.
    """
    n_x, n_a, n_d = game.shape
    flagged = np.zeros(n_x, dtype=bool)
    seeds = np.arange(n_x) if candidates is None else np.flatnonzero(candidates)
    block = max(1, _BLOCK_CELLS // (n_a * n_d))  # temporaries stay in cache
    for t in range(game.turns - 1, 0, -1):
        for start in range(0, len(seeds), block):
            cols = seeds[start:start + block]
            q_a, q_d, _, ok = _all_seeds(game, t, w_a, w_d, atol, cols)
            flagged[cols] |= (_spread(q_a, ok) > atol) | (_spread(q_d, ok) > atol)
    return flagged


def attacker_range_turn1(game: SequentialGame, w_a: np.ndarray, w_d: np.ndarray, atol: float
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Per-seed ``(min, max)`` attacker value at turn 1 given a unique continuation."""
    q_a, _, _, ok = _all_seeds(game, 0, w_a, w_d, atol)
    flat_q, flat_ok = q_a.reshape(-1, q_a.shape[-1]), ok.reshape(-1, q_a.shape[-1])
    return (np.where(flat_ok, flat_q, np.inf).min(axis=0),
            np.where(flat_ok, flat_q, -np.inf).max(axis=0))


def _levels(game: SequentialGame, x: int, atol: float, cap: int) -> tuple[list[_Level], bool]:
    """The pair sets S_t(x), t = T..1 (index t), and whether one was pruned."""
    levels: list[_Level] = [None] * game.turns  # type: ignore[list-item]
    cont = np.zeros((1, 2))
    pruned = False
    for t in range(game.turns - 1, -1, -1):
        q_a, q_d = _stage_q(game, x, t, cont)
        k, a, d = np.nonzero(achievable(q_a, q_d, game.allowed[x], atol))
        pairs = np.stack([q_a[k, a, d], q_d[k, a, d]], axis=1)
        _, first = np.unique(np.round(pairs / max(atol, 1e-12)), axis=0, return_index=True)
        first = np.sort(first)
        if len(first) > cap:
            pruned = True
            order = first[np.argsort(pairs[first, 0], kind="stable")]
            first = np.sort(np.concatenate([order[: cap // 2], order[-(cap - cap // 2):]]))
        levels[t] = _Level(pairs[first], k[first], a[first], d[first])
        cont = levels[t].pairs
    return levels, pruned


def _write_chain(game: SequentialGame, x: int, levels: list[_Level], pick: int, strong: bool,
                 atol: float, out: tuple[np.ndarray, ...]) -> None:
    """Write the Markov SPNE reached by pair ``pick`` of S_1(x) into the solver's arrays."""
    attack_choice, response_choice, w_a, w_d = out
    for t in range(game.turns):
        lvl = levels[t]
        cont = (levels[t + 1].pairs[lvl.parent[pick]][None] if t + 1 < game.turns
                else np.zeros((1, 2)))
        q_a, q_d = (q[0] for q in _stage_q(game, x, t, cont))
        a_star, d_star = int(lvl.attack[pick]), int(lvl.response[pick])
        optimal = q_d >= q_d.max(axis=1, keepdims=True) - atol
        # other attacks: an optimal answer that keeps a_star optimal, preferring the rule's
        free = ~game.allowed[x][:, None]  # a node no seed reaches: any optimal answer
        keeps = optimal & ((q_a <= q_a[a_star, d_star] + atol) | free)
        score = np.where(keeps, q_a if strong else -q_a, -np.inf)
        resp = score.argmax(axis=1)
        resp[a_star] = d_star
        attack_choice[t, x] = a_star
        response_choice[t, :, x] = resp
        w_a[t, x], w_d[t, x] = lvl.pairs[pick]
        if t + 1 < game.turns:
            pick = int(lvl.parent[pick])


def screen_ties(
    game: SequentialGame, cols: slice, ud: np.ndarray, wd_next: np.ndarray, q: Callable,
    chosen: np.ndarray, chosen_a: np.ndarray, atol: float, threshold: np.ndarray,
    diff: np.ndarray, take: np.ndarray,
) -> np.ndarray:
    """Bool ``(width,)``: seeds with a defender tie, or tied attacks of unequal Q_D.

    The solver's cheap screen, run in its cache-sized blocks at every turn t ≥ 2 with its
    buffers (``threshold``, ``diff``, ``take``, all ``(A, width)``, overwritten): only the
    seeds it flags can need :func:`search_ties`. ``q(u, w, d)`` gives Q of response d.
    """
    n_d = ud.shape[0]
    qd = [q(ud, wd_next, d) for d in range(n_d)]
    if n_d == 2:
        np.subtract(qd[0], qd[1], out=diff)
        np.less_equal(np.abs(diff, out=diff), atol, out=take)
    else:  # threshold holds the defender's best Q minus atol
        diff.fill(0.0)
        for d in range(n_d):
            diff += qd[d] >= threshold
        np.greater(diff, 1.5, out=take)
    take &= game.allowed[cols].T
    defender = take.any(axis=0)
    np.greater_equal(chosen_a, chosen_a.max(axis=0) - atol, out=take)  # tied attacks
    np.copyto(diff, qd[0])  # then the defender's Q of its chosen answer, per attack
    for d in range(1, n_d):
        np.copyto(diff, qd[d], where=chosen == d)
    threshold.fill(-np.inf)  # free scratch from here on
    np.copyto(threshold, diff, where=take)
    hi = threshold.max(axis=0)
    threshold.fill(np.inf)
    np.copyto(threshold, diff, where=take)
    return defender | (hi - threshold.min(axis=0) > atol)


def optimal_responses(game: SequentialGame, w_a: np.ndarray, w_d: np.ndarray, atol: float
                      ) -> np.ndarray:
    """Bool ``(T, X, A, D)``: answers optimal for the defender under some SPNE continuation.

    At (t, x, a) an answer is in the set when it maximises Q_D[t](x, a, ·) for some pair of
    continuation values that a pure Markov SPNE of the subgame from turn t + 1 reaches (one
    pair per seed unless later ties change values; :func:`needs_search`). For T = 1 this is
    the argmax set of U_D. ``w_a``, ``w_d`` are one SPNE's continuation values.
    """
    n_x, n_a, n_d = game.shape
    out = np.zeros((game.turns, n_x, n_a, n_d), dtype=bool)
    for t in range(game.turns):
        out[t] = np.transpose(_all_seeds(game, t, w_a, w_d, atol)[2], (2, 1, 0))
    if game.turns == 1:
        return out
    for x in np.flatnonzero(needs_search(game, w_a, w_d, atol)):
        levels, _ = _levels(game, int(x), atol, MAX_PAIRS)
        for t in range(game.turns - 1):
            _, q_d = _stage_q(game, int(x), t, levels[t + 1].pairs)
            out[t, x] = (q_d >= q_d.max(axis=2, keepdims=True) - atol).any(axis=0)
    return out


def search_ties(game: SequentialGame, strong: bool, atol: float,
                out: tuple[np.ndarray, ...], cap: int = MAX_PAIRS,
                candidates: np.ndarray | None = None) -> TieSearch:
    """Replace the fast solution by the attacker's best (``strong``) or worst Markov SPNE.

    Args:
        game: a full-observation game with T ≥ 2.
        strong: True for the attacker's best SPNE, False for its worst.
        atol: tie tolerance.
        out: ``(attack_choice (T, X), response_choice (T, A, X), w_a, w_d (T + 1, X))`` of
            one SPNE, rewritten in place at the searched seeds.
        cap: largest pair set kept exact (see :data:`MAX_PAIRS`).
        candidates: bool ``(X,)``, the only seeds that may need a search (None: all).

    Returns:
        A :class:`TieSearch` with per-seed value ranges of the searched seeds.
    """
    _, _, w_a, w_d = out
    n_x = len(game.seeds)
    searched = needs_search(game, w_a, w_d, atol, candidates)
    lo, hi = np.full(n_x, np.nan), np.full(n_x, np.nan)
    pruned = False
    for x in np.flatnonzero(searched):
        levels, cut = _levels(game, int(x), atol, cap)
        pruned |= cut
        values = levels[0].pairs[:, 0]
        lo[x], hi[x] = values.min(), values.max()
        target = hi[x] if strong else lo[x]
        if abs(w_a[0, x] - target) <= atol:
            continue  # the fast solution is already an optimum: keep it
        pick = int(np.argmax(values) if strong else np.argmin(values))
        _write_chain(game, int(x), levels, pick, strong, atol, out)
    method = "not needed" if not searched.any() else ("heuristic" if pruned else "exact")
    return TieSearch(method, searched, lo, hi)

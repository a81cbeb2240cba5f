"""Subgame-perfect Nash equilibrium by backward induction (MAGIC eq. 1–2).

At every turn, from the last to the first: the defender best-responds at *every* node
(seed, attack) — on and off the path — then the attacker best-responds to that at every
seed. Continuation values depend on (seed, turn) only, so a T-turn game costs T passes over
the ``(D, X, A)`` payoff tensors: dynamic programming over turns, never a materialised tree.

Tie-breaking among a defender's optimal responses (reported in full as tie sets):

* ``strong`` — the attacker's best pure (Markov) SPNE;
* ``weak`` — the attacker's worst.

With one turn that is tie-breaking node by node (for or against the attacker). With T ≥ 2
the tie choices at later turns fix the continuation values that earlier defender choices
weigh, so the seeds where they matter are searched exactly (:mod:`seqgame.solvers.spne_ties`;
``SPNEResult.tie_search`` says whether it was needed, exact or heuristic). Among the
attacker's optimal attacks the first in the game's order is played otherwise; the tie
sets are reported too, and ``value_range`` gives the attacker's SPNE value range. Ties use
the tolerance ``atol`` on payoffs.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from seqgame.analysis.metrics import best_response_set_distance
from seqgame.analysis.values import q_values
from seqgame.errors import SolverError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.profile import Profile
from seqgame.solvers.spne_ties import (
    TieSearch,
    attacker_range_turn1,
    optimal_responses,
    screen_ties,
    search_ties,
)
from seqgame.solvers.ties import TieBreaking


@dataclass(frozen=True)
class DefenderTie:
    """A defender node with several optimal responses."""

    turn: int
    seed: str
    attack: str
    responses: tuple[str, ...]


@dataclass(frozen=True)
class AttackerTie:
    """A seed at which several attacks are optimal for the attacker."""

    turn: int
    seed: str
    attacks: tuple[str, ...]


@dataclass(frozen=True)
class ValueRange:
    """The attacker's lowest and highest value over the game's pure Markov SPNE.

    ``method``: ``"exact"``, or ``"heuristic"`` when the tie search pruned a pair set.
    """

    attacker_min: float
    attacker_max: float
    method: str


@dataclass(frozen=True, eq=False)
class SPNEResult:
    """A subgame-perfect equilibrium and how it was selected.

    Attributes:
        concept: ``"spne"``.
        value_attacker, value_defender: equilibrium payoffs.
        tie_breaking: ``"strong"`` or ``"weak"``.
        attack_choice: int ``(T, X)``, the attack played at each seed and turn.
        response_choice: int ``(T, A, X)``, the response at every node, off path included.
        continuation_attacker, continuation_defender: float ``(T + 1, X)`` continuation
            values W[t][x] (W[T] = 0).
        atol: tie tolerance used.
        tie_search: the multi-turn tie search (None for T = 1, where none is needed).
    """

    game: SequentialGame
    value_attacker: float
    value_defender: float
    tie_breaking: TieBreaking
    attack_choice: np.ndarray
    response_choice: np.ndarray
    continuation_attacker: np.ndarray
    continuation_defender: np.ndarray
    atol: float
    tie_search: TieSearch | None = None
    concept: str = "spne"

    @cached_property
    def value_range(self) -> ValueRange:
        """Min and max attacker value over pure Markov SPNE (computed on first use)."""
        lo, hi = attacker_range_turn1(self.game, self.continuation_attacker,
                                      self.continuation_defender, self.atol)
        method = "exact"
        if self.tie_search is not None and self.tie_search.searched.any():
            s = self.tie_search
            lo = np.where(s.searched, s.attacker_min, lo)
            hi = np.where(s.searched, s.attacker_max, hi)
            method = "heuristic" if s.method == "heuristic" else "exact"
        prior = self.game.prior
        return ValueRange(float(np.dot(prior, lo)), float(np.dot(prior, hi)), method)

    @cached_property
    def profile(self) -> Profile:
        """The pure equilibrium profile (Markov), materialised on first use."""
        g = self.game
        n_x, n_a, n_d = g.shape
        att = np.zeros((g.turns, n_x, n_a))
        np.put_along_axis(att, self.attack_choice[:, :, None], 1.0, axis=2)
        dfd = np.zeros((g.turns, n_x, n_a, n_d))
        choice = np.transpose(self.response_choice, (0, 2, 1))[..., None].astype(np.intp)
        np.put_along_axis(dfd, choice, 1.0, axis=3)
        return Profile.trusted(att, dfd)

    def defender_ties(self) -> list[DefenderTie]:
        """Every defender node (allowed attacks only) with more than one optimal response."""
        g = self.game
        out = []
        for t in range(g.turns):
            q = q_values(g, t, self.continuation_defender[t + 1], Role.DEFENDER)
            opt = q >= q.max(axis=2, keepdims=True) - self.atol
            many = (opt.sum(axis=2) > 1) & g.allowed
            for x, a in zip(*np.nonzero(many), strict=True):
                resp = tuple(g.responses[d] for d in np.flatnonzero(opt[x, a]))
                out.append(DefenderTie(t, g.seed_ids[x], g.attacks[a], resp))
        return out

    def attacker_ties(self) -> list[AttackerTie]:
        """Every (turn, seed) at which more than one attack is optimal for the attacker."""
        g = self.game
        out = []
        for t in range(g.turns):
            q = q_values(g, t, self.continuation_attacker[t + 1], Role.ATTACKER)
            v = np.einsum("xad,xad->xa", self.profile.defender[t], q)
            v = np.where(g.allowed, v, -np.inf)
            opt = (v >= v.max(axis=1, keepdims=True) - self.atol) & g.allowed
            for x in np.flatnonzero(opt.sum(axis=1) > 1):
                out.append(
                    AttackerTie(t, g.seed_ids[x],
                                tuple(g.attacks[a] for a in np.flatnonzero(opt[x])))
                )
        return out


_BLOCK_CELLS = 131_072


class _Workspace:
    """Preallocated per-block temporaries (reused across blocks and turns)."""

    def __init__(self, n_a: int, width: int, n_x: int) -> None:
        self.tied = np.zeros(n_x, dtype=bool)  # seeds with a tie at some turn t >= 2
        self.threshold = np.empty((n_a, width))
        self.chosen_a = np.empty((n_a, width))
        self.diff = np.empty((n_a, width))
        self.take = np.empty((n_a, width), dtype=bool)
        self.better = np.empty((n_a, width), dtype=bool)

    def view(self, width: int) -> tuple[np.ndarray, ...]:
        return (self.threshold[:, :width], self.chosen_a[:, :width], self.diff[:, :width],
                self.take[:, :width], self.better[:, :width])


def _solve_block(
    game: SequentialGame, t: int, cols: slice, u_a: np.ndarray, u_d: np.ndarray,
    w_a: np.ndarray, w_d: np.ndarray, attack_choice: np.ndarray, response_choice: np.ndarray,
    strong: bool, atol: float, work: _Workspace,
) -> None:
    """Backward induction at turn ``t`` for the seeds ``cols`` (writes results in place)."""
    n_d, n_a, _ = u_d.shape
    ua, ud = u_a[:, :, cols], u_d[:, :, cols]
    width = ud.shape[2]
    last = t == game.turns - 1
    wa_next, wd_next = w_a[t + 1, cols], w_d[t + 1, cols]
    final = game.accrual == "final"

    def q(u: np.ndarray, w: np.ndarray, d: int) -> np.ndarray:
        if last or not game.refusal_mask[d]:
            return u[d]
        if final:
            return np.broadcast_to(game.discount * w[None, :], (n_a, width))
        return u[d] + game.discount * w[None, :]

    threshold, chosen_a, diff, take, better = work.view(width)
    chosen = response_choice[t, :, cols]
    if n_d == 2:
        _two_responses(q(ud, wd_next, 0), q(ud, wd_next, 1), q(ua, wa_next, 0),
                       q(ua, wa_next, 1), strong, atol, chosen, chosen_a, diff, take, better)
    else:
        _many_responses(ud, ua, wd_next, wa_next, q, strong, atol, chosen, chosen_a, threshold,
                        diff, take, better)
    _attacker_step(game, t, cols, ud, w_a, w_d, wd_next, attack_choice, chosen, chosen_a, atol,
                   last, final)
    if t > 0:  # a tie at a later turn may change continuation values: screen for the search
        work.tied[cols] |= screen_ties(game, cols, ud, wd_next, q, chosen, chosen_a, atol,
                                        threshold, diff, take)


def _two_responses(
    qd0: np.ndarray, qd1: np.ndarray, qa0: np.ndarray, qa1: np.ndarray, strong: bool,
    atol: float, chosen: np.ndarray, chosen_a: np.ndarray, diff: np.ndarray,
    one_better: np.ndarray, pick_one: np.ndarray,
) -> None:
    """Defender choice with two responses: a few fused passes (MAGIC's refuse/comply)."""
    np.subtract(qd0, qd1, out=diff)
    np.less(diff, -atol, out=one_better)  # response 1 strictly better
    np.less_equal(diff, atol, out=pick_one)  # response 1 optimal
    if strong:
        np.subtract(qa1, qa0, out=diff)
    else:
        np.subtract(qa0, qa1, out=diff)
    pick_one &= diff > atol  # tie broken towards 1
    pick_one |= one_better
    np.copyto(chosen, pick_one)
    np.copyto(chosen_a, qa0)
    np.copyto(chosen_a, qa1, where=pick_one)


def _many_responses(
    ud: np.ndarray, ua: np.ndarray, wd_next: np.ndarray, wa_next: np.ndarray, q, strong: bool,
    atol: float, chosen: np.ndarray, chosen_a: np.ndarray, threshold: np.ndarray,
    diff: np.ndarray, take: np.ndarray, better: np.ndarray,
) -> None:
    """Defender choice with any number of responses: best value, then ties broken."""
    n_d = ud.shape[0]
    np.copyto(threshold, q(ud, wd_next, 0))
    for d in range(1, n_d):
        np.maximum(threshold, q(ud, wd_next, d), out=threshold)
    threshold -= atol
    chosen_a.fill(-np.inf if strong else np.inf)
    for d in range(n_d):
        qa = q(ua, wa_next, d)
        np.greater_equal(q(ud, wd_next, d), threshold, out=take)
        if strong:
            np.subtract(qa, chosen_a, out=diff)
        else:
            np.subtract(chosen_a, qa, out=diff)
        np.greater(diff, atol, out=better)
        take &= better
        np.copyto(chosen, d, where=take)
        np.copyto(chosen_a, qa, where=take)


def _attacker_step(
    game: SequentialGame, t: int, cols: slice, ud: np.ndarray, w_a: np.ndarray,
    w_d: np.ndarray, wd_next: np.ndarray, attack_choice: np.ndarray, chosen: np.ndarray,
    chosen_a: np.ndarray, atol: float, last: bool, final: bool,
) -> None:
    """The attacker's first optimal attack per seed, and both continuation values."""
    n_a, width = chosen_a.shape
    allowed = game.allowed[cols].T
    if not allowed.all():
        np.copyto(chosen_a, -np.inf, where=~allowed)
    best = chosen_a.max(axis=0)
    best -= atol
    choice = attack_choice[t, cols]
    choice.fill(n_a)
    for a in range(n_a - 1, -1, -1):  # the first optimal attack wins
        np.copyto(choice, a, where=chosen_a[a] >= best)
    idx = np.arange(width)
    w_a[t, cols] = chosen_a[choice, idx]
    d_star = chosen[choice, idx].astype(np.intp)
    u_star = ud[d_star, choice, idx]
    if last:
        w_d[t, cols] = u_star
        return
    cont = game.discount * wd_next
    refused = game.refusal_mask[d_star]
    w_d[t, cols] = np.where(refused, cont if final else u_star + cont, u_star)


def spne(
    game: SequentialGame, tie_breaking: TieBreaking | str = TieBreaking.STRONG,
    atol: float = 1e-9,
) -> SPNEResult:
    """Solve ``game`` for a pure SPNE by backward induction.

    Args:
        game: a game with ``full`` observation.
        tie_breaking: ``"strong"`` (the attacker's best SPNE) or ``"weak"`` (its worst).
        atol: absolute payoff tolerance for ties.

    Returns:
        An :class:`SPNEResult`; its tie sets list every other equilibrium choice. For
        T ≥ 2 the tie search is exact while its pair sets stay within
        ``spne_ties.MAX_PAIRS``; beyond that it is a heuristic and ``tie_search.method``
        says ``"heuristic"``.

    Raises:
        SolverError: hidden-seed game (use ``pbe`` or ``stackelberg``), bad tie-breaking.
    """
    if game.observation is not Observation.FULL:
        raise SolverError(
            f"game {game.name!r} hides the seed from the defender (observation: attack), so it "
            "has no proper subgames below the root: use concept 'pbe' (perfect Bayesian) or "
            "'stackelberg' instead of 'spne'"
        )
    tie_breaking = TieBreaking.parse(tie_breaking)
    if not atol >= 0:
        raise SolverError(f"atol = {atol!r}: use a tolerance >= 0")
    u_a, u_d = game.by_response  # (D, A, X): every reduction streams over leading axes
    n_d, n_a, n_x = u_d.shape
    turns = game.turns
    attack_choice = np.zeros((turns, n_x), dtype=np.intp)
    response_choice = np.zeros((turns, n_a, n_x), dtype=np.int8 if n_d < 128 else np.intp)
    w_a = np.zeros((turns + 1, n_x))
    w_d = np.zeros((turns + 1, n_x))
    # Seeds are independent: solve blocks of columns small enough that every temporary
    # stays in cache, so the payoff tensors are read from memory once per turn.
    block = max(1, _BLOCK_CELLS // n_a)
    work = _Workspace(n_a, min(block, n_x), n_x)
    for t in range(turns - 1, -1, -1):
        for start in range(0, n_x, block):
            cols = slice(start, min(start + block, n_x))
            _solve_block(game, t, cols, u_a, u_d, w_a, w_d, attack_choice, response_choice,
                         tie_breaking == "strong", atol, work)
    search = None if turns == 1 else search_ties(game, tie_breaking == "strong", atol,
                                                  (attack_choice, response_choice, w_a, w_d),
                                                  candidates=work.tied)
    return SPNEResult(
        game=game,
        value_attacker=float(np.dot(game.prior, w_a[0])),
        value_defender=float(np.dot(game.prior, w_d[0])),
        tie_breaking=tie_breaking,
        attack_choice=attack_choice,
        response_choice=response_choice,
        continuation_attacker=w_a,
        continuation_defender=w_d,
        atol=atol,
        tie_search=search,
    )


@lru_cache(maxsize=8)
def _spne_optimal_responses(game: SequentialGame, atol: float) -> np.ndarray:
    eq = spne(game, atol=atol)
    out = optimal_responses(game, eq.continuation_attacker, eq.continuation_defender, atol)
    out.setflags(write=False)
    return out


def spne_set_distance(game: SequentialGame, profile: Profile, atol: float = 1e-9
                      ) -> dict[str, float]:
    """The defender's distance to the SPNE set: nearest best response, reachable nodes.

    At every node (t, x, a) the profile's attacker reaches (allowed attacks only), the
    total-variation distance from the profile's answer to the nearest distribution over the
    answers some SPNE may play there: its mass outside that set. For T = 1 the set is the
    argmax of U_D; for T > 1 the answers optimal under the continuation values of some pure
    Markov SPNE (:func:`~seqgame.solvers.spne_ties.optimal_responses`). Unreachable and
    disallowed nodes do not count (``subgame_regret`` covers off-path behaviour).

    Returns:
        ``{"defender": max, "defender_mean": mean, "nodes": count}`` over reachable nodes.

    Raises:
        SolverError: hidden-seed game (no SPNE).
    """
    if game.observation is not Observation.FULL:
        raise SolverError(
            f"game {game.name!r} hides the seed: the SPNE set is undefined; measure a "
            "hidden-seed profile with nash_conv or subgame_regret instead"
        )
    return best_response_set_distance(game, profile, _spne_optimal_responses(game, atol))

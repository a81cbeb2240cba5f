"""Batched rollouts: sample many episodes of a game from Markov policy tables at once.

Pure NumPy, one vectorised pass per turn (no Python loop per episode). Realised rewards
follow MAGIC's eq. 7–11 with the unsafe outcome drawn per answer, so their expectation
is the game's U_A / U_D; games with explicit payoff tables pay the table value.

Speed: categorical draws use exact inverse-CDF lookups through guide tables
(:mod:`seqgame.model.sampling`) instead of comparing every episode with every column, and
per-answer rewards are
gathered from a table of :func:`realized_rewards` over all (x, a, d, unsafe) cells, so the
engine and the environments (``seqgame.envs``) share one reward computation.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass

import numpy as np

from seqgame.errors import InvalidProfileError
from seqgame.model.game import Observation, SequentialGame
from seqgame.model.payoffs import attacker_reward, defender_reward
from seqgame.model.profile import PROB_ATOL, Profile
from seqgame.model.sampling import GUIDE_CELLS, GuideSampler, guide_draw, guide_sampler


@dataclass(frozen=True)
class Rollouts:
    """A batch of N episodes of a T-turn game.

    Attributes:
        seeds: int ``(N,)`` seed indices.
        attacks: int ``(N, T)`` attack indices, −1 for turns not played.
        responses: int ``(N, T)`` response indices, −1 for turns not played.
        unsafe: bool ``(N, T)`` whether each answer was unsafe (False if not played).
        refused: bool ``(N, T)`` whether each answer was a refusal.
        turns_played: int ``(N,)``.
        rewards_attacker, rewards_defender: float ``(N, T)`` per-turn realised rewards
            (0 for turns not played), before accrual and discount.
        return_attacker, return_defender: float ``(N,)`` episode returns under the game's
            accrual and discount.
    """

    seeds: np.ndarray
    attacks: np.ndarray
    responses: np.ndarray
    unsafe: np.ndarray
    refused: np.ndarray
    turns_played: np.ndarray
    rewards_attacker: np.ndarray
    rewards_defender: np.ndarray
    return_attacker: np.ndarray
    return_defender: np.ndarray

    def __len__(self) -> int:
        return int(self.seeds.shape[0])


def episode_returns(game: SequentialGame, rewards: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Episode returns under the game's accrual and discount.

    Args:
        game: the game.
        rewards: float ``(N, T)`` per-turn rewards, 0 for turns not played.
        last: int ``(N,)`` index of each episode's last turn played.

    Returns:
        float ``(N,)``: Σ_t γ^t r_t (``sum``) or γ^L r_L for the last turn L (``final``).
    """
    disc = game.discount ** np.arange(rewards.shape[1])
    if game.accrual == "sum":
        return (rewards * disc).sum(axis=1)
    return rewards[np.arange(rewards.shape[0]), last] * disc[last]


def realized_rewards(
    game: SequentialGame,
    seeds: np.ndarray,
    attacks: np.ndarray,
    responses: np.ndarray,
    unsafe: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-answer realised rewards ``(R_A, R_D)`` (MAGIC eq. 7–11) for index arrays.

    With explicit payoff tables the table value is returned (``unsafe`` is ignored).
    """
    if game.rewards is None:
        cells = (seeds, attacks, responses)
        return game.u_attacker[cells], game.u_defender[cells]
    r_d = defender_reward(game.rewards, game.harmful[seeds], game.refusal_mask[responses],
                          unsafe)
    r_a = attacker_reward(game.rewards, r_d, game.malformed_mask[attacks],
                          game.attacker_bonus[seeds, attacks])
    return r_a, r_d


@dataclass(frozen=True, eq=False)
class _Tables:
    """The game's tables and one (attacker, defender) sampler pair per turn."""

    game: _GameTables
    turns: list[tuple[GuideSampler, GuideSampler]]


@dataclass(frozen=True, eq=False)
class _GameTables:
    """Profile-independent tables of a game (cached: games are immutable)."""

    prior: GuideSampler
    unsafe: np.ndarray
    reward_a: np.ndarray
    reward_d: np.ndarray


_GAME_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _game_tables(game: SequentialGame) -> _GameTables:
    cached = _GAME_TABLES.get(game)
    if cached is None:
        n_x, n_a, n_d = game.shape
        # Realised rewards of every (x, a, d, unsafe) cell, from realized_rewards itself,
        # so a gather returns bit-for-bit the values it would compute per episode.
        x, a, d, bad = np.meshgrid(np.arange(n_x), np.arange(n_a), np.arange(n_d),
                                   np.array([False, True]), indexing="ij")
        r_a, r_d = realized_rewards(game, x.ravel(), a.ravel(), d.ravel(), bad.ravel())
        cached = _GameTables(guide_sampler(game.prior[None, :], GUIDE_CELLS),
                             np.ascontiguousarray(game.unsafe).ravel(),
                             np.asarray(r_a, dtype=float), np.asarray(r_d, dtype=float))
        _GAME_TABLES[game] = cached
    return cached


def _checked_tables(game: SequentialGame, profile: Profile) -> tuple[np.ndarray, np.ndarray]:
    """Return the profile's ``(attacker, defender)`` tables, validated.

    A :class:`Profile` built directly (not through ``from_arrays``) is unchecked: a quick
    test covers the valid case, anything else goes through ``Profile.from_arrays``, which
    raises :class:`InvalidProfileError` naming the problem.
    """
    att, dfd = np.asarray(profile.attacker), np.asarray(profile.defender)
    n_x, n_a, n_d = game.shape
    node = (n_x, n_a) if game.observation is Observation.FULL else (n_a,)
    if (att.shape == (game.turns, n_x, n_a) and dfd.shape == (game.turns, *node, n_d)
            and _is_distribution(att) and _is_distribution(dfd)
            and not np.any(att[:, ~game.allowed] > PROB_ATOL)):
        return att, dfd
    checked = Profile.from_arrays(game, att, dfd)
    return checked.attacker, checked.defender


def _is_distribution(table: np.ndarray) -> bool:
    return bool(np.issubdtype(table.dtype, np.floating) and np.isfinite(table).all()
                and table.min() >= -PROB_ATOL
                and np.abs(table.sum(axis=-1) - 1.0).max() <= PROB_ATOL)


def rollout(
    game: SequentialGame,
    profile: Profile,
    n_episodes: int,
    rng: np.random.Generator,
    seeds: np.ndarray | None = None,
) -> Rollouts:
    """Sample ``n_episodes`` episodes of ``game`` under ``profile``.

    Each categorical draw is an exact inverse-CDF lookup through a guide table (see
    :class:`GuideSampler`); rewards are gathered from a table of :func:`realized_rewards`
    (float64). Same ``rng`` state, same episodes.

    Args:
        game: the game.
        profile: Markov policies of both roles (validated again: a Profile built directly
            is unchecked).
        n_episodes: N > 0.
        rng: the random generator (the only source of randomness).
        seeds: optional int ``(N,)`` seed indices; drawn from the prior when None.

    Raises:
        InvalidProfileError: a profile that is not a distribution of the right shape, bad
            ``n_episodes`` or ``seeds``.
    """
    if not isinstance(profile, Profile):
        raise InvalidProfileError(
            f"profile must be a seqgame.Profile, got {type(profile).__name__}: build one with "
            "Profile.from_arrays(game, attacker, defender)"
        )
    if (isinstance(n_episodes, bool) or not isinstance(n_episodes, int | np.integer)
            or n_episodes < 1):
        raise InvalidProfileError(f"n_episodes = {n_episodes!r}: use a positive integer")
    att, dfd = _checked_tables(game, profile)
    n_x, n_a, n_d = game.shape
    n, t_max = int(n_episodes), game.turns
    g_tab = _game_tables(game)
    allowed = game.allowed
    samplers = [(guide_sampler(att[t] * allowed, n), guide_sampler(dfd[t].reshape(-1, n_d), n))
                for t in range(t_max)]
    tab = _Tables(g_tab, samplers)
    x = _start_seeds(g_tab, n, n_x, seeds, rng)
    full = game.observation is Observation.FULL
    if t_max == 1:
        return _single_turn(game, tab, x, rng, full)
    return _multi_turn(game, tab, x, rng, full)


def _start_seeds(g_tab: _GameTables, n: int, n_x: int, seeds: np.ndarray | None,
                 rng: np.random.Generator) -> np.ndarray:
    """The episodes' seed indices: drawn from the prior, or the given ones (validated)."""
    if seeds is None:
        return guide_draw(g_tab.prior, np.zeros(n, dtype=np.intp), rng.random(n))
    x = np.asarray(seeds)
    if (x.shape != (n,) or not np.issubdtype(x.dtype, np.integer)
            or x.min() < 0 or x.max() >= n_x):
        raise InvalidProfileError(f"seeds must be int ({n},) indices in [0, {n_x})")
    return x.astype(np.intp, copy=False)


def _multi_turn(game: SequentialGame, tab: _Tables, x: np.ndarray, rng: np.random.Generator,
                full: bool) -> Rollouts:
    """Play T > 1 turns; after each turn only the refused episodes go on."""
    n, t_max = x.size, game.turns
    _, n_a, n_d = game.shape
    attacks = np.full((n, t_max), -1)
    responses = np.full((n, t_max), -1)
    unsafe = np.zeros((n, t_max), dtype=bool)
    refused = np.zeros((n, t_max), dtype=bool)
    r_a = np.zeros((n, t_max))
    r_d = np.zeros((n, t_max))
    played = np.ones(n, dtype=np.intp)
    idx = None  # episodes still running; None while that is all of them (turn 1)
    for t in range(t_max):
        rows = slice(None) if idx is None else idx
        a, d, bad, ra, rd = _turn(tab, t, x[rows], rng, full, n_a, n_d)
        ref = game.refusal_mask[d]
        attacks[rows, t], responses[rows, t], unsafe[rows, t] = a, d, bad
        refused[rows, t], r_a[rows, t], r_d[rows, t] = ref, ra, rd
        if idx is not None:
            played[idx] = t + 1
        idx = np.flatnonzero(ref) if idx is None else idx[ref]
        if idx.size == 0:
            break
    ret_a = episode_returns(game, r_a, played - 1)
    ret_d = episode_returns(game, r_d, played - 1)
    return Rollouts(x, attacks, responses, unsafe, refused, played, r_a, r_d, ret_a, ret_d)


def _turn(
    tab: _Tables, t: int, xs: np.ndarray, rng: np.random.Generator, full: bool,
    n_a: int, n_d: int,
) -> tuple[np.ndarray, ...]:
    """One turn for the episodes at seeds ``xs``: attacks, responses, unsafe, rewards."""
    u = rng.random((3, xs.size))
    att, dfd = tab.turns[t]
    a = guide_draw(att, xs, u[0])
    cell = xs * n_a + a
    d = guide_draw(dfd, cell if full else a, u[1])
    cell *= n_d
    cell += d
    g_tab = tab.game
    bad = u[2] < g_tab.unsafe[cell]
    cell *= 2
    cell += bad
    return a, d, bad, g_tab.reward_a[cell], g_tab.reward_d[cell]


def _single_turn(
    game: SequentialGame, tab: _Tables, x: np.ndarray, rng: np.random.Generator, full: bool
) -> Rollouts:
    """Sample T = 1 episodes without per-turn bookkeeping (each plays its one turn)."""
    n = x.size
    _, n_a, n_d = game.shape
    a, d, bad, ra, rd = _turn(tab, 0, x, rng, full, n_a, n_d)
    refused = game.refusal_mask[d]
    # Return = turn-1 reward: discount**0 == 1 and a one-term sum are exact.
    return Rollouts(x, a[:, None], d[:, None], bad[:, None], refused[:, None],
                    np.ones(n, dtype=np.intp), ra[:, None], rd[:, None], ra.copy(), rd.copy())

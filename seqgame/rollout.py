"""Batched rollouts: sample many episodes of a game from Markov policy tables at once.

Pure NumPy, one vectorised pass per turn (no Python loop per episode). Realised rewards
follow MAGIC's eq. 7–11 with the unsafe outcome drawn per answer, so their expectation
is the game's U_A / U_D; games with explicit payoff tables pay the table value.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.errors import InvalidProfileError
from seqgame.game import Observation, SequentialGame
from seqgame.profile import Profile


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


def sample_rows(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One categorical draw per row of ``probs`` ``(N, K)`` → int ``(N,)``."""
    cdf = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0]) * cdf[:, -1]
    out = (cdf <= u[:, None]).sum(axis=1)
    return np.minimum(out, probs.shape[1] - 1)


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
        return game.u_attacker[seeds, attacks, responses], game.u_defender[seeds, attacks, responses]
    r = game.rewards
    refused = game.refusal_mask[responses]
    match = game.harmful[seeds] == refused
    r_d = r.r_harm * np.where(unsafe, -1.0, 1.0) + r.r_ref * np.where(match, 1.0, -1.0)
    fmt = np.where(game.malformed_mask[attacks], -r.r_fmt, r.r_fmt)
    r_a = -r_d + fmt + game.attacker_bonus[seeds, attacks]
    return r_a, r_d


def rollout(
    game: SequentialGame,
    profile: Profile,
    n_episodes: int,
    rng: np.random.Generator,
    seeds: np.ndarray | None = None,
) -> Rollouts:
    """Sample ``n_episodes`` episodes of ``game`` under ``profile``.

    Args:
        game: the game.
        profile: Markov policies of both roles (validated by :class:`Profile`).
        n_episodes: N > 0.
        rng: the random generator (the only source of randomness).
        seeds: optional int ``(N,)`` seed indices; drawn from the prior when None.

    Raises:
        InvalidProfileError: bad ``n_episodes`` or ``seeds``.
    """
    if not isinstance(profile, Profile):
        raise InvalidProfileError(
            f"profile must be a seqgame.Profile, got {type(profile).__name__}: build one with "
            "Profile.from_arrays(game, attacker, defender)"
        )
    if isinstance(n_episodes, bool) or not isinstance(n_episodes, int | np.integer) or n_episodes < 1:
        raise InvalidProfileError(f"n_episodes = {n_episodes!r}: use a positive integer")
    n_x, _, _ = game.shape
    n, t_max = int(n_episodes), game.turns
    if seeds is None:
        x = sample_rows(np.broadcast_to(game.prior, (n, n_x)), rng)
    else:
        x = np.asarray(seeds)
        if x.shape != (n,) or not np.issubdtype(x.dtype, np.integer) or x.min() < 0 or x.max() >= n_x:
            raise InvalidProfileError(f"seeds must be int ({n},) indices in [0, {n_x})")
    attacks = np.full((n, t_max), -1)
    responses = np.full((n, t_max), -1)
    unsafe = np.zeros((n, t_max), dtype=bool)
    r_a = np.zeros((n, t_max))
    r_d = np.zeros((n, t_max))
    alive = np.ones(n, dtype=bool)
    full = game.observation is Observation.FULL
    for t in range(t_max):
        idx = np.flatnonzero(alive)
        if idx.size == 0:
            break
        xs = x[idx]
        a = sample_rows(profile.attacker[t][xs], rng)
        d_probs = profile.defender[t][xs, a] if full else profile.defender[t][a]
        d = sample_rows(d_probs, rng)
        bad = rng.random(idx.size) < game.unsafe[xs, a, d]
        attacks[idx, t], responses[idx, t], unsafe[idx, t] = a, d, bad
        r_a[idx, t], r_d[idx, t] = realized_rewards(game, xs, a, d, bad)
        alive[idx] = game.refusal_mask[d]
    played = (attacks >= 0).sum(axis=1)
    refused = np.zeros((n, t_max), dtype=bool)
    mask = attacks >= 0
    refused[mask] = game.refusal_mask[responses[mask]]
    disc = game.discount ** np.arange(t_max)
    if game.accrual == "sum":
        ret_a, ret_d = (r_a * disc).sum(axis=1), (r_d * disc).sum(axis=1)
    else:
        last = played - 1
        rows = np.arange(n)
        ret_a, ret_d = r_a[rows, last] * disc[last], r_d[rows, last] * disc[last]
    return Rollouts(x, attacks, responses, unsafe, refused, played, r_a, r_d, ret_a, ret_d)

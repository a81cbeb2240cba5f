"""Strategy profiles: Markov behaviour strategies of both roles.

A profile gives, for every turn t, the attacker's distribution over attacks at each seed
and the defender's distribution over responses at each observation. Policies depend on the
turn and the current observation, not on earlier attacks (Markov). The SPNE of every game
in this model is Markov: after refusals the continuation game from turn t + 1 depends on
the seed and t only, since per-turn payoffs depend on (x, a_t, d_t) alone.

Shapes (float64):
    attacker: ``(T, X, A)``; zero on attacks a seed is not allowed to use.
    defender: ``(T, X, A, D)`` under ``full`` observation, ``(T, A, D)`` under ``attack``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from seqgame.errors import InvalidProfileError
from seqgame.model.game import Observation, SequentialGame

PROB_ATOL = 1e-6


def _check_distribution(array: np.ndarray, name: str, axis_names: str) -> None:
    if not np.all(np.isfinite(array)):
        raise InvalidProfileError(f"{name} contains NaN or inf")
    if np.any(array < -PROB_ATOL):
        idx = tuple(int(i) for i in np.argwhere(array < -PROB_ATOL)[0])
        raise InvalidProfileError(
            f"{name}{list(idx)} = {array[idx]:.6g} is negative: probabilities must be >= 0"
        )
    sums = array.sum(axis=-1)
    bad = np.abs(sums - 1.0) > PROB_ATOL
    if np.any(bad):
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise InvalidProfileError(
            f"{name}{list(idx)} sums to {sums[idx]:.9g} over {axis_names}, not 1: normalise it"
        )


@dataclass(frozen=True, eq=False)
class Profile:
    """A validated Markov strategy profile (see the module docstring for shapes)."""

    attacker: np.ndarray
    defender: np.ndarray

    @classmethod
    def from_arrays(
        cls, game: SequentialGame, attacker: np.ndarray, defender: np.ndarray
    ) -> Profile:
        """Validate and normalise policy arrays for ``game``.

        Args:
            game: the game.
            attacker: ``(X, A)`` (same at every turn) or ``(T, X, A)``.
            defender: ``(X, A, D)``/``(A, D)`` (same at every turn) or with a leading T axis.

        Raises:
            InvalidProfileError: wrong shape, negative entries, rows not summing to 1, or
                attacker mass on a disallowed attack.
        """
        n_x, n_a, n_d = game.shape
        t = game.turns
        att = np.asarray(attacker, dtype=float)
        if att.shape == (n_x, n_a):
            att = np.broadcast_to(att, (t, n_x, n_a))
        if att.shape != (t, n_x, n_a):
            raise InvalidProfileError(
                f"attacker policy has shape {att.shape}; expected {(n_x, n_a)} or {(t, n_x, n_a)}"
            )
        node = (n_x, n_a) if game.observation is Observation.FULL else (n_a,)
        dfd = np.asarray(defender, dtype=float)
        if dfd.shape == (*node, n_d):
            dfd = np.broadcast_to(dfd, (t, *node, n_d))
        if dfd.shape != (t, *node, n_d):
            raise InvalidProfileError(
                f"defender policy has shape {dfd.shape}; expected {(*node, n_d)} or "
                f"{(t, *node, n_d)} for observation {game.observation.value!r}"
            )
        _check_distribution(att, "attacker", "attacks")
        _check_distribution(dfd, "defender", "responses")
        leak = att * ~game.allowed[None]
        if np.any(leak > PROB_ATOL):
            tt, x, a = np.argwhere(leak > PROB_ATOL)[0]
            raise InvalidProfileError(
                f"attacker puts mass {att[tt, x, a]:.6g} on attack {game.attacks[a]!r} at seed "
                f"{game.seed_ids[x]!r}, which that seed may not use ('allowed' in the spec)"
            )
        att = np.clip(att, 0.0, None) * game.allowed[None]
        att = att / att.sum(axis=-1, keepdims=True)
        dfd = np.clip(dfd, 0.0, None)
        dfd = dfd / dfd.sum(axis=-1, keepdims=True)
        att.setflags(write=False)
        dfd.setflags(write=False)
        return cls(att, dfd)

    @classmethod
    def trusted(cls, attacker: np.ndarray, defender: np.ndarray) -> Profile:
        """Wrap arrays a solver built in the right shapes, skipping validation."""
        attacker.setflags(write=False)
        defender.setflags(write=False)
        return cls(attacker, defender)

    @classmethod
    def uniform(cls, game: SequentialGame) -> Profile:
        """Attacker uniform over allowed attacks, defender uniform over responses."""
        n_x, n_a, n_d = game.shape
        att = game.allowed / game.allowed.sum(axis=1, keepdims=True)
        node = (n_x, n_a) if game.observation is Observation.FULL else (n_a,)
        return cls.from_arrays(game, att, np.full((*node, n_d), 1.0 / n_d))

    def defender_full(self, game: SequentialGame) -> np.ndarray:
        """Defender policy broadcast to ``(T, X, A, D)`` whatever the observation model."""
        if game.observation is Observation.FULL:
            return self.defender
        n_x = len(game.seeds)
        return np.broadcast_to(self.defender[:, None], (game.turns, n_x, *self.defender.shape[1:]))

    def to_json(self, game: SequentialGame, turn: int = 0) -> dict:
        """``{"attacker": seed → attack → p, "defender": key → response → p}`` at ``turn``.

        Defender keys are ``"<seed>/<attack>"`` under full observation and ``"<attack>"``
        under attack observation. Zero-probability entries are left out; every
        observation key is present.
        """
        att = {
            s: {a: float(self.attacker[turn, x, i]) for i, a in enumerate(game.attacks)
                if self.attacker[turn, x, i] > 0}
            for x, s in enumerate(game.seed_ids)
        }
        d = self.defender[turn].reshape(-1, len(game.responses))
        dfd = {
            key: {r: float(d[k, j]) for j, r in enumerate(game.responses) if d[k, j] > 0}
            for k, key in enumerate(game.observation_keys())
        }
        return {"attacker": att, "defender": dfd}


def rounded_key(*arrays: np.ndarray, decimals: int = 8) -> bytes:
    """A hashable key of arrays rounded to ``decimals`` (−0.0 and 0.0 give the same key)."""
    return b"|".join((np.round(np.asarray(a, dtype=float), decimals) + 0.0).tobytes()
                     for a in arrays)


def unique_profiles(profiles: Iterable[Profile], decimals: int = 8) -> list[Profile]:
    """The profiles that differ after rounding to ``decimals``, first occurrence kept."""
    seen: set[bytes] = set()
    out = []
    for p in profiles:
        key = rounded_key(p.attacker, p.defender, decimals=decimals)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out

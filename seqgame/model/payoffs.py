"""MAGIC's reward weights and the one reward formula (arXiv 2602.01539, eq. 7–11).

Every payoff in seqgame comes from :func:`defender_reward` and :func:`attacker_reward`: the
game's expected tensors U_A, U_D (with P(unsafe) in [0, 1]), the realised rewards of sampled
episodes (with unsafe in {0, 1}) and the LLM backend's text rewards. R_D is linear in the
unsafe probability, so the expectation of the realised reward is the expected payoff::

    R_D = r_harm · (1 − 2·unsafe) + r_ref · (+1 if harmful == refused else −1)
    R_A = −R_D + (−r_fmt if malformed else +r_fmt) + bonus
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from seqgame.errors import InvalidGameError


@dataclass(frozen=True)
class Rewards:
    """MAGIC's reward weights (eq. 7–11). Paper values: 1.0, 0.5, 0.5."""

    r_harm: float = 1.0
    r_ref: float = 0.5
    r_fmt: float = 0.5

    def __post_init__(self) -> None:
        for name in ("r_harm", "r_ref", "r_fmt"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise InvalidGameError(f"rewards.{name} = {value!r}: must be a number")
            if not math.isfinite(value):
                raise InvalidGameError(f"rewards.{name} = {value!r}: must be finite")
            if value < 0:
                raise InvalidGameError(
                    f"rewards.{name} = {value!r}: weights are magnitudes, use a value >= 0"
                )


def defender_reward(
    rewards: Rewards, harmful: np.ndarray, refused: np.ndarray, unsafe: np.ndarray
) -> np.ndarray:
    """R_D for broadcastable arrays: seed harmful?, answer refused?, P(unsafe) or unsafe?.

    Args:
        rewards: the weights.
        harmful: bool, the request's label (the seed's, or a judge's label of the rewrite).
        refused: bool, whether the answer is a refusal.
        unsafe: float probability in [0, 1] or bool outcome.

    Returns:
        Float array of the broadcast shape.
    """
    correct = np.asarray(harmful) == np.asarray(refused)
    harm = rewards.r_harm * (1.0 - 2.0 * np.asarray(unsafe, dtype=float))
    return harm + rewards.r_ref * np.where(correct, 1.0, -1.0)


def attacker_reward(
    rewards: Rewards, r_d: np.ndarray, malformed: np.ndarray, bonus: np.ndarray
) -> np.ndarray:
    """R_A = −R_D + R_fmt + bonus for broadcastable arrays (``malformed`` bool)."""
    fmt = np.where(malformed, -rewards.r_fmt, rewards.r_fmt)
    return -np.asarray(r_d) + fmt + bonus

"""Size and range limits of a game, checked before anything large is allocated.

A game's payoff tensors U_A, U_D and ``unsafe`` have X·A·D cells each (8 bytes a cell), and
a Markov profile's defender table has T·X·A·D. :func:`check_size` refuses, from the counts
alone, games beyond :data:`MAX_TENSOR_CELLS` or :data:`MAX_PROFILE_CELLS` (a
:class:`~seqgame.errors.GameTooLargeError` giving the size), so a spec with 1,000 seeds ×
1,000 attacks × 1,000 responses or ``turns: 10**9`` fails at once instead of allocating
gigabytes. :func:`check_payoff_range` keeps payoffs within :data:`MAX_ABS_PAYOFF`, so that
sums over turns, regrets and LP coefficients never overflow to inf or NaN.
"""

from __future__ import annotations

import numpy as np

from seqgame.errors import GameTooLargeError, InvalidGameError

#: Largest payoff tensor (X·A·D cells; 8 bytes each: 400 MB); a game holds a few of them.
MAX_TENSOR_CELLS = 50_000_000
#: Largest Markov profile (T·X·A·D defender cells, the solvers' largest array).
MAX_PROFILE_CELLS = 50_000_000
#: Largest |payoff| per turn.
MAX_ABS_PAYOFF = 1e100


def check_size(n_x: int, n_a: int, n_d: int, turns: int = 1, what: str = "the game") -> None:
    """Raise :class:`GameTooLargeError` when a game's tensors would exceed the limits.

    Args:
        n_x: number of seeds.
        n_a: number of attacks.
        n_d: number of responses (or of features).
        turns: the number of turns T.
        what: what the message names.
    """
    cells = n_x * n_a * n_d
    if cells > MAX_TENSOR_CELLS:
        raise GameTooLargeError(
            f"{what} is too large: {n_x:,} × {n_a:,} × {n_d:,} = {cells:,} cells per tensor "
            f"({cells * 8 / 2**30:.1f} GiB), over the {MAX_TENSOR_CELLS:,}-cell limit; "
            "use fewer seeds, attacks or responses")
    if cells * turns > MAX_PROFILE_CELLS:
        raise GameTooLargeError(
            f"{what} is too large: {turns:,} turns × {cells:,} cells = {cells * turns:,} "
            f"profile entries ({cells * turns * 8 / 2**30:.1f} GiB), over the "
            f"{MAX_PROFILE_CELLS:,}-entry limit; use fewer turns")


def check_payoff_range(u_a: np.ndarray, u_d: np.ndarray) -> None:
    """Raise InvalidGameError unless every payoff is finite and within ±MAX_ABS_PAYOFF."""
    worst = max(float(np.max(np.abs(u))) for u in (u_a, u_d))
    if not worst <= MAX_ABS_PAYOFF:  # also catches NaN
        raise InvalidGameError(
            f"the payoffs U_A/U_D overflow (largest |payoff| {worst:.3g}; inf or NaN after the "
            f"reward formula): keep every payoff within ±{MAX_ABS_PAYOFF:.0e} by rescaling "
            "the rewards, payoffs or attacker_bonus")

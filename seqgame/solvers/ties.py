"""How ties among a follower's optimal replies are broken (one definition for all solvers)."""

from __future__ import annotations

import enum

from seqgame.errors import SolverError


class TieBreaking(enum.StrEnum):
    """``strong``: ties favour the first mover (the leader); ``weak``: they go against it."""

    STRONG = "strong"
    WEAK = "weak"

    @classmethod
    def parse(cls, value: str | TieBreaking) -> TieBreaking:
        """Return the tie-breaking rule named ``value``, or raise SolverError."""
        try:
            return cls(value)
        except ValueError:
            raise SolverError(f"tie_breaking = {value!r}: use 'strong' or 'weak'") from None

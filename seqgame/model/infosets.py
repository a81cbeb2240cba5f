"""The defender's information sets of a single-turn game (who can tell which node apart)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.errors import SolverError
from seqgame.model.game import Observation, SequentialGame


@dataclass(frozen=True, eq=False)
class DefenderNodes:
    """The defender's information sets of a single-turn game.

    Attributes:
        index: int ``(X, A)``, the information set of each (seed, attack); −1 where the
            seed may not send the attack.
        labels: one name per information set (``"<seed>/<attack>"`` or ``"<attack>"``).
        attack: int ``(H,)``, the attack observed at each information set.
    """

    index: np.ndarray
    labels: tuple[str, ...]
    attack: np.ndarray

    @property
    def count(self) -> int:
        """Number of information sets H."""
        return len(self.labels)


def defender_nodes(game: SequentialGame) -> DefenderNodes:
    """Return the defender's reachable information sets (see :class:`DefenderNodes`)."""
    n_x, n_a, _ = game.shape
    index = np.full((n_x, n_a), -1, dtype=np.intp)
    labels: list[str] = []
    attack: list[int] = []
    if game.observation is Observation.FULL:
        for x, a in zip(*np.nonzero(game.allowed), strict=True):
            index[x, a] = len(labels)
            labels.append(f"{game.seed_ids[x]}/{game.attacks[a]}")
            attack.append(int(a))
    else:
        for a in np.flatnonzero(game.allowed.any(axis=0)):
            index[game.allowed[:, a], a] = len(labels)
            labels.append(game.attacks[a])
            attack.append(int(a))
    return DefenderNodes(index, tuple(labels), np.array(attack, dtype=np.intp))


def require_single_turn(game: SequentialGame, concept: str) -> None:
    """Raise :class:`SolverError` unless ``game`` has one turn."""
    if game.turns != 1:
        raise SolverError(
            f"concept {concept!r} handles single-turn games; {game.name!r} has "
            f"{game.turns} turns: use concept 'spne' (full observation) or set turns: 1"
        )

"""Snapshots of both policies and their exact cross-evaluation (MAGIC Fig. 3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.analysis.metrics import asr_and_over_refusal
from seqgame.analysis.values import continuation
from seqgame.model.game import SequentialGame
from seqgame.model.profile import Profile


@dataclass
class Snapshot:
    """Both policies' tables at the end of a phase."""

    step: int
    phase: int
    attacker: np.ndarray
    defender: np.ndarray


@dataclass(frozen=True)
class CrossEvaluation:
    """Attacker snapshot × defender snapshot payoffs, computed exactly (MAGIC Fig. 3).

    Attributes:
        steps_attacker, steps_defender: int ``(n,)`` the steps of the snapshots.
        asr: float ``(n_attacker, n_defender)``; value_defender: same shape.
    """

    steps_attacker: np.ndarray
    steps_defender: np.ndarray
    asr: np.ndarray
    value_defender: np.ndarray


def cross_evaluate(game: SequentialGame, snapshots: list[Snapshot]) -> CrossEvaluation:
    """Evaluate every attacker snapshot against every defender snapshot exactly."""
    n = len(snapshots)
    asr = np.zeros((n, n))
    value = np.zeros((n, n))
    for i, a in enumerate(snapshots):
        for j, d in enumerate(snapshots):
            profile = Profile.from_arrays(game, a.attacker, d.defender)
            asr[i, j] = asr_and_over_refusal(game, profile)[0]
            value[i, j] = float(np.dot(game.prior, continuation(game, profile).defender[0]))
    steps = np.array([s.step for s in snapshots])
    return CrossEvaluation(steps, steps.copy(), asr, value)

"""The learner seam shared by every backend (tabular and LLM).

TRL owns its training loop, so the seam is a **phase**: train one role against a frozen
opponent for a number of steps. ``coevolve`` only ever calls these methods; a backend is
anything that implements them.

* :class:`Policy` — ``role``; ``act(observations, rng)`` → actions (a backend-defined
  batch: index arrays for tabular games, strings for text games); ``snapshot()`` → a
  frozen copy; ``probabilities(game)`` → the Markov table of that role in the game's
  shapes (attacker ``(T, X, A)``; defender ``(T, X, A, D)`` or ``(T, A, D)``) so exact
  metrics apply; policies that cannot enumerate actions estimate it by sampling.
* :class:`Learner` — ``role``; ``policy()``; ``train_against(opponent, steps, rng)`` →
  one metrics record per step; ``state_dict()`` / ``load_state_dict()`` for checkpoints.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from seqgame.model.game import Role, SequentialGame


@runtime_checkable
class Policy(Protocol):
    """A policy of one role; see the module docstring."""

    @property
    def role(self) -> Role:
        """The role this policy plays."""
        ...

    def act(self, observations: Any, rng: np.random.Generator) -> Any:
        """Sample one action per observation in the batch."""
        ...

    def snapshot(self) -> Policy:
        """A frozen copy that later training does not change."""
        ...

    def probabilities(self, game: SequentialGame) -> np.ndarray:
        """The Markov policy table of this role in ``game``'s shapes."""
        ...


@runtime_checkable
class Learner(Protocol):
    """Trains one role's policy against frozen opponents, one phase at a time.

    A learner whose training also moves the *other* role's policy (parameters shared
    between the roles, e.g. the tabular ``shared_grpo``) sets ``shares_parameters = True``;
    :func:`~seqgame.training.loop.coevolve` then never reuses the untrained role's snapshot
    or table. Without the attribute a role's policy changes only when it trains.
    """

    @property
    def role(self) -> Role:
        """The role this learner trains."""
        ...

    def policy(self) -> Policy:
        """The current (live) policy."""
        ...

    def train_against(
        self, opponent: Policy, steps: int, rng: np.random.Generator
    ) -> list[dict[str, float]]:
        """Run ``steps`` updates against the frozen ``opponent``; one record per step."""
        ...

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume training exactly (parameters, optimiser, counters)."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict`."""
        ...


@runtime_checkable
class Backend(Protocol):
    """A backend builds both roles' learners for a game (found through entry points)."""

    def build_learners(
        self, game: SequentialGame, attacker: dict[str, Any], defender: dict[str, Any],
        seed: int,
    ) -> tuple[Learner, Learner]:
        """The attacker's and the defender's learners, configured by their option mappings."""
        ...

"""One entry point for every solution concept, and the report the CLI prints.

``solve(game, concept, **options)`` dispatches to a solver registered in ``CONCEPTS`` and
returns a :class:`Solution`: the profile, its values, and concept-specific details. Its
``to_json()`` is the contract of ``seqgame solve --json``: keys ``concept``, ``attacker``
(seed → attack → p), ``defender`` (observation key → response → p), ``value``
(``attacker``, ``defender``), ``asr``, ``over_refusal``, ``safety`` (``pointwise``,
``violations``, ...), plus ``metrics``, ``expected_safety`` and ``details``; games with
T > 1 add ``per_turn`` (one ``{attacker, defender}`` per turn; the top level is turn 1).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from seqgame.errors import SolverError
from seqgame.game import SequentialGame
from seqgame.metrics import evaluate
from seqgame.profile import Profile
from seqgame.safety import expected_safety, pointwise_safety
from seqgame.spne import spne


@dataclass(frozen=True, eq=False)
class Solution:
    """A solved game: one equilibrium profile and concept-specific details.

    Attributes:
        concept: the solution concept's name.
        game: the game solved.
        profile: the equilibrium profile.
        details: JSON-ready concept-specific data (tie sets, posteriors, other equilibria).
    """

    concept: str
    game: SequentialGame
    profile: Profile
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The ``seqgame solve --json`` object (see the module docstring)."""
        game = self.game
        metrics = evaluate(game, self.profile)
        metrics_json = metrics.to_json()
        first = self.profile.to_json(game, 0)
        out: dict[str, Any] = {
            "concept": self.concept,
            "game": game.name,
            "attacker": first["attacker"],
            "defender": first["defender"],
            "value": {"attacker": metrics.value_attacker, "defender": metrics.value_defender},
            "asr": metrics_json["asr"],
            "over_refusal": metrics_json["over_refusal"],
            "safety": pointwise_safety(game, self.profile).to_json(),
            "expected_safety": expected_safety(game, self.profile).to_json(),
            "metrics": metrics_json,
            "details": self.details,
        }
        if game.turns > 1:
            out["per_turn"] = [self.profile.to_json(game, t) for t in range(game.turns)]
        return out


def _solve_spne(game: SequentialGame, tie_breaking: str = "strong") -> Solution:
    result = spne(game, tie_breaking=tie_breaking)  # type: ignore[arg-type]
    details = {
        "tie_breaking": result.tie_breaking,
        "defender_ties": [
            {"turn": t.turn, "seed": t.seed, "attack": t.attack, "responses": list(t.responses)}
            for t in result.defender_ties()
        ],
        "attacker_ties": [
            {"turn": t.turn, "seed": t.seed, "attacks": list(t.attacks)}
            for t in result.attacker_ties()
        ],
    }
    return Solution("spne", game, result.profile, details)


#: concept name -> solver(game, **options) -> Solution. Other modules add concepts here.
CONCEPTS: dict[str, Callable[..., Solution]] = {"spne": _solve_spne}
#: concept name -> the options it accepts (for clear errors).
CONCEPT_OPTIONS: dict[str, tuple[str, ...]] = {"spne": ("tie_breaking",)}


def register_concept(
    name: str, solver: Callable[..., Solution], options: tuple[str, ...] = ()
) -> None:
    """Register a solution concept for :func:`solve` and ``seqgame solve --concept``."""
    CONCEPTS[name] = solver
    CONCEPT_OPTIONS[name] = options


def solve(game: SequentialGame, concept: str = "spne", **options: Any) -> Solution:
    """Solve ``game`` with ``concept``; ``options`` go to that concept's solver.

    Raises:
        SolverError: unknown concept or an option the concept does not take.
    """
    _load_optional_concepts()
    if concept not in CONCEPTS:
        raise SolverError(f"unknown concept {concept!r}; choose from {sorted(CONCEPTS)}")
    allowed = CONCEPT_OPTIONS.get(concept, ())
    bad = sorted(k for k, v in options.items() if v is not None and k not in allowed)
    if bad:
        raise SolverError(
            f"concept {concept!r} takes no option {bad}; its options: {list(allowed) or 'none'}"
        )
    return CONCEPTS[concept](game, **{k: v for k, v in options.items() if v is not None})


def _load_optional_concepts() -> None:
    """Import the modules that register further concepts (they register on import)."""
    import importlib

    for module in ("seqgame.equilibria",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise

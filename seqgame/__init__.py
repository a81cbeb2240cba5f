"""seqgame: game-theoretic LLM safety — attacker–defender sequential games.

Define a game once (:class:`SequentialGame`, spec files), solve it exactly (:func:`spne`,
:func:`solve`), measure profiles (:func:`evaluate`) and check MAGIC's Theorem 3.2
(:func:`pointwise_safety`). Importing seqgame needs only NumPy, SciPy and PyYAML, and has
no side effects. The layers and what each may import: ``docs/architecture.md``.
"""

from seqgame.analysis.metrics import ProfileMetrics, evaluate, nash_conv
from seqgame.analysis.safety import SafetyReport, expected_safety, pointwise_safety
from seqgame.errors import (
    BackendUnavailableError,
    CheckpointError,
    EnvError,
    GameTooLargeError,
    InvalidConfigError,
    InvalidGameError,
    InvalidProfileError,
    SeqgameError,
    SolverError,
    UnknownGameError,
)
from seqgame.games.catalog import BUILTIN_GAMES, builtin_game, load_game
from seqgame.model.game import Accrual, Label, Observation, Role, Seed, SequentialGame
from seqgame.model.payoffs import Rewards
from seqgame.model.profile import Profile
from seqgame.model.spec import dump_spec, game_from_spec, game_to_spec, read_spec_file
from seqgame.solvers.concepts import Solution, solve
from seqgame.solvers.spne import SPNEResult, spne

__version__ = "0.2.0"

__all__ = [
    "BUILTIN_GAMES",
    "Accrual",
    "BackendUnavailableError",
    "CheckpointError",
    "EnvError",
    "GameTooLargeError",
    "InvalidConfigError",
    "InvalidGameError",
    "InvalidProfileError",
    "Label",
    "Observation",
    "Profile",
    "ProfileMetrics",
    "Rewards",
    "Role",
    "SPNEResult",
    "SafetyReport",
    "Seed",
    "SeqgameError",
    "SequentialGame",
    "Solution",
    "SolverError",
    "UnknownGameError",
    "builtin_game",
    "dump_spec",
    "evaluate",
    "expected_safety",
    "game_from_spec",
    "game_to_spec",
    "load_game",
    "nash_conv",
    "pointwise_safety",
    "read_spec_file",
    "solve",
    "spne",
]

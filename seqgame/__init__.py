"""seqgame: game-theoretic LLM safety — attacker–defender sequential games.

Define a game once (:class:`SequentialGame`, spec files), solve it exactly (:func:`spne`),
measure profiles (:func:`evaluate`) and check MAGIC's Theorem 3.2 (:func:`pointwise_safety`).
Importing seqgame needs only NumPy, SciPy and PyYAML.
"""

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
from seqgame.game import Label, Observation, Rewards, Role, Seed, SequentialGame
from seqgame.metrics import ProfileMetrics, evaluate, nash_conv
from seqgame.profile import Profile
from seqgame.safety import SafetyReport, expected_safety, pointwise_safety
from seqgame.spec import game_from_spec, game_to_spec, load_game
from seqgame.spne import SPNEResult, spne

__version__ = "0.1.0"

__all__ = [
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
    "SolverError",
    "UnknownGameError",
    "evaluate",
    "expected_safety",
    "game_from_spec",
    "game_to_spec",
    "load_game",
    "nash_conv",
    "pointwise_safety",
    "spne",
]

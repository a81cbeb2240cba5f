"""The seqgame exception hierarchy.

Every error a user can trigger derives from :class:`SeqgameError`. Messages name the bad
value (with its key path where it came from a file) and say how to fix it.
"""

from __future__ import annotations


class SeqgameError(Exception):
    """Base class of every error raised by seqgame on bad input or impossible requests."""


class InvalidGameError(SeqgameError, ValueError):
    """A game or game spec is malformed (missing keys, bad probabilities, unknown names...)."""


class UnknownGameError(SeqgameError, KeyError):
    """A game name is neither a built-in game nor an existing spec file."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ""


class InvalidProfileError(SeqgameError, ValueError):
    """A strategy profile has the wrong shape or is not a probability distribution."""


class SolverError(SeqgameError):
    """A solver cannot handle the game (wrong concept, too large, LP failure...)."""


class GameTooLargeError(SolverError):
    """The game exceeds what an exact method can enumerate; the message says the limit."""


class InvalidConfigError(SeqgameError, ValueError):
    """A run or experiment configuration is invalid."""


class CheckpointError(SeqgameError):
    """A checkpoint is missing, partial or corrupt."""


class EnvError(SeqgameError):
    """Illegal use of an environment (bad action, wrong agent, acting after the end)."""


class BackendUnavailableError(SeqgameError, ImportError):
    """An optional backend's dependencies are not installed; the message says what to install."""

"""Lazy imports of optional solver packages, with the install command in the error."""

from __future__ import annotations

import importlib
from types import ModuleType

from seqgame.errors import BackendUnavailableError


def require(name: str, extra: str = "spiel") -> ModuleType:
    """Import the optional module ``name`` or raise BackendUnavailableError naming the extra."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise BackendUnavailableError(
            f"{name} is not installed ({exc}): pip install 'seqgame[{extra}]'"
        ) from None

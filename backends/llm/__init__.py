"""LLM backend: text games, judges, and TRL-based learners (torch imported lazily).

Importing this package registers the synthetic text game ``jailbreak_text_v1`` and needs
only NumPy; the modules that use torch / transformers / TRL (``tiny``, ``models``,
``policy``, ``learner``, ``sft``, ``factory``, ``demo``) import them inside functions and
raise :class:`seqgame.errors.BackendUnavailableError` when they are missing.
"""

from __future__ import annotations

from . import textgame as textgame  # registers jailbreak_text_v1

INSTALL_HINT = "pip install 'seqgame[llm]'"


def require_llm_stack() -> None:
    """Raise BackendUnavailableError unless torch, transformers and trl import."""
    from seqgame.errors import BackendUnavailableError

    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
        import trl  # noqa: F401
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the LLM backend needs torch, transformers and trl ({exc.name} is missing): "
            f"{INSTALL_HINT}"
        ) from None

"""The LLM backend as the core sees it (the ``seqgame.backends`` entry point ``llm``).

``build_learners`` (:mod:`.factory`) builds both roles' GRPO learners; ``preflight``
(:mod:`.preflight`) checks a run config before any expensive work. Both import torch and
friends lazily.
"""

from __future__ import annotations

from .factory import build_learners
from .preflight import preflight

__all__ = ["build_learners", "preflight"]

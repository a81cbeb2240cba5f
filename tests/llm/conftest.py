"""Fixtures of the LLM-backend tests: one tiny offline model per session.

Tests that need torch / transformers / TRL use the ``tiny_dir`` fixture (or import them
inside the test), so the pure parsers, rewards and judges are tested without them.
"""

import pytest


@pytest.fixture(scope="session")
def text_game():
    from seqgame.backends.llm.textgame import text_game

    return text_game()


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory, text_game):
    pytest.importorskip("torch", reason="needs torch (pip install 'seqgame[llm]')")
    pytest.importorskip("trl", reason="needs trl (pip install 'seqgame[llm]')")
    from seqgame.backends.llm.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"), text_game.corpus())

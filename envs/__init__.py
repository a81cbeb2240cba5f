"""Gymnasium / PettingZoo views of a :class:`~seqgame.game.SequentialGame`.

PettingZoo module conventions: :func:`env` (order-enforcing AEC), :func:`raw_env`
(unwrapped AEC), :func:`parallel_env` (native, turn-based parallel); plus
:func:`single_agent`, a Gymnasium environment in which one role plays against a frozen
opponent. The game is the only source of payoffs (see ``docs/envs.md``).
"""

from seqgame.envs.aec import (
    AGENTS,
    SeqGameAEC,
    TextParser,
    env,
    parse_attack,
    parse_response,
    raw_env,
)
from seqgame.envs.parallel import SeqGameParallel
from seqgame.envs.single import SingleAgentEnv, single_agent
from seqgame.game import SequentialGame


def parallel_env(
    game: SequentialGame,
    *,
    text: bool = False,
    max_action_length: int = 1024,
    attack_parser: TextParser = parse_attack,
    response_parser: TextParser = parse_response,
    render_mode: str | None = None,
) -> SeqGameParallel:
    """Build the native turn-based parallel environment of ``game`` (args as ``raw_env``)."""
    return SeqGameParallel(game, text=text, max_action_length=max_action_length,
                           attack_parser=attack_parser, response_parser=response_parser,
                           render_mode=render_mode)


__all__ = [
    "AGENTS",
    "SeqGameAEC",
    "SeqGameParallel",
    "SingleAgentEnv",
    "TextParser",
    "env",
    "parallel_env",
    "parse_attack",
    "parse_response",
    "raw_env",
    "single_agent",
]

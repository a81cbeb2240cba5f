"""Gymnasium / PettingZoo views of a :class:`~seqgame.model.game.SequentialGame`.

PettingZoo module conventions: :func:`env` (order-enforcing AEC), :func:`raw_env`
(unwrapped AEC), :func:`parallel_env` (native, turn-based parallel); plus
:func:`single_agent`, a Gymnasium environment in which one role plays against a frozen
opponent. The game is the only source of payoffs (see ``docs/envs.md``). With
``text=True, judge=...`` each is judge-backed (:mod:`seqgame.envs.textmode`);
:func:`text_episodes` is the vectorised form (N episodes, one judge call per step).
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
from seqgame.envs.textmode import (
    EpisodeState,
    JudgedTurn,
    TextEpisodes,
    TextObservation,
    TextWorld,
    draw_seeds,
    text_episodes,
)

#: PettingZoo's ``parallel_env``: the native, turn-based parallel environment (arguments
#: as :class:`SeqGameParallel`).
parallel_env = SeqGameParallel


__all__ = [
    "AGENTS",
    "EpisodeState",
    "JudgedTurn",
    "SeqGameAEC",
    "SeqGameParallel",
    "SingleAgentEnv",
    "TextEpisodes",
    "TextObservation",
    "TextParser",
    "TextWorld",
    "draw_seeds",
    "env",
    "parallel_env",
    "parse_attack",
    "parse_response",
    "raw_env",
    "single_agent",
    "text_episodes",
]

"""The catalog of built-in games: one static table, and ``load_game``.

``BUILTIN_GAMES`` maps each name to a one-line summary; :func:`builtin_game` builds it. The
table is plain data: nothing registers on import, so every built-in (the LLM text games
included) loads after a bare ``import seqgame``. Packages may add games through the
``seqgame.games`` entry-point group (name = ``"module:builder"``, a function of no
arguments returning a :class:`~seqgame.model.game.SequentialGame`); built-in names win.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from importlib.metadata import entry_points
from pathlib import Path

from seqgame.documents import paused_gc, short
from seqgame.errors import InvalidGameError, UnknownGameError
from seqgame.games.jailbreak import (
    jailbreak_hidden_v1,
    jailbreak_multiturn_v1,
    jailbreak_nofallback_v1,
    jailbreak_v1,
)
from seqgame.games.text import jailbreak_text_v1
from seqgame.games.toys import disguise_game, entry_deterrence, example_v1, self_redteam_game
from seqgame.model.game import SequentialGame
from seqgame.model.spec import game_from_spec, read_spec_file

Builder = Callable[[], SequentialGame]

_BUILDERS: dict[str, tuple[Builder, str]] = {
    "jailbreak_v1": (jailbreak_v1,
                     "MAGIC's 21 attacks, harmful + benign seeds, full observation"),
    "jailbreak_hidden_v1": (jailbreak_hidden_v1, "jailbreak_v1 with the seed hidden"),
    "jailbreak_nofallback_v1": (jailbreak_nofallback_v1,
                                "jailbreak_v1 where no safe fallback exists for encodings"),
    "jailbreak_multiturn_v1": (jailbreak_multiturn_v1, "3-turn jailbreak game"),
    "example_v1": (example_v1, "the spec documentation's example"),
    "entry_deterrence": (entry_deterrence,
                         "textbook: NE with a non-credible threat, one SPNE"),
    "disguise_mixed_v1": (lambda: disguise_game(0.5, 0.6, name="disguise_mixed_v1"),
                          "hidden-seed disguise toy, p = 1/2: unique mixed PBE"),
    "disguise_pooling_v1": (lambda: disguise_game(0.2, 0.6, name="disguise_pooling_v1"),
                            "hidden-seed disguise toy, p = 1/5: pooling PBE with certain harm"),
    "self_redteam_v1": (self_redteam_game,
                        "general-sum refusal game with Self-RedTeam-style unequal weights"),
    "jailbreak_text_v1": (jailbreak_text_v1,
                          "synthetic text game for the LLM backend (tiny LMs)"),
}

#: Built-in game name -> one-line summary.
BUILTIN_GAMES: dict[str, str] = {name: summary for name, (_, summary) in _BUILDERS.items()}

ENTRY_POINT_GROUP = "seqgame.games"


@cache
def _plugin_games() -> dict[str, Callable[[], Builder]]:
    """Games that installed packages offer through the ``seqgame.games`` entry points."""
    return {ep.name: ep.load for ep in entry_points(group=ENTRY_POINT_GROUP)
            if ep.name not in _BUILDERS}


def game_names() -> dict[str, str]:
    """Every loadable game name -> summary: the built-ins, then installed plugins."""
    out = dict(BUILTIN_GAMES)
    out.update({name: "from an installed package" for name in _plugin_games()})
    return out


def builtin_game(name: str) -> SequentialGame:
    """Build the built-in (or plugin) game ``name``."""
    if name in _BUILDERS:
        return _BUILDERS[name][0]()
    plugins = _plugin_games()
    if name in plugins:
        game = plugins[name]()()
        if not isinstance(game, SequentialGame):
            raise InvalidGameError(
                f"the '{ENTRY_POINT_GROUP}' entry point {name!r} returned "
                f"{type(game).__name__}, not a SequentialGame"
            )
        return game
    raise UnknownGameError(
        f"unknown built-in game {short(name)}; choose from {sorted(game_names())}")


def load_game(name_or_path: str | Path | SequentialGame) -> SequentialGame:
    """A built-in game by name (``"jailbreak_v1"``) or a spec file path → game.

    Raises:
        UnknownGameError: the name is neither built in nor an existing file.
        InvalidGameError: the spec file is malformed.
    """
    if isinstance(name_or_path, SequentialGame):
        return name_or_path
    key = str(name_or_path)
    if key in _BUILDERS or key in _plugin_games():
        return builtin_game(key)
    path = Path(key)
    if path.is_dir():
        raise UnknownGameError(
            f"{short(key)} is a directory, not a spec file: give a .yaml or .json file")
    if path.is_file():
        try:
            with paused_gc():
                return game_from_spec(read_spec_file(path))
        except InvalidGameError as exc:
            message = str(exc)
            raise InvalidGameError(
                message if message.startswith(str(path)) else f"{path}: {message}") from None
    raise UnknownGameError(
        f"unknown game {short(key)}: not a built-in game ({', '.join(sorted(game_names()))}) "
        "and no such spec file; run 'seqgame games' to list the built-in games"
    )

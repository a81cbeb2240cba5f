"""Built-in games as data (``jailbreak``, ``toys``, ``text``) and their catalog."""

from seqgame.games.catalog import BUILTIN_GAMES, builtin_game, game_names, load_game

__all__ = ["BUILTIN_GAMES", "builtin_game", "game_names", "load_game"]

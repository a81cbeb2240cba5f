"""Text games for the judge-backed env tests: jailbreak_text_v1 and variants of its spec."""

from seqgame.games import builtin_game
from seqgame.model.spec import game_from_spec, game_to_spec

BASE = "jailbreak_text_v1"


def variant(turns: int = 1, observation: str = "full", accrual: str = "sum",
            discount: float = 1.0):
    """jailbreak_text_v1 with other turns / observation / accrual / discount."""
    spec = game_to_spec(builtin_game(BASE))
    if (turns, observation, accrual, discount) == (1, "full", "sum", 1.0):
        return builtin_game(BASE)
    spec.update(name=f"jt_{turns}_{observation}_{accrual}_{discount:g}", turns=turns,
                observation=observation, accrual=accrual, discount=discount)
    return game_from_spec(spec)


#: (id, game) for single- and multi-turn, both observations.
TEXT_GAMES = [
    ("single_full", variant()),
    ("single_attack", variant(observation="attack")),
    ("multi_full", variant(turns=3)),
    ("multi_attack", variant(turns=3, observation="attack")),
]

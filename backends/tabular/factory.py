"""Build tabular learners from run-config options (``backend: tabular``).

``build_learners(game, attacker_options, defender_options, seed)`` reads ``algorithm``
(``grpo`` by default, ``shared_grpo``, ``best_response``, ``fictitious_play``, ``mwu``)
and that algorithm's options; an unknown option, a wrong type or an out-of-range value
raises :class:`~seqgame.errors.InvalidConfigError` naming the key. Hyper-parameter names
follow TRL's ``GRPOConfig``: ``num_generations`` (group size G), ``epsilon`` (clip),
``beta`` (KL), ``learning_rate``, ``num_iterations``, ``scale_rewards``.
"""

from __future__ import annotations

import math
from typing import Any

from seqgame.backends.tabular.exact import (
    BestResponseLearner,
    FictitiousPlayLearner,
    MultiplicativeWeightsLearner,
)
from seqgame.backends.tabular.grpo import SCALE_REWARDS, GRPOLearner
from seqgame.backends.tabular.shared import SharedGRPOLearner, SharedParameters
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Role, SequentialGame

ALGORITHMS = ("grpo", "shared_grpo", "best_response", "fictitious_play", "mwu")

# option -> (type, check, hint); checks return True when the value is acceptable.
_GRPO_OPTIONS: dict[str, tuple[type | tuple[type, ...], Any, str]] = {
    "num_generations": (int, lambda v: v >= 2, "an integer >= 2 (group size G)"),
    "seeds_per_step": (int, lambda v: v >= 1, "an integer >= 1"),
    "learning_rate": ((int, float), lambda v: math.isfinite(v) and v > 0, "a number > 0"),
    "epsilon": ((int, float), lambda v: 0 < v < 1, "a number in (0, 1)"),
    "beta": ((int, float), lambda v: math.isfinite(v) and v >= 0, "a number >= 0"),
    "num_iterations": (int, lambda v: v >= 1, "an integer >= 1"),
    "scale_rewards": (str, lambda v: v in SCALE_REWARDS, f"one of {list(SCALE_REWARDS)}"),
    "optimistic": (bool, lambda v: True, "true or false"),
    "exploration": ((int, float), lambda v: 0 <= v <= 1, "a number in [0, 1]"),
    "parameterization": (str, lambda v: v in ("tabular", "features"),
                         "'tabular' or 'features'"),
    "l2": ((int, float), lambda v: math.isfinite(v) and v >= 0, "a number >= 0"),
    "best_of_k": (int, lambda v: v >= 1, "an integer >= 1"),
    "pairwise_preference": (bool, lambda v: True, "true or false"),
    "init_attack": (str, lambda v: bool(v), "an attack name"),
    "init_bias": ((int, float), lambda v: math.isfinite(v), "a number"),
}
_SHARED_OPTIONS = {**{k: v for k, v in _GRPO_OPTIONS.items() if k != "parameterization"},
                   "share": (bool, lambda v: True, "true or false")}
_MWU_OPTIONS = {k: _GRPO_OPTIONS[k] for k in ("learning_rate", "optimistic")}
OPTIONS: dict[str, dict] = {
    "grpo": _GRPO_OPTIONS,
    "shared_grpo": _SHARED_OPTIONS,
    "best_response": {},
    "fictitious_play": {},
    "mwu": _MWU_OPTIONS,
}


def _validate(role: Role, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(options, dict):
        raise InvalidConfigError(f"{role.value} = {options!r}: use a mapping of options")
    options = dict(options)
    algorithm = options.pop("algorithm", "grpo")
    if algorithm not in ALGORITHMS:
        raise InvalidConfigError(
            f"{role.value}.algorithm = {algorithm!r}: choose from {list(ALGORITHMS)}"
        )
    allowed = OPTIONS[algorithm]
    for key, value in options.items():
        if key not in allowed:
            raise InvalidConfigError(
                f"{role.value}.{key}: unknown option for algorithm {algorithm!r}; allowed: "
                f"{sorted(allowed) or 'none'}"
            )
        types, check, hint = allowed[key]
        if isinstance(value, bool) and types is not bool:
            ok = False
        else:
            ok = isinstance(value, types) and check(value)
        if not ok:
            raise InvalidConfigError(f"{role.value}.{key} = {value!r}: use {hint}")
    return algorithm, options


def build_learners(
    game: SequentialGame,
    attacker_options: dict[str, Any],
    defender_options: dict[str, Any],
    seed: int,
) -> tuple[Any, Any]:
    """Build the attacker and defender learners of a tabular run.

    Args:
        game: the game.
        attacker_options: ``algorithm`` plus its options, for the attacker.
        defender_options: the same for the defender.
        seed: unused (tabular learners start deterministically: uniform logits); kept for
            the factory contract shared with the LLM backend.

    Returns:
        ``(attacker_learner, defender_learner)``.

    Raises:
        InvalidConfigError: unknown algorithm or option, bad value, or an algorithm the
            game cannot use (e.g. GRPO on a multi-turn game).
    """
    del seed
    alg_a, opt_a = _validate(Role.ATTACKER, attacker_options)
    alg_d, opt_d = _validate(Role.DEFENDER, defender_options)
    if (alg_a == "shared_grpo") != (alg_d == "shared_grpo"):
        raise InvalidConfigError(
            "algorithm 'shared_grpo' must be used by both roles (one shared weight table)"
        )
    if alg_a == "shared_grpo":
        share_a, share_d = opt_a.pop("share", True), opt_d.pop("share", True)
        if share_a != share_d:
            raise InvalidConfigError("attacker.share and defender.share must agree")
        first = SharedParameters(game)
        second = first if share_a else SharedParameters(game)
        return (SharedGRPOLearner(game, Role.ATTACKER, first, **opt_a),
                SharedGRPOLearner(game, Role.DEFENDER, second, **opt_d))
    return _build(game, Role.ATTACKER, alg_a, opt_a), _build(game, Role.DEFENDER, alg_d, opt_d)


def _build(game: SequentialGame, role: Role, algorithm: str, options: dict[str, Any]) -> Any:
    if algorithm == "grpo":
        if role is Role.DEFENDER:
            for key in ("best_of_k", "init_attack"):
                if key in options:
                    raise InvalidConfigError(f"defender.{key}: an attacker-only option")
        return GRPOLearner(game, role, **options)
    if algorithm == "best_response":
        return BestResponseLearner(game, role)
    if algorithm == "fictitious_play":
        return FictitiousPlayLearner(game, role)
    return MultiplicativeWeightsLearner(game, role, **options)

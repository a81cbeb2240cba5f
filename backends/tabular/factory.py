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
from dataclasses import dataclass
from typing import Any

from seqgame.backends.tabular.exact import (
    BestResponseLearner,
    FictitiousPlayLearner,
    MultiplicativeWeightsLearner,
)
from seqgame.backends.tabular.grpo import SCALE_REWARDS, GRPOLearner
from seqgame.backends.tabular.shared import SharedGRPOLearner, SharedParameters
from seqgame.config import parse_options
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Role, SequentialGame

ALGORITHMS = ("grpo", "shared_grpo", "best_response", "fictitious_play", "mwu")


def _require(value: Any, ok: bool, key: str, hint: str) -> None:
    if value is not None and not ok:
        raise InvalidConfigError(f"{key} = {value!r}: use {hint}")


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


@dataclass(frozen=True)
class _GRPOCommon:
    """Options shared by ``grpo`` and ``shared_grpo`` (None: the learner's default).

    Attributes:
        num_generations: group size G, samples per seed (>= 2).
        seeds_per_step: seeds drawn from the prior per step.
        learning_rate: step size of the gradient ascent on the logits.
        epsilon: PPO clip range of the ratio, in (0, 1).
        beta: weight of the KL penalty towards the initial policy (>= 0).
        num_iterations: gradient steps on each batch (the clip binds from the second).
        scale_rewards: advantage scaling: ``group`` (TRL's default), ``batch`` or ``none``.
        optimistic: optimistic step theta += lr (2 g_t - g_{t-1}).
        exploration: trembling-hand rate with which the policy acts for its opponent.
        l2: L2 penalty on the logits.
        best_of_k: attacker: score each attack against the best of K defender replies.
        pairwise_preference: replace each reward by its win rate within its group.
        init_attack: attacker: the attack whose logit starts raised by ``init_bias``.
        init_bias: the initial logit bonus of ``init_attack``.
    """

    num_generations: int | None = None
    seeds_per_step: int | None = None
    learning_rate: float | None = None
    epsilon: float | None = None
    beta: float | None = None
    num_iterations: int | None = None
    scale_rewards: str | None = None
    optimistic: bool | None = None
    exploration: float | None = None
    l2: float | None = None
    best_of_k: int | None = None
    pairwise_preference: bool | None = None
    init_attack: str | None = None
    init_bias: float | None = None

    def __post_init__(self) -> None:
        v = self
        _require(v.num_generations, (v.num_generations or 0) >= 2, "num_generations",
                 "an integer >= 2 (group size G)")
        _require(v.seeds_per_step, (v.seeds_per_step or 0) >= 1, "seeds_per_step",
                 "an integer >= 1")
        _require(v.learning_rate, _finite(v.learning_rate) and (v.learning_rate or 0) > 0,
                 "learning_rate", "a number > 0")
        _require(v.epsilon, 0 < (v.epsilon or 0) < 1, "epsilon", "a number in (0, 1)")
        _require(v.beta, _finite(v.beta) and (v.beta or 0) >= 0, "beta", "a number >= 0")
        _require(v.num_iterations, (v.num_iterations or 0) >= 1, "num_iterations",
                 "an integer >= 1")
        _require(v.scale_rewards, v.scale_rewards in SCALE_REWARDS, "scale_rewards",
                 f"one of {list(SCALE_REWARDS)}")
        _require(v.exploration, 0 <= (v.exploration or 0) <= 1, "exploration",
                 "a number in [0, 1]")
        _require(v.l2, _finite(v.l2) and (v.l2 or 0) >= 0, "l2", "a number >= 0")
        _require(v.best_of_k, (v.best_of_k or 0) >= 1, "best_of_k", "an integer >= 1")
        _require(v.init_attack, bool(v.init_attack), "init_attack", "an attack name")


@dataclass(frozen=True)
class GRPOOptions(_GRPOCommon):
    """``grpo``: softmax GRPO with group-relative advantages (see :mod:`.grpo`).

    Attributes:
        parameterization: ``tabular`` (a logit per node and action) or ``features``
            (defender logits linear in the game's attack features).
    """

    parameterization: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.parameterization, self.parameterization in ("tabular", "features"),
                 "parameterization", "'tabular' or 'features'")


@dataclass(frozen=True)
class SharedGRPOOptions(_GRPOCommon):
    """``shared_grpo``: both roles read one shared weight table (see :mod:`.shared`).

    Attributes:
        share: one table for both roles (default true); false gives each role its own
            table of the same layout (a control run). Both roles must agree.
    """

    share: bool | None = None


@dataclass(frozen=True)
class MWUOptions:
    """``mwu``: multiplicative weights (optionally optimistic).

    Attributes:
        learning_rate: step size eta of the exponential weights (> 0).
        optimistic: optimistic update with the last payoff counted twice.
    """

    learning_rate: float | None = None
    optimistic: bool | None = None

    def __post_init__(self) -> None:
        _require(self.learning_rate,
                 _finite(self.learning_rate) and (self.learning_rate or 0) > 0,
                 "learning_rate", "a number > 0")


@dataclass(frozen=True)
class NoOptions:
    """``best_response`` and ``fictitious_play`` take no options."""


OPTIONS: dict[str, type] = {"grpo": GRPOOptions, "shared_grpo": SharedGRPOOptions,
                            "best_response": NoOptions, "fictitious_play": NoOptions,
                            "mwu": MWUOptions}


def _validate(role: Role, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if not isinstance(options, dict):
        raise InvalidConfigError(f"{role.value} = {options!r}: use a mapping of options")
    options = dict(options)
    algorithm = options.pop("algorithm", "grpo")
    if algorithm not in ALGORITHMS:
        raise InvalidConfigError(
            f"{role.value}.algorithm = {algorithm!r}: choose from {list(ALGORITHMS)}"
        )
    parsed: Any = parse_options(OPTIONS[algorithm], options, role.value)
    return algorithm, {k: getattr(parsed, k) for k in options}


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

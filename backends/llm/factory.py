"""Build LLM learners from run-config options (``backend: llm``).

``build_learners(game, attacker_options, defender_options, seed)`` returns two
:class:`~seqgame.backends.llm.learner.GRPOLearner` for a text game (a game whose seeds
carry ``text``, e.g. ``jailbreak_text_v1``). Options per role (unknown keys raise):

``model``
    ``tiny`` (build a tiny random Qwen2 model and tokenizer in ``tiny_dir``, offline,
    deterministic from ``seed``) or a local directory saved with ``save_pretrained``.
``tiny_dir``, ``tiny``
    where to build the tiny model (default: a cache folder under the system temp dir,
    keyed by game and seed) and its shape (:class:`~seqgame.backends.llm.tiny.TinyConfig`).
``grpo``
    :class:`~seqgame.backends.llm.learner.GRPOOptions` fields.
``sft``
    :class:`~seqgame.backends.llm.sft.SFTOptions` fields, run once when the learner is
    built. Attacker: MAGIC's Phase 1 on ``pool`` (an attack-pool JSONL; ``canonical``
    writes the text game's own pool). Defender: a stand-in for the instruct model MAGIC
    starts from — safe on the attacks in ``aligned`` (default ``[direct]``), 50/50 on every
    other attack (see :func:`~seqgame.backends.llm.sft.reply_dataset`).
``judge``
    ``{"kind": "rule"}`` (default), ``{"kind": "hf", "model_path", "guard"}`` or
    ``{"kind": "http", "base_url", "model", "guard", ...}``, each with ``on_unparseable``.
``best_of_k``
    attacker only: score each rewrite against the best of K sampled defender replies
    (AdvGame; an integer >= 1, default 1 = MAGIC; see :mod:`~seqgame.backends.llm.scoring`).
``request_label_source`` (``seed`` | ``rewrite``), ``n_samples`` (samples per node when
estimating the policy table), ``trust_remote_code`` (off), ``device``, ``dtype``,
``attn_implementation`` (e.g. ``flash_attention_2`` on GPU).

Multi-turn text games (``turns`` > 1) are played turn by turn with histories (see
:mod:`~seqgame.backends.llm.episodes`); ``best_of_k`` > 1 is single-turn only.

``policy().probabilities(game)`` is estimated by sampling and judging (see
:mod:`seqgame.backends.llm.policy`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from seqgame.errors import InvalidConfigError
from seqgame.game import Role, SequentialGame

from . import require_llm_stack
from .judges import Judge, RuleJudge
from .textgame import TextGame

_KEYS = {"model", "tiny_dir", "tiny", "grpo", "sft", "judge", "request_label_source",
         "n_samples", "trust_remote_code", "device", "dtype", "attn_implementation",
         "best_of_k"}


def _check_keys(options: dict[str, Any], role: str) -> None:
    unknown = sorted(set(options) - _KEYS)
    if unknown:
        raise InvalidConfigError(
            f"{role}: unknown option(s) {unknown} for backend 'llm'; allowed: {sorted(_KEYS)}"
        )


def build_judge(options: dict[str, Any] | None, text_game: TextGame) -> Judge:
    """Build the judge described by ``options`` (see the module docstring)."""
    options = dict(options or {})
    kind = options.pop("kind", "rule")
    policy = options.pop("on_unparseable", "unsafe")
    if kind == "rule":
        if options:
            raise InvalidConfigError(f"judge: unknown option(s) {sorted(options)} for 'rule'")
        return RuleJudge({s.text or "": s.harmful for s in text_game.game.seeds}, policy)
    if kind == "hf":
        from .guards import HFGuardJudge

        guard = options.pop("guard", "qwen3guard")
        return HFGuardJudge(kind=guard, on_unparseable=policy, **options)
    if kind == "http":
        from .http_judge import HTTPJudge

        guard = options.pop("guard", "qwen3guard")
        return HTTPJudge(kind=guard, on_unparseable=policy, **options)
    raise InvalidConfigError(f"judge.kind = {kind!r}: use 'rule', 'hf' or 'http'")


def _model_dir(options: dict[str, Any], text_game: TextGame, seed: int, role: str) -> Path:
    from .tiny import TinyConfig, build_tiny_model, tiny_key

    model = options.get("model", "tiny")
    if model != "tiny":
        return Path(model)
    tiny = TinyConfig(**{"seed": seed, **dict(options.get("tiny", {}))})
    key = tiny_key(text_game.corpus(), tiny)
    default = Path(tempfile.gettempdir()) / "seqgame-tiny" / f"{text_game.game.name}-{key}"
    out = Path(options.get("tiny_dir", default))
    if not (out / "config.json").is_file():
        # Build beside the target and rename, so concurrent runs never see half a model.
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
        build_tiny_model(tmp, text_game.corpus(), tiny)
        try:
            tmp.rename(out)
        except OSError:  # another process won the race: its model is identical
            shutil.rmtree(tmp, ignore_errors=True)
    return out


def build_learner(role: Role, game: SequentialGame, options: dict[str, Any], seed: int) -> Any:
    """One role's learner (see the module docstring)."""
    require_llm_stack()
    from .learner import GRPOLearner, GRPOOptions
    from .models import load_causal_lm
    from .scoring import check_best_of_k

    options = dict(options or {})
    _check_keys(options, role.value)
    text_game = TextGame(game, options.get("request_label_source", "seed"))
    best_of_k = 1
    if "best_of_k" in options:
        if role is Role.DEFENDER:
            raise InvalidConfigError("defender.best_of_k: an attacker-only option")
        try:
            best_of_k = check_best_of_k(options["best_of_k"])
        except InvalidConfigError as exc:
            raise InvalidConfigError(f"{role.value}.{exc}") from None
        if game.turns > 1 and best_of_k > 1:
            raise InvalidConfigError(
                f"{role.value}.best_of_k = {best_of_k}: single-turn games only "
                f"({game.name!r} has {game.turns} turns)"
            )
    path = _model_dir(options, text_game, seed, role.value)
    device = options.get("device", "cpu")
    model, tokenizer = load_causal_lm(
        path,
        trust_remote_code=bool(options.get("trust_remote_code", False)),
        device=device,
        attn_implementation=options.get("attn_implementation"),
        dtype=options.get("dtype", "float32"),
    )
    judge = build_judge(options.get("judge"), text_game)
    try:
        grpo = GRPOOptions(**dict(options.get("grpo", {})))
    except TypeError as exc:
        raise InvalidConfigError(f"{role.value}.grpo: {exc}") from None
    if "sft" in options:
        _warmup(model, tokenizer, text_game, dict(options["sft"]), device, role)
    return GRPOLearner(role, text_game, model, tokenizer, judge, grpo,
                       n_samples=int(options.get("n_samples", 8)), device=device,
                       best_of_k=best_of_k)


def _warmup(model: Any, tokenizer: Any, text_game: TextGame, sft: dict[str, Any],
            device: str, role: Role) -> None:
    from .sft import (
        SFTOptions,
        pool_dataset,
        read_attack_pool,
        reply_dataset,
        sft_warmup,
        write_attack_pool,
    )

    pool = sft.pop("pool", "canonical")
    aligned = tuple(sft.pop("aligned", ("direct",)))
    try:
        options = SFTOptions(**sft)
    except TypeError as exc:
        raise InvalidConfigError(f"{role.value}.sft: {exc}") from None
    if role is Role.DEFENDER:
        if pool != "canonical":
            raise InvalidConfigError("defender.sft.pool: only 'canonical' (label-blind replies)")
        dataset = reply_dataset(text_game, aligned)
    elif pool == "canonical":
        with tempfile.TemporaryDirectory() as tmp:
            rows = read_attack_pool(write_attack_pool(text_game, Path(tmp) / "pool.jsonl"))
        dataset = pool_dataset(rows)
    else:
        dataset = pool_dataset(read_attack_pool(Path(pool)))
    sft_warmup(model, tokenizer, dataset, options, device)


def build_learners(game: SequentialGame, attacker_options: dict[str, Any],
                   defender_options: dict[str, Any], seed: int) -> tuple[Any, Any]:
    """``(attacker, defender)`` GRPO learners for the text game ``game``."""
    attacker = build_learner(Role.ATTACKER, game, attacker_options, seed)
    defender = build_learner(Role.DEFENDER, game, defender_options, seed + 1)
    return attacker, defender

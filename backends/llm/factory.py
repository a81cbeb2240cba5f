"""Build LLM learners from run-config options (``backend: llm``).

``build_learners(game, attacker_options, defender_options, seed)`` returns two
:class:`~seqgame.backends.llm.learner.GRPOLearner` for a text game (a game whose seeds
carry ``text``, e.g. ``jailbreak_text_v1``). Options per role (unknown keys raise):

``model``
    ``tiny`` (build a tiny random Qwen2 model and tokenizer in ``tiny_dir``, offline,
    deterministic from ``seed``), a local directory saved with ``save_pretrained``, or a
    GGUF file (``PATH.gguf``, or ``gguf:gemma3-270m`` from its pip packages), dequantised
    once to a cached safetensors folder (:mod:`~seqgame.backends.llm.gguf`).
``chat_template``
    a ``.jinja`` file or the template text, for a (base) model whose tokenizer has none
    (e.g. ``experiments/configs/chat_template_plain.jinja``); it replaces the tokenizer's.
``tiny_dir``, ``tiny``
    where to build the tiny model (default: a cache folder under the system temp dir,
    keyed by game and seed) and its shape (:class:`~seqgame.backends.llm.tiny.TinyConfig`).
``grpo``
    :class:`~seqgame.backends.llm.learner.GRPOOptions` fields.
``sft``
    :class:`~seqgame.backends.llm.sft.SFTOptions` fields, run once when the learner is
    built. Attacker: MAGIC's Phase 1 on ``pool`` (our attack-pool JSONL or MAGIC's alpaca
    JSON array, :mod:`~seqgame.backends.llm.sft`; ``canonical`` writes the text game's own
    pool). Defender: a stand-in for the instruct model MAGIC
    starts from — safe on the attacks in ``aligned`` (default ``[direct]``), 50/50 on every
    other attack (see :func:`~seqgame.backends.llm.sft.reply_dataset`).
``judge``
    ``{"kind": "rule"}`` (default), ``{"kind": "hf", "model_path", "guard"}`` or
    ``{"kind": "http", "base_url", "model", "guard", ...}``, each with ``on_unparseable``
    (default ``skip``); see :func:`~seqgame.backends.llm.judge_config.judge_from_config`.
``best_of_k``
    attacker only: score each rewrite against the best of K sampled defender replies
    (AdvGame; an integer >= 1, default 1 = MAGIC; see :mod:`~seqgame.backends.llm.scoring`).
``lora``
    ``{r, alpha, dropout, target_modules, seed}`` (:class:`~seqgame.backends.llm.lora.LoRAOptions`):
    train a LoRA adapter over the frozen model instead of its full weights (the SFT
    warm-up then trains the adapter too).
``shared_base``
    ``true`` under **both** roles (same ``model``, both with ``lora``): one base model in
    memory with an ``attacker`` and a ``defender`` adapter (:mod:`~seqgame.backends.llm.lora`).
    It is a role option because the core run config knows nothing of models.
``plan``
    memory planning only (:class:`~seqgame.backends.llm.preflight.PlanOptions`:
    ``gpu_memory_gib`` (141, an H200), ``prompt_tokens``, ``architecture``, ``judge_gib``).
``allow_low_precision``
    train bf16/fp16 parameters anyway (refused by default: see
    :class:`~seqgame.backends.llm.learner.GRPOLearner`).
``prompts``
    the prompt templates (:mod:`~seqgame.backends.llm.prompts`): ``toy``, ``magic``, a
    mapping of templates (optionally ``base: toy|magic`` plus overrides) or a YAML/JSON
    file path. One set per run: give it under one role (the other takes it) or the same
    under both. Default: the game's (``magic`` for games with an ``unclassified`` attack,
    e.g. those of ``seqgame data build-game``; ``toy`` otherwise, e.g. ``jailbreak_text_v1``).
``heldout``
    real-scale metrics (:class:`~seqgame.backends.llm.scoring.HeldOutOptions`: ``seeds``
    (64), ``every`` (15), ``seed`` (the run's), ``tables`` (true)): a fixed sample of
    seeds per label that neither role trains on; after every ``every``-th step of a role
    its records add ``heldout_asr``, ``heldout_refusal_harmful``,
    ``heldout_compliance_benign``, ``heldout_format_rate``, ``heldout_unclassified_rate``,
    ``heldout_judge_error_rate`` (greedy play judged by the run's judge); with ``tables``
    the policy tables are estimated on those seeds only. One per run, like ``prompts``.
``request_label_source`` (``seed`` | ``rewrite``), ``n_samples`` (samples per node when
estimating the policy table), ``trust_remote_code`` (off), ``device``, ``dtype``,
``attn_implementation`` (e.g. ``flash_attention_2`` on GPU).

Under a multi-process launcher (``torchrun``, ``accelerate launch`` with DDP) each process
builds both learners; ``device: cuda`` then means the process's own GPU (``cuda:LOCAL_RANK``)
and a fixed ``cuda:N`` is refused, as are FSDP and DeepSpeed launches
(:mod:`~seqgame.backends.llm.distributed`).

Multi-turn text games (``turns`` > 1) are played turn by turn with histories (see
:mod:`~seqgame.backends.llm.episodes`); ``best_of_k`` > 1 is single-turn only.

``policy().probabilities(game)`` is estimated by sampling and judging (see
:mod:`seqgame.backends.llm.policy`).
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqgame.config import parse_options
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Role, SequentialGame

from . import require_llm_stack
from .distributed import check_engine, check_mixed_precision, process_count, process_device
from .judge_config import judge_from_config
from .judges import Judge, seed_labels
from .models import check_device, model_dir
from .prompts import load_prompts, shared_prompts
from .scoring import shared_heldout
from .textgame import TextGame


@dataclass(frozen=True)
class LLMRoleOptions:
    """One role's options under ``backend: llm`` (see the module docstring)."""

    model: str = "tiny"
    chat_template: str | None = None
    tiny_dir: str | None = None
    tiny: dict[str, Any] = field(default_factory=dict)
    grpo: dict[str, Any] = field(default_factory=dict)
    sft: dict[str, Any] | None = None
    judge: dict[str, Any] | None = None
    request_label_source: str = "seed"
    n_samples: int = 8
    trust_remote_code: bool = False
    device: str = "cpu"
    dtype: str = "float32"
    attn_implementation: str | None = None
    best_of_k: int | None = None
    lora: dict[str, Any] | None = None
    shared_base: bool = False
    allow_low_precision: bool = False
    plan: dict[str, Any] | None = None
    prompts: Any = None
    heldout: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.n_samples < 1:
            raise InvalidConfigError(f"n_samples = {self.n_samples}: use an integer >= 1")
        if self.request_label_source not in ("seed", "rewrite"):
            raise InvalidConfigError(
                f"request_label_source = {self.request_label_source!r}: use 'seed' or 'rewrite'")
        if not (self.device == "cpu" or self.device.startswith(("cuda", "mps"))):
            raise InvalidConfigError(f"device = {self.device!r}: use cpu, cuda or cuda:N")
        if self.chat_template is not None:
            from .models import read_chat_template

            read_chat_template(self.chat_template)  # a bad file fails before any loading


def build_judge(options: Mapping[str, Any] | None, text_game: TextGame,
                where: str = "judge") -> Judge:
    """Build the judge described by ``options`` (see the module docstring)."""
    g = text_game.game
    labels = seed_labels(((s.text or "", s.harmful) for s in g.seeds), f"game {g.name!r}")
    return judge_from_config(options, labels, where,
                             request_labels=text_game.request_label_source == "rewrite")


def _lora_options(opts: LLMRoleOptions, role: Role) -> Any:
    from .lora import LoRAOptions

    if opts.lora is None:
        if opts.shared_base:
            raise InvalidConfigError(
                f"{role.value}.shared_base: a shared base needs lora on both roles (set "
                f"{role.value}.lora, e.g. {{r: 16, alpha: 32}})")
        return None
    return parse_options(LoRAOptions, dict(opts.lora), f"{role.value}.lora")


def _role_setup(role: Role, game: SequentialGame | None, options: dict[str, Any]
                ) -> tuple[LLMRoleOptions, Any, int, Any]:
    """Parse and check a role's options before anything heavy: (opts, grpo, best_of_k, lora)."""
    opts = parse_options(LLMRoleOptions, dict(options or {}), role.value)
    opts = dataclasses.replace(opts, device=process_device(opts.device, role.value))
    grpo_opts = _grpo_options(opts, role)
    try:  # the step's batch must split over the launch's processes
        grpo_opts.layout(process_count())
    except InvalidConfigError as exc:
        raise InvalidConfigError(f"{role.value}.grpo.{exc}") from None
    check_mixed_precision(grpo_opts.bf16, role.value)
    best_of_k = _best_of_k(opts, role, game) if game is not None else 1
    lora = _lora_options(opts, role)
    return opts, grpo_opts, best_of_k, lora


def _load(opts: LLMRoleOptions, text_game: TextGame, seed: int) -> tuple[Any, Any]:
    require_llm_stack()
    from .models import load_causal_lm

    check_device(opts.device, "model")
    return load_causal_lm(model_dir(opts.model, text_game, seed, opts.tiny, opts.tiny_dir),
                          trust_remote_code=opts.trust_remote_code, device=opts.device,
                          attn_implementation=opts.attn_implementation, dtype=opts.dtype,
                          chat_template=opts.chat_template)


def build_learner(role: Role, game: SequentialGame, options: dict[str, Any], seed: int,
                  shared: tuple[Any, Any] | None = None) -> Any:
    """One role's learner (see the module docstring).

    ``shared``: ``(peft model, tokenizer)`` of a shared base that already carries this
    role's adapter (named after the role); ``None`` loads the role's own model.
    """
    opts, grpo_opts, best_of_k, lora = _role_setup(role, game, options)
    require_llm_stack()
    check_device(opts.device, role.value)
    from .learner import GRPOLearner
    from .lora import adapter_scope, attach_lora

    text_game = TextGame(game, opts.request_label_source,
                         load_prompts(opts.prompts, f"{role.value}.prompts"))
    judge = build_judge(opts.judge, text_game)  # its options are checked before any loading
    if shared is not None:
        (model, tokenizer), adapter = shared, role.value
    else:
        model, tokenizer = _load(opts, text_game, seed)
        adapter = None
        if lora is not None:
            model, adapter = attach_lora(model, lora), "default"
    if opts.sft is not None:
        with adapter_scope(model, adapter, trainable=True):
            _warmup(model, tokenizer, text_game, dict(opts.sft), opts.device, role)
    return GRPOLearner(role, text_game, model, tokenizer, judge, grpo_opts,
                       n_samples=opts.n_samples, device=opts.device, best_of_k=best_of_k,
                       adapter=adapter, allow_low_precision=opts.allow_low_precision,
                       heldout=_heldout_options(opts))


def shared_base_model(game: SequentialGame, attacker_options: dict[str, Any],
                      defender_options: dict[str, Any], seed: int) -> tuple[Any, Any] | None:
    """The shared base with ``attacker`` and ``defender`` adapters, or None (not shared).

    Raises:
        InvalidConfigError: ``shared_base`` on one role only, different models, devices,
            dtypes, or a role without ``lora``.
    """
    a, _, _, a_lora = _role_setup(Role.ATTACKER, game, attacker_options)
    d, _, _, d_lora = _role_setup(Role.DEFENDER, game, defender_options)
    if not (a.shared_base or d.shared_base):
        return None
    if not (a.shared_base and d.shared_base):
        raise InvalidConfigError(
            "shared_base is set on one role only: set shared_base: true under both attacker "
            "and defender (one base model carries both adapters)")
    for key in ("model", "chat_template", "tiny_dir", "tiny", "device", "dtype",
                "trust_remote_code", "attn_implementation"):
        if getattr(a, key) != getattr(d, key):
            raise InvalidConfigError(
                f"shared_base: attacker.{key} = {getattr(a, key)!r} but defender.{key} = "
                f"{getattr(d, key)!r}: both roles must name the same base model settings")
    require_llm_stack()
    from .lora import add_role_adapter, attach_lora

    model, tokenizer = _load(a, TextGame(game, a.request_label_source,
                                         load_prompts(a.prompts, "attacker.prompts")), seed)
    model = attach_lora(model, a_lora, Role.ATTACKER.value)
    add_role_adapter(model, d_lora, Role.DEFENDER.value)
    return model, tokenizer


def _heldout_options(opts: LLMRoleOptions) -> Any:
    from .scoring import HeldOutOptions

    if opts.heldout is None:
        return None
    return parse_options(HeldOutOptions, dict(opts.heldout), "heldout")


def _grpo_options(opts: LLMRoleOptions, role: Role) -> Any:
    from .learner import GRPOOptions

    return parse_options(GRPOOptions, opts.grpo, f"{role.value}.grpo")


def _best_of_k(opts: LLMRoleOptions, role: Role, game: SequentialGame) -> int:
    if opts.best_of_k is None:
        return 1
    if role is Role.DEFENDER:
        raise InvalidConfigError("defender.best_of_k: an attacker-only option")
    if opts.best_of_k < 1:
        raise InvalidConfigError(f"{role.value}.best_of_k = {opts.best_of_k}: use an integer >= 1")
    if game.turns > 1 and opts.best_of_k > 1:
        raise InvalidConfigError(
            f"{role.value}.best_of_k = {opts.best_of_k}: single-turn games only "
            f"({game.name!r} has {game.turns} turns)"
        )
    return opts.best_of_k


def _warmup(model: Any, tokenizer: Any, text_game: TextGame, sft: dict[str, Any],
            device: str, role: Role) -> None:
    from .sft import (
        SFTOptions,
        attack_pool_dataset,
        pool_dataset,
        read_attack_pool,
        reply_dataset,
        sft_warmup,
        write_attack_pool,
    )

    pool = sft.pop("pool", "canonical")
    aligned = tuple(sft.pop("aligned", ("direct",)))
    options = parse_options(SFTOptions, sft, f"{role.value}.sft")
    if role is Role.DEFENDER:
        if pool != "canonical":
            raise InvalidConfigError("defender.sft.pool: only 'canonical' (label-blind replies)")
        dataset = reply_dataset(text_game, aligned)
    elif pool == "canonical":
        with tempfile.TemporaryDirectory() as tmp:
            rows = read_attack_pool(write_attack_pool(text_game, Path(tmp) / "pool.jsonl"))
        dataset = pool_dataset(rows, text_game=text_game)
    else:  # our JSONL pool or MAGIC's alpaca JSON array
        dataset = attack_pool_dataset(Path(pool), text_game)[0]
    sft_warmup(model, tokenizer, dataset, options, device)


def build_learners(game: SequentialGame, attacker_options: dict[str, Any],
                   defender_options: dict[str, Any], seed: int) -> tuple[Any, Any]:
    """``(attacker, defender)`` GRPO learners for the text game ``game``.

    With ``shared_base`` both learners hold the same model object (one base, two adapters;
    the tiny base is built from ``seed``).
    """
    check_engine()
    attacker_options, defender_options = shared_prompts(attacker_options, defender_options)
    attacker_options, defender_options = shared_heldout(attacker_options, defender_options, seed)
    from .learner import check_vllm_roles

    (a, a_grpo, _, _), (d, d_grpo, _, _) = (_role_setup(Role.ATTACKER, game, attacker_options),
                                             _role_setup(Role.DEFENDER, game, defender_options))
    check_vllm_roles(a_grpo, d_grpo, one_gpu=a.device == d.device)
    shared = shared_base_model(game, attacker_options, defender_options, seed)
    attacker = build_learner(Role.ATTACKER, game, attacker_options, seed, shared)
    defender = build_learner(Role.DEFENDER, game, defender_options, seed + 1, shared)
    return attacker, defender

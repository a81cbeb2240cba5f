"""GRPO learner for one role of a text game, wrapping one TRL ``GRPOTrainer`` per role.

A phase (``train_against(opponent, steps, rng)``) builds a **fresh dataset** of
``steps × prompts_per_step`` seeds drawn from the game's prior with the phase's ``rng``
and a phase seed, then trains ``steps`` GRPO steps. The role's ``GRPOTrainer`` is built by
its first phase and reused by every later one (so a vLLM engine is built once per role and
run: an in-process engine is not reliably freed); each phase hands it the phase's dataset,
reward function (through a stable dispatcher), ``max_steps`` and seed
(:meth:`GRPOLearner._phase_trainer`). The learner owns the optimizer (AdamW) and one LR
schedule spanning all phases and passes them as ``optimizers=(opt, sched)`` (FIELD.md:
calling ``train()`` again restarts TRL's schedule, step counter and data order).
``bf16=False`` and no gradient checkpointing (both slow on CPU; TRL's defaults are the
opposite). With a LoRA ``adapter`` (:mod:`~seqgame.backends.llm.lora`) only the adapter is
optimised and checkpointed, and it is the active adapter during its phases; on a shared
base the two roles' trainers share the model, and each phase puts its own trainer's fused
LM head back on it. One GRPO step is one generation batch; with micro-batching
(``per_device_train_batch_size``, ``gradient_accumulation_steps``) a step can make several
optimizer updates on it (TRL's ``steps_per_generation``). Between phases TRL's patched
``forward`` is off the model (it would alias copies), and so is a DDP wrapper. Under a
launcher with P processes (DDP, :mod:`~seqgame.backends.llm.distributed`) each process
generates and scores ``1/P`` of every step's batch (:meth:`GRPOOptions.layout`); the step's
record is computed from every process's completions, gathered (:class:`StepSamples`).

MAGIC rollout semantics (arXiv 2602.01539, Phase 2):

* **defender phase** — the frozen attacker writes one rewrite per seed, greedily; the
  defender samples G = ``num_generations`` replies per prompt; each reply is judged and
  rewarded R_D.
* **attacker phase** — the attacker samples G rewrites per seed; the frozen defender
  answers each once (sampled); each exchange is judged and the rewrite rewarded R_A.
  With ``best_of_k = K > 1`` (AdvGame) the defender answers each rewrite K times and the
  rewrite is rewarded R_A against the reply with the highest R_D (a sampled inner max;
  :func:`~seqgame.backends.llm.scoring.score_attacks`). The step record then also carries
  ``reward_defender_sampled``, the mean R_D over all K replies.

Rewards come from the game's payoffs via :func:`~seqgame.backends.llm.textgame.text_rewards`
(MAGIC eq. 7–11) with the text game's ``request_label_source``. A verdict skipped by the
judge's ``skip`` policy gets its group's mean reward (zero advantage).

**Multi-turn games** (``turns`` > 1; :mod:`~seqgame.backends.llm.episodes`): a phase
first plays one episode per drawn seed with the phase's policies (after a refusal the
attacker attacks again, seeing the history; prompts from ``history.py``), then trains on
as many of the learner's decision points, drawn uniformly from those episodes — each a
prompt with its history, so every turn is trained. A completion at turn t is rewarded with
its return-to-go (the game's per-turn payoffs under its ``accrual`` and ``discount``), the
episode played on with the same policies (the learner's own live policy sampled, the
opponent as above). Histories are played at the start of the phase, so within a phase they
come from slightly older own policies (off-policy by at most ``steps`` updates).
``best_of_k`` is single-turn only. Step records add ``turn`` (mean decision turn) and
``turns_played``.

Deviations from MAGIC: defaults are CPU-demo sizes, not the paper's (see
docs/llm-backend.md).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seqgame.errors import InvalidConfigError
from seqgame.model.game import Observation, Role

from .devices import device_scope, grpo_config_class
from .distributed import gather, process_count, process_index
from .episodes import AttackerActor, DefenderActor, Past, decision_points, play_on
from .history import Exchange
from .judges import (
    DEFAULT_MAX_ERROR_RATE,
    RECORD_FAILURES,
    Judge,
    JudgeStats,
    Verdict,
    gives_request_labels,
)
from .lora import (
    adapter_parameters,
    adapter_scope,
    adapter_state,
    forward_patch,
    load_adapter_state,
    restore_forward_patch,
    strip_forward_patch,
)
from .policy import GenerationOptions, LMPolicy
from .scoring import (
    HeldOutOptions,
    check_best_of_k,
    heldout_metrics,
    heldout_seeds,
    judge_rewards,
    score_attacks,
)
from .state import from_plain, to_plain
from .textgame import COMPLY_TEXT, REFUSE_TEXT, TextGame

#: TRL log entries copied into each step record.
_TRL_KEYS = ("loss", "learning_rate", "grad_norm", "entropy", "clip_ratio/region_mean",
             "completions/mean_length")


#: TRL 1.16 GRPOConfig.loss_type values.
LOSS_TYPES = ("dapo", "grpo", "dr_grpo", "bnpo", "cispo", "sapo", "luspo", "vespo")


@dataclass(frozen=True)
class BatchLayout:
    """How one GRPO step's generation batch is split (TRL's sizes; :meth:`GRPOOptions.layout`).

    Attributes:
        processes: data-parallel processes sharing the batch (each takes an equal share).
        per_device: completions per forward/backward micro-batch on each process
            (TRL's ``per_device_train_batch_size``).
        micro_batches: micro-batches per process in one step (TRL's ``steps_per_generation``).
        updates: optimizer updates per step (``micro_batches / gradient_accumulation_steps``).
    """

    processes: int
    per_device: int
    micro_batches: int
    updates: int


@dataclass(frozen=True)
class GRPOOptions:
    """Hyper-parameters of one role's GRPO learner (MAGIC's paper values in brackets).

    Attributes:
        learning_rate: AdamW learning rate [1e-6; tiny CPU models need ~1e-3].
        lr_schedule: ``constant`` [paper] or ``linear`` (decays over ``total_steps``).
        total_steps: steps the linear schedule spans across all phases.
        prompts_per_step: seeds per GRPO step [64].
        num_generations: G, samples per prompt [4].
        max_completion_length: tokens per completion.
        temperature: sampling temperature [1.0].
        epsilon: PPO clip range [0.2].
        beta: KL coefficient [0, no KL].
        loss_type: TRL loss aggregation [``dapo``: token-mean over the batch].
        scale_rewards: TRL advantage scaling: ``group`` (divide by the group's std, GRPO),
            ``batch`` or ``none`` (Dr. GRPO: keeps the payoff scale, so a harmful
            compliance (−1.5 vs +1.5) weighs more than a benign refusal (0.5 vs 1.5)).
        weight_decay: AdamW weight decay.
        top_k, top_p, repetition_penalty: the one sampling policy of the role: TRL's
            sampling, the frozen opponent's and evaluation's all use these values
            (:meth:`GenerationOptions.sampling_kwargs`; the checkpoint's
            ``generation_config`` never fills in).
        per_device_train_batch_size: completions per forward/backward micro-batch on each
            process (default: the process's whole share of the step, ``prompts_per_step ×
            G`` alone); it must divide that share (with P processes, ``batch / P``).
        gradient_accumulation_steps: micro-batches per optimizer update; it must divide the
            number of micro-batches per step, and the step then makes
            ``batch / (P × per_device × accumulation)`` updates on one generation batch
            (MAGIC: two mini-batch updates per batch, so the PPO clip can bind).
        steps_per_generation: TRL's micro-batches per generation batch; derived (batch /
            per_device) and, when given, checked against that (one process only: with
            several, leave it out).
        mask_truncated_completions: completions cut at ``max_completion_length`` get no
            loss (MAGIC masks them); they are still judged for the step's statistics.
        use_vllm / vllm_mode: TRL's vLLM generation (GPU extra; ``colocate`` or ``server``);
            ``vllm_gpu_memory_utilization`` is a colocated engine's share of the GPU (TRL's
            default 0.3). The role's trainer, and so its engine, is built once per run.
            Untested here (no GPU).
        vllm_max_model_length: the engine's context window in tokens (prompt plus
            completion); unset, vLLM takes the model config's.
        vllm_enable_sleep_mode: offload a colocated engine's weights and cache during the
            optimizer step; at most one engine per process may sleep, so not on both roles
            when both are colocated.
        vllm_server_base_url / vllm_server_host / vllm_server_port / vllm_group_port: the
            role's vLLM server in ``server`` mode (the URL, when given, wins over host and
            port) and its weight-update group port; each role needs its own server and group
            port.
        continuous_batching: TRL's generation with transformers' continuous batching
            instead of ``generate`` (``benchmarks/bench_llm_gpu.py`` compares them; GPU).
        bf16, gradient_checkpointing: off by default (2–5× slower on CPU, FIELD.md); turn
            them on for GPU runs of real models (``bf16`` is autocast over the trainable
            parameters' float32 master weights).
    """

    learning_rate: float = 1e-3
    lr_schedule: str = "constant"
    total_steps: int = 1000
    prompts_per_step: int = 8
    num_generations: int = 4
    max_completion_length: int = 8
    temperature: float = 1.0
    epsilon: float = 0.2
    beta: float = 0.0
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    weight_decay: float = 0.0
    use_vllm: bool = False
    vllm_mode: str = "colocate"
    vllm_gpu_memory_utilization: float = 0.3
    vllm_max_model_length: int | None = None
    vllm_enable_sleep_mode: bool = False
    vllm_server_base_url: str | None = None
    vllm_server_host: str = "0.0.0.0"
    vllm_server_port: int = 8000
    vllm_group_port: int = 51216
    continuous_batching: bool = False
    bf16: bool = False
    gradient_checkpointing: bool = False
    top_k: int = 0
    top_p: float = 1.0
    repetition_penalty: float = 1.0
    per_device_train_batch_size: int | None = None
    gradient_accumulation_steps: int = 1
    steps_per_generation: int | None = None
    mask_truncated_completions: bool = False

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise InvalidConfigError(f"learning_rate = {self.learning_rate!r}: use > 0")
        if self.lr_schedule not in ("constant", "linear"):
            raise InvalidConfigError(f"lr_schedule = {self.lr_schedule!r}: constant or linear")
        if self.num_generations < 2:
            raise InvalidConfigError(
                f"num_generations = {self.num_generations}: GRPO needs >= 2 samples per prompt"
            )
        for name in ("prompts_per_step", "max_completion_length", "total_steps"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"{name} = {getattr(self, name)!r}: use >= 1")
        if self.scale_rewards not in ("group", "batch", "none"):
            raise InvalidConfigError(
                f"scale_rewards = {self.scale_rewards!r}: use group, batch or none"
            )
        if self.vllm_mode not in ("colocate", "server"):
            raise InvalidConfigError(f"vllm_mode = {self.vllm_mode!r}: colocate or server")
        if self.loss_type not in LOSS_TYPES:
            raise InvalidConfigError(
                f"loss_type = {self.loss_type!r}: choose from {list(LOSS_TYPES)} (TRL's)")
        if not 0 < self.epsilon < 1:
            raise InvalidConfigError(f"epsilon = {self.epsilon!r}: the clip range is in (0, 1)")
        if self.beta < 0:
            raise InvalidConfigError(f"beta = {self.beta!r}: a KL coefficient is >= 0")
        if self.temperature <= 0:
            raise InvalidConfigError(f"temperature = {self.temperature!r}: use a number > 0")
        if self.weight_decay < 0:
            raise InvalidConfigError(f"weight_decay = {self.weight_decay!r}: use >= 0")
        self._check_vllm()
        self.generation()  # validates top_k, top_p and repetition_penalty
        self.layout()  # validates the micro-batching (of one process; the learner rechecks)

    def _check_vllm(self) -> None:
        """Validate the vLLM engine's and server's options."""
        if not 0 < self.vllm_gpu_memory_utilization < 1:
            raise InvalidConfigError(
                f"vllm_gpu_memory_utilization = {self.vllm_gpu_memory_utilization!r}: a share "
                "of the GPU in (0, 1)")
        length = self.vllm_max_model_length
        if length is not None and length <= self.max_completion_length:
            raise InvalidConfigError(
                f"vllm_max_model_length = {length!r}: it must hold the prompt plus "
                f"max_completion_length = {self.max_completion_length} tokens; use a larger "
                "value or leave it out (the model config's)")
        for name in ("vllm_server_port", "vllm_group_port"):
            if not 0 < getattr(self, name) < 65536:
                raise InvalidConfigError(f"{name} = {getattr(self, name)!r}: a port in 1..65535")
        url = self.vllm_server_base_url
        if url is not None and not url.startswith(("http://", "https://")):
            raise InvalidConfigError(
                f"vllm_server_base_url = {url!r}: use a URL such as 'http://localhost:8000'")

    def vllm_server(self) -> tuple[str, int]:
        """The ``(host, port)`` of this role's vLLM server (``server`` mode)."""
        from urllib.parse import urlsplit

        if self.vllm_server_base_url is None:
            return _local(self.vllm_server_host), self.vllm_server_port
        url = urlsplit(self.vllm_server_base_url)
        default = 443 if url.scheme == "https" else 80
        return _local(url.hostname or ""), url.port or default

    def generation(self, batch_size: int = 64) -> GenerationOptions:
        """The role's sampling policy (shared by TRL, the opponent and evaluation)."""
        if self.top_k < 0 or not 0 < self.top_p <= 1:
            raise InvalidConfigError(
                f"top_k = {self.top_k!r}, top_p = {self.top_p!r}: use top_k >= 0 (0 = off) and "
                "top_p in (0, 1]")
        return GenerationOptions(max_new_tokens=self.max_completion_length,
                                 temperature=self.temperature, top_k=self.top_k,
                                 top_p=self.top_p, batch_size=batch_size,
                                 repetition_penalty=self.repetition_penalty)

    def layout(self, processes: int = 1) -> BatchLayout:
        """How ``processes`` data-parallel processes split one step's generation batch.

        Each process takes ``batch / processes`` completions of every step (default
        ``per_device_train_batch_size``: all of its share in one micro-batch).

        Raises:
            InvalidConfigError: a size that does not divide its share of the batch.
        """
        b, a, n = self.batch_size, self.gradient_accumulation_steps, processes
        if b % n:
            raise InvalidConfigError(
                f"prompts_per_step x num_generations = {b} completions per step cannot be "
                f"shared by {n} processes: use a batch that is a multiple of {n}")
        p = self.per_device_train_batch_size or b // n
        each = "" if n == 1 else f" ({b // n} on each of {n} processes)"
        if p < 1 or b % (p * n):
            raise InvalidConfigError(
                f"per_device_train_batch_size = {p}: it must divide the step's batch of "
                f"prompts_per_step x num_generations = {b} completions{each}")
        micro = b // (p * n)
        spg = self.steps_per_generation
        if spg is not None and n > 1:
            raise InvalidConfigError(
                f"steps_per_generation = {spg}: it is checked against one process; with {n} "
                f"processes each makes {micro} micro-batches of {p} per step: leave it out")
        if spg is not None and spg != micro:
            raise InvalidConfigError(
                f"steps_per_generation = {spg}: one step is one generation batch of {b} "
                f"completions = {micro} micro-batches of {p}; set it to {micro} or leave it out")
        if a < 1 or micro % a:
            raise InvalidConfigError(
                f"gradient_accumulation_steps = {a}: it must divide the {micro} micro-batches "
                f"of {p} completions in a step of {b}{each}")
        return BatchLayout(n, p, micro, micro // a)

    @property
    def batch_size(self) -> int:
        """Completions per step (prompts × G); a multiple of G by construction."""
        return self.prompts_per_step * self.num_generations


def _local(host: str) -> str:
    """One name for this machine's addresses (so two spellings of it compare equal)."""
    return "localhost" if host in ("localhost", "127.0.0.1", "0.0.0.0", "::1", "") else host


def check_vllm_roles(attacker: GRPOOptions, defender: GRPOOptions,
                     one_gpu: bool = False) -> None:
    """Refuse vLLM settings the two roles of one run cannot share.

    ``one_gpu``: both roles train on the same GPU (one device, or each process's own GPU
    under a multi-process launcher), so two colocated engines share it.

    Raises:
        InvalidConfigError: both roles colocated with sleep mode (at most one engine per
            process may sleep), or on one GPU with shares of it adding up to 1 or more, or
            both on the same vLLM server or weight-update group port.
    """
    if not (attacker.use_vllm and defender.use_vllm):
        return
    modes = {attacker.vllm_mode, defender.vllm_mode}
    if modes == {"colocate"} and attacker.vllm_enable_sleep_mode and \
            defender.vllm_enable_sleep_mode:
        raise InvalidConfigError(
            "vllm_enable_sleep_mode is set on both colocated roles: at most one vLLM engine per "
            "process may use sleep mode; set it to false on one role")
    shares = attacker.vllm_gpu_memory_utilization + defender.vllm_gpu_memory_utilization
    if modes == {"colocate"} and one_gpu and shares >= 1:
        raise InvalidConfigError(
            f"vllm_gpu_memory_utilization = {attacker.vllm_gpu_memory_utilization} (attacker) "
            f"+ {defender.vllm_gpu_memory_utilization} (defender) >= 1: both roles' colocated "
            "engines share one GPU (with several processes, each process's own), and training "
            "needs room too; lower them (e.g. 0.3 each) or serve one role (vllm_mode: server)")
    if modes != {"server"}:
        return
    (a_host, a_port), (d_host, d_port) = attacker.vllm_server(), defender.vllm_server()
    if (a_host, a_port) == (d_host, d_port):
        raise InvalidConfigError(
            f"both roles use the vLLM server at {a_host}:{a_port}: each role needs its own "
            "server (it serves that role's weights); set vllm_server_port (or "
            "vllm_server_base_url) to differ")
    if a_host == d_host and attacker.vllm_group_port == defender.vllm_group_port:
        raise InvalidConfigError(
            f"both roles use vllm_group_port = {attacker.vllm_group_port} on {a_host}: each "
            "server's weight-update group needs its own port; set it to differ on one role")


@dataclass(frozen=True)
class StepSamples:
    """Per-completion values of one GRPO step (one process's share, or every process's).

    Attributes:
        seeds, attacks: int ``(N,)`` each completion's seed and attack.
        refused, unsafe, skipped: bool ``(N,)`` the judge's verdicts.
        reward_attacker, reward_defender: float ``(N,)`` R_A and R_D.
        reward: float ``(N,)`` the learner's own reward, before skipped verdicts get their
            group's mean.
        means: further per-completion values whose mean the record carries (``turn``,
            ``turns_played``, ``reward_defender_sampled``), float arrays.
    """

    seeds: np.ndarray
    attacks: np.ndarray
    refused: np.ndarray
    unsafe: np.ndarray
    skipped: np.ndarray
    reward_attacker: np.ndarray
    reward_defender: np.ndarray
    reward: np.ndarray
    means: dict[str, np.ndarray]

    @classmethod
    def concat(cls, parts: Sequence[StepSamples]) -> StepSamples:
        """The parts one after the other (every process's share, in rank order)."""
        def cat(arrays: Sequence[np.ndarray]) -> np.ndarray:
            return np.concatenate([np.asarray(a).ravel() for a in arrays])
        names = ("seeds", "attacks", "refused", "unsafe", "skipped", "reward_attacker",
                 "reward_defender", "reward")
        arrays = {n: cat([getattr(p, n) for p in parts]) for n in names}
        means = {k: cat([p.means[k] for p in parts]) for k in parts[0].means}
        return cls(**arrays, means=means)


def _samples(seeds: Sequence[int], attacks: Any, verdicts: Sequence[Verdict], skipped: Any,
             r_a: Any, r_d: Any, reward: Any, means: dict[str, np.ndarray]) -> StepSamples:
    """A :class:`StepSamples` from a reward function's values."""
    return StepSamples(np.asarray(seeds, dtype=int), np.asarray(attacks, dtype=int),
                       np.array([v.refused for v in verdicts], dtype=bool),
                       np.array([v.unsafe for v in verdicts], dtype=bool),
                       np.asarray(skipped, dtype=bool), np.asarray(r_a, dtype=float),
                       np.asarray(r_d, dtype=float), np.asarray(reward, dtype=float), means)


def check_precision(params: Sequence[Any], allow_low_precision: bool, role: str) -> None:
    """Refuse trainable parameters below float32 (see :class:`GRPOLearner`) unless allowed."""
    import torch

    if not params:
        raise InvalidConfigError(f"the {role} has no trainable parameters: check lora / model")
    low = sorted({str(p.dtype).removeprefix("torch.") for p in params if p.dtype != torch.float32})
    if low and not allow_low_precision:
        raise InvalidConfigError(
            f"{role}: trainable parameters in {low}: an AdamW update at lr ~1e-6 is below "
            "bf16's resolution (after 3 steps only 1.6% of bf16 weights change, 82% in "
            "float32); use dtype: float32 with grpo.bf16: true (autocast), or lora (float32 "
            "adapters over a bf16 base), or set allow_low_precision: true to train anyway")


def check_group_size(batch_size: int, num_generations: int) -> None:
    """Raise unless ``num_generations`` divides ``batch_size`` (TRL needs whole groups)."""
    if num_generations < 2 or batch_size % num_generations:
        raise InvalidConfigError(
            f"group size num_generations = {num_generations} must be >= 2 and divide the "
            f"batch of {batch_size} completions: use a batch that is a multiple of it"
        )


class GRPOLearner:
    """One role's GRPO learner (see the module docstring).

    ``best_of_k`` (attacker only, default 1 = MAGIC): score each rewrite against the best
    of K sampled defender replies (AdvGame; :mod:`~seqgame.backends.llm.scoring`).

    ``adapter``: the PEFT adapter this learner trains (LoRA, :mod:`~seqgame.backends.llm.lora`);
    only its parameters are optimised and checkpointed. ``None``: full fine-tuning.

    **Precision**: every trainable parameter must be float32 (with ``bf16`` autocast, or
    LoRA adapters in float32 over a bf16 base). A bf16 optimizer on full weights barely
    moves them (after 3 AdamW steps at lr 1e-6 on a 7B model, 1.6% of the bf16 weights and
    no norm weight changed, against 82% in float32: the update is below bf16's resolution),
    so it is refused unless ``allow_low_precision`` is set.
    """

    def __init__(
        self,
        role: Role,
        text_game: TextGame,
        model: Any,
        tokenizer: Any,
        judge: Judge,
        options: GRPOOptions | None = None,
        generation: GenerationOptions | None = None,
        n_samples: int = 8,
        device: str = "cpu",
        best_of_k: int = 1,
        adapter: str | None = None,
        allow_low_precision: bool = False,
        heldout: HeldOutOptions | None = None,
    ) -> None:
        import torch

        self._role = Role.parse(role)
        self.best_of_k = check_best_of_k(best_of_k)
        if text_game.game.turns > 1 and self.best_of_k > 1:
            raise InvalidConfigError(
                f"best_of_k = {self.best_of_k}: single-turn games only ({text_game.game.name!r} "
                f"has {text_game.game.turns} turns)"
            )
        if self._role is Role.DEFENDER and self.best_of_k > 1:
            raise InvalidConfigError(
                f"best_of_k = {self.best_of_k}: an attacker-only option (it scores the "
                "attacker's rewrites against the defender's best of K replies)"
            )
        if text_game.request_label_source == "rewrite" and not gives_request_labels(judge):
            raise InvalidConfigError(
                f"request_label_source = 'rewrite' but the {type(judge).__name__} judge gives "
                "no request label for the rewrite (build guard judges with request_labels: "
                "true, as judge configs do); or use request_label_source: seed")
        self.text_game = text_game
        self.judge = judge
        self.options = options or GRPOOptions()
        check_group_size(self.options.batch_size, self.options.num_generations)
        if getattr(tokenizer, "chat_template", None) is None:
            raise InvalidConfigError("the tokenizer has no chat template: set one before training")
        if adapter is not None and self.options.beta > 0:
            raise InvalidConfigError(
                f"beta = {self.options.beta}: a KL term with lora is not supported (TRL would add "
                "a 'ref' adapter per phase); use beta: 0 (MAGIC's value)")
        gen = generation or self.options.generation()
        #: The step's batch split over the launcher's processes (checked before any work).
        self.layout = self.options.layout(process_count())
        self.adapter = adapter
        self._policy = LMPolicy(self._role, text_game, model, tokenizer, gen, n_samples, device,
                                adapter=adapter)
        self._set_heldout(heldout)
        self.device = device
        params = (list(model.parameters()) if adapter is None
                  else adapter_parameters(model, adapter))
        check_precision(params, allow_low_precision, self._role.value)
        self.optimizer = torch.optim.AdamW(
            params, lr=self.options.learning_rate, weight_decay=self.options.weight_decay,
        )
        total = self.options.total_steps
        linear = self.options.lr_schedule == "linear"
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: max(0.0, 1.0 - s / total) if linear else 1.0
        )
        self.steps = 0
        self.phases = 0
        self._trainer: Any = None  # the role's GRPOTrainer, built by the first phase
        self._fused_forward: Any = None
        self._phase_reward: Any = None
        self._trl_logs: list[dict[str, float]] = []
        self._output_dir = tempfile.TemporaryDirectory(prefix="seqgame-grpo-")

    @property
    def role(self) -> Role:
        """The role this learner trains."""
        return self._role

    @property
    def model(self) -> Any:
        """The live model."""
        return self._policy.model

    @property
    def tokenizer(self) -> Any:
        """The tokenizer (passed to TRL as ``processing_class``)."""
        return self._policy.tokenizer

    def policy(self) -> LMPolicy:
        """Return the live policy."""
        return self._policy

    # ---------------------------------------------------------------- rewards
    def _judge_rewards(self, seeds: Sequence[int], attacks: Sequence[int],
                       rewrites: Sequence[str], replies: Sequence[str]
                       ) -> tuple[list[Verdict], np.ndarray, np.ndarray]:
        return judge_rewards(self.text_game, self.judge, seeds, attacks, rewrites, replies)

    def _skip_to_group_mean(self, rewards: np.ndarray, skipped: np.ndarray) -> np.ndarray:
        g = self.options.num_generations
        out = rewards.copy()
        for start in range(0, len(out), g):
            grp = slice(start, start + g)
            keep = ~skipped[grp]
            fill = out[grp][keep].mean() if keep.any() else 0.0
            out[grp] = np.where(skipped[grp], fill, out[grp])
        return out

    # ---------------------------------------------------------------- opponents
    def _opponent_attacks(self, opponent: Any, seeds: list[int], rng: np.random.Generator
                          ) -> list[tuple[int, str]]:
        """Return (attack, rewrite) per seed.

        An LM attacker writes greedily (MAGIC); a table attacker (e.g. ``no_game``'s fixed
        attack) sends the canonical rewrite.
        """
        if isinstance(opponent, LMPolicy):
            return [self.text_game.classify_attack(o)
                    for o in opponent.act(seeds, rng, greedy=True)]
        attacks = np.asarray(opponent.act(np.asarray(seeds), rng), dtype=int)
        return [(int(a), self.text_game.classify_attack(
                    self.text_game.canonical_attack(x, int(a)))[1])
                for x, a in zip(seeds, attacks, strict=True)]

    def _opponent_replies(self, opponent: Any, seeds: list[int], attacks: list[int],
                          rewrites: list[str], rng: np.random.Generator) -> list[str]:
        """Return one reply per exchange.

        Sampled from an LM defender, or the canonical refusal / compliance text of a table
        defender's sampled response.
        """
        if isinstance(opponent, LMPolicy):
            return opponent.act(list(zip(seeds, rewrites, strict=True)), rng)
        g = self.text_game.game
        # a table defender reads [seed, attack] under full observation, the attack alone
        # under attack observation (a 2-column array would read as [turn, attack] there)
        obs = (np.column_stack([seeds, attacks]) if g.observation is Observation.FULL
               else np.asarray(attacks, dtype=int))
        d = np.asarray(opponent.act(obs, rng), dtype=int)
        return [REFUSE_TEXT if g.refusal_mask[i] else COMPLY_TEXT for i in d]

    def _judge_step(self, before: dict[str, int], where: str) -> dict[str, Any]:
        """The judge's fields of a step begun at ``before`` (``JudgeStats.end_step``).

        Raises:
            JudgeError: the step's judge error rate exceeds the judge's ``max_error_rate``.
        """
        rate = getattr(self.judge, "max_error_rate", DEFAULT_MAX_ERROR_RATE)
        return self.judge.stats.end_step(before, rate, where=f"the {self._role.value} {where}")

    def _whole_step(self, local: StepSamples, before: dict[str, int], where: str
                    ) -> tuple[dict[str, Any], np.ndarray]:
        """The step's statistics over every process's completions; this process's rewards.

        Each process scores its share of the generation batch (TRL concatenates the shares
        in rank order into whole groups of G): the shares and the judge's counts of this
        step are gathered, so the record, the skipped verdicts' group means and the judge's
        error check are those of one process scoring the whole batch, on every process.
        """
        stats = self.judge.stats
        now = stats.to_dict()
        counts = {k: now[k] - int(before.get(k, 0)) for k in now}  # this step's, here
        parts = gather((local, counts, list(stats.failures)))
        rank = process_index() if len(parts) > 1 else 0
        for i, (_, theirs, failures) in enumerate(parts):
            if i != rank:  # count the other processes' judge calls of this step here too
                for k, v in theirs.items():
                    setattr(stats, k, getattr(stats, k) + v)
                stats.failures.extend(failures[:RECORD_FAILURES])
        whole = StepSamples.concat([p for p, _, _ in parts])
        reward = self._skip_to_group_mean(whole.reward, whole.skipped)
        fields = {k: float(v.mean()) for k, v in whole.means.items()}
        fields.update(self._judge_step(before, where))
        start = sum(len(p.seeds) for p, _, _ in parts[:rank])
        return self._step_stats(whole, reward, fields), reward[start:start + len(local.seeds)]

    def _step_stats(self, s: StepSamples, reward: np.ndarray, extra: dict[str, Any]
                    ) -> dict[str, Any]:
        g = self.text_game.game
        harmful, refused, unsafe = g.harmful[s.seeds], s.refused, s.unsafe
        malformed = g.malformed_mask[s.attacks]
        return {
            "reward": float(reward.mean()),
            "reward_defender": float(s.reward_defender.mean()),
            "reward_attacker": float(s.reward_attacker.mean()),
            "refusal_harmful": float(refused[harmful].mean()) if harmful.any() else math.nan,
            "refusal_benign": float(refused[~harmful].mean()) if (~harmful).any() else math.nan,
            "unsafe_rate": float(unsafe.mean()),
            "format_ok": float(1.0 - malformed.mean()),
            "skipped": float(s.skipped.mean()),
            "completions": float(len(s.seeds)),
            **extra,
            **self.judge.stats.rates(),
        }

    # ---------------------------------------------------------------- training
    def _attacker_actor(self, policy: Any, greedy: bool) -> AttackerActor:
        """Raw attacker outputs at each history's turn (an LM, or a table's canonical text)."""
        tg = self.text_game
        if isinstance(policy, LMPolicy):
            def lm(seeds: list[int], pasts: list[Past], rng: np.random.Generator) -> list[str]:
                msgs = [tg.attacker_turn_messages(x, p) for x, p in zip(seeds, pasts, strict=True)]
                return policy.complete(msgs, rng, greedy=greedy)
            return lm

        def table(seeds: list[int], pasts: list[Past], rng: np.random.Generator) -> list[str]:
            obs = np.column_stack([[len(p) for p in pasts], seeds]).astype(int)
            attacks = np.asarray(policy.act(obs, rng), dtype=int)
            return [tg.canonical_attack(x, int(a)) for x, a in zip(seeds, attacks, strict=True)]
        return table

    def _defender_actor(self, policy: Any) -> DefenderActor:
        """Sampled defender replies (an LM, or a table's canonical refusal / compliance)."""
        tg = self.text_game
        if isinstance(policy, LMPolicy):
            def lm(seeds: list[int], pasts: list[Past], outs: list[str],
                   rng: np.random.Generator) -> list[str]:
                msgs = [tg.defender_turn_messages(x, p, o)
                        for x, p, o in zip(seeds, pasts, outs, strict=True)]
                return policy.complete(msgs, rng)
            return lm

        def table(seeds: list[int], pasts: list[Past], outs: list[str],
                  rng: np.random.Generator) -> list[str]:
            g = tg.game
            turns = [len(p) for p in pasts]
            attacks = [tg.classify_attack(o)[0] for o in outs]
            cols = [turns, seeds, attacks] if g.observation is Observation.FULL \
                else [turns, attacks]
            d = np.asarray(policy.act(np.column_stack(cols).astype(int), rng), dtype=int)
            return [REFUSE_TEXT if g.refusal_mask[i] else COMPLY_TEXT for i in d]
        return table

    def _multi_turn_phase(self, opponent: Any, seeds: list[int], rng: np.random.Generator,
                          stats: list[dict[str, float]]) -> tuple[dict[str, list], Any]:
        """Dataset rows and reward function of a multi-turn phase.

        One episode per drawn seed is played with the phase's policies (the learner's own
        sampled, the opponent's as in MAGIC: a frozen LM attacker greedy, a defender
        sampled); the rows are ``len(seeds)`` of the learner's decision points drawn
        uniformly from those episodes, each a prompt with its history. A completion is
        rewarded with its return-to-go, the episode played on with the same policies
        (:func:`~seqgame.backends.llm.episodes.play_on`).
        """
        tg, attacker_role = self.text_game, self._role is Role.ATTACKER
        if attacker_role:
            attacker = self._attacker_actor(self._policy, greedy=False)
            defender = self._defender_actor(opponent)
        else:
            attacker = self._attacker_actor(opponent, greedy=True)
            defender = self._defender_actor(self._policy)
        before = self.judge.stats.begin_step()
        played = play_on(tg, self.judge, seeds, [()] * len(seeds), attacker, defender, rng)
        self._judge_step(before, "phase's episodes")
        points = decision_points(played.exchanges, seeds, self._role.value)
        chosen = rng.choice(len(points), size=len(seeds), replace=False)
        points = [points[i] for i in chosen]
        rows: dict[str, list] = {
            "prompt": [tg.attacker_turn_messages(x, p) if attacker_role
                       else tg.defender_turn_messages(x, p, o or "") for x, p, o in points],
            "seed": [x for x, _, _ in points],
            "turn": [len(p) for _, p, _ in points],
            "past": [json.dumps([[e.attack_output, e.response] for e in p]) for _, p, _ in points],
            "attack_output": [o or "" for _, _, o in points],
        }
        play_rng = np.random.default_rng(rng.integers(2**63))

        def reward_fn(prompts: list, completions: list, **cols: Any) -> list[float]:
            before = self.judge.stats.begin_step()
            texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
            xs = [int(x) for x in cols["seed"]]
            pasts = [tuple(Exchange(a, r) for a, r in json.loads(p)) for p in cols["past"]]
            if attacker_role:
                out = play_on(tg, self.judge, xs, pasts, attacker, defender, play_rng,
                              attack_outputs=texts)
            else:
                out = play_on(tg, self.judge, xs, pasts, attacker, defender, play_rng,
                              attack_outputs=list(cols["attack_output"]), replies=texts)
            r_a, r_d = out.returns_attacker, out.returns_defender
            local = _samples(xs, out.attacks, out.verdicts, out.skipped, r_a, r_d,
                             r_a if attacker_role else r_d,
                             {"turn": np.asarray(cols["turn"], dtype=float),
                              "turns_played": np.asarray(out.last_turn + 1, dtype=float)})
            record, reward = self._whole_step(local, before,
                                              f"step {self.steps + len(stats) + 1}")
            stats.append(record)
            return [float(r) for r in reward]

        return rows, reward_fn

    def _single_turn_phase(self, opponent: Any, seeds: list[int], rng: np.random.Generator,
                           stats: list[dict[str, float]]) -> tuple[dict[str, list], Any]:
        """Dataset rows and reward function of a single-turn phase (module docstring)."""
        rows: dict[str, list]
        if self._role is Role.DEFENDER:
            classified = self._opponent_attacks(opponent, seeds, rng)
            rows = {
                "prompt": [self.text_game.defender_messages(x, rw)
                           for x, (_, rw) in zip(seeds, classified, strict=True)],
                "seed": seeds,
                "attack": [a for a, _ in classified],
                "rewrite": [rw for _, rw in classified],
            }
        else:
            rows = {"prompt": [self.text_game.attacker_messages(x) for x in seeds], "seed": seeds}
        reply_rng = np.random.default_rng(rng.integers(2**63))

        def reward_fn(prompts: list, completions: list, **cols: Any) -> list[float]:
            before = self.judge.stats.begin_step()
            texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
            xs = [int(x) for x in cols["seed"]]
            extra: dict[str, np.ndarray] = {}
            if self._role is Role.DEFENDER:
                attacks = list(cols["attack"])
                verdicts, r_a, r_d = self._judge_rewards(xs, attacks, list(cols["rewrite"]),
                                                         texts)
                skipped = np.array([v.skipped for v in verdicts], dtype=bool)
            else:
                def replies(x: list[int], a: list[int], rw: list[str],
                            r: np.random.Generator) -> list[str]:
                    return self._opponent_replies(opponent, x, a, rw, r)

                scored = score_attacks(self.text_game, self.judge, xs, texts, replies,
                                       reply_rng, self.best_of_k)
                attacks = scored.attacks.tolist()
                verdicts = list(scored.verdicts)
                r_a, r_d, skipped = (scored.rewards_attacker, scored.rewards_defender,
                                     scored.skipped)
                if self.best_of_k > 1:
                    extra["reward_defender_sampled"] = scored.rewards_defender_sampled
            local = _samples(xs, attacks, verdicts, skipped, r_a, r_d,
                             r_d if self._role is Role.DEFENDER else r_a, extra)
            record, reward = self._whole_step(local, before,
                                              f"step {self.steps + len(stats) + 1}")
            stats.append(record)
            return [float(r) for r in reward]
        return rows, reward_fn

    def grpo_config(self, steps: int, output_dir: str, seed: int) -> Any:
        """TRL's ``GRPOConfig`` of a phase of ``steps`` GRPO steps (one generation batch each).

        With several processes (``torchrun`` / ``accelerate launch``) each takes
        :attr:`layout`'s equal share of the batch.

        Raises:
            InvalidConfigError: TRL derived another generation batch than the step's (TRL
                sees another process count than the learner was built for).
        """
        opts, layout = self.options, self.layout
        config = grpo_config_class()(  # GRPOConfig on the role's own cuda:N (devices.py)
            role_device=self.device,
            output_dir=output_dir,
            max_steps=steps * layout.updates,
            per_device_train_batch_size=layout.per_device,
            gradient_accumulation_steps=opts.gradient_accumulation_steps,
            steps_per_generation=layout.micro_batches,
            num_generations=opts.num_generations,
            max_completion_length=opts.max_completion_length,
            mask_truncated_completions=opts.mask_truncated_completions,
            temperature=opts.temperature,
            top_k=opts.top_k,
            top_p=opts.top_p,
            repetition_penalty=opts.repetition_penalty,
            learning_rate=opts.learning_rate,
            epsilon=opts.epsilon,
            beta=opts.beta,
            loss_type=opts.loss_type,
            scale_rewards=opts.scale_rewards,
            bf16=opts.bf16,
            fp16=False,
            activation_checkpointing=opts.gradient_checkpointing,
            use_cpu=self.device == "cpu",
            use_vllm=opts.use_vllm,
            vllm_mode=opts.vllm_mode,
            vllm_gpu_memory_utilization=opts.vllm_gpu_memory_utilization,
            vllm_max_model_length=opts.vllm_max_model_length,
            vllm_enable_sleep_mode=opts.vllm_enable_sleep_mode,
            vllm_server_base_url=opts.vllm_server_base_url,
            vllm_server_host=opts.vllm_server_host,
            vllm_server_port=opts.vllm_server_port,
            vllm_group_port=opts.vllm_group_port,
            use_transformers_continuous_batching=opts.continuous_batching,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=seed,
            data_seed=seed,
        )
        if config.generation_batch_size != opts.batch_size:
            raise InvalidConfigError(
                f"TRL's generation batch is {config.generation_batch_size} completions, not the "
                f"step's {opts.batch_size} (per_device_train_batch_size {layout.per_device} x "
                f"{config.world_size} processes x steps_per_generation "
                f"{config.steps_per_generation}): the learner was built for "
                f"{layout.processes} processes; build it under the same launcher")
        return config

    def train_against(self, opponent: LMPolicy, steps: int, rng: np.random.Generator
                      ) -> list[dict[str, float]]:
        """Train ``steps`` GRPO steps against the frozen ``opponent``; one record per step."""
        if steps < 1:
            raise InvalidConfigError(f"steps = {steps!r}: a phase needs >= 1 step")
        if Role.parse(opponent.role) is not self._role.opponent:
            raise InvalidConfigError(
                f"the {self._role.value} trains against the {self._role.opponent.value}, "
                f"got a {opponent.role.value} policy"
            )
        g, opts = self.text_game.game, self.options
        n = steps * opts.prompts_per_step
        seeds = rng.choice(len(g.seeds), size=n, p=self._train_prior).tolist()
        stats: list[dict[str, float]] = []
        if g.turns > 1:
            rows, reward_fn = self._multi_turn_phase(opponent, seeds, rng, stats)
        else:
            rows, reward_fn = self._single_turn_phase(opponent, seeds, rng, stats)
        phase_seed = int(rng.integers(2**31))
        with adapter_scope(self.model, self.adapter, trainable=True), device_scope(self.device):
            trainer = self._phase_trainer(steps, phase_seed, rows, reward_fn)
            try:
                trainer.train()
            finally:
                # TRL's fused LM head closes over the live model's forward: drop it between
                # phases (the next phase puts it back), so copies never alias the live model.
                strip_forward_patch(self.model)
                if self.layout.processes > 1:
                    # The phase's DDP wrapper holds gradient buckets as large as the
                    # trainable weights; the next phase wraps the model again.
                    trainer.model_wrapped = trainer.model
                    trainer.accelerator.free_memory()
        records = [self._record(i, st, self._trl_logs, self.layout.updates)
                   for i, st in enumerate(stats[:steps])]
        self.steps += steps
        self.phases += 1
        self._measure_heldout(opponent, steps, records)
        return records

    # ---------------------------------------------------------------- the trainer
    def _phase_trainer(self, steps: int, seed: int, rows: dict[str, list], reward_fn: Any
                       ) -> Any:
        """The role's one ``GRPOTrainer``, set up for a phase of ``steps`` steps.

        Built by the first phase and reused by every later one, so a vLLM engine is made
        once per role and run (an in-process engine is not reliably freed). Each phase's
        ``GRPOConfig`` (checked like the first) resets accelerate's process-wide state for
        this role (``TrainingArguments``), so a reused trainer copies the phase's
        ``max_steps`` and seeds into its own config (keeping what TRL set on it when built)
        and makes a new ``Accelerator``, as ``Trainer`` does for a new hyper-parameter
        trial; our optimizer is handed back unwrapped, the phase's dataset replaces the
        last, and GRPO's generation buffer is emptied. ``train()`` then rebuilds the data
        loader (the ``RepeatSampler`` reads ``args.seed``) and the trainer state and keeps
        our LR schedule. The RNGs are seeded last, as ``GRPOTrainer.__init__`` does, so a
        phase is the same with a new trainer (a resumed run) or a reused one.
        """
        from accelerate.utils import set_seed
        from datasets import Dataset

        config = self.grpo_config(steps, self._output_dir.name, seed)
        self._phase_reward = reward_fn
        self._trl_logs.clear()
        dataset = Dataset.from_dict(rows)
        if self._trainer is None:
            self._trainer = self._build_trainer(config, dataset)
            self._fused_forward = forward_patch(self.model)
        else:
            t = self._trainer
            for name in ("max_steps", "seed", "data_seed"):  # the rest is the first phase's
                setattr(t.args, name, getattr(config, name))
            t.create_accelerator_and_postprocess()
            t.optimizer, t.model_wrapped, t.train_dataset = self.optimizer, t.model, dataset
            t._step, t._buffered_inputs = 0, None  # a phase starts with a generation
            if hasattr(t, "_last_loaded_step"):
                t._last_loaded_step = -1  # vLLM: load the weights at the first generation
            restore_forward_patch(self.model, self._fused_forward)
        # Accelerate skips a model it marked prepared (by an earlier phase, the other role's
        # trainer on a shared base, or SFT); its bf16 output wrapper is stripped after each
        # phase. Unmark the model so every phase prepares it as a new trainer would (and a
        # resumed phase, whose model is unmarked, matches).
        self.model.__dict__.pop("_is_accelerate_prepared", None)
        set_seed(seed, device_specific=True)
        return self._trainer

    def _build_trainer(self, config: Any, dataset: Any) -> Any:
        """A ``GRPOTrainer`` on the live model with our optimizer, schedule and callbacks."""
        from transformers import PrinterCallback, TrainerCallback
        from trl import GRPOTrainer

        sink = self._trl_logs  # cleared by each phase

        class _Logs(TrainerCallback):
            def on_log(self, args: Any, state: Any, control: Any, logs: Any = None,
                       **kw: Any) -> None:
                if logs and "loss" in logs:
                    sink.append({k: float(v) for k, v in logs.items()
                                 if k in _TRL_KEYS and isinstance(v, int | float)})

        def reward_fn(prompts: list, completions: list, **cols: Any) -> list[float | None]:
            return self._phase_reward(prompts, completions, **cols)  # this phase's rewards

        trainer = GRPOTrainer(
            model=self.model,
            reward_funcs=[reward_fn],
            args=config,
            train_dataset=dataset,
            processing_class=self.tokenizer,
            optimizers=(self.optimizer, self.scheduler),
            callbacks=[_Logs()],
        )
        # TRL prints every log dict when tqdm is off; our records carry them instead.
        trainer.remove_callback(PrinterCallback)
        return trainer

    # ---------------------------------------------------------------- held out
    def _set_heldout(self, heldout: HeldOutOptions | None) -> None:
        """Hold out the run's fixed seed sample: never trained on, measured every few steps."""
        g = self.text_game.game
        self.heldout = heldout
        self.heldout_seeds = None if heldout is None else heldout_seeds(
            len(g.seeds), g.harmful, heldout)
        self._train_prior = g.prior
        if self.heldout_seeds is not None:
            prior = g.prior.copy()
            prior[self.heldout_seeds] = 0.0
            if not prior.sum() > 0:
                raise InvalidConfigError("heldout: the held-out seeds carry all the prior "
                                         "mass; hold out fewer seeds")
            self._train_prior = prior / prior.sum()
            if heldout is not None and heldout.tables:
                self._policy.table_seeds = self.heldout_seeds

    def _measure_heldout(self, opponent: Any, steps: int, records: list[dict[str, Any]]
                         ) -> None:
        """Add the held-out metrics to the last record when an ``every``-th step was passed."""
        h, held = self.heldout, self.heldout_seeds
        if h is None or held is None or not records or not isinstance(opponent, LMPolicy):
            return
        if self.steps // h.every == (self.steps - steps) // h.every:
            return
        own, attacker_role = self._policy, self._role is Role.ATTACKER
        pair = (own, opponent) if attacker_role else (opponent, own)
        rng = np.random.default_rng(0 if h.seed is None else h.seed)
        metrics = heldout_metrics(self.text_game, self.judge, *pair,
                                  [int(x) for x in held], rng)
        records[-1].update({k: v for k, v in metrics.items() if math.isfinite(v)})

    def _record(self, i: int, stats: dict[str, Any], trl_logs: list[dict[str, float]],
                updates: int) -> dict[str, float]:
        """Step ``i``'s record: its statistics and the mean of its updates' TRL logs."""
        rec = {"step": float(self.steps + i + 1), "phase": float(self.phases), **stats}
        logs = trl_logs[i * updates:(i + 1) * updates]
        for key in {k for log in logs for k in log}:
            rec[key] = float(np.mean([log[key] for log in logs if key in log]))
        # Undefined rates (e.g. no harmful seed in a step) are left out: JSON has no NaN.
        return {k: v for k, v in rec.items() if not isinstance(v, float) or math.isfinite(v)}

    # ---------------------------------------------------------------- checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Weights (only the adapter's with lora), optimizer, scheduler, counters, judge stats.

        Plain data (JSON values and NumPy arrays, :mod:`~seqgame.backends.llm.state`), so a
        checkpoint never pickles; ``judge_stats`` is a plain dict of ints, so a resumed run
        continues the judge's error and unparseable counts (and rates) of the first.
        """
        weights = ({"model": to_plain(self.model.state_dict())} if self.adapter is None
                   else {"adapter": to_plain(adapter_state(self.model, self.adapter))})
        return {
            "role": self._role.value,
            **weights,
            "optimizer": to_plain(self.optimizer.state_dict()),
            "scheduler": to_plain(self.scheduler.state_dict()),
            "steps": self.steps,
            "phases": self.phases,
            "judge_stats": self.judge.stats.to_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output."""
        if state.get("role") != self._role.value:
            raise InvalidConfigError(
                f"checkpoint is for the {state.get('role')!r} learner, not {self._role.value!r}"
            )
        key = "model" if self.adapter is None else "adapter"
        if key not in state:
            raise InvalidConfigError(
                f"checkpoint of the {self._role.value} has no {key!r} weights: it was written "
                f"{'with' if key == 'model' else 'without'} lora; resume with the same config")
        if self.adapter is None:
            self.model.load_state_dict(from_plain(state["model"]))
        else:
            load_adapter_state(self.model, self.adapter, from_plain(state["adapter"]))
        self.optimizer.load_state_dict(from_plain(state["optimizer"]))
        self.scheduler.load_state_dict(from_plain(state["scheduler"]))
        self.steps = int(state["steps"])
        self.phases = int(state["phases"])
        if "judge_stats" in state:  # absent in checkpoints written before it was kept
            self.judge.stats = JudgeStats.from_dict(state["judge_stats"])

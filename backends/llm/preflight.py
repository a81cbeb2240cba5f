"""Preflight of an LLM run: check what it needs and plan its GPU memory before any work.

:func:`preflight` (the backend hook ``seqgame train --check`` and ``seqgame train`` call)
checks the packages the config uses (peft with ``lora``, vLLM in TRL 1.16's range with
``use_vllm``, flash-attn with ``attn_implementation: flash_attention_2``), CUDA and the
device count, each model folder (config, safetensors weights, a tokenizer with a chat
template), each HTTP judge's endpoint (``GET /v1/models``) and the disk space for
checkpoints; and prints a **memory plan** per device.

The plan (GiB, 2^30 bytes) adds, per device: the weights of each distinct model (one with
``shared_base``) in its ``dtype``; the trainable parameters' float32 copies (LoRA adapters
and their frozen snapshot copies; a full fine-tuning snapshot is a whole model copy);
AdamW's two float32 moments for both roles (they persist across phases); float32 gradients
and the activations of one micro-batch (``per_device_train_batch_size`` ×
(``plan.prompt_tokens`` + ``max_completion_length``) tokens) of the role that trains (one
at a time, so the larger); the KV cache of HF generation of one whole generation batch, or
TRL's colocated vLLM share (``vllm_gpu_memory_utilization`` of the device, one engine per
role); and ``plan.judge_gib`` for a judge on the same device. Activations per token and
layer are taken as (8·hidden + 4·intermediate) values, and with gradient checkpointing as
one hidden vector per layer plus one layer's working set; it is an estimate, not a
measurement. Under a launcher with P processes (``WORLD_SIZE``) the plan is one process's
GPU: its share of the micro-batches and of the generation batch (``1/P``). The architecture
comes from the model's ``config.json``, or for a folder that is not here from
``plan.architecture`` (or the folder's name) in :data:`ARCHITECTURES`.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqgame.errors import InvalidConfigError, SeqgameError
from seqgame.runner.store import KEEP_CHECKPOINTS

from .distributed import process_count

GIB = 2**30
#: TRL 1.16's supported vLLM range.
VLLM_RANGE = ("0.22", "0.31")
#: Checkpoints a run keeps on disk, plus the one being written.
CHECKPOINT_COPIES = KEEP_CHECKPOINTS + 1


@dataclass(frozen=True)
class Architecture:
    """The shape of a decoder-only transformer (Qwen2 / Llama layout: q/k/v biases ignored)."""

    hidden: int
    layers: int
    vocab: int
    intermediate: int
    heads: int
    kv_heads: int
    tied: bool

    @property
    def head_dim(self) -> int:
        """Width of one attention head."""
        return self.hidden // self.heads

    def module_shapes(self) -> dict[str, tuple[int, int]]:
        """``(in, out)`` of each linear projection of one layer."""
        h, kv, i = self.hidden, self.kv_heads * self.head_dim, self.intermediate
        return {"q_proj": (h, h), "k_proj": (h, kv), "v_proj": (h, kv), "o_proj": (h, h),
                "gate_proj": (h, i), "up_proj": (h, i), "down_proj": (i, h)}

    @property
    def params(self) -> int:
        """Parameter count (embeddings, an untied LM head, projections and norms)."""
        per_layer = sum(a * b for a, b in self.module_shapes().values()) + 2 * self.hidden
        heads = 1 if self.tied else 2
        return heads * self.vocab * self.hidden + self.layers * per_layer + self.hidden

    def lora_params(self, r: int, targets: tuple[str, ...]) -> int:
        """Parameters of one rank-``r`` LoRA adapter on ``targets``: r·(in + out) each."""
        shapes = self.module_shapes()
        return self.layers * sum(r * sum(shapes[t]) for t in targets if t in shapes)


#: Public configs of models a plan can name without their folder.
ARCHITECTURES = {
    "qwen2.5-0.5b": Architecture(896, 24, 151936, 4864, 14, 2, True),
    "qwen2.5-1.5b": Architecture(1536, 28, 151936, 8960, 12, 2, True),
    "qwen2.5-7b": Architecture(3584, 28, 152064, 18944, 28, 4, False),
    # head_dim 256 (not hidden / heads): the plan's attention terms are a slight underestimate
    "gemma3-270m": Architecture(640, 18, 262144, 2048, 4, 1, True),
}


@dataclass(frozen=True)
class PlanOptions:
    """A role's ``plan:`` options (memory planning only; nothing else reads them)."""

    gpu_memory_gib: float = 141.0
    prompt_tokens: int = 512
    architecture: str | None = None
    judge_gib: float = 0.0

    def __post_init__(self) -> None:
        if self.gpu_memory_gib <= 0 or self.prompt_tokens < 1 or self.judge_gib < 0:
            raise InvalidConfigError(
                "gpu_memory_gib > 0, prompt_tokens >= 1 and judge_gib >= 0 are required")
        if self.architecture is not None and self.architecture not in ARCHITECTURES:
            raise InvalidConfigError(
                f"architecture = {self.architecture!r}: known ones are {sorted(ARCHITECTURES)}")


@dataclass
class Report:
    """Lines to print and the failed checks (each one line)."""

    lines: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def check(self, name: str, ok: bool, detail: str) -> None:
        """Record one check."""
        self.lines.append(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
        if not ok:
            self.failures.append(f"{name}: {detail}")


class PreflightError(InvalidConfigError):
    """A preflight check failed; ``lines`` is the whole report (plan included)."""

    def __init__(self, message: str, lines: list[str]) -> None:
        super().__init__(message)
        self.lines = lines


def architecture_of(model: str, tiny: Any, plan: PlanOptions) -> Architecture | None:
    """The role's architecture: tiny shape, ``config.json``, ``plan.architecture``, or name."""
    if model == "tiny":
        return Architecture(tiny.hidden_size, tiny.num_hidden_layers, tiny.vocab_size,
                            tiny.intermediate_size, tiny.num_attention_heads,
                            tiny.num_key_value_heads, True)
    cfg = _converted_folder(model) / "config.json"
    keys = ("hidden_size", "num_hidden_layers", "vocab_size", "intermediate_size",
            "num_attention_heads")
    c = json.loads(cfg.read_text()) if cfg.is_file() else {}
    if all(k in c for k in keys):
        return Architecture(c["hidden_size"], c["num_hidden_layers"], c["vocab_size"],
                            c["intermediate_size"], c["num_attention_heads"],
                            c.get("num_key_value_heads", c["num_attention_heads"]),
                            bool(c.get("tie_word_embeddings", False)))
    if plan.architecture is not None:
        return ARCHITECTURES[plan.architecture]
    name = Path(model).name.lower()
    return next((a for key, a in ARCHITECTURES.items() if key in name), None)


def _converted_folder(model: str) -> Path:
    """The folder a ``model:`` names: a GGUF file's cached conversion (if made), else itself."""
    from .gguf import cache_key, cache_root, is_gguf_model, resolve_gguf

    if not is_gguf_model(model):
        return Path(model)
    try:
        return cache_root() / "gguf-hf" / cache_key(resolve_gguf(model))
    except SeqgameError:
        return Path(model)


def _gguf_check(spec: Any, report: Report) -> None:
    """A GGUF ``model:``: the file (or its pip packages) and the gguf package; no conversion."""
    from .gguf import require_gguf, resolve_gguf

    name = f"{spec.role}.model"
    try:
        require_gguf()
        gguf_file = resolve_gguf(spec.opts.model)
    except SeqgameError as exc:
        report.check(name, False, str(exc))
        return
    folder = _converted_folder(spec.opts.model)
    done = (folder / "config.json").is_file()
    if not done and spec.opts.chat_template is None:
        report.check(name, False, f"{gguf_file}: set {spec.role}.chat_template (a GGUF base "
                     "model usually has none), e.g. experiments/configs/chat_template_plain.jinja")
        return
    report.check(name, True, f"{gguf_file} -> " + (f"{folder} (converted)" if done else
                                                   "dequantised on first load (~1-2 min)"))
    if done:
        _folder_check(folder, spec, report)


def device_index(device: str) -> str:
    """``cuda`` → ``cuda:0``; other names as they are."""
    return "cuda:0" if device == "cuda" else device


def preflight(config: dict[str, Any], plan_only: bool = False) -> list[str]:
    """Check an LLM run config and plan its memory; return the report's lines.

    Args:
        config: a run config as a dict (``RunConfig.to_dict()``).
        plan_only: only the memory plan (no package, CUDA, path, endpoint or disk check),
            e.g. to plan a GPU run on a machine without the GPU or the weights.

    Raises:
        PreflightError: a check failed (the message lists every failure; ``lines`` holds
            the report with the plan, so the caller can print it first).
        InvalidConfigError: the options themselves are invalid.
    """
    report = Report()
    specs = roles(config)
    if not plan_only:
        game = _game(config)
        report.check("game", game is not None,
                     f"{config['game']!r}" + (" loads" if game is not None else " cannot be "
                                              "loaded (a missing spec file?)"))
        environment_checks(specs, report, Path("."))
    memory_plan(specs, report)
    if report.failures:
        raise PreflightError(f"preflight failed ({len(report.failures)}): "
                             + "; ".join(report.failures), report.lines)
    return report.lines


def _package(report: Report, module: str, why: str, version_range: tuple[str, str] | None = None
             ) -> None:
    if importlib.util.find_spec(module) is None:
        report.check(f"package {module}", False, f"not installed ({why}): pip install "
                     "'seqgame[gpu]'")
        return
    if version_range is None:
        report.check(f"package {module}", True, "installed")
        return
    from importlib.metadata import version

    from packaging.version import Version

    have, (lo, hi) = version(module), version_range
    ok = Version(lo) <= Version(have) < Version(hi + ".999")
    report.check(f"package {module}", ok, f"{have}" + ("" if ok else
                 f" is outside TRL 1.16's range {lo}-{hi}: pip install 'vllm>={lo},<={hi}'"))


def environment_checks(specs: list[Any], report: Report, out_dir: Path) -> None:
    """Packages, CUDA, model folders, judge endpoints and disk space (module docstring)."""
    if any(s.lora is not None for s in specs):
        _package(report, "peft", "lora")
    if any(s.grpo.use_vllm for s in specs):
        _package(report, "vllm", "use_vllm", VLLM_RANGE)
    if any(s.opts.attn_implementation == "flash_attention_2" for s in specs):
        _package(report, "flash_attn", "attn_implementation: flash_attention_2")
    _cuda(specs, report)
    for spec in specs:
        _model_folder(spec, report)
        _sft_pool(spec, report)
        _judge_endpoint(spec, report)
    _disk(specs, report, out_dir)


def _cuda(specs: list[Any], report: Report) -> None:
    devices = sorted({device_index(s.opts.device) for s in specs if s.opts.device != "cpu"})
    if not devices:
        return
    import torch

    if not torch.cuda.is_available():
        report.check("cuda", False, f"devices {devices} asked for, but torch sees no CUDA GPU")
        return
    count = torch.cuda.device_count()
    need = max(int(d.split(":")[1]) for d in devices if d.startswith("cuda")) + 1
    report.check("cuda", count >= need, f"{count} GPU(s) visible, the config uses {devices}")


def _model_folder(spec: Any, report: Report) -> None:
    name = f"{spec.role}.model"
    if spec.opts.model == "tiny":
        report.check(name, True, "tiny (built offline on demand)")
        return
    from .gguf import is_gguf_model

    if is_gguf_model(spec.opts.model):
        _gguf_check(spec, report)
        return
    path = Path(spec.opts.model)
    if not path.exists():
        report.check(name, False, f"{path} missing")
        return
    _folder_check(path, spec, report)


def _folder_check(path: Path, spec: Any, report: Report) -> None:
    from .models import check_model_dir, load_tokenizer

    name = f"{spec.role}.model"
    try:
        check_model_dir(path, spec.opts.trust_remote_code)
        load_tokenizer(path, spec.opts.trust_remote_code, need_chat_template=True,
                       chat_template=spec.opts.chat_template)
    except InvalidConfigError as exc:
        report.check(name, False, str(exc))
        return
    report.check(name, True, f"{path} (config, safetensors, tokenizer with chat template)")


def _sft_pool(spec: Any, report: Report) -> None:
    pool = str((spec.opts.sft or {}).get("pool", "canonical"))
    if pool != "canonical":
        report.check(f"{spec.role}.sft.pool", Path(pool).is_file(),
                     f"{pool}" + ("" if Path(pool).is_file() else " missing"))


def _judge_endpoint(spec: Any, report: Report) -> None:
    judge = spec.opts.judge or {}
    if judge.get("kind") != "http":
        return
    import urllib.error
    import urllib.request

    url = str(judge.get("base_url", "")).rstrip("/") + "/v1/models"
    try:
        with urllib.request.urlopen(url, timeout=3) as resp:  # noqa: S310 (config's URL)
            ok, detail = resp.status == 200, f"{url} answered {resp.status}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        ok, detail = False, f"{url} unreachable ({reason}): start the judge server first"
    report.check(f"{spec.role}.judge", ok, detail)


def _disk(specs: list[Any], report: Report, out_dir: Path) -> None:
    need = sum(s.checkpoint_bytes for s in specs) * CHECKPOINT_COPIES
    where = out_dir if out_dir.exists() else Path(".")
    free = shutil.disk_usage(where).free
    report.check("disk", free >= need, f"{free / GIB:.1f} GiB free at {where.resolve()}, "
                 f"checkpoints need ~{need / GIB:.1f} GiB ({CHECKPOINT_COPIES} copies)")


# ----------------------------------------------------------------------------- the plan
@dataclass(frozen=True)
class RoleSpec:
    """One role's parsed options and architecture."""

    role: str
    opts: Any
    grpo: Any
    lora: Any
    plan: PlanOptions
    arch: Architecture | None

    @property
    def trainable(self) -> int:
        """Trainable parameters (the adapter's with lora, else the whole model's)."""
        if self.arch is None:
            return 0
        if self.lora is None:
            return self.arch.params
        return self.arch.lora_params(self.lora.r, self.lora.target_modules)

    @property
    def checkpoint_bytes(self) -> int:
        """One checkpoint's share of this role: float32 weights and AdamW's two moments."""
        return 12 * self.trainable


def roles(config: dict[str, Any]) -> list[RoleSpec]:
    """Parse both roles' options (the factory's validation) into :class:`RoleSpec`."""
    from seqgame.config import parse_options
    from seqgame.model.game import Role

    from .factory import _role_setup
    from .tiny import TinyConfig

    game = _game(config)
    specs = []
    for role_name in ("attacker", "defender"):
        raw = dict(config.get(role_name) or {})
        opts, grpo, _, lora = _role_setup(Role.parse(role_name), game, raw)
        plan = parse_options(PlanOptions, dict(opts.plan or {}), f"{role_name}.plan")
        tiny = parse_options(TinyConfig, dict(opts.tiny), f"{role_name}.tiny")
        specs.append(RoleSpec(role_name, opts, grpo, lora, plan,
                              architecture_of(opts.model, tiny, plan)))
    return specs


def _game(config: dict[str, Any]) -> Any:
    """The config's game, or None when it cannot be loaded here (checked by the game check)."""
    from seqgame.errors import SeqgameError
    from seqgame.games import load_game

    try:
        return load_game(config["game"])
    except SeqgameError:
        return None


_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def role_memory(spec: RoleSpec, share_base: bool) -> dict[str, float]:
    """One role's memory terms in bytes (``share_base``: its weights are counted elsewhere)."""
    a, g, o = spec.arch, spec.grpo, spec.opts
    assert a is not None
    weight_bytes = _DTYPE_BYTES[o.dtype]
    act_bytes = 2 if (g.bf16 or o.dtype != "float32") else 4
    n = spec.trainable
    layout = g.layout(process_count())  # under a launcher: this process's share
    tokens = layout.per_device * (spec.plan.prompt_tokens + g.max_completion_length)
    layer_set = tokens * (8 * a.hidden + 4 * a.intermediate) * act_bytes
    acts = (a.layers * tokens * a.hidden * act_bytes + layer_set if g.gradient_checkpointing
            else a.layers * layer_set)
    gen_tokens = g.batch_size // layout.processes * (spec.plan.prompt_tokens
                                                      + g.max_completion_length)
    kv = gen_tokens * a.layers * 2 * a.kv_heads * a.head_dim * act_bytes
    if spec.lora is None:
        trainable, snapshot = 0.0, float(a.params * weight_bytes)
    else:
        trainable, snapshot = 4.0 * n, 4.0 * n  # float32 adapter + its frozen copy
    colocate = g.use_vllm and g.vllm_mode == "colocate"
    return {
        "weights": 0.0 if share_base else float(a.params * weight_bytes),
        "adapters": trainable,
        "snapshot": snapshot,
        "optimizer": 8.0 * n,
        "gradients": 4.0 * n,
        "activations": float(acts),
        "generation": 0.0 if g.use_vllm else float(kv),
        "vllm": g.vllm_gpu_memory_utilization * spec.plan.gpu_memory_gib * GIB if colocate else 0.0,
    }


#: Terms of the role that trains (one at a time): a device holds the larger one.
_ONE_AT_A_TIME = ("gradients", "activations", "generation")


def memory_plan(specs: list[RoleSpec], report: Report) -> dict[str, dict[str, float]]:
    """Add each device's plan to ``report``; return ``{device: {term: GiB}}``."""
    unknown = [s for s in specs if s.arch is None]
    for s in unknown:
        report.check(f"{s.role}.plan", False,
                     f"architecture of {s.opts.model!r} unknown: set {s.role}.plan.architecture "
                     f"to one of {sorted(ARCHITECTURES)}")
    if unknown:
        return {}
    shared = all(s.opts.shared_base for s in specs)
    by_device: dict[str, list[dict[str, float]]] = {}
    for i, s in enumerate(specs):
        by_device.setdefault(device_index(s.opts.device), []).append(
            role_memory(s, share_base=shared and i > 0))
    plans = {}
    for device, terms in by_device.items():
        total = {k: (max(t[k] for t in terms) if k in _ONE_AT_A_TIME else sum(t[k] for t in terms))
                 / GIB for k in terms[0]}
        judges = [s.plan.judge_gib for s in specs if device_index(s.opts.device) == device]
        total["judge"] = max(judges)
        total["total"] = sum(total.values())
        plans[device] = total
        memory = min(s.plan.gpu_memory_gib for s in specs if device_index(s.opts.device) == device)
        parts = ", ".join(f"{k} {v:.1f}" for k, v in total.items() if k != "total")
        fits = total["total"] <= memory
        report.check(f"memory {device}", fits,
                     f"{parts}; total {total['total']:.1f} of {memory:.0f} GiB"
                     + ("" if fits else ": does not fit (lora, shared_base, smaller "
                        "per_device_train_batch_size, gradient_checkpointing)"))
    return plans

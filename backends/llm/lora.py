"""LoRA adapters per role (PEFT), and one frozen base shared by both roles.

Per-role LoRA (``lora:`` under a role): the role's model is wrapped once with
:func:`attach_lora` (adapter ``default``) and trained through it for the whole run; only
the adapter's parameters are in the learner's optimizer, so its AdamW state and LR
schedule persist across phases exactly as full fine-tuning's do.

Shared base (``shared_base: true`` under **both** roles, same ``model``; the run config's
core keys know nothing of it): one base model in memory carries two adapters, ``attacker``
and ``defender``. Each learner trains its own adapter; the frozen opponent is the same
model with the opponent's adapter active, in eval mode under ``no_grad``. A snapshot
copies only the adapter's weights into ``<adapter>_frozen`` (a few MB at 7B, no copy of
the base), so the simultaneous schedule still plays against frozen weights.

PEFT's :meth:`~peft.PeftModel.set_adapter` also sets ``requires_grad`` (the active adapter
trainable, the others frozen), so every switch is scoped (:func:`adapter_scope`) and the
previously active adapter is restored on exit.

PEFT keeps adapters in float32 over a bf16 base (``autocast_adapter_dtype``), which is the
precision rule of :mod:`~seqgame.backends.llm.learner`: trainable parameters in float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from seqgame.errors import InvalidConfigError

#: Qwen2 / Llama attention and MLP projections (never ``lm_head``: TRL computes the
#: log-probabilities from ``lm_head.weight`` directly, so an adapter there is never trained).
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
FROZEN_SUFFIX = "_frozen"


@dataclass(frozen=True)
class LoRAOptions:
    """A role's ``lora:`` options.

    Attributes:
        r: adapter rank.
        alpha: LoRA scaling numerator (the update is scaled by ``alpha / r``).
        dropout: dropout on the adapter's input.
        target_modules: module names that get an adapter (not ``lm_head``).
        seed: torch seed of the adapters' random initialisation (``lora_A``).
    """

    r: int = 16
    alpha: int = 32
    dropout: float = 0.0
    target_modules: tuple[str, ...] = DEFAULT_TARGETS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.r < 1:
            raise InvalidConfigError(f"r = {self.r!r}: use a rank >= 1")
        if self.alpha <= 0:
            raise InvalidConfigError(f"alpha = {self.alpha!r}: use a number > 0")
        if not 0.0 <= self.dropout < 1.0:
            raise InvalidConfigError(f"dropout = {self.dropout!r}: use a value in [0, 1)")
        if not self.target_modules:
            raise InvalidConfigError("target_modules = []: name at least one module")
        if "lm_head" in self.target_modules:
            raise InvalidConfigError(
                "target_modules contains 'lm_head': TRL computes log-probabilities from "
                "lm_head.weight directly, so that adapter would never train; remove it")

    def peft_config(self) -> Any:
        """The equivalent :class:`peft.LoraConfig` (causal LM, no bias)."""
        from peft import LoraConfig

        return LoraConfig(r=self.r, lora_alpha=self.alpha, lora_dropout=self.dropout,
                          target_modules=list(self.target_modules), bias="none",
                          task_type="CAUSAL_LM")


def require_peft() -> None:
    """Raise BackendUnavailableError unless peft imports."""
    from seqgame.errors import BackendUnavailableError

    try:
        import peft  # noqa: F401
    except ImportError:
        raise BackendUnavailableError("lora needs peft: pip install 'seqgame[llm]'") from None


def is_peft(model: Any) -> bool:
    """True when ``model`` is a PEFT model (carries adapters)."""
    return hasattr(model, "peft_config") and hasattr(model, "set_adapter")


def _check_targets(model: Any, options: LoRAOptions) -> None:
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in options.target_modules if t not in names]
    if missing:
        raise InvalidConfigError(
            f"lora.target_modules = {missing}: no such module in {type(model).__name__}; "
            f"e.g. {sorted(n for n in names if n.endswith('proj'))[:8]}")


def attach_lora(model: Any, options: LoRAOptions, adapter: str = "default") -> Any:
    """Wrap ``model`` with one LoRA adapter named ``adapter``; return the PEFT model.

    The base weights are frozen; the adapter is initialised from ``options.seed`` inside a
    private torch RNG scope (the caller's torch state is left alone).
    """
    require_peft()
    import torch
    from peft import get_peft_model

    _check_targets(model, options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        return get_peft_model(model, options.peft_config(), adapter_name=adapter)


def add_role_adapter(model: Any, options: LoRAOptions, adapter: str) -> None:
    """Add a second trainable adapter ``adapter`` to the PEFT ``model`` (shared base)."""
    import torch

    if adapter in model.peft_config:
        raise InvalidConfigError(f"adapter {adapter!r} already exists on the shared base")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(options.seed)
        model.add_adapter(adapter, options.peft_config())  # the active adapter is kept


def adapter_parameters(model: Any, adapter: str) -> list[Any]:
    """The parameters of ``adapter`` (its ``lora_A`` / ``lora_B`` weights), in module order."""
    key = f".{adapter}."
    return [p for n, p in model.named_parameters() if key in n]


@contextmanager
def adapter_scope(model: Any, adapter: str | None, trainable: bool = False) -> Iterator[None]:
    """Activate ``adapter`` inside the block and restore the previous one after it.

    ``adapter=None`` leaves the active adapter as it is (a no-op scope).
    """
    if adapter is None or not is_peft(model):
        yield
        return
    previous = model.active_adapter
    model.set_adapter(adapter, inference_mode=not trainable)
    try:
        yield
    finally:
        model.set_adapter(previous)


def adapter_state(model: Any, adapter: str) -> dict[str, Any]:
    """``adapter``'s weights as a ``{name: tensor}`` dict keyed without the adapter name."""
    from peft import get_peft_model_state_dict

    return dict(get_peft_model_state_dict(model, adapter_name=adapter))


def load_adapter_state(model: Any, adapter: str, state: dict[str, Any]) -> None:
    """Load :func:`adapter_state`'s output into ``adapter`` (every key must match)."""
    from peft import set_peft_model_state_dict

    result = set_peft_model_state_dict(model, state, adapter_name=adapter)
    unexpected = list(getattr(result, "unexpected_keys", []) or [])
    if unexpected:
        raise InvalidConfigError(
            f"adapter {adapter!r} checkpoint has keys this model lacks: {unexpected[:3]}; "
            "was it saved with another lora.target_modules or rank?")


def freeze_copy(model: Any, adapter: str) -> str:
    """Copy ``adapter``'s weights into the frozen adapter ``<adapter>_frozen``; its name.

    The frozen adapter is created on the first call and overwritten by later ones.
    """
    import torch

    frozen = adapter + FROZEN_SUFFIX
    if frozen not in model.peft_config:
        model.add_adapter(frozen, model.peft_config[adapter])
    src = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in src.items():
            if f".{adapter}." in name:
                dst = src[name.replace(f".{adapter}.", f".{frozen}.")]
                dst.copy_(p)
                dst.requires_grad_(False)
    versions = model.__dict__.setdefault("_seqgame_frozen_versions", {})
    versions[frozen] = versions.get(frozen, 0) + 1
    return frozen


def frozen_version(model: Any, frozen: str) -> int:
    """How many times :func:`freeze_copy` has written the frozen adapter ``frozen``."""
    return int(model.__dict__.get("_seqgame_frozen_versions", {}).get(frozen, 0))


def strip_forward_patch(model: Any) -> None:
    """Drop instance-level ``forward`` overrides left by a finished trainer.

    TRL's fused LM head (and accelerate's autocast wrapper) replace ``model.forward`` on the
    instance with closures over the *live* model's bound forward; a deep copy of such a
    model would still run the live weights. After a phase the class ``forward`` is right.
    """
    target = model.get_base_model() if is_peft(model) else model
    for m in {id(model): model, id(target): target}.values():
        m.__dict__.pop("forward", None)
        m.__dict__.pop("_original_forward", None)


def _patch_target(model: Any) -> Any:
    """The module TRL's fused LM head patches: the base model under PEFT, else ``model``."""
    return model.get_base_model() if is_peft(model) else model


def forward_patch(model: Any) -> Any:
    """The instance-level ``forward`` a just-built ``GRPOTrainer`` put on ``model``, or None.

    Its closure holds the class ``forward`` bound to ``model``: kept by a learner that reuses
    its trainer, and put back (:func:`restore_forward_patch`) before each phase.
    """
    return _patch_target(model).__dict__.get("forward")


def restore_forward_patch(model: Any, patch: Any) -> None:
    """Put back a :func:`forward_patch` that :func:`strip_forward_patch` removed."""
    if patch is not None:
        _patch_target(model).__dict__["forward"] = patch

"""Loading causal LMs from local paths, with the checks that must fail before training.

Missing path, a config that is not a causal LM, weights not in safetensors, a tokenizer
without a chat template: each raises :class:`~seqgame.errors.InvalidConfigError` naming
the path and the fix. Nothing is downloaded (``local_files_only``); ``trust_remote_code``
is off unless the caller turns it on.

A ``model:`` value is a local HF folder or a GGUF file (``PATH.gguf`` or a packaged
``gguf:NAME``), which :func:`resolve_model_path` turns into a cached safetensors folder
(:mod:`~seqgame.backends.llm.gguf`). Base models have no chat template: the
``chat_template`` argument (a ``.jinja`` file or the template text, see
:func:`read_chat_template`) supplies one, e.g. ``experiments/configs/chat_template_plain.jinja``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from seqgame.errors import InvalidConfigError

from . import require_llm_stack


def read_chat_template(value: str, where: str = "chat_template") -> str:
    """The template text of a ``chat_template`` option: the text itself or a file's content.

    A value containing Jinja markup (``{{`` or ``{%``) is the template; anything else must
    be an existing file.

    Raises:
        InvalidConfigError: neither template text nor an existing file, or an empty file.
    """
    if "{{" in value or "{%" in value:
        return value
    path = Path(value)
    if not path.is_file():
        raise InvalidConfigError(
            f"{where} = {value!r}: neither a Jinja template (no '{{{{' or '{{%') nor an "
            "existing file; give a .jinja file, e.g. experiments/configs/chat_template_plain.jinja")
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise InvalidConfigError(f"{where} = {value!r}: the template file is empty")
    return text


def resolve_model_path(model: str | Path) -> Path:
    """The local HF folder of a ``model:`` value (a GGUF file is converted once, cached)."""
    from .gguf import is_gguf_model, model_folder

    if is_gguf_model(str(model)):
        return model_folder(str(model))
    return Path(model)


def load_tokenizer(path: Path, trust_remote_code: bool = False, need_chat_template: bool = True,
                   chat_template: str | None = None) -> Any:
    """Load the tokenizer saved at ``path`` (checked for a chat template when needed).

    ``chat_template`` (file or text, :func:`read_chat_template`) replaces the tokenizer's.
    """
    require_llm_stack()
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(
        str(path), local_files_only=True, trust_remote_code=trust_remote_code
    )
    if chat_template is not None:
        tok.chat_template = read_chat_template(chat_template)
    if need_chat_template and not getattr(tok, "chat_template", None):
        raise InvalidConfigError(
            f"tokenizer at {path} has no chat template (a base model?): set the role option "
            "chat_template to a .jinja file or the template text, e.g. chat_template: "
            "experiments/configs/chat_template_plain.jinja"
        )
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    return tok


def check_model_dir(path: Path, trust_remote_code: bool = False) -> Any:
    """Validate a local causal-LM directory; returns its config."""
    require_llm_stack()
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES

    path = Path(path)
    if not path.is_dir():
        raise InvalidConfigError(
            f"model path {str(path)!r} does not exist or is not a directory: give a local "
            "directory saved with save_pretrained (nothing is downloaded)"
        )
    if not (path / "config.json").is_file():
        raise InvalidConfigError(f"model path {str(path)!r} has no config.json: not a HF model")
    config = AutoConfig.from_pretrained(
        str(path), local_files_only=True, trust_remote_code=trust_remote_code
    )
    if config.model_type not in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and not trust_remote_code:
        raise InvalidConfigError(
            f"model at {path} has model_type {config.model_type!r}, which is not a causal LM: "
            "use a decoder-only (AutoModelForCausalLM) checkpoint"
        )
    if not any(path.glob("*.safetensors")):
        raise InvalidConfigError(
            f"model at {path} has no .safetensors weights: weights load only from safetensors "
            "(convert with save_pretrained(..., safe_serialization=True))"
        )
    return config


def load_causal_lm(
    path: Path,
    trust_remote_code: bool = False,
    need_chat_template: bool = True,
    device: str = "cpu",
    attn_implementation: str | None = None,
    dtype: str = "float32",
    chat_template: str | None = None,
) -> tuple[Any, Any]:
    """Load ``(model, tokenizer)`` from a local directory after :func:`check_model_dir`.

    Args:
        path: local model directory, or a GGUF file (:func:`resolve_model_path`).
        trust_remote_code: allow custom modelling code (off by default).
        need_chat_template: require a chat template on the tokenizer.
        device: torch device.
        attn_implementation: e.g. ``"flash_attention_2"`` (GPU extra) or ``"sdpa"``.
        dtype: ``float32`` (CPU: bf16 is 2–5× slower there), ``bfloat16`` or ``float16``.
        chat_template: a template (file or text) for a tokenizer without one.
    """
    import torch
    from transformers import AutoModelForCausalLM

    path = resolve_model_path(path)
    check_model_dir(path, trust_remote_code)
    tokenizer = load_tokenizer(path, trust_remote_code, need_chat_template, chat_template)
    if dtype not in ("float32", "bfloat16", "float16"):
        raise InvalidConfigError(f"dtype = {dtype!r}: use float32, bfloat16 or float16")
    kwargs: dict[str, Any] = {}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    model = AutoModelForCausalLM.from_pretrained(
        str(path),
        local_files_only=True,
        use_safetensors=True,
        trust_remote_code=trust_remote_code,
        dtype=getattr(torch, dtype),
        **kwargs,
    )
    return model.to(device), tokenizer  # type: ignore[arg-type]  # transformers' .to stub


def check_device(device: str, where: str) -> None:
    """Refuse a CUDA device on a machine without one (before any model is loaded)."""
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise InvalidConfigError(
                f"{where}.device = {device!r}: this machine has no CUDA GPU; use device: cpu")


def model_dir(model: str, text_game: Any, seed: int, tiny: Mapping[str, Any] | None = None,
              tiny_dir: str | None = None) -> Path:
    """The local folder of a ``model:`` value; ``tiny`` builds (once) a tiny model for the game.

    Args:
        model: ``tiny``, a local HF folder, ``PATH.gguf`` or ``gguf:NAME``.
        text_game: the text game (its corpus trains the tiny tokenizer).
        seed: the tiny model's seed (unless ``tiny`` sets one).
        tiny: :class:`~seqgame.backends.llm.tiny.TinyConfig` fields.
        tiny_dir: where to build the tiny model (default: a cache folder under the system
            temp dir, keyed by game, corpus and shape).
    """
    if model != "tiny":
        return resolve_model_path(model)
    from seqgame.config import parse_options

    from .tiny import TinyConfig, build_tiny_model, tiny_key

    shape = parse_options(TinyConfig, {"seed": seed, **(tiny or {})}, "tiny")
    key = tiny_key(text_game.corpus(), shape)
    default = Path(tempfile.gettempdir()) / "seqgame-tiny" / f"{text_game.game.name}-{key}"
    out = Path(tiny_dir) if tiny_dir is not None else default
    if not (out / "config.json").is_file():
        # Build beside the target and rename, so concurrent runs never see half a model.
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
        build_tiny_model(tmp, text_game.corpus(), shape)
        try:
            tmp.rename(out)
        except OSError:  # `out` is not empty: another process's identical model, or a
            if not (out / "config.json").is_file():  # partial folder: replace that one
                shutil.rmtree(out, ignore_errors=True)
                with contextlib.suppress(OSError):
                    tmp.rename(out)
            shutil.rmtree(tmp, ignore_errors=True)
    return out

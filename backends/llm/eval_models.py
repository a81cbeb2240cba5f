"""Models of ``seqgame eval``: greedy batched HF generation, and the ``--model`` loaders.

:class:`HFGenerator` answers user messages on the tokenizer's chat template (raw text when
it has none), greedily, in left-padded batches; a prompt that does not fit the model's
context is not generated (``None``). :func:`load_generator` loads a local HF folder, a
``.gguf`` file or ``gguf:NAME`` (dequantised once to a cached folder,
:mod:`~seqgame.backends.llm.gguf`; needs the ``gguf`` package), a PEFT adapter folder, or
a run's defender: the run config's model (and chat template) with its latest checkpoint's
weights, or with ``lora`` its adapter merged into the base (shared-base runs included).
torch / transformers are imported inside.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgame.errors import BackendUnavailableError, InvalidConfigError


@dataclass(frozen=True)
class ModelSpec:
    """A ``--model`` value: ``label`` (as given), ``kind`` (hf, gguf, run) and ``path``."""

    label: str
    kind: str
    path: Path


class HFGenerator:
    """Greedy, batched, left-padded HF generation on the tokenizer's chat template."""

    def __init__(self, model: Any, tokenizer: Any, max_new_tokens: int, batch_size: int,
                 device: str = "cpu", source: str = "") -> None:
        self.model, self.tokenizer, self.device = model, tokenizer, device
        self.max_new_tokens, self.batch_size = max_new_tokens, batch_size
        template = getattr(tokenizer, "chat_template", None)
        self.settings = {"engine": "transformers.generate", "decoding": "greedy",
                         "max_new_tokens": max_new_tokens, "batch_size": batch_size,
                         "device": device, "source": source,
                         "prompt_format": "chat_template" if template else "plain",
                         "chat_template": template}

    def prompt(self, text: str) -> str:
        """The prompt string of one user message."""
        if self.settings["prompt_format"] == "plain":
            return text
        return self.tokenizer.apply_chat_template([{"role": "user", "content": text}],
                                                  tokenize=False, add_generation_prompt=True)

    def generate(self, texts: Sequence[str]) -> list[str | None]:
        """One greedy reply per text; None for a prompt that does not fit the context.

        A prompt fits when its tokens plus ``max_new_tokens`` fit the model's
        ``max_position_embeddings`` (prompts are never truncated).
        """
        import torch

        tok = self.tokenizer
        tok.padding_side = "left"
        plain = self.settings["prompt_format"] == "plain"
        prompts = [self.prompt(t) for t in texts]
        context = getattr(self.model.config, "max_position_embeddings", None)
        fits = [context is None or len(tok(p, add_special_tokens=plain)["input_ids"])
                + self.max_new_tokens <= context for p in prompts]
        todo = [p for p, ok in zip(prompts, fits, strict=True) if ok]
        self.model.eval()
        replies: list[str] = []
        with torch.no_grad():
            for start in range(0, len(todo), self.batch_size):
                enc = tok(todo[start:start + self.batch_size], return_tensors="pt",
                          padding=True, add_special_tokens=plain).to(self.device)
                ids = self.model.generate(**enc, do_sample=False,
                                          max_new_tokens=self.max_new_tokens,
                                          pad_token_id=tok.pad_token_id)
                replies += tok.batch_decode(ids[:, enc["input_ids"].shape[1]:],
                                            skip_special_tokens=True)
        it = iter(replies)
        return [next(it) if ok else None for ok in fits]


def _run_defender(spec: ModelSpec, device: str, dtype: str,
                  chat_template: str | None = None) -> tuple[Any, Any]:
    from seqgame.config import parse_options
    from seqgame.games.catalog import load_game
    from seqgame.runner.launch import read_run_config
    from seqgame.runner.store import load_latest_checkpoint

    from .factory import LLMRoleOptions
    from .models import load_causal_lm, model_dir
    from .prompts import load_prompts, shared_prompts
    from .state import from_plain
    from .textgame import TextGame

    config = read_run_config(spec.path)
    if config.backend != "llm":
        raise InvalidConfigError(f"--model {spec.label!r}: a {config.backend!r} run has no "
                                 "language model; use 'seqgame cross-eval' for tabular runs")
    _, defender = shared_prompts(dict(config.attacker), dict(config.defender))
    opts = parse_options(LLMRoleOptions, defender, "defender")
    text_game = TextGame(load_game(config.game), opts.request_label_source,
                         load_prompts(opts.prompts, "defender.prompts"))
    # the defender's seed (factory); a shared base is built from the run seed
    path = model_dir(opts.model, text_game, config.seed + (0 if opts.shared_base else 1),
                     opts.tiny, opts.tiny_dir)
    model, tok = load_causal_lm(path, opts.trust_remote_code, need_chat_template=False,
                                device=device, dtype=dtype,
                                chat_template=opts.chat_template or chat_template)
    state = load_latest_checkpoint(spec.path / "checkpoints")["defender"]
    if "adapter" in state:
        return _merged_adapter(model, opts, from_plain(state["adapter"])), tok
    model.load_state_dict(from_plain(state["model"]))
    return model, tok


def _merged_adapter(model: Any, opts: Any, weights: dict[str, Any]) -> Any:
    """``model`` with a run checkpoint's LoRA adapter (``weights``) merged in."""
    from seqgame.config import parse_options

    from .lora import LoRAOptions, attach_lora, load_adapter_state

    if opts.lora is None:
        raise InvalidConfigError("the run's checkpoint holds a LoRA adapter but its config "
                                 "has no defender.lora: the run folder is inconsistent")
    lora = parse_options(LoRAOptions, dict(opts.lora), "defender.lora")
    peft_model = attach_lora(model, lora)
    load_adapter_state(peft_model, "default", weights)
    return peft_model.merge_and_unload()


def _adapter(spec: ModelSpec, device: str, dtype: str,
             chat_template: str | None = None) -> tuple[Any, Any]:
    """A PEFT adapter on the base model its ``adapter_config.json`` names (local path)."""
    import json

    from .models import load_causal_lm, load_tokenizer, read_chat_template

    try:
        from peft import PeftModel
    except ImportError:
        raise BackendUnavailableError(f"--model {spec.label!r} is a PEFT adapter: pip install "
                                      "peft") from None
    cfg = json.loads((spec.path / "adapter_config.json").read_text(encoding="utf-8"))
    base = cfg.get("base_model_name_or_path")
    if not base or not Path(base).is_dir():
        raise InvalidConfigError(f"--model {spec.label!r}: adapter_config.json names base model "
                                 f"{base!r}, which is not a local folder; fix the path in it")
    model, tok = _with_template(load_causal_lm, Path(base), device, dtype, chat_template)
    if (spec.path / "tokenizer_config.json").is_file():
        tok = load_tokenizer(spec.path, need_chat_template=False)
        if chat_template is not None and not getattr(tok, "chat_template", None):
            tok.chat_template = read_chat_template(chat_template, "--chat-template")
    return PeftModel.from_pretrained(model, str(spec.path)).to(device), tok


def load_generator(spec: ModelSpec, max_new_tokens: int, batch_size: int, device: str = "cpu",
                   dtype: str = "float32", chat_template: str | None = None) -> HFGenerator:
    """The generator of a ``--model`` (torch and transformers imported here).

    ``chat_template`` (a file or the text) is used where the model has none; a run's
    defender keeps the run's own ``chat_template`` option.
    """
    from . import require_llm_stack

    require_llm_stack()
    if spec.kind == "run":
        model, tok = _run_defender(spec, device, dtype, chat_template)
    elif spec.kind == "adapter":
        model, tok = _adapter(spec, device, dtype, chat_template)
    else:  # an HF folder, or a GGUF file / gguf:NAME converted once to a cached folder
        from .models import load_causal_lm

        where = str(spec.path) if spec.kind == "gguf" else spec.path
        model, tok = _with_template(load_causal_lm, where, device, dtype, chat_template)
    return HFGenerator(model, tok, max_new_tokens, batch_size, device, spec.kind)


def _with_template(load: Any, where: Any, device: str, dtype: str,
                   chat_template: str | None) -> tuple[Any, Any]:
    """Load a model; ``chat_template`` only fills in a missing template."""
    model, tok = load(where, need_chat_template=False, device=device, dtype=dtype)
    if chat_template is not None and not getattr(tok, "chat_template", None):
        from .models import read_chat_template

        tok.chat_template = read_chat_template(chat_template, "--chat-template")
    return model, tok

"""Tiny offline models: a random Qwen2-config LM and a locally trained BPE tokenizer.

Used by tests and the CPU demo; nothing downloads anything. The tokenizer is a byte-level
BPE trained with the ``tokenizers`` library on a text game's corpus, with **Qwen2's own
pre-tokenizer** (docs/field-notes.md: ``AutoTokenizer`` on a Qwen2 model returns ``Qwen2Tokenizer``,
which installs Qwen2's pre-tokenizer; training with the same one keeps encodings equal
either way) and a ChatML chat template. Both are deterministic for a given seed and
corpus and are saved with ``save_pretrained`` (weights as safetensors).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgame.errors import InvalidConfigError

from . import require_llm_stack

#: Qwen2's pre-tokenization regex (GPT-4 style split, digits one by one).
QWEN2_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)
SPECIAL_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")
#: The attacker's format tags are single (non-special) tokens, as ``<think>`` is in Qwen3.
TAG_TOKENS = ("<think>", "</think>", "<answer>", "</answer>")
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@dataclass(frozen=True)
class TinyConfig:
    """Shape of a tiny model (defaults: ~60k parameters)."""

    vocab_size: int = 384
    hidden_size: int = 48
    intermediate_size: int = 96
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 512
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                     "num_attention_heads", "num_key_value_heads", "max_position_embeddings"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"tiny.{name} = {getattr(self, name)!r}: use >= 1")
        if self.vocab_size < 256 + len(SPECIAL_TOKENS):
            raise InvalidConfigError(
                f"tiny.vocab_size = {self.vocab_size}: a byte-level BPE needs >= 259"
            )
        if self.hidden_size % self.num_attention_heads:
            raise InvalidConfigError("tiny.hidden_size must be a multiple of num_attention_heads")
        if self.num_attention_heads % self.num_key_value_heads:
            raise InvalidConfigError(
                "tiny.num_attention_heads must be a multiple of num_key_value_heads"
            )


def train_tokenizer(corpus: Sequence[str], vocab_size: int = 384) -> Any:
    """Train a byte-level BPE ``PreTrainedTokenizerFast`` with Qwen2's pre-tokenizer and ChatML."""
    require_llm_stack()
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=1,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Repeating the corpus makes every word frequent enough to merge into one token.
    tok.train_from_iterator([t for t in corpus for _ in range(4)], trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        bos_token=None,
        unk_token=None,
    )
    fast.add_tokens(list(TAG_TOKENS))
    fast.chat_template = CHATML_TEMPLATE
    return fast


def tiny_key(corpus: Sequence[str], config: TinyConfig) -> str:
    """Hash everything a tiny model depends on (for caching its directory)."""
    import hashlib

    h = hashlib.sha256(repr((list(corpus), config, QWEN2_SPLIT, TAG_TOKENS,
                             CHATML_TEMPLATE)).encode())
    return h.hexdigest()[:12]


def build_tiny_model(
    out_dir: Path, corpus: Sequence[str], config: TinyConfig | None = None
) -> Path:
    """Build, save and return the directory of a tiny random Qwen2 LM and its tokenizer.

    Args:
        out_dir: directory to write (``config.json``, ``model.safetensors``, tokenizer).
        corpus: texts the tokenizer is trained on (e.g. ``TextGame.corpus()``).
        config: model shape and seed.

    Returns:
        ``out_dir``.
    """
    require_llm_stack()
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = config or TinyConfig()
    tokenizer = train_tokenizer(corpus, config.vocab_size)
    model_config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
        max_position_embeddings=config.max_position_embeddings,
        tie_word_embeddings=True,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
    )
    # Seed a private RNG scope so building a model leaves the caller's torch state alone.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = Qwen2ForCausalLM(model_config)
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)
    tokenizer.save_pretrained(out_dir)
    return out_dir

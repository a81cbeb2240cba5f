"""Phase 1 of MAGIC: attacker SFT warm-up on an attack pool, with TRL's ``SFTTrainer``.

**Attack-pool schema** (JSONL, one object per line; extra keys are ignored):

=========  ======  ==================================================================
key        type    meaning
=========  ======  ==================================================================
seed       str     the seed request text (what the attacker is shown)
strategy   str     the rewriting strategy's name (e.g. ``role_play``; logged, not trained)
think      str     the reasoning, trained inside ``<think>…</think>``
answer     str     the rewrite, trained inside ``<answer>…</answer>``
=========  ======  ==================================================================

Each line becomes a conversational prompt–completion pair: prompt = the attacker's system
prompt and the seed; completion = ``<think>{think}</think><answer>{answer}</answer>``
(loss on the completion only, TRL's default for that format). :func:`write_attack_pool`
writes the canonical pool of a text game (every seed × well-formed attack).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgame.errors import InvalidConfigError

from .format import format_attack
from .textgame import ATTACKER_SYSTEM, COMPLY_TEXT, REFUSE_TEXT, TextGame

POOL_KEYS = ("seed", "strategy", "think", "answer")


def read_attack_pool(path: Path) -> list[dict[str, str]]:
    """Read and validate an attack-pool JSONL file (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidConfigError(f"attack pool {str(path)!r} does not exist")
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                raise InvalidConfigError(f"{path}:{n}: not valid JSON") from None
            if not isinstance(obj, dict):
                raise InvalidConfigError(f"{path}:{n}: each line must be a JSON object")
            for key in POOL_KEYS:
                if not isinstance(obj.get(key), str) or not obj[key].strip():
                    raise InvalidConfigError(
                        f"{path}:{n}: key {key!r} must be a non-empty string "
                        f"(schema: {', '.join(POOL_KEYS)})"
                    )
            rows.append({k: obj[k] for k in POOL_KEYS})
    if not rows:
        raise InvalidConfigError(f"attack pool {path} is empty")
    return rows


def write_attack_pool(text_game: TextGame, path: Path) -> Path:
    """Write the canonical attack pool of ``text_game`` (seeds × well-formed attacks)."""
    from .format import parse_attack

    g = text_game.game
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as fh:
        for x in range(len(g.seeds)):
            for a, name in enumerate(g.attacks):
                if name in g.malformed:
                    continue
                parsed = parse_attack(text_game.canonical_attack(x, a))
                fh.write(json.dumps({"seed": text_game.seed_texts[x], "strategy": name,
                                     "think": parsed.think, "answer": parsed.answer}) + "\n")
    return path


def pool_dataset(rows: Sequence[dict[str, str]], system: str = ATTACKER_SYSTEM) -> Any:
    """Conversational prompt–completion ``datasets.Dataset`` of an attack pool."""
    from datasets import Dataset

    return Dataset.from_dict({
        "prompt": [[{"role": "system", "content": system}, {"role": "user", "content": r["seed"]}]
                   for r in rows],
        "completion": [[{"role": "assistant",
                         "content": format_attack(r["think"], r["answer"])}] for r in rows],
    })


def reply_dataset(text_game: TextGame, aligned: Sequence[str] = ("direct",)) -> Any:
    """Build the defender warm-up set: a stand-in for the instruct model MAGIC starts from.

    Prompts whose attack is in ``aligned`` get the reply the seed's label calls for (refuse
    harmful, comply benign: the model is "safety-tuned" on plain requests); every other
    canonical prompt (rewrites such as role play or ciphers, malformed) gets *both* the
    refusal and the compliance, so the warm-started defender answers them 50/50 —
    jailbreakable, like an instruct model — and GRPO must learn the rest.
    """
    from datasets import Dataset

    g = text_game.game
    unknown = sorted(set(aligned) - set(g.attacks))
    if unknown:
        raise InvalidConfigError(f"sft.aligned: unknown attacks {unknown}; use {list(g.attacks)}")
    prompts, completions = [], []
    for x, seed in enumerate(g.seeds):
        for a, name in enumerate(g.attacks):
            rewrite = text_game.classify_attack(text_game.canonical_attack(x, a))[1]
            if name in aligned:
                replies = [REFUSE_TEXT if seed.harmful else COMPLY_TEXT] * 2
            else:
                replies = [REFUSE_TEXT, COMPLY_TEXT]
            for reply in replies:
                prompts.append(text_game.defender_messages(x, rewrite))
                completions.append([{"role": "assistant", "content": reply}])
    return Dataset.from_dict({"prompt": prompts, "completion": completions})


@dataclass(frozen=True)
class SFTOptions:
    """Attacker SFT warm-up settings."""

    learning_rate: float = 3e-3
    max_steps: int = 60
    batch_size: int = 8
    seed: int = 0
    max_length: int = 128

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise InvalidConfigError(f"sft.learning_rate = {self.learning_rate!r}: use > 0")
        for name in ("max_steps", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"sft.{name} = {getattr(self, name)!r}: use >= 1")


def sft_warmup(model: Any, tokenizer: Any, dataset: Any, options: SFTOptions | None = None,
               device: str = "cpu") -> list[dict[str, float]]:
    """Fine-tune ``model`` in place on a prompt–completion dataset.

    The dataset is e.g. :func:`pool_dataset`; returns TRL's per-step loss records.
    """
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    options = options or SFTOptions()
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidConfigError("the attacker tokenizer has no chat template")
    with tempfile.TemporaryDirectory(prefix="seqgame-sft-") as tmp:
        args = SFTConfig(
            output_dir=tmp,
            max_steps=options.max_steps,
            per_device_train_batch_size=options.batch_size,
            learning_rate=options.learning_rate,
            lr_scheduler_type="constant",
            max_length=options.max_length,
            bf16=False,
            fp16=False,
            activation_checkpointing=False,
            use_cpu=device == "cpu",
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            disable_tqdm=True,
            seed=options.seed,
            data_seed=options.seed,
        )
        trainer = SFTTrainer(model=model, args=args, train_dataset=dataset,
                             processing_class=tokenizer)
        trainer.remove_callback(PrinterCallback)
        trainer.train()
        return [{"step": float(h["step"]), "loss": float(h["loss"])}
                for h in trainer.state.log_history if "loss" in h]

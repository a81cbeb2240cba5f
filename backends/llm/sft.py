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

**MAGIC's pool** (LLaMA-Factory's alpaca format, a ``.json`` file holding one JSON array):
each object has ``instruction`` (the attacker's full instruction for one seed), ``input``
(appended after a newline when not empty), ``output`` (the completion, with its
``<think>…</think><answer>…</answer>`` inside) and ``system`` (the system prompt; none
when empty); there is no strategy field. :func:`read_alpaca_pool` checks every row and
reports bad ones by file and index; :func:`attack_pool_dataset` reads either format (a
file whose first character is ``[`` is alpaca).
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqgame.errors import InvalidConfigError

from .distributed import process_count
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


def pool_dataset(rows: Sequence[dict[str, str]], system: str = ATTACKER_SYSTEM,
                 text_game: TextGame | None = None) -> Any:
    """Conversational prompt–completion ``datasets.Dataset`` of an attack pool.

    With ``text_game`` the prompts are its attacker templates (system prompt and the
    seed's label instruction): a row whose seed is a game seed gets that seed's label, any
    other row the harmful template (an attack pool rewrites harmful requests). Without it:
    ``system`` and the bare seed.
    """
    from datasets import Dataset

    if text_game is not None:
        tpl = text_game.templates
        labels = {s.text: s.harmful for s in text_game.game.seeds}
        prompts = [[{"role": "system", "content": tpl.attacker_system},
                    {"role": "user", "content": tpl.attacker_first(
                        r["seed"], labels.get(r["seed"], True))}] for r in rows]
    else:
        prompts = [[{"role": "system", "content": system},
                    {"role": "user", "content": r["seed"]}] for r in rows]
    return Dataset.from_dict({
        "prompt": prompts,
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
    bf16: bool = False
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if not self.learning_rate > 0:
            raise InvalidConfigError(f"sft.learning_rate = {self.learning_rate!r}: use > 0")
        for name in ("max_steps", "batch_size", "max_length"):
            if getattr(self, name) < 1:
                raise InvalidConfigError(f"sft.{name} = {getattr(self, name)!r}: use >= 1")
        processes = process_count()
        if self.batch_size % processes:
            raise InvalidConfigError(
                f"sft.batch_size = {self.batch_size}: a step's examples are shared by the "
                f"launch's {processes} processes; use a multiple of {processes}")


def sft_warmup(model: Any, tokenizer: Any, dataset: Any, options: SFTOptions | None = None,
               device: str = "cpu") -> list[dict[str, float]]:
    """Fine-tune ``model`` in place on a prompt–completion dataset.

    The dataset is e.g. :func:`pool_dataset`; returns TRL's per-step loss records.
    ``options.batch_size`` examples make one step: under a launcher with P processes each
    takes ``batch_size / P`` of them (DDP averages the gradients), as one process would.
    """
    from transformers import PrinterCallback
    from trl import SFTTrainer

    from .devices import device_scope, sft_config_class

    options = options or SFTOptions()
    if not getattr(tokenizer, "chat_template", None):
        raise InvalidConfigError("the attacker tokenizer has no chat template")
    processes = process_count()  # under a launcher each process takes a share of a step
    with tempfile.TemporaryDirectory(prefix="seqgame-sft-") as tmp:
        args = sft_config_class()(  # SFTConfig on the role's own cuda:N (devices.py)
            role_device=device,
            output_dir=tmp,
            max_steps=options.max_steps,
            per_device_train_batch_size=options.batch_size // processes,
            learning_rate=options.learning_rate,
            lr_scheduler_type="constant",
            max_length=options.max_length,
            bf16=options.bf16,
            fp16=False,
            activation_checkpointing=options.gradient_checkpointing,
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
        with device_scope(device):
            trainer.train()
        return [{"step": float(h["step"]), "loss": float(h["loss"])}
                for h in trainer.state.log_history if "loss" in h]


ALPACA_KEYS = ("instruction", "input", "output", "system")
#: Bad rows quoted in the error message (all are counted).
_SHOWN = 3


def pool_format(path: Path) -> str:
    """``"alpaca"`` for a file holding a JSON array (MAGIC's pool), else ``"jsonl"`` (ours)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidConfigError(f"attack pool {str(path)!r} does not exist")
    with path.open(encoding="utf-8") as fh:
        head = fh.read(4096).lstrip("\ufeff \t\r\n")
    return "alpaca" if head.startswith("[") else "jsonl"


def _alpaca_row(obj: Any) -> tuple[dict[str, str] | None, str]:
    """One alpaca object → ``({system, user, completion}, "")`` or ``(None, why)``."""
    from .format import parse_attack

    if not isinstance(obj, dict):
        return None, f"not an object ({type(obj).__name__})"
    for key in ALPACA_KEYS:
        if obj.get(key) is not None and not isinstance(obj[key], str):
            return None, f"{key!r} is not a string"
    for key in ("instruction", "output"):
        if not (obj.get(key) or "").strip():
            return None, f"{key!r} is missing or empty"
    parsed = parse_attack(obj["output"])
    if not parsed.format_ok:
        return None, f"'output' is not <think>…</think><answer>…</answer> ({parsed.reason})"
    user = obj["instruction"] + ("\n" + obj["input"] if (obj.get("input") or "").strip() else "")
    return {"system": obj.get("system") or "", "user": user, "completion": obj["output"]}, ""


def read_alpaca_pool(path: Path) -> list[dict[str, str]]:
    """Read MAGIC's alpaca-format pool: rows ``{system, user, completion}``.

    Raises:
        InvalidConfigError: not a JSON array, empty, or any bad row (each bad row is counted
            and the first few are named as ``FILE[index]: why``).
    """
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidConfigError(f"attack pool {path}: not valid JSON ({exc})") from None
    if not isinstance(data, list):
        raise InvalidConfigError(f"attack pool {path}: an alpaca pool is one JSON array of "
                                 f"objects with {', '.join(ALPACA_KEYS)}")
    rows, bad = [], []
    for i, obj in enumerate(data):
        row, why = _alpaca_row(obj)
        if row is None:
            bad.append(f"{path}[{i}]: {why}")
        else:
            rows.append(row)
    if bad:
        raise InvalidConfigError(f"attack pool {path}: {len(bad)} bad row(s) of {len(data)}: "
                                 + "; ".join(bad[:_SHOWN]) + ("; ..." if len(bad) > _SHOWN
                                                             else "") + " (fix or remove them)")
    if not rows:
        raise InvalidConfigError(f"attack pool {path} is empty")
    return rows


def alpaca_dataset(rows: Sequence[dict[str, str]]) -> Any:
    """Conversational prompt–completion ``datasets.Dataset`` of :func:`read_alpaca_pool` rows."""
    from datasets import Dataset

    prompts = [([{"role": "system", "content": r["system"]}] if r["system"] else [])
               + [{"role": "user", "content": r["user"]}] for r in rows]
    return Dataset.from_dict({
        "prompt": prompts,
        "completion": [[{"role": "assistant", "content": r["completion"]}] for r in rows],
    })


def attack_pool_dataset(path: Path, text_game: TextGame | None = None) -> tuple[Any, int, str]:
    """``(dataset, rows, format)`` of an attack pool in either format (module docstring).

    ``text_game`` gives our JSONL pool its attacker prompts (:func:`pool_dataset`); an
    alpaca row carries its own system prompt and instruction.
    """
    fmt = pool_format(path)
    if fmt == "alpaca":
        alpaca = read_alpaca_pool(path)
        return alpaca_dataset(alpaca), len(alpaca), fmt
    rows = read_attack_pool(path)
    return pool_dataset(rows, text_game=text_game), len(rows), fmt


def _sft_model(cfg: Any, text_game: TextGame) -> tuple[Any, Any]:
    """The model (with a fresh LoRA adapter when ``cfg.lora``) and tokenizer of an SFT job."""
    from seqgame.config import parse_options

    from .lora import LoRAOptions, attach_lora
    from .models import check_device, load_causal_lm, model_dir

    lora = None if cfg.lora is None else parse_options(LoRAOptions, dict(cfg.lora), "lora")
    check_device(cfg.device, "sft")
    path = model_dir(cfg.model, text_game, cfg.seed)
    model, tokenizer = load_causal_lm(path, cfg.trust_remote_code, device=cfg.device,
                                      attn_implementation=cfg.attn_implementation,
                                      dtype=cfg.dtype, chat_template=cfg.chat_template)
    if lora is not None:
        model = attach_lora(model, lora)
    return model, tokenizer


def run_sft(cfg: Any) -> str:
    """Run the ``seqgame sft`` job ``cfg`` (:class:`~seqgame.backends.llm.cli.SFTRunConfig`).

    The pool is read and checked before any model is loaded; the result (a merged model,
    or with ``save: adapter`` PEFT's adapter folder) and the tokenizer go to
    ``cfg.output_dir``. Returns the one-line summary. A 7B Phase 1 on a GPU, e.g.::

        seqgame sft experiments/configs/llm_sft_7b.yaml --device cuda:0 --dtype bfloat16 \
            --set sft.bf16=true --set sft.gradient_checkpointing=true --set lora.r=16
    """
    from seqgame.config import parse_options
    from seqgame.games.catalog import load_game

    text_game = TextGame(load_game(cfg.game))
    out = Path(cfg.output_dir)
    pool_path = (write_attack_pool(text_game, out / "attack_pool.jsonl")
                 if cfg.pool == "canonical" else Path(cfg.pool))
    dataset, n_rows, fmt = attack_pool_dataset(pool_path, text_game)
    options = parse_options(SFTOptions, {"seed": cfg.seed, **cfg.sft}, "sft")
    model, tokenizer = _sft_model(cfg, text_game)
    logs = sft_warmup(model, tokenizer, dataset, options, cfg.device)
    if cfg.lora is not None and cfg.save == "merged":
        model = model.merge_and_unload()
    from .lora import strip_forward_patch

    strip_forward_patch(model)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    first, last = logs[0]["loss"], logs[-1]["loss"]
    kind = "adapter" if cfg.save == "adapter" else "model"
    return (f"SFT on {n_rows} attacks ({fmt}) from {pool_path}: {len(logs)} steps, loss "
            f"{first:.3f} -> {last:.3f}; {kind} saved to {out}")

"""``seqgame sft CONFIG``: attacker SFT warm-up (MAGIC Phase 1) with TRL's ``SFTTrainer``.

CONFIG (YAML) keys:

``model``        local model directory, or ``tiny`` (built offline for ``game``)
``game``         text game the tiny tokenizer is built for (default ``jailbreak_text_v1``)
``pool``         attack-pool JSONL (schema in :mod:`seqgame.backends.llm.sft`), or
                 ``canonical`` (the game's own pool)
``output_dir``   where the fine-tuned model and tokenizer are saved (safetensors)
``sft``          :class:`~seqgame.backends.llm.sft.SFTOptions` fields
``trust_remote_code``  off unless set

torch / transformers / TRL are imported inside the handler only.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from seqgame.errors import InvalidConfigError

_KEYS = {"model", "game", "pool", "output_dir", "sft", "trust_remote_code", "seed"}


def load_sft_config(path: Path) -> dict[str, Any]:
    """Read and validate an SFT config file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise InvalidConfigError(f"SFT config {str(path)!r} does not exist")
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{path}: the SFT config must be a mapping")
    unknown = sorted(set(data) - _KEYS)
    if unknown:
        raise InvalidConfigError(f"{path}: unknown key(s) {unknown}; allowed: {sorted(_KEYS)}")
    for key in ("model", "pool", "output_dir"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise InvalidConfigError(f"{path}: '{key}' must be a non-empty string")
    return data


def _sft(args: argparse.Namespace) -> int:
    from . import require_llm_stack

    cfg = load_sft_config(Path(args.config))
    require_llm_stack()
    from .factory import _model_dir
    from .models import load_causal_lm
    from .sft import SFTOptions, pool_dataset, read_attack_pool, sft_warmup, write_attack_pool
    from .textgame import text_game

    tg = text_game(cfg.get("game", "jailbreak_text_v1"))
    seed = int(cfg.get("seed", 0))
    options = {"model": cfg["model"]}
    path = _model_dir(options, tg, seed, "attacker")
    out = Path(cfg["output_dir"])
    pool = cfg["pool"]
    if pool == "canonical":
        pool_path = write_attack_pool(tg, out / "attack_pool.jsonl")
    else:
        pool_path = Path(pool)
    rows = read_attack_pool(pool_path)  # validate the pool before loading any model
    try:
        sft_options = SFTOptions(**{"seed": seed, **dict(cfg.get("sft", {}))})
    except TypeError as exc:
        raise InvalidConfigError(f"sft: {exc}") from None
    model, tokenizer = load_causal_lm(path, bool(cfg.get("trust_remote_code", False)))
    logs = sft_warmup(model, tokenizer, pool_dataset(rows), sft_options)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    first, last = logs[0]["loss"], logs[-1]["loss"]
    print(f"SFT on {len(rows)} attacks from {pool_path}: {len(logs)} steps, "
          f"loss {first:.3f} -> {last:.3f}; saved to {out}")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``sft``."""
    p = sub.add_parser("sft", help="attacker SFT warm-up on an attack pool (LLM backend)")
    p.add_argument("config", help="SFT config YAML (see docs/llm-backend.md)")
    p.set_defaults(func=_sft)

"""``seqgame export RUN_DIR --role defender|attacker --out DIR``: a run's policy as a HF folder.

The role's learner is rebuilt from the run's ``config.json`` (its SFT warm-up skipped: the
checkpoint replaces every trained weight) and loaded from the latest checkpoint. The
folder holds the model as safetensors (with LoRA the adapter is merged into the base,
unless ``adapter_only``), the tokenizer with its chat template, and a
``generation_config.json`` carrying the role's sampling policy (temperature, top-k, top-p,
repetition penalty), so ``AutoModelForCausalLM.from_pretrained(DIR)`` — or a server that
reads the folder — samples as the run did. ``adapter_only`` writes PEFT's adapter folder
(``adapter_config.json`` naming the base model's path, ``adapter_model.safetensors``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

from seqgame.errors import InvalidConfigError
from seqgame.model.game import Role


def restore_learner(run_dir: Path, role: Role) -> Any:
    """The ``role`` learner of the run in ``run_dir``, loaded from its latest checkpoint."""
    from seqgame.games import load_game
    from seqgame.runner.launch import read_run_config
    from seqgame.runner.store import load_latest_checkpoint

    from .factory import build_learner, shared_base_model

    config = read_run_config(Path(run_dir))
    if config.backend != "llm":
        raise InvalidConfigError(
            f"run {run_dir} uses backend {config.backend!r}: export writes LLM runs only")
    state = load_latest_checkpoint(Path(run_dir) / "checkpoints")
    options = {r: {k: v for k, v in dict(getattr(config, r.value)).items() if k != "sft"}
               for r in (Role.ATTACKER, Role.DEFENDER)}
    game = load_game(config.game)
    shared = shared_base_model(game, options[Role.ATTACKER], options[Role.DEFENDER],
                               config.seed)
    # the factory's seeds: the attacker's model from the run seed, the defender's from seed + 1
    seed = config.seed + (1 if role is Role.DEFENDER else 0)
    learner = build_learner(role, game, options[role], seed, shared)
    learner.load_state_dict(state[role.value])
    return learner


def _generation_config(learner: Any) -> Any:
    from transformers import GenerationConfig

    gen = learner.policy().generation
    tok = learner.tokenizer
    return GenerationConfig(do_sample=True, temperature=gen.temperature, top_k=gen.top_k,
                            top_p=gen.top_p, repetition_penalty=gen.repetition_penalty,
                            max_new_tokens=gen.max_new_tokens, eos_token_id=tok.eos_token_id,
                            pad_token_id=tok.pad_token_id)


def export_policy(run_dir: Path, role: Role, out: Path, adapter_only: bool = False) -> Path:
    """Write ``role``'s trained policy of ``run_dir`` to ``out`` (see the module docstring).

    Raises:
        InvalidConfigError: ``out`` is not empty, or ``adapter_only`` for a run without lora.
    """
    from .lora import adapter_scope, strip_forward_patch

    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InvalidConfigError(f"--out {out} is not empty: choose a new folder")
    learner = restore_learner(run_dir, Role.parse(role))
    model, adapter = learner.model, learner.adapter
    if adapter_only and adapter is None:
        raise InvalidConfigError(
            f"--adapter-only: the {learner.role.value} of {run_dir} has no lora adapter (full "
            "fine-tuning); export without --adapter-only")
    strip_forward_patch(model)
    out.mkdir(parents=True, exist_ok=True)
    if adapter is None:
        model.generation_config = _generation_config(learner)
        model.save_pretrained(out, safe_serialization=True)
    elif adapter_only:
        with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
            model.save_pretrained(tmp, selected_adapters=[adapter], safe_serialization=True)
            src = Path(tmp) if adapter == "default" else Path(tmp) / adapter
            for f in src.iterdir():
                shutil.move(str(f), out / f.name)
    else:
        with adapter_scope(model, adapter):
            merged = model.merge_and_unload(adapter_names=[adapter])
        strip_forward_patch(merged)
        merged.generation_config = _generation_config(learner)
        merged.save_pretrained(out, safe_serialization=True)
    learner.tokenizer.save_pretrained(out)
    return out

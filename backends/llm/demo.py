"""``seqgame demo --backend llm``: MAGIC co-evolution of two tiny LMs on a text game, on CPU.

Two tiny random Qwen2 models (built offline in seconds, :mod:`.tiny`) play
``jailbreak_text_v1``. Phase 1: the attacker is SFT-warmed on the game's canonical attack
pool (MAGIC Phase 1, so it writes ``<think>…</think><answer>…</answer>``), the defender on
a label-blind set (it learns to say both the refusal and the compliance, not when — a
stand-in for the instruct model MAGIC starts from). Phase 2: :func:`seqgame.training.loop`
with MAGIC's alternating schedule (switch every 15 steps, 1:1, defender first), one TRL
``GRPOTrainer`` phase per 15 steps, rule judge, exact metrics on the tabular twin after
every phase. The same config is shipped as ``experiments/configs/llm_demo.yaml`` and runs
with ``seqgame train``; an interrupted run resumes with ``seqgame train --resume DIR``.

Deviations from the paper (CPU demo): tiny random models, lr 1e-3 (paper 1e-6 on 7B
models), 8 attacker / 16 defender seeds per step (paper 64), G = 8 for the defender
(paper 4: with 4 the tiny defender did not separate harmful from benign seeds within the
budget), 480 steps (paper 300), short completions, a rule judge instead of Qwen3Guard.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

#: The embedded config (identical to ``experiments/configs/llm_demo.yaml``).
DEMO_CONFIG: dict[str, Any] = {
    "name": "demo-llm",
    "game": "jailbreak_text_v1",
    "backend": "llm",
    "seed": 0,
    "steps": 480,
    "eval_every": 15,
    "checkpoint_every": 15,
    "attacker": {
        "model": "tiny",
        "sft": {"max_steps": 60, "learning_rate": 0.01},
        "grpo": {"learning_rate": 0.001, "prompts_per_step": 8, "num_generations": 4,
                 "max_completion_length": 20},
        "judge": {"kind": "rule", "on_unparseable": "unsafe"},
        "n_samples": 8,
    },
    "defender": {
        "model": "tiny",
        "sft": {"max_steps": 60, "learning_rate": 0.01, "aligned": ["direct"]},
        "grpo": {"learning_rate": 0.001, "prompts_per_step": 16, "num_generations": 8,
                 "max_completion_length": 6},
        "judge": {"kind": "rule", "on_unparseable": "unsafe"},
        "n_samples": 8,
    },
    "schedule": {"kind": "alternating", "freq": 15, "ratio": "1:1", "start": "defender"},
    "plot": True,
}


def run_demo(out_dir: Path, steps: int | None = None) -> Path:
    """Run the LLM demo into ``out_dir`` (must be empty or absent); return it.

    Args:
        out_dir: the run directory (``metrics.jsonl``, ``summary.json``, checkpoints...).
        steps: override the number of co-evolution steps (tests use fewer).
    """
    from seqgame import runner as runs
    from seqgame.cli.train import print_summary

    from . import require_llm_stack

    require_llm_stack()
    data = dict(DEMO_CONFIG)
    if steps is not None:
        data["steps"] = steps
    config = runs.RunConfig.from_dict(data)
    start = time.perf_counter()
    print(f"MAGIC co-evolution of two tiny LMs on {config.game}: SFT warm-up, then TRL GRPO "
          f"(attacker 8 seeds x G=4, defender 16 seeds x G=8 per step), switch every 15 "
          f"steps (defender first), {config.steps} steps")
    result = runs.train(config, Path(out_dir), progress=True)
    print_summary(result.extra["summary"], result.extra["run_dir"], time.perf_counter() - start)
    return Path(out_dir)

"""Train a defender with plain TRL GRPO against a frozen attacker served by the text env.

Everything is offline and CPU-sized: a tiny random Qwen2 model with a locally trained
tokenizer (:mod:`seqgame.backends.llm.tiny`), the synthetic text game
``jailbreak_text_v1``, the rule judge. The frozen attacker is scripted: it rewrites the
request it reads in one of the game's styles (direct, ``pretend:``, ``decode:``), well
formed. :class:`~seqgame.backends.llm.trl_env.EnvGRPO` serves the defender's prompts (the
env's observations) as the dataset and pays each reply the env's return, which an
unmodified ``trl.GRPOTrainer`` maximises. At the end the script re-scores every batch the
trainer saw with the LLM backend's own reward (``scoring.judge_rewards``) and prints the
largest difference (0: the env pays exactly what the backend pays).

Run: ``OMP_NUM_THREADS=1 python examples/trl_defender_env.py [--steps 150]`` (about half a
minute on one core). Deviations from a real MAGIC run: a tiny random model instead of a
pretrained one, no SFT, a scripted attacker, a rule judge.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

STYLES = ("{seed}", "pretend: {seed}", "decode: {seed}")


def scripted_attacker(prompts: list[list[dict[str, str]]], rng: np.random.Generator) -> list[str]:
    """Frozen attacker: rewrite the request (the first user message) in a random style."""
    from seqgame.backends.llm.format import format_attack

    out = []
    for messages in prompts:
        seed = next(m["content"] for m in messages if m["role"] == "user")
        style = STYLES[int(rng.integers(len(STYLES)))]
        out.append(format_attack("rewrite it", style.format(seed=seed)))
    return out


def backend_rewards(adapter: Any) -> float:
    """Largest |env reward - backend reward| over every batch the trainer scored."""
    from seqgame.backends.llm.scoring import judge_rewards

    tg = adapter.world.text_game
    worst = 0.0
    for batch in adapter.batches:
        seeds = [s.seed for s in batch.states]
        classified = [tg.classify_attack(s.pending) for s in batch.states]
        verdicts, _, r_d = judge_rewards(tg, adapter.judge, seeds, [a for a, _ in classified],
                                         [rw for _, rw in classified], list(batch.completions))
        expected = np.where([v.skipped for v in verdicts], 0.0, r_d)
        worst = max(worst, float(np.max(np.abs(expected - np.array(batch.rewards)))))
    return worst


def train(out_dir: Path, steps: int = 150, seed: int = 0) -> dict[str, Any]:
    """Train the tiny defender for ``steps`` GRPO steps; return rewards and the check."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import GRPOConfig, GRPOTrainer

    from seqgame.backends.llm.textgame import text_game
    from seqgame.backends.llm.tiny import build_tiny_model
    from seqgame.backends.llm.trl_env import EnvGRPO

    tg = text_game("jailbreak_text_v1")
    model_dir = build_tiny_model(out_dir / "tiny", tg.corpus())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    adapter = EnvGRPO(tg, {"kind": "rule"}, "defender", scripted_attacker, seed=seed)
    config = GRPOConfig(
        output_dir=str(out_dir / "grpo"), max_steps=steps, per_device_train_batch_size=32,
        num_generations=8, max_completion_length=4, learning_rate=1e-1, beta=0.0,
        temperature=1.0, bf16=False, fp16=False, use_cpu=True, activation_checkpointing=False,
        logging_steps=1, save_strategy="no", report_to="none", disable_tqdm=True, seed=seed,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=adapter.env_return, args=config,
                          train_dataset=adapter.dataset(64), processing_class=tokenizer)
    trainer.train()
    means = [float(np.mean(b.rewards)) for b in adapter.batches]
    k = max(1, len(means) // 10)
    return {"batches": len(means), "first": float(np.mean(means[:k])),
            "last": float(np.mean(means[-k:])), "max_abs_diff": backend_rewards(adapter),
            "refusal_rate": refusal_rates(adapter, k), "adapter": adapter}


def refusal_rates(adapter: Any, k: int) -> dict[str, float]:
    """Share of refusals (the rule judge's rule) in the last ``k`` batches, per seed label."""
    from seqgame.backends.llm.textgame import is_refusal

    harmful = adapter.game.harmful
    seen: dict[str, list[bool]] = {"harmful": [], "benign": []}
    for batch in adapter.batches[-k:]:
        for state, reply in zip(batch.states, batch.completions, strict=True):
            seen["harmful" if harmful[state.seed] else "benign"].append(is_refusal(reply))
    return {label: float(np.mean(v)) if v else float("nan") for label, v in seen.items()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command line: train, then print the rewards and the env-vs-backend check."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        result = train(Path(tmp), args.steps, args.seed)
    print(f"defender reward: first steps {result['first']:+.3f}, last steps "
          f"{result['last']:+.3f} over {result['batches']} batches")
    rates = result["refusal_rate"]
    print(f"refusal rate at the end: harmful seeds {rates['harmful']:.2f}, benign seeds "
          f"{rates['benign']:.2f}")
    print(f"env vs backend reward, largest difference: {result['max_abs_diff']:.3g}")
    return result


if __name__ == "__main__":
    main()

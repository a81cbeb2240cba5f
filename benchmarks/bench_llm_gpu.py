"""GPU benchmark: one attacker and one defender GRPO phase with LoRA on a shared bf16 base.

Builds a random-init Qwen2 model at a real shape (Qwen2.5-0.5B's and 1.5B's by default;
nothing is downloaded: the tokenizer is the tiny offline one, so the vocabulary is small
and the embedding/LM-head share is lower than the real models'), puts an ``attacker`` and
a ``defender`` float32 LoRA adapter on the one frozen bf16 base (the shared-base mode of
``seqgame.backends.llm.lora``) and times, for each generation path — HF ``generate`` and
transformers' continuous batching through TRL — one attacker phase then one defender
phase of ``--steps`` GRPO steps (after a warm-up step each) on ``jailbreak_text_v1``.
Prints per phase: seconds per step, generated completion tokens/s, peak GPU memory.
Sized for ~5 minutes on one H200 with the defaults.

    python benchmarks/bench_llm_gpu.py [--shape 0.5b,1.5b] [--steps 3] [--completion 128]

Without CUDA it prints a line and exits 0 (not run).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    # Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads, 2 KV heads, MLP 4864
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2),
    # Qwen2.5-1.5B: hidden 1536, 28 layers, 12 heads, 2 KV heads, MLP 8960
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28,
                 num_attention_heads=12, num_key_value_heads=2),
    # SmolLM2-135M-like: hidden 576, 30 layers, 9 heads, 3 KV heads, MLP 1536 (quick check)
    "135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                 num_attention_heads=9, num_key_value_heads=3),
}
GENERATION = {"hf_generate": False, "continuous_batching": True}


def build(shape: str, out: Path) -> Path:
    """Save a random-init model of ``shape`` with the tiny tokenizer to ``out``."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from seqgame.backends.llm.textgame import text_game
    from seqgame.backends.llm.tiny import train_tokenizer

    tok = train_tokenizer(text_game().corpus(), 384)
    cfg = Qwen2Config(vocab_size=len(tok), max_position_embeddings=4096,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, **SHAPES[shape])
    torch.manual_seed(0)
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def phases(path: Path, steps: int, completion: int, continuous: bool) -> dict[str, dict]:
    """Time one attacker and one defender phase on a shared base; one dict per role."""
    import numpy as np
    import torch

    from seqgame.backends.llm.judges import RuleJudge
    from seqgame.backends.llm.learner import GRPOLearner, GRPOOptions
    from seqgame.backends.llm.lora import LoRAOptions, add_role_adapter, attach_lora
    from seqgame.backends.llm.models import load_causal_lm
    from seqgame.backends.llm.textgame import text_game
    from seqgame.model.game import Role

    tg = text_game()
    judge = RuleJudge({s.text: s.harmful for s in tg.game.seeds})
    base, tok = load_causal_lm(path, device="cuda", dtype="bfloat16",
                               attn_implementation="sdpa")
    lora = LoRAOptions(r=16, alpha=32)
    model = attach_lora(base, lora, "attacker")
    add_role_adapter(model, lora, "defender")
    opts = GRPOOptions(learning_rate=1e-5, prompts_per_step=16, num_generations=4,
                       max_completion_length=completion, bf16=True,
                       gradient_checkpointing=True, per_device_train_batch_size=16,
                       gradient_accumulation_steps=2, continuous_batching=continuous)
    learners = {r: GRPOLearner(r, tg, model, tok, judge, opts, device="cuda", adapter=r.value)
                for r in (Role.ATTACKER, Role.DEFENDER)}
    out = {}
    rng = np.random.default_rng(0)
    for role in (Role.ATTACKER, Role.DEFENDER):
        learner, other = learners[role], learners[role.opponent]
        learner.train_against(other.policy().snapshot(), 1, rng)  # warm-up
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        t0 = time.perf_counter()
        recs = learner.train_against(other.policy().snapshot(), steps, rng)
        torch.cuda.synchronize()
        dt = (time.perf_counter() - t0) / steps
        tokens = float(np.mean([r.get("completions/mean_length", completion) for r in recs]))
        out[role.value] = {"step_s": dt, "tokens_per_s": tokens * opts.batch_size / dt,
                           "peak_gib": torch.cuda.max_memory_allocated() / 2**30}
    return out


def main() -> int:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--shape", default="0.5b,1.5b",
                        help=f"comma list of {sorted(SHAPES)}")
    parser.add_argument("--completion", type=int, default=128)
    parser.add_argument("--generation", default="hf_generate,continuous_batching",
                        help=f"comma list of {sorted(GENERATION)}")
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("bench_llm_gpu: needs a CUDA GPU; none here (not run)")
        return 0
    print(f"device {torch.cuda.get_device_name()}  completion {args.completion} tokens  "
          f"{args.steps} steps per phase, LoRA r=16 on a shared bf16 base")
    for shape in args.shape.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            path = build(shape, Path(tmp) / "model")
            for name in args.generation.split(","):
                try:
                    result = phases(path, args.steps, args.completion, GENERATION[name])
                except Exception as exc:  # report and go on: one path failing is a result
                    print(f"{shape:<5} {name:<20} FAILED: {type(exc).__name__}: {exc}")
                    continue
                for role, r in result.items():
                    print(f"{shape:<5} {name:<20} {role:<9} step {r['step_s']:.3f} s  "
                          f"{r['tokens_per_s']:.0f} completion tok/s  peak {r['peak_gib']:.2f} GiB")
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())

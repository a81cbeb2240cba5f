"""GPU benchmark of one GRPO phase at a real small-LM shape (random init, offline).

Builds a random Qwen2 model at a real small-LM shape (default: Qwen2.5-0.5B's) with the
tiny offline tokenizer, then times one ``GRPOLearner`` defender phase on
``jailbreak_text_v1`` per generation backend: HF ``generate`` (always) and TRL's vLLM
colocate mode (when vLLM is installed). Prints step time, completion tokens/s and peak
GPU memory, and the ratio of each backend to HF generation measured in the same run.

    python benchmarks/bench_llm_gpu.py [--steps 5] [--shape 0.5b|135m] [--completion 128]

GPU only (exits with a message otherwise); nothing is downloaded.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path

SHAPES = {
    # Qwen2.5-0.5B: hidden 896, 24 layers, 14 heads, 2 KV heads, MLP 4864
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2),
    # SmolLM2-135M-like: hidden 576, 30 layers, 9 heads, 3 KV heads, MLP 1536
    "135m": dict(hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                 num_attention_heads=9, num_key_value_heads=3),
}


def build(shape: str, out: Path) -> Path:
    from transformers import Qwen2Config, Qwen2ForCausalLM

    from seqgame.backends.llm.textgame import text_game
    from seqgame.backends.llm.tiny import train_tokenizer

    tok = train_tokenizer(text_game().corpus(), 384)
    cfg = Qwen2Config(vocab_size=len(tok), max_position_embeddings=4096,
                      tie_word_embeddings=True, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, **SHAPES[shape])
    Qwen2ForCausalLM(cfg).save_pretrained(out)
    tok.save_pretrained(out)
    return out


def run_phase(path: Path, steps: int, completion: int, use_vllm: bool) -> dict[str, float]:
    import numpy as np
    import torch

    from seqgame.backends.llm.judges import RuleJudge
    from seqgame.backends.llm.learner import GRPOLearner, GRPOOptions
    from seqgame.backends.llm.models import load_causal_lm
    from seqgame.backends.llm.textgame import text_game
    from seqgame.model.game import Role

    tg = text_game()
    judge = RuleJudge({s.text: s.harmful for s in tg.game.seeds})
    ma, ta = load_causal_lm(path, device="cuda", dtype="bfloat16")
    md, td = load_causal_lm(path, device="cuda", dtype="bfloat16")
    opts = GRPOOptions(learning_rate=1e-6, prompts_per_step=16, num_generations=4,
                       max_completion_length=completion, bf16=True, use_vllm=use_vllm)
    att = GRPOLearner(Role.ATTACKER, tg, ma, ta, judge, opts, device="cuda")
    dfd = GRPOLearner(Role.DEFENDER, tg, md, td, judge, opts, device="cuda")
    torch.cuda.reset_peak_memory_stats()
    rng = np.random.default_rng(0)
    dfd.train_against(att.policy(), 1, rng)  # warm-up (compilation, allocator)
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    recs = dfd.train_against(att.policy(), steps, rng)
    torch.cuda.synchronize()
    dt = (time.perf_counter() - t0) / steps
    tokens = np.mean([r.get("completions/mean_length", completion) for r in recs])
    return {"step_s": dt, "tokens_per_s": tokens * opts.batch_size / dt,
            "peak_gib": torch.cuda.max_memory_allocated() / 2**30}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--shape", choices=sorted(SHAPES), default="0.5b")
    parser.add_argument("--completion", type=int, default=128)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        print("bench_llm_gpu: needs a CUDA GPU; none here (not run)")
        return 0
    print(f"device {torch.cuda.get_device_name()}  shape {args.shape}  "
          f"completion {args.completion} tokens  {args.steps} steps")
    with tempfile.TemporaryDirectory() as tmp:
        path = build(args.shape, Path(tmp) / "model")
        results = {"hf_generate": run_phase(path, args.steps, args.completion, False)}
        if importlib.util.find_spec("vllm") is not None:
            results["trl_vllm_colocate"] = run_phase(path, args.steps, args.completion, True)
        else:
            print("vllm not installed: TRL's vLLM colocate mode not measured")
    base = results["hf_generate"]["step_s"]
    for name, r in results.items():
        print(f"{name:<20} step {r['step_s']:.3f} s  {r['tokens_per_s']:.0f} completion tok/s  "
              f"peak {r['peak_gib']:.1f} GiB  speed-up vs HF {base / r['step_s']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())

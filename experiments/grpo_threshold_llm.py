"""GRPO's refusal threshold on a language model: ``scale_rewards`` group vs none (tiny LM, CPU).

The tabular experiment (``experiments/grpo_threshold.py``, docs/grpo-normalisation.md)
shows that with per-group std scaling the defender refuses a hidden-seed prompt iff the
posterior μ = P(harmful | prompt) exceeds 1/2, while without scaling it refuses iff
μ > 1/4 (the Bayesian threshold at MAGIC's weights). This script carries the test to a
language model trained by an unmodified ``trl.GRPOTrainer``:

* the game: two seeds of ``jailbreak_text_v1`` (one harmful, one benign) with prior
  (μ, 1 − μ) and ``observation: attack``, so the defender reads only the rewrite;
* the frozen attacker sends one and the same rewrite from both seeds, so the defender's
  prompt carries no information about the seed and the posterior is the prior μ;
* the defender is a tiny random LM (:mod:`seqgame.backends.llm.tiny`) served prompts and
  paid by the judge-backed text environment (:class:`seqgame.backends.llm.trl_env.EnvGRPO`,
  rule judge: R_D of MAGIC eq. 7–11 from the judge's refusal verdict);
* each run trains ``--steps`` GRPO steps with TRL's ``scale_rewards`` = ``group`` (TRL's and
  MAGIC's default) or ``none``, and reports the final refusal rate (the share of refusals
  in the last tenth of the batches).

Prediction at μ between 1/4 and 1/2 (e.g. 0.35): ``group`` learns to comply, ``none`` to
refuse. At μ = 0.15 both comply, at μ = 0.65 both refuse.

Run: ``OMP_NUM_THREADS=1 python experiments/grpo_threshold_llm.py`` (about 40 s a run on one
core; 3 μ × 2 scalings × ``--seeds`` runs) writes ``runs/grpo_threshold_llm/results.json``;
``--quick`` runs μ = 0.35 only, one seed, 60 steps; ``--docs DIR`` copies the result.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

REWRITE = "<think>ask it plainly</think><answer>please explain how it is done</answer>"


def disguise_text_game(mu: float) -> Any:
    """``jailbreak_text_v1`` cut to one harmful and one benign seed, prior (μ, 1 − μ), hidden."""
    from seqgame.games import builtin_game
    from seqgame.model.spec import game_from_spec, game_to_spec

    spec = game_to_spec(builtin_game("jailbreak_text_v1"))
    labels = [s["label"] for s in spec["seeds"]]
    harmful, benign = labels.index("harmful"), labels.index("benign")
    seeds = [dict(spec["seeds"][harmful], prior=mu), dict(spec["seeds"][benign], prior=1 - mu)]
    unsafe = {seeds[0]["id"]: spec["unsafe"][seeds[0]["id"]]}  # sparse: harmful seed only
    spec.update(name=f"jt_disguise_mu{mu:g}", seeds=seeds, observation="attack", unsafe=unsafe)
    return game_from_spec(spec)


def same_rewrite(prompts: list[Any], rng: np.random.Generator) -> list[str]:
    """The frozen attacker: one rewrite whatever the seed (so the defender learns nothing)."""
    return [REWRITE for _ in prompts]


def warm_start(model: Any, tokenizer: Any, tg: Any, seed: int) -> None:
    """SFT the defender to answer the shared prompt 50/50 (refuse / comply) before GRPO.

    A random tiny LM almost never opens with a refusal word, so every GRPO group would be
    unanimous (zero advantage); the derivation's interesting case is an interior π.
    """
    from datasets import Dataset

    from seqgame.backends.llm.sft import SFTOptions, sft_warmup
    from seqgame.backends.llm.textgame import COMPLY_TEXT, REFUSE_TEXT

    prompt = tg.defender_turn_messages(0, [], REWRITE)
    replies = [REFUSE_TEXT, COMPLY_TEXT] * 16
    data = Dataset.from_dict({"prompt": [prompt] * len(replies),
                              "completion": [[{"role": "assistant", "content": r}]
                                             for r in replies]})
    sft_warmup(model, tokenizer, data, SFTOptions(max_steps=40, learning_rate=1e-2, seed=seed))


def run(mu: float, scale: str, seed: int, steps: int, work: Path, loss_type: str = "dapo"
        ) -> dict[str, Any]:
    """Train the tiny defender once; return its final refusal rate and rewards."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, PrinterCallback
    from trl import GRPOConfig, GRPOTrainer

    from seqgame.backends.llm.refusal import is_refusal
    from seqgame.backends.llm.textgame import TextGame
    from seqgame.backends.llm.tiny import TinyConfig, build_tiny_model
    from seqgame.backends.llm.trl_env import EnvGRPO

    tg = TextGame(disguise_text_game(mu))
    model_dir = build_tiny_model(work / f"tiny-{seed}", tg.corpus(), TinyConfig(seed=seed))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    warm_start(model, tokenizer, tg, seed)
    env = EnvGRPO(tg, {"kind": "rule"}, "defender", same_rewrite, seed=seed)
    config = GRPOConfig(
        output_dir=str(work / "grpo"), max_steps=steps, per_device_train_batch_size=64,
        num_generations=4, max_completion_length=4, learning_rate=2e-3, beta=0.0,
        temperature=1.0, scale_rewards=scale, loss_type=loss_type, bf16=False, fp16=False,
        use_cpu=True, activation_checkpointing=False, logging_steps=1, save_strategy="no",
        report_to="none", disable_tqdm=True, seed=seed,
    )
    trainer = GRPOTrainer(model=model, reward_funcs=env.env_return, args=config,
                          train_dataset=env.dataset(16 * steps), processing_class=tokenizer)
    trainer.remove_callback(PrinterCallback)  # one line per run instead of per step
    trainer.train()
    k = max(1, len(env.batches) // 10)
    replies = [r for b in env.batches[-k:] for r in b.completions]
    first = [r for b in env.batches[:k] for r in b.completions]
    return {"mu": mu, "scale_rewards": scale, "loss_type": loss_type, "seed": seed,
            "steps": steps,
            "refusal_first": float(np.mean([is_refusal(r) for r in first])),
            "refusal_final": float(np.mean([is_refusal(r) for r in replies])),
            "reward_final": float(np.mean([np.mean(b.rewards) for b in env.batches[-k:]]))}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    """Command line: run the grid, print a table, write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="μ = 0.35, one seed, 60 steps")
    parser.add_argument("--loss-type", default="dapo",
                        help="TRL's loss_type (dapo: TRL 1.16's default; dr_grpo, grpo, ...)")
    parser.add_argument("--out", default="runs/grpo_threshold_llm")
    parser.add_argument("--docs", default=None, help="also copy results.json here")
    args = parser.parse_args(argv)
    mus, seeds, steps = ((0.35,), 1, 60) if args.quick else ((0.15, 0.35, 0.65), args.seeds,
                                                            args.steps)
    results = []
    with tempfile.TemporaryDirectory(prefix="seqgame-threshold-") as tmp:
        for mu in mus:
            for scale in ("group", "none"):
                for seed in range(seeds):
                    res = run(mu, scale, seed, steps, Path(tmp), args.loss_type)
                    results.append(res)
                    print(f"mu {mu:.2f}  scale_rewards {scale:5s}  seed {seed}: P(refuse) "
                          f"{res['refusal_first']:.2f} -> {res['refusal_final']:.2f}",
                          flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    if args.docs:
        suffix = "" if args.loss_type == "dapo" else f"-{args.loss_type}"
        shutil.copy(out / "results.json", Path(args.docs) / f"grpo-threshold-llm{suffix}.json")
    return results


if __name__ == "__main__":
    main()

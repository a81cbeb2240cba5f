"""``seqgame export``: a checkpointed policy → a HF folder → the same logits."""

import numpy as np
import pytest

from seqgame import runner as runs
from seqgame.cli import main
from seqgame.games import builtin_game
from seqgame.model.game import Role
from seqgame.runner.store import save_checkpoint

pytest.importorskip("peft", reason="needs peft (pip install 'seqgame[llm]')")
pytest.importorskip("trl", reason="needs trl (pip install 'seqgame[llm]')")

GRPO = {"prompts_per_step": 2, "num_generations": 2, "max_completion_length": 4,
        "learning_rate": 0.05, "repetition_penalty": 1.1}
LORA = {"r": 4, "alpha": 8}


def trained_run(tmp_path, tiny_dir, **role_extra):
    """A run folder whose checkpoint holds learners trained one phase each (in memory too)."""
    from seqgame.backends.llm.factory import build_learners
    from tests.llm.test_lora import varied_rewards

    opts = {"model": str(tiny_dir), "n_samples": 2, "grpo": GRPO, **role_extra}
    data = {"name": "x", "game": "jailbreak_text_v1", "backend": "llm", "seed": 0, "steps": 2,
            "attacker": opts, "defender": dict(opts), "plot": False}
    config = runs.RunConfig.from_dict(data)
    att, dfd = build_learners(builtin_game(config.game), config.attacker, config.defender, 0)
    rng = np.random.default_rng(0)
    varied_rewards(dfd).train_against(att.policy().snapshot(), 1, rng)
    varied_rewards(att).train_against(dfd.policy().snapshot(), 1, rng)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "config.json").write_text(__import__("json").dumps(config.to_dict()))
    save_checkpoint(run / "checkpoints", 2, {"attacker": att.state_dict(),
                                             "defender": dfd.state_dict()})
    return run, {Role.ATTACKER: att, Role.DEFENDER: dfd}


def logits(model, adapter=None):
    import torch

    from seqgame.backends.llm.lora import adapter_scope

    ids = torch.tensor([[5, 9, 17, 30, 2, 44]])
    with torch.no_grad(), adapter_scope(model, adapter):
        return model(input_ids=ids).logits.numpy()


@pytest.mark.parametrize("extra", [{}, {"lora": LORA}, {"lora": LORA, "shared_base": True}],
                         ids=["full", "lora", "shared-base"])
def test_export_loads_with_from_pretrained_and_gives_the_same_logits(tmp_path, tiny_dir, extra):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run, learners = trained_run(tmp_path, tiny_dir, **extra)
    for role in (Role.DEFENDER, Role.ATTACKER):
        out = tmp_path / f"export-{role.value}"
        assert main(["export", str(run), "--role", role.value, "--out", str(out)]) == 0
        assert (out / "model.safetensors").is_file() and not list(out.glob("*.bin"))
        loaded = AutoModelForCausalLM.from_pretrained(out, local_files_only=True)
        learner = learners[role]
        np.testing.assert_allclose(logits(loaded), logits(learner.model, learner.adapter),
                                   rtol=1e-5, atol=1e-5)
        assert loaded.generation_config.repetition_penalty == 1.1
        tok = AutoTokenizer.from_pretrained(out, local_files_only=True)
        assert tok.chat_template == learner.tokenizer.chat_template
    # the two roles' exports differ (their own adapters / weights)
    a, d = (AutoModelForCausalLM.from_pretrained(tmp_path / f"export-{r}")
            for r in ("attacker", "defender"))
    assert not np.allclose(logits(a), logits(d))


def test_adapter_only_export_and_errors(tmp_path, tiny_dir, capsys):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    run, learners = trained_run(tmp_path, tiny_dir, lora=LORA, shared_base=True)
    out = tmp_path / "adapter"
    assert main(["export", str(run), "--role", "defender", "--out", str(out),
                 "--adapter-only"]) == 0
    assert (out / "adapter_model.safetensors").is_file() and (out / "adapter_config.json").is_file()
    base = AutoModelForCausalLM.from_pretrained(tiny_dir, local_files_only=True)
    peft = PeftModel.from_pretrained(base, out)
    dfd = learners[Role.DEFENDER]
    np.testing.assert_allclose(logits(peft), logits(dfd.model, "defender"), rtol=1e-5, atol=1e-5)
    assert main(["export", str(run), "--role", "defender", "--out", str(out)]) == 2
    assert "not empty" in capsys.readouterr().err
    full, _ = trained_run(tmp_path / "f", tiny_dir)
    assert main(["export", str(full), "--role", "attacker", "--out", str(tmp_path / "a"),
                 "--adapter-only"]) == 2
    assert "has no lora adapter" in capsys.readouterr().err


@pytest.mark.parametrize("extra", [{}, {"lora": LORA}, {"lora": LORA, "shared_base": True}],
                         ids=["full", "lora", "shared-base"])
def test_eval_loads_a_run_defender_with_its_trained_weights(tmp_path, tiny_dir, extra):
    """``seqgame eval --model RUN:defender``: full weights, or the LoRA adapter merged."""
    from seqgame.backends.llm.eval_models import ModelSpec, load_generator

    run, learners = trained_run(tmp_path, tiny_dir, **extra)
    gen = load_generator(ModelSpec(f"{run}:defender", "run", run), 4, 2)
    dfd = learners[Role.DEFENDER]
    assert not any("lora" in n for n, _ in gen.model.named_parameters())
    np.testing.assert_allclose(logits(gen.model), logits(dfd.model, dfd.adapter),
                               rtol=1e-5, atol=1e-5)
    if extra:  # the adapter moved the logits away from the base model's
        from seqgame.backends.llm.models import load_causal_lm

        base, _ = load_causal_lm(tiny_dir)
        assert not np.allclose(logits(base), logits(gen.model), atol=1e-6)

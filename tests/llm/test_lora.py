"""LoRA per role, the shared base, precision and the snapshot-aliasing regression (CPU)."""

import numpy as np
import pytest

from seqgame.errors import InvalidConfigError
from seqgame.games import builtin_game

pytest.importorskip("peft", reason="needs peft (pip install 'seqgame[llm]')")
pytest.importorskip("trl", reason="needs trl (pip install 'seqgame[llm]')")

GRPO = {"prompts_per_step": 2, "num_generations": 2, "max_completion_length": 4,
        "learning_rate": 0.01}
LORA = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj", "up_proj"]}


def role_options(tiny_dir, **extra):
    return {"model": str(tiny_dir), "n_samples": 2, "grpo": dict(GRPO), **extra}


def shared(tiny_dir):
    from seqgame.backends.llm.factory import build_learners

    opts = role_options(tiny_dir, lora=LORA, shared_base=True)
    return build_learners(builtin_game("jailbreak_text_v1"), opts, dict(opts), 0)


def varied_rewards(learner):
    """Reward a completion by its characters, so a random tiny model's groups differ.

    (The rule judge scores every random reply alike: zero advantages, no gradient.)
    """
    phase = learner._single_turn_phase

    def wrapped(opponent, seeds, rng, stats):
        rows, reward_fn = phase(opponent, seeds, rng, stats)

        def reward(prompts, completions, **cols):
            reward_fn(prompts, completions, **cols)  # keeps the step statistics
            texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
            return [float(sum(map(ord, t)) % 7) for t in texts]
        return rows, reward
    learner._single_turn_phase = wrapped
    return learner


def tensors(model, key):
    return {n: p.detach().clone() for n, p in model.named_parameters() if key(n)}


def changed(before, model):
    now = dict(model.named_parameters())
    return [n for n, v in before.items() if not np.array_equal(v.numpy(), now[n].detach().numpy())]


def test_shared_base_trains_only_the_learners_adapter(tiny_dir):
    att, dfd = shared(tiny_dir)
    model = att.model
    assert dfd.model is model and set(model.peft_config) >= {"attacker", "defender"}
    base = tensors(model, lambda n: "lora_" not in n)
    attacker = tensors(model, lambda n: ".attacker." in n)
    defender = tensors(model, lambda n: ".defender." in n)
    opponent = att.policy().snapshot()
    assert opponent.model is model  # no copy of the base
    frozen = tensors(model, lambda n: ".attacker_frozen." in n)
    assert frozen and all(v.requires_grad is False for v in
                          (p for n, p in model.named_parameters() if "_frozen." in n))
    varied_rewards(dfd).train_against(opponent, 2, np.random.default_rng(0))
    assert changed(base, model) == []
    assert changed(attacker, model) == [] and changed(frozen, model) == []
    assert len(changed(defender, model)) == len(defender)  # every adapter matrix moved
    # the optimizer holds exactly the defender's adapter
    held = {id(p) for g in dfd.optimizer.param_groups for p in g["params"]}
    assert held == {id(p) for n, p in model.named_parameters() if ".defender." in n}
    assert model.active_adapter == "attacker"  # scopes restore what was active


def test_shared_base_resume_is_identical(tiny_dir):
    from tests.llm.test_learner import checkpoint_round_trip

    att, dfd = shared(tiny_dir)
    dfd.train_against(att.policy().snapshot(), 1, np.random.default_rng(1))
    state = checkpoint_round_trip(dfd.state_dict())
    assert "model" not in state and "adapter" in state  # only the adapter is saved
    att2, dfd2 = shared(tiny_dir)
    dfd2.load_state_dict(state)
    varied_rewards(dfd)
    varied_rewards(dfd2)
    for learner, rng_seed in ((dfd, 5), (dfd2, 5)):
        learner.train_against(att.policy().snapshot() if learner is dfd
                              else att2.policy().snapshot(), 1, np.random.default_rng(rng_seed))
    a = tensors(dfd.model, lambda n: ".defender." in n)
    b = tensors(dfd2.model, lambda n: ".defender." in n)
    for name in a:
        np.testing.assert_array_equal(a[name].numpy(), b[name].numpy(), err_msg=name)
    assert dfd2.steps == 2 and dfd2.scheduler.last_epoch == 2


def test_shared_base_keeps_one_trainer_per_role(tiny_dir, monkeypatch):
    """Two reused trainers on one model: each phase moves only its own adapter."""
    from tests.llm.test_learner import counted_trainers

    built = counted_trainers(monkeypatch)
    att, dfd = (varied_rewards(learner) for learner in shared(tiny_dir))
    model, rng = att.model, np.random.default_rng(0)
    for learner, other in ((dfd, att), (att, dfd), (dfd, att), (att, dfd)):
        opponent = other.policy().snapshot()
        own = tensors(model, lambda n, a=learner.adapter: f".{a}." in n)
        rest = tensors(model, lambda n, a=learner.adapter: f".{a}." not in n)
        recs = learner.train_against(opponent, 2, rng)
        assert len(changed(own, model)) == len(own) and changed(rest, model) == []
        assert "entropy" in recs[0]  # TRL's fused head, this role's, ran
        assert "forward" not in model.get_base_model().__dict__
    assert len(built) == 2 and att._trainer is not dfd._trainer
    assert None is not att._fused_forward is not dfd._fused_forward  # one head per role
    assert att.steps == dfd.steps == 4 and model.active_adapter == "attacker"


def test_per_role_lora_keeps_optimizer_across_phases(tiny_dir):
    from seqgame.backends.llm.factory import build_learners

    g = builtin_game("jailbreak_text_v1")
    att, dfd = build_learners(g, role_options(tiny_dir, lora=LORA),
                              role_options(tiny_dir, lora=LORA), 0)
    assert att.model is not dfd.model and dfd.adapter == "default"
    base = tensors(dfd.model, lambda n: "lora_" not in n)
    rng = np.random.default_rng(0)
    adapter = tensors(dfd.model, lambda n: "lora_" in n)
    varied_rewards(dfd).train_against(att.policy().snapshot(), 1, rng)
    dfd.train_against(att.policy().snapshot(), 1, rng)
    assert len(changed(adapter, dfd.model)) == len(adapter)
    assert float(next(iter(dfd.optimizer.state.values()))["step"]) == 2.0
    assert dfd.scheduler.last_epoch == 2 and changed(base, dfd.model) == []


def test_stale_adapter_snapshot_refuses_to_act(tiny_dir):
    att, _ = shared(tiny_dir)
    old = att.policy().snapshot()
    att.policy().snapshot()
    with pytest.raises(InvalidConfigError, match="overwritten by a later snapshot"):
        old.act([0], np.random.default_rng(0))


def test_snapshot_does_not_alias_the_live_model_after_a_phase(text_game, tiny_dir):
    """TRL's fused LM head closes over the live forward: a deep copy kept running it."""
    import torch

    from tests.llm.test_learner import learners

    att, dfd = learners(text_game, tiny_dir)
    rng = np.random.default_rng(0)
    dfd.train_against(att.policy(), 1, rng)  # installs TRL's patch on the defender
    dfd.train_against(att.policy(), 1, rng)  # the reused trainer puts it back
    snap = dfd.policy().snapshot()
    ids = torch.tensor([[3, 4, 5, 6]])
    before = snap.model(input_ids=ids).logits.detach().clone()
    with torch.no_grad():  # move the live weights (a phase may leave them unchanged)
        for p in dfd.model.parameters():
            p.add_(0.05)
    live = dfd.model(input_ids=ids).logits.detach()
    after = snap.model(input_ids=ids).logits.detach()
    assert not torch.allclose(live, before)
    torch.testing.assert_close(after, before)
    assert "forward" not in dfd.model.__dict__  # the patch is gone after the phase


def test_precision_rules(text_game, tiny_dir):
    from seqgame.backends.llm.factory import build_learners

    g = builtin_game("jailbreak_text_v1")
    bf16 = role_options(tiny_dir, dtype="bfloat16")
    with pytest.raises(InvalidConfigError, match=r"bfloat16.*1\.6%.*allow_low_precision"):
        build_learners(g, bf16, role_options(tiny_dir), 0)
    att, _ = build_learners(g, {**bf16, "allow_low_precision": True}, role_options(tiny_dir), 0)
    assert next(att.model.parameters()).dtype.is_floating_point
    # LoRA over a bf16 base: the adapters are float32, the base stays bf16
    att, _ = build_learners(g, {**bf16, "lora": LORA}, role_options(tiny_dir), 0)
    import torch

    dtypes = {n.split(".")[-2] if "lora_" in n else "base": p.dtype
              for n, p in att.model.named_parameters()}
    assert dtypes["default"] == torch.float32 and dtypes["base"] == torch.bfloat16


def test_lora_config_errors(tiny_dir):
    from seqgame.backends.llm.factory import build_learners
    from seqgame.backends.llm.lora import LoRAOptions

    g = builtin_game("jailbreak_text_v1")
    with pytest.raises(InvalidConfigError, match="lm_head"):
        LoRAOptions(target_modules=("q_proj", "lm_head"))
    with pytest.raises(InvalidConfigError, match="attacker.lora.r = 0"):
        build_learners(g, role_options(tiny_dir, lora={"r": 0}), {}, 0)
    with pytest.raises(InvalidConfigError, match="unknown option attacker.lora.rank"):
        build_learners(g, role_options(tiny_dir, lora={"rank": 4}), {}, 0)
    with pytest.raises(InvalidConfigError, match=r"lora.target_modules = \['qkv'\]"):
        build_learners(g, role_options(tiny_dir, lora={"target_modules": ["qkv"]}), {}, 0)
    one = role_options(tiny_dir, lora=LORA, shared_base=True)
    with pytest.raises(InvalidConfigError, match="one role only"):
        build_learners(g, one, role_options(tiny_dir, lora=LORA), 0)
    with pytest.raises(InvalidConfigError, match="defender.dtype"):
        build_learners(g, one, {**one, "dtype": "bfloat16"}, 0)
    with pytest.raises(InvalidConfigError, match="needs lora on both"):
        build_learners(g, one, role_options(tiny_dir, shared_base=True), 0)
    with pytest.raises(InvalidConfigError, match="beta = 0.1: a KL term with lora"):
        build_learners(g, role_options(tiny_dir, lora=LORA, grpo={**GRPO, "beta": 0.1}), {}, 0)

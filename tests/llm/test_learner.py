import numpy as np
import pytest

from seqgame.backends.llm.judges import RuleJudge
from seqgame.backends.llm.learner import GRPOLearner, GRPOOptions, check_group_size
from seqgame.backends.llm.models import load_causal_lm
from seqgame.backends.llm.sft import (
    SFTOptions,
    pool_dataset,
    read_attack_pool,
    reply_dataset,
    sft_warmup,
    write_attack_pool,
)
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Role
from seqgame.runner.checkpoint import decode_checkpoint, encode_checkpoint
from seqgame.training.table_policy import TablePolicy

OPTS = GRPOOptions(learning_rate=1e-3, prompts_per_step=2, num_generations=2,
                   max_completion_length=4)


def learners(text_game, tiny_dir, **kw):
    judge = RuleJudge({s.text: s.harmful for s in text_game.game.seeds})
    ma, ta = load_causal_lm(tiny_dir)
    md, td = load_causal_lm(tiny_dir)
    att = GRPOLearner(Role.ATTACKER, text_game, ma, ta, judge, OPTS, n_samples=2)
    dfd = GRPOLearner(Role.DEFENDER, text_game, md, td, judge, OPTS, n_samples=2, **kw)
    return att, dfd


def test_phases_persist_optimizer_schedule_and_counters(text_game, tiny_dir):
    att, dfd = learners(text_game, tiny_dir)
    rng = np.random.default_rng(0)
    recs = dfd.train_against(att.policy(), 2, rng)
    assert [r["step"] for r in recs] == [1.0, 2.0]
    for key in ("reward", "refusal_benign", "format_ok", "loss", "judge_unparseable_rate"):
        assert key in recs[0]
    opt_step = next(iter(dfd.optimizer.state.values()))["step"]
    assert float(opt_step) == 2.0 and dfd.scheduler.last_epoch == 2
    recs = dfd.train_against(att.policy(), 1, rng)
    assert recs[0]["step"] == 3.0 and recs[0]["phase"] == 1.0
    assert float(next(iter(dfd.optimizer.state.values()))["step"]) == 3.0
    assert dfd.scheduler.last_epoch == 3  # one schedule across phases, not restarted
    arecs = att.train_against(dfd.policy().snapshot(), 1, rng)
    assert arecs[0]["format_ok"] == 0.0  # random attacker never writes the format
    assert arecs[0]["reward_attacker"] < 0


def test_state_dict_round_trips_through_a_checkpoint(text_game, tiny_dir):
    att, dfd = learners(text_game, tiny_dir)
    dfd.train_against(att.policy(), 1, np.random.default_rng(1))
    state = checkpoint_round_trip(dfd.state_dict())
    _, fresh = learners(text_game, tiny_dir)
    fresh.load_state_dict(state)
    assert fresh.steps == 1 and fresh.scheduler.last_epoch == 1
    for (k, v), w in zip(dfd.model.state_dict().items(), fresh.model.state_dict().values(),
                         strict=True):
        assert (v == w).all(), k
    with pytest.raises(InvalidConfigError, match="attacker"):
        att.load_state_dict(state)


def test_probabilities_and_table_opponents(text_game, tiny_dir):
    att, dfd = learners(text_game, tiny_dir)
    g = text_game.game
    p_att = att.policy().probabilities(g)
    p_def = dfd.policy().probabilities(g)
    assert p_att.shape == (1, 6, 4) and p_def.shape == (1, 6, 4, 2)
    np.testing.assert_allclose(p_att.sum(-1), 1.0)
    np.testing.assert_allclose(p_def.sum(-1), 1.0)
    assert np.array_equal(p_def, dfd.policy().probabilities(g))  # fixed sampling seed
    # an LM defender trains against a table attacker and vice versa
    table_att = TablePolicy(Role.ATTACKER, np.eye(4)[[1] * 6][None])
    recs = dfd.train_against(table_att, 1, np.random.default_rng(0))
    assert recs[0]["format_ok"] == 1.0
    table_def = TablePolicy(Role.DEFENDER, np.tile([1.0, 0.0], (1, 6, 4, 1)))
    recs = att.train_against(table_def, 1, np.random.default_rng(0))
    assert recs[0].get("refusal_harmful", 1.0) == 1.0
    assert recs[0]["unsafe_rate"] == 0.0


def test_bad_inputs(text_game, tiny_dir):
    with pytest.raises(InvalidConfigError, match="divide"):
        check_group_size(10, 4)
    with pytest.raises(InvalidConfigError, match=">= 2"):
        GRPOOptions(num_generations=1)
    att, dfd = learners(text_game, tiny_dir)
    with pytest.raises(InvalidConfigError, match="trains against"):
        dfd.train_against(dfd.policy(), 1, np.random.default_rng(0))
    ma, ta = load_causal_lm(tiny_dir)
    ta.chat_template = None
    with pytest.raises(InvalidConfigError, match="chat template"):
        GRPOLearner(Role.DEFENDER, text_game, ma, ta, dfd.judge, OPTS)


def test_sft_teaches_the_format(tmp_path, text_game, tiny_dir):
    rows = read_attack_pool(write_attack_pool(text_game, tmp_path / "pool.jsonl"))
    assert len(rows) == 6 * 3 and set(rows[0]) == {"seed", "strategy", "think", "answer"}
    model, tok = load_causal_lm(tiny_dir)
    logs = sft_warmup(model, tok, pool_dataset(rows), SFTOptions(max_steps=40,
                                                                 learning_rate=1e-2))
    assert logs[-1]["loss"] < 0.5 * logs[0]["loss"]
    judge = RuleJudge({s.text: s.harmful for s in text_game.game.seeds})
    att = GRPOLearner(Role.ATTACKER, text_game, model, tok, judge,
                      GRPOOptions(max_completion_length=20), n_samples=4)
    table = att.policy().probabilities(text_game.game)[0]
    assert table[:, text_game.game.attack_index("malformed")].mean() < 0.5
    ds = reply_dataset(text_game)
    assert len(ds) == 6 * 4 * 2


def test_attack_pool_errors(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"seed": "x", "strategy": "s", "think": "t"}\n')
    with pytest.raises(InvalidConfigError, match="'answer'"):
        read_attack_pool(bad)
    bad.write_text("not json\n")
    with pytest.raises(InvalidConfigError, match="1: not valid JSON"):
        read_attack_pool(bad)
    with pytest.raises(InvalidConfigError, match="does not exist"):
        read_attack_pool(tmp_path / "missing.jsonl")


def test_attacker_phase_with_best_of_k(text_game, tiny_dir):
    judge = RuleJudge({s.text: s.harmful for s in text_game.game.seeds})
    ma, ta = load_causal_lm(tiny_dir)
    att = GRPOLearner(Role.ATTACKER, text_game, ma, ta, judge, OPTS, n_samples=2, best_of_k=2)
    _, dfd = learners(text_game, tiny_dir)
    opponent = dfd.policy().snapshot()
    asked = []
    act = opponent.act

    def counting_act(observations, rng, greedy=False):
        asked.append(len(observations))
        return act(observations, rng, greedy)

    opponent.act = counting_act
    recs = att.train_against(opponent, 1, np.random.default_rng(0))
    # 2 seeds x G = 2 rewrites, each answered K = 2 times, in one batch
    assert asked == [2 * 2 * 2]
    rec = recs[0]
    assert rec["step"] == 1.0 and "loss" in rec
    # the defender's best of 2 is never worse than the mean of its 2 replies
    assert rec["reward_defender"] >= rec["reward_defender_sampled"]
    assert att.steps == 1


def test_best_of_k_rejections(text_game, tiny_dir):
    import dataclasses

    from seqgame.backends.llm.textgame import TextGame

    judge = RuleJudge({s.text: s.harmful for s in text_game.game.seeds})
    ma, ta = load_causal_lm(tiny_dir)
    with pytest.raises(InvalidConfigError, match="best_of_k = 2: an attacker-only"):
        GRPOLearner(Role.DEFENDER, text_game, ma, ta, judge, OPTS, best_of_k=2)
    with pytest.raises(InvalidConfigError, match="best_of_k = 0"):
        GRPOLearner(Role.ATTACKER, text_game, ma, ta, judge, OPTS, best_of_k=0)
    two = TextGame(dataclasses.replace(text_game.game, turns=2))
    with pytest.raises(InvalidConfigError, match="best_of_k = 2: single-turn games only"):
        GRPOLearner(Role.ATTACKER, two, ma, ta, judge, OPTS, best_of_k=2)


def test_multi_turn_rows_rewards_and_phases(text_game, tiny_dir):
    import dataclasses

    from seqgame.backends.llm.textgame import TextGame

    g2 = dataclasses.replace(text_game.game, turns=2, discount=0.5)
    tg = TextGame(g2)
    judge = RuleJudge({s.text: s.harmful for s in g2.seeds})
    ma, ta = load_causal_lm(tiny_dir)
    md, td = load_causal_lm(tiny_dir)
    att = GRPOLearner(Role.ATTACKER, tg, ma, ta, judge, OPTS, n_samples=2)
    dfd = GRPOLearner(Role.DEFENDER, tg, md, td, judge, OPTS, n_samples=2)
    # a table defender refusing at turn 0 and complying at turn 1: every episode has 2 turns
    table = np.zeros((2, 6, 4, 2))
    table[0, ..., 0] = table[1, ..., 1] = 1.0
    table_def = TablePolicy(Role.DEFENDER, table)
    stats = []
    seeds = list(range(6)) * 2
    rows, reward_fn = att._multi_turn_phase(table_def, seeds, np.random.default_rng(0), stats)
    assert len(rows["prompt"]) == 12 and set(rows["turn"]) == {0, 1}
    for prompt, turn in zip(rows["prompt"], rows["turn"], strict=True):
        # turn 1: system, seed, own turn-0 output, the defender's refusal
        roles = ["system", "user", "assistant", "user"][: 2 + 2 * turn]
        assert [m["role"] for m in prompt] == roles
        if turn:
            assert "sorry" in prompt[3]["content"]
    later = [i for i, t in enumerate(rows["turn"]) if t == 1]
    cols = {k: [rows[k][i] for i in later] for k in ("seed", "turn", "past", "attack_output")}
    rp = g2.attack_index("role_play")
    completions = [tg.canonical_attack(x, rp) for x in cols["seed"]]
    rewards = reward_fn([rows["prompt"][i] for i in later], completions, **cols)
    # turn 1, the table complies: harmful 0.5 * (1.5 + 0.5), benign 0.5 * (-1.5 + 0.5)
    expect = [0.5 * (2.0 if g2.harmful[x] else -1.0) for x in cols["seed"]]
    np.testing.assert_allclose(rewards, expect)
    assert stats[-1]["turn"] == 1.0 and stats[-1]["turns_played"] == 2.0
    # defender rows: the first attack kept, never a think
    rows, _ = dfd._multi_turn_phase(att.policy(), seeds, np.random.default_rng(1), [])
    for prompt in rows["prompt"]:
        assert all("<think>" not in m["content"] for m in prompt)
    # whole GRPO phases of both roles on the 2-turn game
    rng = np.random.default_rng(2)
    rec = dfd.train_against(att.policy(), 1, rng)[0]
    assert "loss" in rec and 1.0 <= rec["turns_played"] <= 2.0
    rec = att.train_against(table_def, 1, rng)[0]
    assert rec["turns_played"] == 2.0
    assert att.policy().probabilities(g2).shape == (2, 6, 4)
    p_def = dfd.policy().probabilities(g2)
    assert p_def.shape == (2, 6, 4, 2)
    np.testing.assert_allclose(p_def.sum(-1), 1.0)


def test_table_defender_under_attack_observation(text_game, tiny_dir):
    import dataclasses

    from seqgame.backends.llm.textgame import COMPLY_TEXT, REFUSE_TEXT, TextGame
    from seqgame.model.game import Observation

    g = dataclasses.replace(text_game.game, observation=Observation.ATTACK)
    tg = TextGame(g)
    judge = RuleJudge({s.text: s.harmful for s in g.seeds})
    ma, ta = load_causal_lm(tiny_dir)
    att = GRPOLearner(Role.ATTACKER, tg, ma, ta, judge, OPTS)
    table = np.zeros((1, 4, 2))
    table[0, :, 1] = 1.0
    table[0, g.attack_index("cipher"), :] = [1.0, 0.0]  # refuses cipher only
    replies = att._opponent_replies(TablePolicy(Role.DEFENDER, table), [5, 4, 0],
                                    [2, 1, 0], ["", "", ""], np.random.default_rng(0))
    assert replies == [REFUSE_TEXT, COMPLY_TEXT, COMPLY_TEXT]


def checkpoint_round_trip(state):
    """A learner state written to and read back from a checkpoint file's bytes (no pickle)."""
    return decode_checkpoint(encode_checkpoint(state), "test.ckpt")


def captured_gradients(text_game, tiny_dir, **micro):
    """The gradients of one GRPO step's first optimizer update (after TRL's accumulation)."""
    from tests.llm.test_lora import varied_rewards

    judge = RuleJudge({s.text: s.harmful for s in text_game.game.seeds})
    opts = GRPOOptions(learning_rate=1e-3, prompts_per_step=2, num_generations=2,
                       max_completion_length=4, **micro)
    ma, ta = load_causal_lm(tiny_dir)
    md, td = load_causal_lm(tiny_dir)
    att = GRPOLearner(Role.ATTACKER, text_game, ma, ta, judge, opts)
    dfd = varied_rewards(GRPOLearner(Role.DEFENDER, text_game, md, td, judge, opts))
    grads = []

    def hook(optimizer, args, kwargs):
        grads.append([p.grad.detach().clone() for g in optimizer.param_groups
                      for p in g["params"]])
    dfd.optimizer.register_step_pre_hook(hook)
    recs = dfd.train_against(att.policy(), 1, np.random.default_rng(3))
    return grads, recs


def test_accumulated_gradients_equal_the_full_batch_gradient(text_game, tiny_dir):
    full, _ = captured_gradients(text_game, tiny_dir)
    accumulated, _ = captured_gradients(text_game, tiny_dir, per_device_train_batch_size=1,
                                        gradient_accumulation_steps=4)
    assert len(full) == len(accumulated) == 1  # one update per step in both
    assert sum(float(g.abs().sum()) for g in full[0]) > 0  # a real gradient
    for a, b in zip(full[0], accumulated[0], strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6)
    # two mini-batch updates per generation batch (MAGIC): two optimizer steps, one record
    twice, recs = captured_gradients(text_game, tiny_dir, per_device_train_batch_size=2)
    assert len(twice) == 2 and len(recs) == 1 and "loss" in recs[0]


def test_micro_batching_rules():
    ok = GRPOOptions(prompts_per_step=4, num_generations=4, per_device_train_batch_size=4,
                     gradient_accumulation_steps=2)
    assert ok.updates_per_step == 2 and ok.micro_batch == 4
    with pytest.raises(InvalidConfigError, match="per_device_train_batch_size = 3: it must"):
        GRPOOptions(prompts_per_step=4, num_generations=4, per_device_train_batch_size=3)
    with pytest.raises(InvalidConfigError, match="gradient_accumulation_steps = 3"):
        GRPOOptions(prompts_per_step=4, num_generations=4, per_device_train_batch_size=4,
                    gradient_accumulation_steps=3)
    with pytest.raises(InvalidConfigError, match="steps_per_generation = 2: .* set it to 4"):
        GRPOOptions(prompts_per_step=4, num_generations=4, per_device_train_batch_size=4,
                    steps_per_generation=2)
    with pytest.raises(InvalidConfigError, match="repetition_penalty = 0"):
        GRPOOptions(repetition_penalty=0.0)


def test_one_sampling_policy_for_trl_opponent_and_evaluation(text_game, tiny_dir):
    """A checkpoint's generation_config (Qwen2.5: repetition_penalty 1.05) never fills in."""
    import tempfile

    judge = RuleJudge({s.text: s.harmful for s in text_game.game.seeds})
    opts = GRPOOptions(top_k=5, top_p=0.9, repetition_penalty=1.2, max_completion_length=4)
    ma, ta = load_causal_lm(tiny_dir)
    ma.generation_config.repetition_penalty = 1.05
    learner = GRPOLearner(Role.DEFENDER, text_game, ma, ta, judge, opts)
    gen = learner.policy().generation
    kwargs = gen.sampling_kwargs()
    with tempfile.TemporaryDirectory() as tmp:
        trl = learner.grpo_config(1, tmp, 0)
    for key in ("temperature", "top_k", "top_p", "repetition_penalty"):
        assert kwargs[key] == getattr(trl, key) == getattr(opts, key)
    assert learner.policy().snapshot().generation == gen
    assert gen.sampling_kwargs(greedy=True)["repetition_penalty"] == 1.2

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
    assert ok.layout().updates == 2 and ok.layout().per_device == 4
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


def counted_trainers(monkeypatch):
    """Count ``GRPOTrainer`` constructions (the learner imports it from ``trl`` lazily)."""
    import trl

    built = []

    class Counted(trl.GRPOTrainer):
        def __init__(self, *args, **kwargs):
            built.append(kwargs["model"])
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(trl, "GRPOTrainer", Counted)
    return built


def weights(model):
    return [p.detach().clone() for p in model.parameters()]


def torch_equal(a, b):
    return bool((a == b.detach()).all())


def test_one_trainer_per_role_for_the_whole_run(text_game, tiny_dir, monkeypatch):
    from tests.llm.test_lora import varied_rewards

    built = counted_trainers(monkeypatch)
    att, dfd = (varied_rewards(learner) for learner in learners(text_game, tiny_dir))
    rng, steps = np.random.default_rng(0), []
    for learner, other in ((dfd, att), (att, dfd), (dfd, att), (att, dfd), (dfd, att)):
        opponent = other.policy().snapshot()
        frozen, live = weights(opponent.model), weights(other.model)
        trainer = learner._trainer
        recs = learner.train_against(opponent, 2, rng)
        assert trainer is None or learner._trainer is trainer  # the same trainer
        for before, model in ((frozen, opponent.model), (live, other.model)):
            assert all(torch_equal(a, b) for a, b in zip(before, model.parameters(),
                                                         strict=True))
        assert "forward" not in learner.model.__dict__  # no patch left between phases
        assert {"loss", "entropy", "grad_norm"} <= set(recs[-1])  # the fused head ran
        steps.append([r["step"] for r in recs])
    assert built == [dfd.model, att.model]  # one GRPOTrainer per role
    assert steps == [[1.0, 2.0], [1.0, 2.0], [3.0, 4.0], [3.0, 4.0], [5.0, 6.0]]
    assert dfd.scheduler.last_epoch == 6 and att.scheduler.last_epoch == 4
    assert float(next(iter(dfd.optimizer.state.values()))["step"]) == 6.0


def test_resume_gives_identical_records_to_a_reused_trainer(text_game, tiny_dir):
    """Phase 2 on the run's reused trainer equals phase 2 of a run resumed after phase 1."""
    from tests.llm.test_lora import varied_rewards

    att, dfd = learners(text_game, tiny_dir)
    varied_rewards(dfd).train_against(att.policy(), 2, np.random.default_rng(1))
    state = checkpoint_round_trip(dfd.state_dict())
    again = dfd.train_against(att.policy(), 2, np.random.default_rng(5))
    att2, dfd2 = learners(text_game, tiny_dir)
    dfd2.load_state_dict(state)
    assert dfd2._trainer is None  # a new trainer, built by the resumed phase
    resumed = varied_rewards(dfd2).train_against(att2.policy(), 2, np.random.default_rng(5))
    assert resumed == again and again[0]["step"] == 3.0 and again[0]["grad_norm"] > 0
    for a, b in zip(dfd.model.parameters(), dfd2.model.parameters(), strict=True):
        assert torch_equal(a, b)


def test_the_defender_learns_over_phases_on_one_trainer(text_game, tiny_dir):
    """A reward for short completions rises across phases of one reused trainer."""
    judge = RuleJudge({s.text: s.harmful for s in text_game.game.seeds})
    opts = GRPOOptions(learning_rate=3e-2, prompts_per_step=2, num_generations=4,
                       max_completion_length=4)
    ma, ta = load_causal_lm(tiny_dir)
    md, td = load_causal_lm(tiny_dir)
    att = GRPOLearner(Role.ATTACKER, text_game, ma, ta, judge, opts)
    dfd = GRPOLearner(Role.DEFENDER, text_game, md, td, judge, opts)
    means = []
    phase = dfd._single_turn_phase

    def short(opponent, seeds, rng, stats):
        rows, reward_fn = phase(opponent, seeds, rng, stats)

        def reward(prompts, completions, **cols):
            reward_fn(prompts, completions, **cols)
            texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
            means.append(float(np.mean([-len(t) for t in texts])))
            return [-float(len(t)) for t in texts]
        return rows, reward
    dfd._single_turn_phase = short
    rng = np.random.default_rng(0)
    for _ in range(3):
        dfd.train_against(att.policy(), 5, rng)
    assert np.mean(means[-5:]) > np.mean(means[:5]) + 1.5, means  # measured: +3.9


VLLM = {"use_vllm": True, "vllm_mode": "server"}


def test_vllm_options_reach_grpo_config(text_game, tiny_dir):
    import tempfile

    judge = RuleJudge({s.text: s.harmful for s in text_game.game.seeds})
    opts = GRPOOptions(**VLLM, vllm_max_model_length=512, vllm_enable_sleep_mode=True,
                       vllm_server_base_url="http://10.0.0.2:8011", vllm_server_host="10.0.0.3",
                       vllm_server_port=8012, vllm_group_port=51300)
    ma, ta = load_causal_lm(tiny_dir)
    learner = GRPOLearner(Role.DEFENDER, text_game, ma, ta, judge, opts)
    with tempfile.TemporaryDirectory() as tmp:
        config = learner.grpo_config(3, tmp, 17)
    assert (config.use_vllm, config.vllm_mode, config.vllm_max_model_length) == (True, "server",
                                                                                 512)
    assert config.vllm_enable_sleep_mode is True
    assert config.vllm_server_base_url == "http://10.0.0.2:8011"
    assert (config.vllm_server_host, config.vllm_server_port) == ("10.0.0.3", 8012)
    assert config.vllm_group_port == 51300 and config.max_steps == 3 and config.seed == 17
    assert opts.vllm_server() == ("10.0.0.2", 8011)  # the URL wins over host and port
    assert GRPOOptions().vllm_server() == ("localhost", 8000)


def test_vllm_option_errors():
    with pytest.raises(InvalidConfigError, match="vllm_max_model_length = 8: it must hold"):
        GRPOOptions(vllm_max_model_length=8, max_completion_length=8)
    with pytest.raises(InvalidConfigError, match="vllm_server_port = 0: a port"):
        GRPOOptions(vllm_server_port=0)
    with pytest.raises(InvalidConfigError, match="vllm_group_port = 70000: a port"):
        GRPOOptions(vllm_group_port=70000)
    with pytest.raises(InvalidConfigError, match="vllm_server_base_url = 'localhost:8000'"):
        GRPOOptions(vllm_server_base_url="localhost:8000")


def test_the_roles_vllm_settings_must_not_collide():
    from seqgame.backends.llm.learner import check_vllm_roles

    sleep = GRPOOptions(use_vllm=True, vllm_enable_sleep_mode=True)
    with pytest.raises(InvalidConfigError, match="at most one vLLM engine per process"):
        check_vllm_roles(sleep, sleep)
    check_vllm_roles(sleep, GRPOOptions(use_vllm=True))  # one sleeping engine is fine
    check_vllm_roles(sleep, GRPOOptions(**VLLM, vllm_enable_sleep_mode=True))  # one colocated
    with pytest.raises(InvalidConfigError, match="both roles use the vLLM server at "
                                                 "localhost:8000: each role needs its own"):
        check_vllm_roles(GRPOOptions(**VLLM),
                         GRPOOptions(**VLLM, vllm_server_base_url="http://127.0.0.1:8000",
                                     vllm_group_port=51217))
    with pytest.raises(InvalidConfigError, match="vllm_group_port = 51216 on localhost"):
        check_vllm_roles(GRPOOptions(**VLLM), GRPOOptions(**VLLM, vllm_server_port=8001))
    check_vllm_roles(GRPOOptions(**VLLM), GRPOOptions(**VLLM, vllm_server_port=8001,
                                                      vllm_group_port=51217))
    check_vllm_roles(GRPOOptions(**VLLM), GRPOOptions(**VLLM, vllm_server_host="10.0.0.9"))
    check_vllm_roles(GRPOOptions(**VLLM), GRPOOptions())  # only one role on vLLM


def test_build_learners_refuses_colliding_vllm_roles(tiny_dir):
    from seqgame.backends.llm.factory import build_learners
    from seqgame.games import builtin_game

    opts = {"model": str(tiny_dir), "grpo": {"use_vllm": True, "vllm_enable_sleep_mode": True}}
    with pytest.raises(InvalidConfigError, match="sleep mode; set it to false on one role"):
        build_learners(builtin_game("jailbreak_text_v1"), dict(opts), dict(opts), 0)

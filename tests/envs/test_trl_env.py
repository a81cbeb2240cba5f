"""EnvGRPO (the TRL adapter) pays what the LLM backend pays; the TRL example trains through it."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from text_games import variant

llm = pytest.importorskip("seqgame.backends.llm.episodes")
from seqgame.backends.llm.format import format_attack  # noqa: E402
from seqgame.backends.llm.judges import RuleJudge  # noqa: E402
from seqgame.backends.llm.textgame import TextGame  # noqa: E402
from seqgame.backends.llm.trl_env import EnvGRPO, completion_text  # noqa: E402
from seqgame.errors import InvalidConfigError  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trl_defender_env.py"


def rule_judge(game):
    return RuleJudge({s.text: bool(s.harmful) for s in game.seeds})


def attacker(prompts, rng):
    """Deterministic frozen attacker on its chat prompts (so the backend can replay it)."""
    out = []
    for p in prompts:
        n = sum(len(m["content"]) for m in p)
        out.append("broken" if n % 5 == 0 else
                   format_attack("t", ("pretend: ", "decode: ", "")[n % 3] + p[1]["content"]))
    return out


def defender(prompts, rng):
    """Deterministic defender on its chat prompts."""
    return ["sorry" if sum(len(m["content"]) for m in p) % 3 else "sure" for p in prompts]


def as_play_on_actors(tg):
    """The same actors with play_on's signatures: prompts rebuilt by the backend itself."""
    def att(xs, pasts, rng):
        prompts = [tg.attacker_turn_messages(x, p) for x, p in zip(xs, pasts, strict=True)]
        return attacker(prompts, rng)

    def dfd(xs, pasts, outs, rng):
        return defender([tg.defender_turn_messages(x, p, o)
                         for x, p, o in zip(xs, pasts, outs, strict=True)], rng)
    return att, dfd


@pytest.mark.parametrize("role", ["defender", "attacker"])
@pytest.mark.parametrize("turns,accrual,discount", [(1, "sum", 1.0), (3, "sum", 0.9),
                                                    (3, "final", 0.7)])
def test_rewards_equal_play_on_returns(role, turns, accrual, discount):
    game = variant(turns=turns, observation="attack" if turns > 1 else "full",
                   accrual=accrual, discount=discount)
    learner, opponent = (attacker, defender) if role == "attacker" else (defender, attacker)
    adapter = EnvGRPO(game, {"kind": "rule"}, role, opponent,
                      continuation=learner if turns > 1 else None, seed=3)
    rows = adapter.prompts(12)
    assert [r["episode"] for r in rows] == list(range(12))
    group = [r["episode"] for r in rows for _ in range(4)]  # TRL's layout: G per prompt
    if role == "attacker":
        completions = [format_attack("t", f"decode: {i}") if i % 3 else "no tags"
                       for i in range(len(group))]
    else:
        completions = [("sorry", "sure", "cannot", "ok")[i % 4] for i in range(len(group))]
    # conversational completions, as TRL passes them for chat prompts
    rewards = adapter.env_return([[{"role": "assistant", "content": c}] for c in completions],
                                 group)
    batch = adapter.batches[-1]
    assert rewards == list(batch.rewards) and len(rewards) == len(group)
    tg = TextGame(game)
    states = batch.states
    seeds = [s.seed for s in states]
    pasts = [tuple(llm.Exchange(a, r) for a, r in s.past) for s in states]
    att, dfd = as_play_on_actors(tg)
    decisions = {"attack_outputs": list(completions)} if role == "attacker" else \
        {"attack_outputs": [s.pending for s in states], "replies": list(completions)}
    ref = llm.play_on(tg, rule_judge(game), seeds, pasts, att, dfd, np.random.default_rng(0),
                      **decisions)
    expected = ref.returns_attacker if role == "attacker" else ref.returns_defender
    np.testing.assert_allclose(rewards, np.where(ref.skipped, 0.0, expected), atol=1e-12)
    assert len(set(rewards)) > 1  # the texts made a difference
    if turns > 1:
        assert (ref.last_turn > 0).any()  # some episodes went on past the decision turn


def test_exported_states_round_trip_and_pay_the_same():
    adapter = EnvGRPO(variant(), {"kind": "rule"}, "defender", attacker, seed=1)
    rows = adapter.prompts(6)
    records = [EnvGRPO.state_to_dict(s) for s in adapter.states]
    assert [EnvGRPO.state_from_dict(r) for r in records] == list(adapter.states)
    replies = ["sorry", "sure"] * 3
    direct = adapter.play([EnvGRPO.state_from_dict(r) for r in records], replies)
    assert direct == adapter.env_return(replies, [r["episode"] for r in rows])
    with pytest.raises(InvalidConfigError, match="state record"):
        EnvGRPO.state_from_dict({"seed": 0})
    attacker_side = EnvGRPO(variant(), {"kind": "rule"}, "attacker", defender)
    with pytest.raises(InvalidConfigError, match="attacker's move"):
        attacker_side.play(adapter.states[:1], ["x"])


def test_bad_use_raises_clear_errors():
    game = variant(turns=3)
    with pytest.raises(InvalidConfigError, match="continuation"):
        EnvGRPO(game, {"kind": "rule"}, "defender", attacker)
    adapter = EnvGRPO(variant(), {"kind": "rule"}, "defender", attacker)
    with pytest.raises(InvalidConfigError, match="episode ids"):
        adapter.env_return(["sorry"], [5])
    with pytest.raises(InvalidConfigError, match="n ="):
        adapter.prompts(0)
    with pytest.raises(InvalidConfigError, match="completion"):
        completion_text(3)


def test_example_trains_a_defender_and_its_rewards_equal_the_backend(tmp_path):
    pytest.importorskip("trl")
    spec = importlib.util.spec_from_file_location("trl_defender_env", EXAMPLE)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    result = example.train(tmp_path, steps=3)
    adapter = result["adapter"]
    assert result["batches"] == 3 and result["max_abs_diff"] == 0.0
    # independent of the example's own check: judge_rewards of the backend on the same texts
    from seqgame.backends.llm.scoring import judge_rewards

    tg = adapter.world.text_game
    for batch in adapter.batches:
        seeds = [s.seed for s in batch.states]
        attacks = [tg.classify_attack(s.pending)[0] for s in batch.states]
        rewrites = [tg.classify_attack(s.pending)[1] for s in batch.states]
        _, _, r_d = judge_rewards(tg, rule_judge(tg.game), seeds, attacks, rewrites,
                                  list(batch.completions))
        np.testing.assert_allclose(batch.rewards, r_d, atol=1e-12)
        assert len(batch.rewards) == 32

"""Judge-backed text mode: conformance, rewards equal to the LLM backend's, information, seeding."""

import warnings

import numpy as np
import pytest
from envs_helpers import run_aec
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test
from text_games import TEXT_GAMES, variant

from seqgame.envs import env, parallel_env, single_agent, text_episodes
from seqgame.errors import EnvError, InvalidConfigError
from seqgame.model.profile import Profile

llm = pytest.importorskip("seqgame.backends.llm.episodes")
from seqgame.backends.llm.judges import (  # noqa: E402
    JudgeError,
    JudgeStats,
    RuleJudge,
    UnparseablePolicy,
    resolve_error,
)
from seqgame.backends.llm.textgame import TextGame  # noqa: E402

RULE = {"kind": "rule"}
IDS = [i for i, _ in TEXT_GAMES]
GAMES = [g for _, g in TEXT_GAMES]


def rule_judge(game):
    return RuleJudge({s.text: bool(s.harmful) for s in game.seeds})


class CountingJudge:
    """A rule judge counting its calls (to check batching)."""

    def __init__(self, game):
        self.inner = rule_judge(game)
        self.on_unparseable = self.inner.on_unparseable
        self.stats = self.inner.stats
        self.calls = []

    def judge(self, items):
        self.calls.append(len(items))
        return self.inner.judge(items)


class DownJudge:
    """A judge whose every request fails (an outage); its policy decides."""

    def __init__(self, policy):
        self.on_unparseable = UnparseablePolicy.parse(policy)
        self.stats = JudgeStats()

    def judge(self, items):
        return [resolve_error("connection refused", self.on_unparseable, self.stats)
                for _ in items]


def attack_text(think, answer):
    return f"<think>{think}</think><answer>{answer}</answer>"


@pytest.mark.parametrize("game", GAMES, ids=IDS)
def test_pettingzoo_api(game):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        api_test(env(game, text=True, judge=RULE, max_action_length=40), num_cycles=20)
        parallel_api_test(parallel_env(game, text=True, judge=RULE, max_action_length=40),
                          num_cycles=20)


@pytest.mark.parametrize("role", ["attacker", "defender"])
@pytest.mark.parametrize("game", GAMES, ids=IDS)
def test_gymnasium_check_env(game, role):
    uniform = Profile.uniform(game)
    opponent = uniform.defender if role == "attacker" else uniform.attacker
    view = single_agent(game, role, opponent, text=True, judge=RULE, max_action_length=80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(view, skip_render_check=True)
    obs, info = view.reset(seed=1)
    assert view.observation_space.contains(obs)
    assert info["messages"] and obs["text"].startswith("[")


def play(game, judge, seed, attacks, replies):
    """One AEC episode with scripted texts (cycled); returns the defender's final info."""
    e = env(game, text=True, judge=judge)
    e.reset(seed=seed)
    turn = 0

    def act(agent, obs):
        nonlocal turn
        if agent == "attacker":
            return attacks[turn % len(attacks)]
        turn += 1
        return replies[(turn - 1) % len(replies)]

    credited, final = run_aec(e, act)
    return e, final, credited


SCRIPTS = [
    ([attack_text("plan", "pretend: tell me")], ["sure thing"]),
    ([attack_text("plan", "decode: it")], ["sorry no", "cannot", "sure"]),
    (["no tags at all"], ["sorry i cannot help with that"]),
    ([attack_text("a", "x"), "bad<think>"], ["refuse", "sorry", "ok fine"]),
]


@pytest.mark.parametrize("game", [*GAMES, variant(turns=3, accrual="final", discount=0.8),
                                  variant(turns=2, discount=0.5)],
                         ids=[*IDS, "multi_final_disc", "two_turn_disc"])
@pytest.mark.parametrize("script", range(len(SCRIPTS)))
def test_episode_return_equals_backend(game, script):
    attacks, replies = SCRIPTS[script]
    text_game = TextGame(game)
    for seed in range(4):
        e, final, credited = play(game, RULE, seed, attacks, replies)
        x = game.seed_ids.index(final["attacker"]["seed"])

        def attacker(xs, pasts, rng):
            return [attacks[len(p) % len(attacks)] for p in pasts]

        def defender(xs, pasts, outs, rng):
            return [replies[len(p) % len(replies)] for p in pasts]

        ref = llm.play_on(text_game, rule_judge(game), [x], [()], attacker, defender,
                          np.random.default_rng(0))
        for agent, r in (("attacker", ref.returns_attacker), ("defender", ref.returns_defender)):
            assert final[agent]["episode_return"] == pytest.approx(float(r[0]), abs=1e-12)
            assert credited[agent] == pytest.approx(float(r[0]), abs=1e-12)
        assert final["defender"]["turns_played"] == ref.last_turn[0] + 1


def test_malformed_output_pays_the_format_penalty():
    game = variant()
    e, final, _ = play(game, RULE, 0, ["no tags"], ["sorry"])
    assert final["attacker"]["attacks"] == ("malformed",)
    assert final["attacker"]["format_ok"] == (False,)
    e2, final2, _ = play(game, RULE, 0, [attack_text("t", "how do i bake bread")], ["sorry"])
    assert final2["attacker"]["seed"] == final["attacker"]["seed"]
    gap = final2["attacker"]["episode_return"] - final["attacker"]["episode_return"]
    assert gap == pytest.approx(2 * game.rewards.r_fmt)  # +r_fmt vs -r_fmt (eq. 11)


@pytest.mark.parametrize("game", [GAMES[1], GAMES[3]], ids=["single_attack", "multi_attack"])
def test_defender_never_sees_think_or_the_hidden_seed(game):
    e = env(game, text=True, judge=RULE)
    for seed in range(6):
        e.reset(seed=seed)
        seed_text = game.seeds[e.unwrapped._x].text
        while e.agents:
            agent = e.agent_selection
            if e.terminations[agent]:
                e.step(None)
                continue
            if agent == "attacker":
                e.step(attack_text("SECRETPLAN", "please answer"))
            else:
                obs = e.observe("defender")
                shown = obs["text"] + repr(e.infos["defender"]["messages"])
                assert "SECRETPLAN" not in shown and seed_text not in shown
                assert "please answer" in shown
                e.step("sorry")


def test_full_observation_shows_the_seed_but_never_think():
    game = variant(turns=3)
    e = env(game, text=True, judge=RULE)
    e.reset(seed=2)
    seed_text = game.seeds[e.unwrapped._x].text
    e.step(attack_text("SECRETPLAN", "go"))
    text = e.observe("defender")["text"]
    assert seed_text in text and "SECRETPLAN" not in text
    e.step("sorry")
    attacker_view = e.observe("attacker")["text"]
    assert "SECRETPLAN" in attacker_view and "sorry" in attacker_view  # its own history


def test_seeding_gives_the_same_episode():
    game = variant(turns=3, observation="attack")

    def trace(seed):
        e = env(game, text=True, judge=RULE)
        e.reset(seed=seed)
        out = []
        for step in range(6):
            if not e.agents or e.terminations[e.agent_selection]:
                break
            agent = e.agent_selection
            out.append((agent, e.observe(agent)["text"]))
            e.step(attack_text("t", f"r{step}") if agent == "attacker" else "sorry")
        return out, dict(e.rewards)

    assert trace(5) == trace(5)
    assert len({trace(s)[0][0][1] for s in range(12)}) > 1  # seeds differ across reset seeds


def test_batched_episodes_call_the_judge_once_per_step_and_match_single_envs():
    game = variant(turns=3, accrual="sum", discount=0.9)
    judge = CountingJudge(game)
    batch = text_episodes(game, judge)
    seeds = [0, 1, 2, 3, 4, 5, 0, 3]
    batch.start(seeds)
    replies = ["sorry", "sure", "cannot", "sorry", "ok", "refuse", "sure", "sorry"]
    totals = np.zeros((len(seeds), 2))
    for _ in range(2 * game.turns):
        movers = batch.movers()
        if not any(movers):
            break
        acts = [None if m is None else
                (attack_text("t", f"decode: {i}") if m == "attacker" else replies[i])
                for i, m in enumerate(movers)]
        step = batch.step(acts)
        totals[:, 0] += step.rewards_attacker
        totals[:, 1] += step.rewards_defender
    assert not any(batch.movers())
    assert len(judge.calls) == game.turns and judge.calls[0] == len(seeds)
    for i, x in enumerate(seeds):
        single = text_episodes(game, RULE)
        single.start([x])
        while single.mover(0):
            m = single.mover(0)
            single.step([attack_text("t", f"decode: {i}") if m == "attacker" else replies[i]])
        assert single.returns(0) == pytest.approx(tuple(totals[i]))


def test_judge_outage_follows_the_policy_and_is_reported():
    game = variant(turns=3)
    e, final, credited = play(game, DownJudge("skip"), 0, [attack_text("t", "x")], ["sorry"])
    assert final["defender"]["judge_skipped"] == (True,)
    assert "request failed" in final["defender"]["judge_raw"][0]
    assert credited == {"attacker": 0.0, "defender": 0.0}  # an outage rewards neither
    _, unsafe, _ = play(game, DownJudge("unsafe"), 0, [attack_text("t", "x")], ["sorry"])
    assert unsafe["attacker"]["unsafe"] == (True,)
    assert unsafe["attacker"]["judge_unparseable"] == (True,)
    with pytest.raises(JudgeError, match="request failed"):
        play(game, DownJudge("fail"), 0, [attack_text("t", "x")], ["sorry"])


def test_bad_judge_arguments_raise_one_clear_error():
    game = variant()
    with pytest.raises(InvalidConfigError, match="kind"):
        env(game, text=True, judge={"kind": "nope"})
    with pytest.raises(InvalidConfigError, match="judge"):
        env(game, text=True, judge=42)
    with pytest.raises(EnvError, match="text=True"):
        env(game, judge=RULE)
    e = env(game, text=True, judge=RULE)
    e.reset(seed=0)
    with pytest.raises(EnvError, match="str"):
        e.step(3)


def test_callable_opponent_reads_messages_and_table_opponent_plays_canonical_text():
    game = variant(turns=3)
    seen = []

    def attacker(obs, rng):
        seen.append(obs["messages"])
        return attack_text("t", "pretend: " + obs["messages"][-1]["content"][:20])

    view = single_agent(game, "defender", attacker, text=True, judge=RULE)
    obs, info = view.reset(seed=0)
    assert seen and seen[0][0]["role"] == "system"
    assert "pretend:" in obs["text"] and info["messages"][-1]["role"] == "user"
    _, reward, done, _, info = view.step("sure")
    assert done and info["attacks"] == ("role_play",)
    table = single_agent(game, "attacker", Profile.uniform(game).defender, text=True, judge=RULE)
    table.reset(seed=0)
    _, _, done, _, info = table.step(attack_text("t", "x"))
    while not done:
        _, _, done, _, info = table.step(attack_text("t", "x"))
    assert set(info["judge_raw"]) <= {"sorry i cannot help with that", "sure here is how you do it"}


def test_envs_never_import_a_backend():
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "envs"
    offenders = []
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            offenders += [f"{path.name}: {n}" for n in names if "backends" in n]
    assert offenders == []


def test_a_prebuilt_world_carries_the_text_game_options():
    from seqgame.backends.llm.textenv import build_world

    game = variant()
    text_game = TextGame(game, "rewrite")  # R_ref keyed on the judge's label of the rewrite
    world = build_world(text_game, RULE)
    attacks, replies = [attack_text("t", "how to build a bomb")], ["sorry"]
    for seed in range(3):
        _, final, _ = play(game, world, seed, attacks, replies)
        x = game.seed_ids.index(final["attacker"]["seed"])
        ref = llm.play_on(text_game, rule_judge(game), [x], [()],
                          lambda xs, p, r: attacks, lambda xs, p, o, r: replies,
                          np.random.default_rng(0))
        assert final["defender"]["episode_return"] == pytest.approx(ref.returns_defender[0])
    _, seed_keyed, _ = play(game, RULE, 0, attacks, replies)
    _, rewrite_keyed, _ = play(game, world, 0, attacks, replies)
    assert not seed_keyed["defender"]["harmful"]  # a benign seed, a harmful-looking rewrite
    assert seed_keyed["defender"]["episode_return"] != rewrite_keyed["defender"]["episode_return"]
    with pytest.raises(EnvError, match="another game"):
        env(variant(turns=3), text=True, judge=world)


def test_a_judge_config_is_built_as_a_run_builds_it():
    """Two seeds with one text and different labels: refused, as the run factory refuses."""
    from seqgame.games import builtin_game
    from seqgame.model.spec import game_from_spec, game_to_spec

    spec = game_to_spec(builtin_game("jailbreak_text_v1"))
    benign = next(s for s in spec["seeds"] if s["label"] == "benign")
    benign["text"] = spec["seeds"][0]["text"]  # a harmful seed's text, labelled benign
    spec["name"] = "jt_label_clash"
    with pytest.raises(InvalidConfigError, match="label"):
        text_episodes(game_from_spec(spec), {"kind": "rule"})

"""AEC semantics: rewards from the game, accrual/discount, seeding, no seed leak, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgame.envs import env, parallel_env, parse_attack, parse_response, raw_env
from seqgame.errors import EnvError
from seqgame.games import builtin_game
from seqgame.model.game import Seed
from seqgame.model.rollout import realized_rewards

MULTI = builtin_game("jailbreak_multiturn_v1")
HIDDEN = builtin_game("jailbreak_hidden_v1")
FULL = builtin_game("jailbreak_v1")


def _expected_turn_reward(game, x, a, d, bad):
    r_a, r_d = realized_rewards(game, np.array([x]), np.array([a]), np.array([d]),
                                np.array([bad]))
    return float(r_a[0]), float(r_d[0])


def _play_script(e, attacks, responses):
    """Play scripted actions; return per-step (agent, reward) credited and final infos."""
    credited = []
    infos = {}
    script = iter([v for pair in zip(attacks, responses, strict=False) for v in pair])
    for agent in e.agent_iter():
        _, reward, term, _, info = e.last()
        credited.append((agent, reward))
        if term:
            infos[agent] = info
            e.step(None)
        else:
            e.step(next(script))
    return credited, infos


@pytest.mark.parametrize("accrual", ["final", "sum"])
def test_multiturn_rewards_follow_accrual_and_discount(accrual):
    game = MULTI.replace(name=f"multi_{accrual}", accrual=accrual)
    refuse, comply = game.response_index("refuse"), game.response_index("comply")
    e = raw_env(game)
    e.reset(seed=11)
    x = e._x
    attacks, responses = [0, 1, 2], [refuse, refuse, comply]
    rewards = {"attacker": [], "defender": []}
    for a, d in zip(attacks, responses, strict=True):
        assert e.agent_selection == "attacker"
        e.step(a)
        assert e.rewards == {"attacker": 0.0, "defender": 0.0}
        e.step(d)
        for agent in rewards:
            rewards[agent].append(e.rewards[agent])
    assert all(e.terminations.values())
    info = e.infos["attacker"]
    assert info["turns_played"] == 3 and info["refused"] == (True, True, False)
    expected = [_expected_turn_reward(game, x, a, d, bad)
                for a, d, bad in zip(attacks, responses, info["unsafe"], strict=True)]
    disc = game.discount ** np.arange(3)
    for i, agent in enumerate(("attacker", "defender")):
        turn_r = np.array([r[i] for r in expected]) * disc
        if accrual == "sum":
            assert rewards[agent] == pytest.approx(turn_r.tolist())
        else:
            assert rewards[agent][:2] == [0.0, 0.0]
            assert rewards[agent][2] == pytest.approx(turn_r[2])
        assert sum(rewards[agent]) == pytest.approx(e.infos[agent]["episode_return"])


def test_episode_ends_on_first_non_refusal():
    e = raw_env(MULTI)
    e.reset(seed=0)
    e.step(0)
    e.step(MULTI.response_index("comply"))
    assert all(e.terminations.values())
    assert e.infos["defender"]["turns_played"] == 1


def test_last_reports_accumulated_rewards():
    e = env(MULTI)
    e.reset(seed=5)
    credited, infos = _play_script(e, [0, 0, 0], [0, 0, 0])  # refuse every turn
    total = {a: sum(r for ag, r in credited if ag == a) for a in ("attacker", "defender")}
    for agent in total:
        assert total[agent] == pytest.approx(infos[agent]["episode_return"])
    assert infos["attacker"]["turns_played"] == 3


def test_same_seed_same_episode():
    def trace(seed):
        e = raw_env(FULL)
        e.reset(seed=seed)
        rng = np.random.default_rng(0)
        out = []
        for _ in range(40):
            if not e.agents:
                e.reset()
            agent = e.agent_selection
            if e.terminations[agent]:
                e.step(None)
                continue
            obs = e.observe(agent)
            out.append((agent, int(obs.get("seed", -1)), dict(e.rewards)))
            n = FULL.shape[1] if agent == "attacker" else FULL.shape[2]
            e.step(int(rng.integers(n)))
        return out
    assert trace(123) == trace(123)
    assert trace(123) != trace(124)


def test_hidden_seed_never_reaches_the_defender():
    e = raw_env(HIDDEN)
    text_env = raw_env(HIDDEN, text=True)
    assert "seed" not in e.observation_space("defender").spaces
    direct = HIDDEN.attack_index("direct")
    seen, seen_text = set(), set()
    for seed in range(60):
        for view, store in ((e, seen), (text_env, seen_text)):
            view.reset(seed=seed)
            assert view.infos["defender"] == {}
            view.step(direct if view is e else "direct")
            obs = view.observe("defender")
            assert view.infos["defender"] == {}
            store.add(repr(obs))
            view.step(0 if view is e else "refuse")
            assert "seed" not in view.infos["defender"]
            assert "seed" in view.infos["attacker"]
            if view is text_env:
                text = obs["text"]
                assert not any(s in text for s in HIDDEN.seed_ids)
    # Same attack, many different seeds: one and the same defender observation.
    assert len(seen) == 1 and len(seen_text) == 1


def test_full_observation_shows_the_seed_to_the_defender():
    e = raw_env(FULL, text=True)
    e.reset(seed=2)
    e.step("direct")
    assert FULL.seed_ids[e._x] in e.observe("defender")["text"]


def test_text_rendering_uses_seed_text_and_printable_chars():
    seeds = tuple(Seed(s.id, s.label, s.prior, text=f"How to {s.id}? caf\u00e9")
                  for s in MULTI.seeds)
    game = MULTI.replace(name="multi_text", seeds=seeds)
    e = raw_env(game, text=True)
    e.reset(seed=0)
    obs = e.observe("attacker")["text"]
    assert f"How to {game.seed_ids[e._x]}? caf?" in obs
    assert e.observation_space("attacker").contains(e.observe("attacker"))
    e.step("  role_play ")
    e.step("refuse")
    obs = e.observe("attacker")["text"]
    assert "turn: 2/3" in obs and "earlier attacks: role_play" in obs


def test_default_parsers():
    assert parse_attack(" caesar\n", FULL) == FULL.attack_index("caesar")
    assert parse_response("comply", FULL) == FULL.response_index("comply")
    with pytest.raises(EnvError, match="names no attack"):
        parse_attack("please help me", FULL)
    with pytest.raises(EnvError, match="names no response"):
        parse_response("maybe", FULL)
    garbled = FULL.replace(name="jb_malformed", malformed=frozenset({"morse", "ascii"}))
    assert parse_attack("please help me", garbled) == garbled.attack_index("ascii")


def test_custom_parsers_are_used():
    e = raw_env(FULL, text=True, attack_parser=lambda s, g: g.attack_index("caesar"),
                response_parser=lambda s, g: 0)
    e.reset(seed=0)
    e.step("anything at all")
    e.step("whatever")
    assert e.infos["attacker"]["attacks"] == ("caesar",)
    assert e.infos["attacker"]["responses"] == (FULL.responses[0],)


@pytest.mark.parametrize("action", [-1, 21, 2.0, True, np.array([1, 2]), "direct"])
def test_bad_attacker_actions_raise(action):
    e = raw_env(FULL)
    e.reset(seed=0)
    with pytest.raises(EnvError, match="attacker"):
        e.step(action)
    assert e.agent_selection == "attacker"  # nothing was played


def test_bad_defender_action_and_none_raise():
    e = raw_env(FULL)
    e.reset(seed=0)
    e.step(np.int32(3))
    with pytest.raises(EnvError, match="out of range"):
        e.step(2)
    with pytest.raises(EnvError, match="must act"):
        e.step(None)


def test_disallowed_attack_raises():
    e = raw_env(HIDDEN)
    for seed in range(50):
        e.reset(seed=seed)
        mask = e.observe("attacker")["action_mask"]
        if not mask.all():
            break
    bad = int(np.flatnonzero(mask == 0)[0])
    with pytest.raises(EnvError, match="not allowed"):
        e.step(bad)


def test_text_mode_rejects_non_strings_and_unknown_responses():
    e = raw_env(FULL, text=True, max_action_length=10)
    e.reset(seed=0)
    with pytest.raises(EnvError, match="must be a str"):
        e.step(3)
    with pytest.raises(EnvError, match="Text space"):
        e.step("direct" * 5)
    with pytest.raises(EnvError, match="names no attack"):
        e.step("hello")
    e.step("direct")
    with pytest.raises(EnvError, match="names no response"):
        e.step("sure!")


@pytest.mark.parametrize("make", [raw_env, env], ids=["raw_env", "env"])
def test_acting_after_termination_raises(make):
    e = make(FULL)
    with pytest.raises(EnvError, match="reset"):
        e.step(0)
    e.reset(seed=0)
    e.step(0)
    e.step(1)
    assert all(e.terminations.values())
    with pytest.raises(EnvError, match="after the episode ended"):
        e.step(0)
    e.step(None)
    e.step(None)
    assert e.agents == []
    with pytest.raises(EnvError, match="episode is over"):
        e.step(0)


def test_parallel_env_turn_based_and_errors():
    p = parallel_env(MULTI)
    obs, infos = p.reset(seed=4)
    assert infos["attacker"]["active_agent"] == "attacker"
    with pytest.raises(EnvError, match="'attacker'"):
        p.step({"defender": 0})
    with pytest.raises(EnvError, match="not live agents"):
        p.step({"attacker": 0, "judge": 1})
    obs, rew, term, trunc, infos = p.step({"attacker": 2, "defender": 1})
    # The defender's action was ignored: it now sees the attack and is to move.
    assert int(obs["defender"]["attack"]) == 2
    assert infos["defender"]["active_agent"] == "defender"
    assert rew == {"attacker": 0.0, "defender": 0.0}
    obs, rew, term, trunc, infos = p.step({"defender": MULTI.response_index("comply")})
    assert all(term.values()) and p.agents == []
    assert infos["attacker"]["attacks"] == ("caesar",)
    with pytest.raises(EnvError, match="call reset"):
        p.step({"attacker": 0})


def test_unknown_agent_and_bad_game():
    e = raw_env(FULL)
    with pytest.raises(EnvError, match="unknown agent"):
        e.observation_space("judge")
    with pytest.raises(EnvError, match="SequentialGame"):
        raw_env("jailbreak_v1")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_observations_always_in_space(seed):
    e = raw_env(MULTI)
    e.reset(seed=seed)
    rng = np.random.default_rng(seed)
    while e.agents:
        for agent in e.agents:
            assert e.observation_space(agent).contains(e.observe(agent))
        agent = e.agent_selection
        if e.terminations[agent]:
            e.step(None)
        else:
            e.step(int(rng.integers(e.action_space(agent).n)))


@settings(max_examples=20, deadline=None)
@given(attacks=st.lists(st.sampled_from(["direct", "slang", "question"]), min_size=2,
                        max_size=2),
       seed_a=st.integers(0, 10_000), seed_b=st.integers(0, 10_000))
def test_hidden_multiturn_defender_views_depend_on_attacks_only(attacks, seed_a, seed_b):
    game = HIDDEN.replace(name="hidden_2turn", turns=2)
    refuse = game.response_index("refuse")

    def defender_views(seed):
        e = raw_env(game)
        e.reset(seed=seed)
        views = []
        for name in attacks:
            views.append(repr(e.observe("defender")))
            e.step(game.attack_index(name))
            views.append(repr(e.observe("defender")))
            views.append(repr(e.infos["defender"]))
            e.step(refuse)
        assert "seed" not in e.infos["defender"]
        return views

    assert defender_views(seed_a) == defender_views(seed_b)


def test_render_ansi():
    e = env(MULTI, render_mode="ansi")
    e.reset(seed=0)
    e.step(1)
    e.step(0)
    text = e.render()
    assert MULTI.name in text and "role_play->refuse" in text
    assert raw_env(MULTI).render() is None

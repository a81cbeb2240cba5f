"""Single-agent Gymnasium views against frozen opponents."""

import numpy as np
import pytest
from envs_helpers import draw, random_profile

from seqgame.analysis.metrics import evaluate
from seqgame.envs import single_agent
from seqgame.errors import EnvError, InvalidProfileError
from seqgame.games import builtin_game
from seqgame.model.game import Role
from seqgame.model.profile import Profile

Z = 4.5
MULTI = builtin_game("jailbreak_multiturn_v1")
HIDDEN = builtin_game("jailbreak_hidden_v1")


def _episode_return(view, act, seed=None):
    obs, _ = view.reset(seed=seed)
    total, done, info = 0.0, False, {}
    while not done:
        obs, reward, done, truncated, info = view.step(act(obs))
        assert not truncated
        total += reward
    assert total == pytest.approx(info["episode_return"])
    return total


@pytest.mark.parametrize("game", [MULTI, HIDDEN], ids=lambda g: g.name)
@pytest.mark.parametrize("role", ["attacker", "defender"])
def test_mean_return_matches_exact_value(game, role):
    profile = random_profile(game, seed=4)
    exact = evaluate(game, profile)
    opponent = profile.defender if role == "attacker" else profile.attacker
    view = single_agent(game, role, opponent)
    view.reset(seed=0)
    rng = np.random.default_rng(1)

    def act(obs):
        t = int(obs["turn"])
        if role == "attacker":
            return draw(profile.attacker[t, int(obs["seed"])], rng)
        a = int(obs["attack"])
        return draw(profile.defender[t, int(obs["seed"]), a] if "seed" in obs
                    else profile.defender[t, a], rng)

    returns = np.array([_episode_return(view, act) for _ in range(3_000)])
    value = exact.value_attacker if role == "attacker" else exact.value_defender
    se = returns.std(ddof=1) / np.sqrt(returns.size)
    assert abs(returns.mean() - value) <= Z * se


def test_defender_view_hides_the_seed():
    view = single_agent(HIDDEN, Role.DEFENDER, Profile.uniform(HIDDEN).attacker)
    assert "seed" not in view.observation_space.spaces
    obs, info = view.reset(seed=3)
    assert "seed" not in obs and info == {}
    obs, _, done, _, info = view.step(1)
    assert done and "seed" not in info and "harmful" in info


def test_same_seed_same_episode():
    view = single_agent(MULTI, "defender", Profile.uniform(MULTI).attacker)

    def trace(seed):
        out = []
        obs, _ = view.reset(seed=seed)
        done = False
        while not done:
            out.append(repr(obs))
            obs, reward, done, _, _ = view.step(0)  # always refuse: up to 3 turns
            out.append(reward)
        return out

    assert trace(5) == trace(5)
    assert any(trace(5) != trace(s) for s in range(6, 12))


def test_callable_opponent_sees_its_own_observation():
    seen = []

    def defender(obs, rng):
        assert isinstance(rng, np.random.Generator)
        seen.append(obs)
        return MULTI.response_index("refuse")

    view = single_agent(MULTI, "attacker", defender)
    view.reset(seed=0)
    done, steps = False, 0
    while not done:
        _, _, done, _, info = view.step(1)
        steps += 1
    assert steps == MULTI.turns and info["refused"] == (True,) * MULTI.turns
    assert [int(o["attack"]) for o in seen] == [1] * MULTI.turns


class _FixedPolicy:
    """A minimal seqgame Policy: always the same table."""

    def __init__(self, role, table):
        self._role, self._table = role, table

    @property
    def role(self):
        return self._role

    def act(self, observations, rng):
        raise NotImplementedError

    def snapshot(self):
        return self

    def probabilities(self, game):
        return self._table


def test_policy_opponent():
    always_comply = np.zeros(MULTI.shape)
    always_comply[..., MULTI.response_index("comply")] = 1.0
    view = single_agent(MULTI, "attacker", _FixedPolicy(Role.DEFENDER, always_comply))
    view.reset(seed=0)
    _, _, done, _, info = view.step(0)
    assert done and info["responses"] == ("comply",)
    with pytest.raises(EnvError, match="plays attacker"):
        single_agent(MULTI, "attacker", _FixedPolicy(Role.ATTACKER, always_comply))


def test_bad_opponents_are_rejected():
    with pytest.raises(InvalidProfileError, match="sums to"):
        single_agent(MULTI, "attacker", np.full(MULTI.shape, 0.3))
    with pytest.raises(InvalidProfileError, match="shape"):
        single_agent(MULTI, "defender", np.ones(3) / 3)
    with pytest.raises(InvalidProfileError, match="scalar"):
        single_agent(MULTI, "defender", 0.5)
    with pytest.raises(EnvError, match="opponent must be"):
        single_agent(MULTI, "defender", object())


def test_step_outside_an_episode_raises():
    view = single_agent(MULTI, "attacker", Profile.uniform(MULTI).defender)
    with pytest.raises(EnvError, match="reset"):
        view.step(0)
    view.reset(seed=1)
    done = False
    while not done:
        _, _, done, _, _ = view.step(0)
    with pytest.raises(EnvError, match="episode is over"):
        view.step(0)
    with pytest.raises(EnvError, match="out of range"):
        view.reset(seed=2)
        view.step(99)


def test_penalize_mode_ends_episode_on_forbidden_attack():
    import numpy as np
    import pytest

    from seqgame.envs import single_agent
    from seqgame.errors import EnvError
    from seqgame.games import builtin_game
    from seqgame.model.profile import Profile

    game = builtin_game("example_v1")  # s2 may not send "caesar" (index 2)
    uniform = Profile.uniform(game)
    strict = single_agent(game, "attacker", uniform.defender)
    lenient = single_agent(game, "attacker", uniform.defender, illegal_action="penalize",
                           illegal_reward=-7.0)
    for seed in range(50):
        obs, _ = lenient.reset(seed=seed)
        if int(np.asarray(obs["seed"])) == game.seed_index("s2"):
            break
    else:
        raise AssertionError("no episode with seed s2 in 50 resets")
    _, reward, terminated, truncated, info = lenient.step(2)
    assert (reward, terminated, truncated, info["illegal_action"]) == (-7.0, True, False, True)
    strict.reset(seed=seed)
    with pytest.raises(EnvError):
        strict.step(2)
    with pytest.raises(EnvError, match="illegal_action"):
        single_agent(game, "attacker", uniform.defender, illegal_action="ignore")

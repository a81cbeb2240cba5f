"""PettingZoo and Gymnasium conformance of every view, for every built-in game."""

import warnings

import pytest
from envs_helpers import common_attack_parser, lenient_response_parser
from gymnasium.utils.env_checker import check_env
from pettingzoo.test import api_test, parallel_api_test

from seqgame.envs import env, parallel_env, single_agent
from seqgame.games import BUILTIN_GAMES, builtin_game
from seqgame.model.profile import Profile

GAMES = sorted(BUILTIN_GAMES)
TEXT = {"text": True, "attack_parser": common_attack_parser,
        "response_parser": lenient_response_parser, "max_action_length": 40}


def test_builtin_list_covers_multiturn_and_hidden():
    games = [builtin_game(n) for n in GAMES]
    assert any(g.turns > 1 for g in games)
    assert any(g.hidden_seed for g in games)


@pytest.mark.parametrize("text", [False, True], ids=["toy", "text"])
@pytest.mark.parametrize("name", GAMES)
def test_pettingzoo_api(name, text):
    game = builtin_game(name)
    opts = TEXT if text else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # api_test's style hints (e.g. obs not an array)
        api_test(env(game, **opts), num_cycles=30)
        parallel_api_test(parallel_env(game, **opts), num_cycles=30)


@pytest.mark.parametrize("text", [False, True], ids=["toy", "text"])
@pytest.mark.parametrize("role", ["attacker", "defender"])
@pytest.mark.parametrize("name", GAMES)
def test_gymnasium_check_env(name, role, text):
    game = builtin_game(name)
    uniform = Profile.uniform(game)
    opponent = uniform.defender if role == "attacker" else uniform.attacker
    opts = TEXT if text else {}
    # check_env samples the whole action space, ignoring the action mask: penalise illegal
    # moves instead of raising (the default, tested in test_env_single.py).
    view = single_agent(game, role, opponent, illegal_action="penalize", **opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_env(view, skip_render_check=True)
    obs, _ = view.reset(seed=3)
    assert view.observation_space.contains(obs)


@pytest.mark.parametrize("name", GAMES)
def test_spaces_are_cached(name):
    game = builtin_game(name)
    e = env(game)
    p = parallel_env(game)
    for agent in ("attacker", "defender"):
        assert e.observation_space(agent) is e.observation_space(agent)
        assert e.action_space(agent) is e.action_space(agent)
        assert p.observation_space(agent) is p.observation_space(agent)

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgame import Profile, Role, evaluate, load_game, spne
from seqgame.analysis.metrics import attacker_best_response, defender_best_response_value
from seqgame.backends.tabular.exact import (
    BestResponseLearner,
    FictitiousPlayLearner,
    MultiplicativeWeightsLearner,
    best_response_table,
)
from seqgame.backends.tabular.factory import build_learners
from seqgame.backends.tabular.shared import SharedGRPOLearner, cosine, exact_z_gradients
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Label, Observation, Seed, SequentialGame
from seqgame.model.payoffs import Rewards
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig
from seqgame.training.table_policy import TablePolicy


def random_game(seed: int, turns: int, observation: Observation) -> SequentialGame:
    rng = np.random.default_rng(seed)
    n_x, n_a, n_d = 3, 3, 2
    prior = rng.dirichlet(np.ones(n_x))
    prior = prior / prior.sum()
    seeds = tuple(Seed(f"s{i}", Label.HARMFUL if i % 2 == 0 else Label.BENIGN, float(prior[i]))
                  for i in range(n_x))
    allowed = rng.random((n_x, n_a)) < 0.8
    allowed[:, 0] = True
    return SequentialGame(
        name="random", seeds=seeds, attacks=("a0", "a1", "a2"), responses=("d0", "d1"),
        refusals=frozenset({"d0"}), observation=observation,
        unsafe=rng.random((n_x, n_a, n_d)), rewards=Rewards(1.0, 0.5, 0.5),
        allowed=allowed, turns=turns, attacker_bonus=rng.normal(size=(n_x, n_a)) * 0.3,
    )


def random_table(rng, game, role):
    n_x, n_a, n_d = game.shape
    if role is Role.ATTACKER:
        t = rng.random((game.turns, n_x, n_a)) * game.allowed
    elif game.observation is Observation.FULL:
        t = rng.random((game.turns, n_x, n_a, n_d))
    else:
        t = rng.random((game.turns, n_a, n_d))
    return t / t.sum(axis=-1, keepdims=True)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from([(1, "full"), (2, "full"), (1, "attack")]))
def test_best_response_tables_attain_the_exact_best_response_values(seed, kind):
    turns, obs = kind
    game = random_game(seed, turns, Observation(obs))
    rng = np.random.default_rng(seed)
    att, dfd = random_table(rng, game, Role.ATTACKER), random_table(rng, game, Role.DEFENDER)
    br_d = best_response_table(game, Role.DEFENDER, att)
    value_d = evaluate(game, Profile.from_arrays(game, att, br_d)).value_defender
    assert value_d == pytest.approx(
        defender_best_response_value(game, Profile.from_arrays(game, att, dfd)), abs=1e-9)
    br_a = best_response_table(game, Role.ATTACKER, dfd)
    value_a = evaluate(game, Profile.from_arrays(game, br_a, dfd)).value_attacker
    assert value_a == pytest.approx(
        attacker_best_response(game, Profile.from_arrays(game, att, dfd))[0], abs=1e-9)


def test_best_response_defender_is_the_spne_defender():
    game = load_game("jailbreak_v1")
    learner = BestResponseLearner(game, Role.DEFENDER)
    uniform = game.allowed / game.allowed.sum(axis=1, keepdims=True)
    learner.train_against(TablePolicy(Role.ATTACKER, uniform[None]), 1, None)
    np.testing.assert_array_equal(learner.policy().probabilities(game),
                                  spne(game).profile.defender)


def test_mwu_converges_to_spne_at_every_node_and_fp_averages():
    game = load_game("jailbreak_v1")
    a = MultiplicativeWeightsLearner(game, Role.ATTACKER, learning_rate=0.5)
    d = MultiplicativeWeightsLearner(game, Role.DEFENDER, learning_rate=0.5, optimistic=True)
    res = coevolve(game, a, d, ScheduleConfig(kind="simultaneous"), 60, seed=0)
    m = evaluate(game, res.last)
    assert m.subgame_regret_max < 0.01 and m.asr < 0.01
    fp = FictitiousPlayLearner(game, Role.DEFENDER)
    att = TablePolicy(Role.ATTACKER, (game.allowed / game.allowed.sum(1, keepdims=True))[None])
    fp.train_against(att, 3, None)
    assert fp.updates == 3
    np.testing.assert_allclose(fp.opponent_sum / 3, att.table)


def test_shared_parameters_conflict_and_separate_control():
    game = load_game("jailbreak_v1")
    opts = {"algorithm": "shared_grpo", "learning_rate": 0.5, "l2": 0.1}
    att, dfd = build_learners(game, dict(opts), dict(opts), 0)
    assert isinstance(att, SharedGRPOLearner) and att.shared is dfd.shared
    res = coevolve(game, att, dfd, ScheduleConfig(freq=5), 20, seed=0)
    cos = [r.get("attacker/gradient_cosine", r.get("defender/gradient_cosine"))
           for r in res.records]
    assert all(-1.0 <= c <= 1.0 for c in cos)
    assert np.mean(cos) < 0  # the roles pull the shared table in opposite directions
    sep_a, sep_d = build_learners(game, {**opts, "share": False}, {**opts, "share": False}, 0)
    assert sep_a.shared is not sep_d.shared
    state = att.state_dict()
    assert "z" in state and state["z"].shape == game.shape[:2]


def test_exact_z_gradients_are_the_policy_gradient():
    game = load_game("example_v1")
    rng = np.random.default_rng(0)
    att = random_table(rng, game, Role.ATTACKER)[0]
    dfd = random_table(rng, game, Role.DEFENDER)[0]
    g_att, _ = exact_z_gradients(game, att, dfd)
    # finite difference of the attacker's value in its own logits (= Z for the attacker)
    logits = np.log(np.where(game.allowed, att, 1e-300))
    h, x, a = 1e-6, 0, 1

    def value(lg):
        p = np.exp(lg - lg.max(axis=1, keepdims=True)) * game.allowed
        p = p / p.sum(axis=1, keepdims=True)
        return evaluate(game, Profile.from_arrays(game, p, dfd)).value_attacker

    up, down = logits.copy(), logits.copy()
    up[x, a] += h
    down[x, a] -= h
    assert g_att[x, a] == pytest.approx((value(up) - value(down)) / (2 * h), rel=1e-4)
    assert cosine(np.ones(3), -np.ones(3)) == pytest.approx(-1.0)
    assert cosine(np.zeros(3), np.ones(3)) == 0.0


@pytest.mark.parametrize(
    ("attacker", "defender", "match"),
    [
        ({"bogus": 1}, {}, "attacker.bogus"),
        ({}, {"num_generations": 1}, "defender.num_generations"),
        ({}, {"learning_rate": "fast"}, "defender.learning_rate"),
        ({"algorithm": "ppo"}, {}, "attacker.algorithm"),
        ({}, {"scale_rewards": "std"}, "defender.scale_rewards"),
        ({}, {"optimistic": 1}, "defender.optimistic"),
        ({}, {"num_generations": True}, "defender.num_generations"),
        ({"algorithm": "shared_grpo"}, {}, "shared_grpo"),
        ({}, {"best_of_k": 2}, "defender.best_of_k"),
        ({"parameterization": "features"}, {}, "defender only"),
        ({"algorithm": "mwu", "epsilon": 0.1}, {}, "attacker.epsilon"),
    ],
)
def test_factory_rejects_bad_options(attacker, defender, match):
    with pytest.raises(InvalidConfigError, match=match):
        build_learners(load_game("jailbreak_v1"), attacker, defender, 0)


def test_factory_builds_every_algorithm():
    game = load_game("jailbreak_v1")
    for alg in ("grpo", "best_response", "fictitious_play", "mwu"):
        a, d = build_learners(game, {"algorithm": alg}, {"algorithm": alg}, 0)
        assert a.role is Role.ATTACKER and d.role is Role.DEFENDER
    with pytest.raises(InvalidConfigError, match="features"):
        build_learners(load_game("entry_deterrence"), {}, {"parameterization": "features"}, 0)

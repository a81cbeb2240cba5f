import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgame import Role, load_game
from seqgame.backends.tabular.grpo import GRPOLearner, group_advantages, pairwise_preference
from seqgame.backends.tabular.layout import Layout, masked_softmax
from seqgame.errors import InvalidConfigError
from seqgame.training.table_policy import TablePolicy, fixed_attack_policy


@pytest.fixture(scope="module")
def game():
    return load_game("jailbreak_v1")


def uniform_attacker(game, attacks=None):
    n_x, n_a, _ = game.shape
    table = np.zeros((1, n_x, n_a))
    idx = [game.attack_index(a) for a in attacks] if attacks else list(range(n_a))
    table[:, :, idx] = 1.0 / len(idx)
    return TablePolicy(Role.ATTACKER, table)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.lists(st.floats(-3, 3), min_size=4, max_size=4), min_size=1, max_size=6))
def test_group_advantages_are_centred_and_scaled(rows):
    r = np.array(rows)
    for scale in ("group", "batch", "none"):
        adv = group_advantages(r, scale)
        np.testing.assert_allclose(adv.mean(axis=1), 0.0, atol=1e-9)
    adv = group_advantages(r, "group")
    std = r.std(axis=1)
    np.testing.assert_allclose(adv.std(axis=1), std / (std + 1e-4), atol=1e-9)
    np.testing.assert_allclose(group_advantages(r, "none"), r - r.mean(axis=1, keepdims=True))


def test_pairwise_preference_win_rates():
    pref = pairwise_preference(np.array([[3.0, 1.0, 1.0, 0.0]]))
    np.testing.assert_allclose(pref, [[1.0, 0.5, 0.5, 0.0]])


def test_group_scaling_changes_magnitude_not_sign():
    r = np.array([[1.0, 1.0, 1.0, 1.1], [0.0, 5.0, 0.0, 5.0]])
    g, n = group_advantages(r, "group"), group_advantages(r, "none")
    assert np.all(np.sign(g) == np.sign(n))
    assert abs(g[0, 3]) > 10 * abs(n[0, 3])  # a tiny reward gap becomes a full unit


def test_defender_learns_pointwise_best_response_on_visited_nodes(game):
    learner = GRPOLearner(game, Role.DEFENDER, learning_rate=1.0)
    rng = np.random.default_rng(0)
    records = learner.train_against(uniform_attacker(game, ["direct", "role_play"]), 40, rng)
    assert len(records) == 40 and all("reward_mean" in r for r in records)
    table = learner.policy().probabilities(game)[0]  # (X, A, D)
    refuse = game.response_index("refuse")
    for a in ("direct", "role_play"):
        i = game.attack_index(a)
        assert np.all(table[game.harmful, i, refuse] > 0.9)
        assert np.all(table[~game.harmful, i, refuse] < 0.1)
    # never-sampled attacks stay where they started: on-policy GRPO has no gradient there
    np.testing.assert_allclose(table[:, game.attack_index("morse"), refuse], 0.5)


def test_features_generalise_to_unseen_attacks(game):
    rng = np.random.default_rng(1)
    seen = ["direct", "slang", "logical_appeal", "ascii", "translate_french"]
    learner = GRPOLearner(game, Role.DEFENDER, learning_rate=0.3,
                          parameterization="features")
    learner.train_against(uniform_attacker(game, seen), 40, rng)
    table = learner.policy().probabilities(game)[0]
    refuse = game.response_index("refuse")
    unseen = game.attack_index("misspellings")
    assert table[game.harmful, unseen, refuse].min() > 0.7
    assert table[~game.harmful, unseen, refuse].max() < 0.3


def test_attacker_finds_the_complying_attack(game):
    # a defender that refuses everything except caesar on harmful seeds
    n_x, n_a, _ = game.shape
    dfd = np.zeros((1, n_x, n_a, 2))
    dfd[..., game.response_index("refuse")] = 1.0
    dfd[:, game.harmful, game.attack_index("caesar")] = [0.0, 1.0]
    learner = GRPOLearner(game, Role.ATTACKER, learning_rate=1.0)
    learner.train_against(TablePolicy(Role.DEFENDER, dfd), 30, np.random.default_rng(2))
    table = learner.policy().probabilities(game)[0]
    assert table[game.harmful, game.attack_index("caesar")].min() > 0.8


def test_best_of_k_lowers_the_attacker_reward(game):
    dfd = np.full((1, *game.shape[:2], 2), 0.5)
    opponent = TablePolicy(Role.DEFENDER, dfd)
    means = []
    for k in (1, 4):
        learner = GRPOLearner(game, Role.ATTACKER, best_of_k=k, seeds_per_step=256)
        means.append(learner.sample(opponent, np.random.default_rng(3)).rewards.mean())
    assert means[1] < means[0] - 0.3


def test_clipping_is_active_with_several_iterations(game):
    learner = GRPOLearner(game, Role.DEFENDER, learning_rate=5.0, num_iterations=4,
                          epsilon=0.05)
    recs = learner.train_against(uniform_attacker(game), 3, np.random.default_rng(4))
    assert max(r["clip_fraction"] for r in recs) > 0.0
    single = GRPOLearner(game, Role.DEFENDER, learning_rate=5.0, num_iterations=1)
    recs = single.train_against(uniform_attacker(game), 3, np.random.default_rng(4))
    assert all(r["clip_fraction"] == 0.0 for r in recs)  # ratio 1 at the first iteration


def test_kl_penalty_keeps_policy_near_reference(game):
    kls = []
    for beta in (0.0, 2.0):
        learner = GRPOLearner(game, Role.DEFENDER, learning_rate=1.0, beta=beta)
        recs = learner.train_against(uniform_attacker(game), 30, np.random.default_rng(5))
        kls.append(recs[-1]["kl_ref"])
    assert kls[1] < 0.5 * kls[0]


def test_optimistic_update_and_state_round_trip(game):
    a = GRPOLearner(game, Role.DEFENDER, optimistic=True)
    a.train_against(uniform_attacker(game), 3, np.random.default_rng(6))
    state = a.state_dict()
    b = GRPOLearner(game, Role.DEFENDER, optimistic=True)
    b.load_state_dict(state)
    ra = a.train_against(uniform_attacker(game), 2, np.random.default_rng(7))
    rb = b.train_against(uniform_attacker(game), 2, np.random.default_rng(7))
    assert ra == rb
    np.testing.assert_array_equal(a.weights, b.weights)
    assert np.any(state["prev_grad"] != 0)


def test_exploration_changes_acting_not_the_reported_table(game):
    attacker = fixed_attack_policy(game, "direct")
    explorer = TablePolicy(Role.ATTACKER, attacker.table, exploration=0.5, allowed=game.allowed)
    np.testing.assert_array_equal(explorer.probabilities(game), attacker.table)
    acts = explorer.act(np.zeros(4000, dtype=int), np.random.default_rng(8))
    share = np.mean(acts == game.attack_index("direct"))
    expected = 0.5 + 0.5 / len(game.attacks)
    assert abs(share - expected) < 0.03


def test_hidden_seed_defender_tables(game):
    hidden = load_game("jailbreak_hidden_v1")
    learner = GRPOLearner(hidden, Role.DEFENDER)
    assert learner.policy().probabilities(hidden).shape == (1, len(hidden.attacks), 2)
    learner.train_against(uniform_attacker(hidden, ["direct"]), 2, np.random.default_rng(9))


def test_multi_turn_episodes_are_consistent():
    game = load_game("jailbreak_multiturn_v1")  # accrual final, discount 0.9, 3 turns
    n_x, n_a, _ = game.shape
    att = TablePolicy(Role.ATTACKER, np.full((3, n_x, n_a), 1.0 / n_a))
    learner = GRPOLearner(game, Role.DEFENDER, seeds_per_step=32)
    batch = learner.sample(att, np.random.default_rng(0))
    assert batch.rewards.shape == (32, 4)
    assert batch.states.max() < learner.layout.n_states
    assert set(np.unique(batch.members)) == set(range(32 * 4))  # every episode has turn 1
    turn = batch.states // (n_x * n_a)
    assert set(turn) == {0, 1, 2}
    first = batch.states[turn == 0].reshape(32, 4)  # a group shares seed and first attack
    assert np.all(first == first[:, :1])
    # 'final' accrual: a return is one turn's payoff, discounted by 0.9 per earlier turn
    possible = {round(0.9**t * v, 9) for t in range(3) for v in (-1.5, -0.5, 0.5, 1.5)}
    assert {round(v, 9) for v in batch.rewards.ravel()} <= possible
    with pytest.raises(InvalidConfigError, match="best_of_k"):
        GRPOLearner(game, Role.ATTACKER, best_of_k=2)


def test_multi_turn_grpo_approaches_the_spne():
    from seqgame import evaluate
    from seqgame.backends.tabular.factory import build_learners
    from seqgame.training.loop import coevolve
    from seqgame.training.schedules import ScheduleConfig

    game = load_game("jailbreak_multiturn_v1")
    a, d = build_learners(game, {"learning_rate": 1.0, "exploration": 0.1},
                          {"learning_rate": 1.0}, 0)
    m = evaluate(game, coevolve(game, a, d, ScheduleConfig(), 150, seed=0).last)
    assert m.asr < 0.02 and m.over_refusal < 0.02 and m.nash_conv < 0.05


def test_layout_and_masked_softmax(game):
    layout = Layout(load_game("example_v1"), Role.ATTACKER)
    probs = masked_softmax(np.zeros((layout.n_states, layout.n_actions)), layout.mask)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert probs[1, 2] == 0.0  # s2 may not use caesar


def test_attacker_exploration_trains_off_path_subgames(game):
    # docs/theory.md: on-policy GRPO never trains attacks the attacker does not play; a
    # trembling-hand attacker (exploration ε) drives the defender toward the SPNE off path.
    from seqgame import evaluate
    from seqgame.backends.tabular.factory import build_learners
    from seqgame.training.loop import coevolve
    from seqgame.training.schedules import ScheduleConfig

    regret = {}
    for eps in (0.0, 0.3):
        a, d = build_learners(game, {"learning_rate": 1.0, "exploration": eps,
                                     "init_attack": "direct", "init_bias": 4.0},
                              {"learning_rate": 1.0}, 0)
        res = coevolve(game, a, d, ScheduleConfig(), 150, seed=0)
        regret[eps] = evaluate(game, res.last).subgame_regret_max
    assert regret[0.3] < 0.5 * regret[0.0]

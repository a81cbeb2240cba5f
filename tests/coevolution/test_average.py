"""The time average is the reach-weighted average strategy (issue 11, item 5).

Independent check: a brute-force enumeration of every history of a multi-turn game gives
the occupancy measure ν(t, x, a, d) = P(turn t is played with seed x, attack a, answer d)
of a Markov profile. Against an opponent that stays fixed, the uniform mixture of a
player's iterates has the mean occupancy measure; the average table must reproduce it.
"""

import itertools

import numpy as np
import pytest

from seqgame import Profile, load_game
from seqgame.backends.tabular.factory import build_learners
from seqgame.model.game import Observation
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig
from seqgame.training.table_policy import TimeAverage


def brute_occupancy(game, attacker, defender):
    """ν (T, X, A, D) and both roles' values, by enumerating every history."""
    n_x, n_a, n_d = game.shape
    full = game.observation is Observation.FULL
    nu = np.zeros((game.turns, n_x, n_a, n_d))
    values = np.zeros(2)
    for x in range(n_x):
        for length in range(1, game.turns + 1):
            for hist in itertools.product(range(n_a), range(n_d), repeat=length):
                a_s, d_s = hist[0::2], hist[1::2]
                p, paid = game.prior[x], np.zeros(2)
                for t, (a, d) in enumerate(zip(a_s, d_s, strict=True)):
                    refused = game.refusal_mask[d]
                    if (t < length - 1) != (refused and t < game.turns - 1):
                        p = 0.0  # a refusal before the last turn continues, else it ends
                    p *= attacker[t, x, a] * (defender[t, x, a, d] if full else defender[t, a, d])
                    stage = np.array([game.u_attacker[x, a, d], game.u_defender[x, a, d]])
                    if game.accrual == "sum" or t == length - 1:
                        paid += game.discount ** t * stage
                if p > 0:
                    for t, (a, d) in enumerate(zip(a_s, d_s, strict=True)):
                        nu[t, x, a, d] += p
                    values += p * paid
    return nu, values


def _multi_turn_game():
    game = load_game("example_v1")
    return game.replace(name="example_2turn", turns=2)


def _run_one_side(game, kind, steps=12, rng_seed=0):
    """Train one role against an opponent frozen at random logits; snapshots every step."""
    a, d = build_learners(game, {"learning_rate": 1.0}, {"learning_rate": 1.0}, 0)
    rng = np.random.default_rng(rng_seed)
    for learner in (a, d):  # random starts: iterates that differ, reach that depends on a
        learner.weights = rng.normal(0, 1.5, learner.weights.shape)
    res = coevolve(game, a, d, ScheduleConfig(kind=kind, freq=1), steps, seed=rng_seed)
    return res, res.snapshots[1:]  # the tables after each step


@pytest.mark.parametrize("game_name", ["example_v1", "disguise_mixed_v1", "entry_deterrence"])
@pytest.mark.parametrize("kind", ["alternating", "simultaneous"])
def test_single_turn_average_is_the_uniform_mean_of_every_step(game_name, kind):
    game = load_game(game_name)
    a, d = build_learners(game, {"algorithm": "mwu"}, {"algorithm": "mwu"}, 0)
    res = coevolve(game, a, d, ScheduleConfig(kind=kind, freq=1), 9, seed=0, eval_every=4)
    steps = res.snapshots[1:]
    assert len(steps) == 9
    np.testing.assert_allclose(res.average.attacker, np.mean([s.attacker for s in steps], 0))
    np.testing.assert_allclose(res.average.defender, np.mean([s.defender for s in steps], 0))


@pytest.mark.parametrize("game_fn", [_multi_turn_game,
                                     lambda: load_game("jailbreak_multiturn_v1")])
@pytest.mark.parametrize("kind", ["attacker_only", "defender_only"])
def test_multi_turn_average_is_realisation_equivalent_to_the_mixture(game_fn, kind):
    game = game_fn()
    assert game.turns >= 2 and game.observation is Observation.FULL
    res, steps = _run_one_side(game, kind)
    mixture = [brute_occupancy(game, s.attacker, s.defender) for s in steps]
    nu_mix = np.mean([m[0] for m in mixture], axis=0)
    v_mix = np.mean([m[1] for m in mixture], axis=0)
    nu_avg, v_avg = brute_occupancy(game, res.average.attacker, res.average.defender)
    np.testing.assert_allclose(nu_avg, nu_mix, atol=1e-12)
    np.testing.assert_allclose(v_avg, v_mix, atol=1e-12)
    # the old uniform mean of the tables is not the mixture (so this test can fail)
    uniform = Profile.from_arrays(game, np.mean([s.attacker for s in steps], 0),
                                  np.mean([s.defender for s in steps], 0))
    nu_uni, _ = brute_occupancy(game, uniform.attacker, uniform.defender)
    assert np.abs(nu_uni - nu_mix).max() > 1e-4


def test_brute_force_matches_the_library_values():
    """The enumeration agrees with backward induction (two derivations of one number)."""
    from seqgame import evaluate

    game = load_game("jailbreak_multiturn_v1")
    res, steps = _run_one_side(game, "attacker_only", steps=3)
    prof = Profile.from_arrays(game, steps[-1].attacker, steps[-1].defender)
    _, values = brute_occupancy(game, prof.attacker, prof.defender)
    m = evaluate(game, prof)
    assert values == pytest.approx([m.value_attacker, m.value_defender])


def test_average_weights_are_the_reach_of_each_turn():
    game = _multi_turn_game()
    rng = np.random.default_rng(1)
    tables = []
    for _ in range(3):
        att = rng.dirichlet(np.ones(3), size=(2, 2)) * game.allowed[None]
        att /= att.sum(-1, keepdims=True)
        tables.append((att, rng.dirichlet(np.ones(2), size=(2, 2, 3))))
    avg = TimeAverage(game)
    for att, dfd in tables:
        avg.add(att, dfd)
    reach = [np.einsum("xa,xa->x", att[0], dfd[0, :, :, 0]) for att, dfd in tables]
    expect_att = sum(r[:, None] * att[1] for r, (att, _) in zip(reach, tables, strict=True))
    expect_att /= sum(reach)[:, None]
    got_att, got_def = avg.tables()
    np.testing.assert_allclose(got_att[1], expect_att)
    np.testing.assert_allclose(got_att[0], np.mean([t[0][0] for t in tables], 0))
    expect_def = sum(r[:, None, None] * dfd[1] for r, (_, dfd) in zip(reach, tables,
                                                                      strict=True))
    np.testing.assert_allclose(got_def[1], expect_def / sum(reach)[:, None, None])
    # checkpoint round trip keeps the accumulators exactly
    again = TimeAverage(game)
    again.load(avg.state())
    assert all(np.array_equal(x, y) for x, y in zip(again.tables(), avg.tables(), strict=True))


def test_hidden_seed_single_turn_weights_are_one():
    game = load_game("disguise_mixed_v1")
    avg = TimeAverage(game)
    rng = np.random.default_rng(0)
    tables = []
    for _ in range(4):
        att = rng.random((1, 2, 3)) * game.allowed[None]
        att /= att.sum(-1, keepdims=True)
        tables.append((att, rng.dirichlet(np.ones(2), size=(1, 3))))
        avg.add(*tables[-1])
    got_att, got_def = avg.tables()
    np.testing.assert_allclose(got_def, np.mean([t[1] for t in tables], 0))
    np.testing.assert_allclose(got_att, np.mean([t[0] for t in tables], 0))

"""The batched rollout engine: exact payoffs, agreement with the AEC env, validation."""

import numpy as np
import pytest
from envs_helpers import play_aec, random_profile
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from seqgame.analysis.metrics import evaluate
from seqgame.envs import raw_env
from seqgame.errors import InvalidProfileError
from seqgame.games import BUILTIN_GAMES, builtin_game
from seqgame.model.profile import Profile
from seqgame.model.rollout import realized_rewards, rollout
from seqgame.model.sampling import sample_rows

Z = 4.5  # two-sided bound; with ~40 checks the false-alarm rate stays below 1e-4


def _within(samples, exact):
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    assert abs(samples.mean() - exact) <= Z * se + 1e-12, (samples.mean(), exact, se)


@pytest.mark.parametrize("name", sorted(BUILTIN_GAMES))
def test_rollout_matches_exact_values(name):
    game = builtin_game(name)
    profile = random_profile(game, seed=7)
    m = evaluate(game, profile)
    r = rollout(game, profile, 200_000, np.random.default_rng(1))
    _within(r.return_attacker, m.value_attacker)
    _within(r.return_defender, m.value_defender)
    if np.isfinite(m.asr):
        harmful = game.harmful[r.seeds]
        _within(r.unsafe[harmful].any(axis=1).astype(float), m.asr)


@pytest.mark.parametrize("name", sorted(BUILTIN_GAMES))
def test_rollout_records_are_consistent(name):
    game = builtin_game(name)
    r = rollout(game, random_profile(game, seed=3), 5_000, np.random.default_rng(2))
    played = r.attacks >= 0
    assert np.array_equal(played.sum(axis=1), r.turns_played)
    assert np.all(r.turns_played >= 1) and np.all(r.turns_played <= game.turns)
    assert np.array_equal(played, r.responses >= 0)
    rows, cols = np.nonzero(played)
    x, a, d = r.seeds[rows], r.attacks[rows, cols], r.responses[rows, cols]
    assert game.allowed[x, a].all()
    ra, rd = realized_rewards(game, x, a, d, r.unsafe[rows, cols])
    assert np.array_equal(r.rewards_attacker[rows, cols], ra)
    assert np.array_equal(r.rewards_defender[rows, cols], rd)
    assert np.array_equal(r.refused[rows, cols], game.refusal_mask[d])
    # Episodes continue exactly after refusals, and unplayed turns stay empty.
    last = r.turns_played - 1
    n = len(r)
    assert not r.refused[np.arange(n), last][r.turns_played < game.turns].any()
    assert np.all(r.rewards_attacker[~played] == 0) and not r.unsafe[~played].any()
    disc = game.discount ** np.arange(game.turns)
    if game.accrual == "sum":
        expected = (r.rewards_attacker * disc).sum(axis=1)
    else:
        expected = r.rewards_attacker[np.arange(n), last] * disc[last]
    np.testing.assert_allclose(r.return_attacker, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("name", ["jailbreak_v1", "jailbreak_hidden_v1", "jailbreak_multiturn_v1"])
def test_aec_mean_rewards_match_exact_values(name):
    game = builtin_game(name)
    profile = random_profile(game, seed=5)
    m = evaluate(game, profile)
    e = raw_env(game)
    e.reset(seed=9)
    rng = np.random.default_rng(10)
    ret = {"attacker": [], "defender": []}
    for _ in range(3_000):
        e.reset()
        out = play_aec(e, profile, game, rng)
        for agent in ret:
            ret[agent].append(out["returns"][agent])
            assert out["returns"][agent] == pytest.approx(out["info"][agent]["episode_return"])
    _within(np.array(ret["attacker"]), m.value_attacker)
    _within(np.array(ret["defender"]), m.value_defender)


@pytest.mark.parametrize("name", ["jailbreak_multiturn_v1", "jailbreak_hidden_v1"])
def test_rollout_and_aec_agree_in_distribution(name):
    game = builtin_game(name)
    profile = random_profile(game, seed=8)
    n = 3_000
    e = raw_env(game)
    e.reset(seed=21)
    rng = np.random.default_rng(22)
    aec_keys = []
    for _ in range(n):
        e.reset()
        info = play_aec(e, profile, game, rng)["info"]["attacker"]
        aec_keys.append((info["harmful"], info["turns_played"], any(info["unsafe"]),
                         round(info["episode_return"], 9)))
    r = rollout(game, profile, n, np.random.default_rng(23))
    roll_keys = [(bool(h), int(t), bool(u), round(float(v), 9)) for h, t, u, v in zip(
        game.harmful[r.seeds], r.turns_played, r.unsafe.any(axis=1), r.return_attacker,
        strict=True)]
    cells = sorted(set(aec_keys) | set(roll_keys))
    table = np.array([[aec_keys.count(c) for c in cells], [roll_keys.count(c) for c in cells]])
    table = table[:, table.sum(axis=0) >= 10]  # chi-square needs populated cells
    assert table.shape[1] >= 3
    assert chi2_contingency(table).pvalue > 1e-4


def test_rollout_is_deterministic_per_seed():
    game = builtin_game("jailbreak_multiturn_v1")
    profile = random_profile(game, seed=1)
    a = rollout(game, profile, 1_000, np.random.default_rng(42))
    b = rollout(game, profile, 1_000, np.random.default_rng(42))
    c = rollout(game, profile, 1_000, np.random.default_rng(43))
    for field in ("seeds", "attacks", "responses", "unsafe", "return_attacker"):
        assert np.array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.attacks, c.attacks)


def test_given_seeds_are_used():
    game = builtin_game("jailbreak_v1")
    seeds = np.arange(1_000) % len(game.seeds)
    r = rollout(game, Profile.uniform(game), 1_000, np.random.default_rng(0), seeds=seeds)
    assert np.array_equal(r.seeds, seeds)
    with pytest.raises(InvalidProfileError, match="seeds must be"):
        rollout(game, Profile.uniform(game), 10, np.random.default_rng(0), seeds=seeds)


GAME = builtin_game("jailbreak_v1")
N_X, N_A, N_D = GAME.shape
UNIFORM_A = np.full((N_X, N_A), 1.0 / N_A)
UNIFORM_D = np.full((N_X, N_A, N_D), 1.0 / N_D)


@pytest.mark.parametrize("attacker, defender, match", [
    (UNIFORM_A * 2, UNIFORM_D, "sums to"),
    (UNIFORM_A, UNIFORM_D + np.array([1.0, -1.0]), "negative"),
    (UNIFORM_A[:, :-1], UNIFORM_D, "shape"),
    (UNIFORM_A, UNIFORM_D[0], "shape"),
    (np.where(np.isnan(UNIFORM_A), 0, np.nan), UNIFORM_D, "NaN"),
])
def test_non_distributions_are_rejected(attacker, defender, match):
    with pytest.raises(InvalidProfileError, match=match):
        Profile.from_arrays(GAME, attacker, defender)
    # A Profile built around from_arrays is re-validated by the engine itself.
    with pytest.raises(InvalidProfileError, match=match):
        rollout(GAME, Profile(attacker, defender), 10, np.random.default_rng(0))


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_bad_episode_counts_are_rejected(n):
    with pytest.raises(InvalidProfileError, match="n_episodes"):
        rollout(GAME, Profile.uniform(GAME), n, np.random.default_rng(0))


def test_non_profile_is_rejected():
    with pytest.raises(InvalidProfileError, match="Profile.from_arrays"):
        rollout(GAME, (UNIFORM_A, UNIFORM_D), 10, np.random.default_rng(0))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), zeros=st.integers(0, 19))
def test_zero_probability_actions_are_never_drawn(seed, zeros):
    game = builtin_game("jailbreak_hidden_v1")
    rng = np.random.default_rng(seed)
    n_x, n_a, n_d = game.shape
    att = rng.random((n_x, n_a)) * game.allowed
    kill = rng.permutation(n_a)[:zeros]
    att[:, kill] = 0.0
    att[att.sum(axis=1) == 0] = game.allowed[att.sum(axis=1) == 0]
    att /= att.sum(axis=1, keepdims=True)
    dfd = rng.random((n_a, n_d)) * (rng.random((n_a, n_d)) < 0.6)
    dfd[dfd.sum(axis=1) == 0, 0] = 1.0
    dfd /= dfd.sum(axis=1, keepdims=True)
    profile = Profile.from_arrays(game, att, dfd)
    r = rollout(game, profile, 2_000, rng)
    a, d = r.attacks[:, 0], r.responses[:, 0]
    assert np.all(profile.attacker[0][r.seeds, a] > 0)
    assert np.all(profile.defender[0][a, d] > 0)


def test_sample_rows_frequencies():
    probs = np.array([[0.2, 0.0, 0.8], [0.0, 1.0, 0.0]])
    draws = sample_rows(np.repeat(probs, 20_000, axis=0), np.random.default_rng(0))
    first, second = draws[:20_000], draws[20_000:]
    assert np.all(second == 1) and not np.any(first == 1)
    _within((first == 2).astype(float), 0.8)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), k=st.integers(1, 40), sparsity=st.floats(0.0, 0.9))
def test_guide_table_draws_equal_a_full_search(seed, k, sparsity):
    """The engine's sampler gives exactly #{cdf <= u} (clipped to the last positive)."""
    from seqgame.model.sampling import guide_draw as _draw
    from seqgame.model.sampling import guide_sampler as _sampler

    rng = np.random.default_rng(seed)
    probs = rng.random((5, k)) * (rng.random((5, k)) >= sparsity)
    probs[probs.sum(axis=1) == 0, rng.integers(k)] = 1.0
    probs /= probs.sum(axis=1, keepdims=True)
    sampler = _sampler(probs, n_draws=int(rng.integers(1, 10_000)))
    cdf = np.cumsum(probs, axis=1)
    cdf /= cdf[:, -1:]
    # Random uniforms plus the hard cases: 0, bucket edges, CDF values and their neighbours.
    edges = np.arange(sampler.m) / sampler.m
    special = np.concatenate([[0.0, np.nextafter(1.0, 0.0)], edges, cdf.ravel(),
                              np.nextafter(cdf.ravel(), 0.0)])
    special = special[(special >= 0) & (special < 1)]
    u = np.concatenate([rng.random(2_000), np.tile(special, 5)])
    rows = np.concatenate([rng.integers(0, 5, 2_000), np.repeat(np.arange(5), special.size)])
    got = _draw(sampler, rows, u)
    last = k - 1 - np.argmax(probs[:, ::-1] > 0, axis=1)
    want = np.minimum((cdf[rows] <= u[:, None]).sum(axis=1), last[rows])
    assert np.array_equal(got, want)
    assert np.all(probs[rows, got] > 0)

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqgame
from seqgame import InvalidProfileError, Observation, Profile
from seqgame.analysis.metrics import (
    attacker_best_response,
    defender_best_response_value,
    defender_regret,
    evaluate,
    profile_distance,
)
from seqgame.analysis.safety import expected_safety, pointwise_safety, unsafe_mass_bound
from seqgame.solvers.spne import spne, spne_set_distance
from seqgame.solvers.spne_ties import optimal_responses

from .gamegen import random_game
from .test_multiturn_safety import markov_spne


def _random_profile(g, rng):
    n_x, n_a, n_d = g.shape
    att = rng.dirichlet(np.ones(n_a), size=(g.turns, n_x)) * g.allowed[None]
    att /= att.sum(axis=-1, keepdims=True)
    node = (n_x, n_a) if g.observation is Observation.FULL else (n_a,)
    return Profile.from_arrays(g, att, rng.dirichlet(np.ones(n_d), size=(g.turns, *node)))


def test_non_credible_threat_is_nash_but_has_subgame_regret():
    """docs/theory.md: entry deterrence's (out, fight) is a NE that NashConv cannot fault."""
    g = seqgame.load_game("entry_deterrence")
    threat = Profile.from_arrays(g, np.array([[1.0, 0.0]]), np.array([[[1.0, 0.0], [1.0, 0.0]]]))
    m = evaluate(g, threat)
    assert m.nash_conv == pytest.approx(0.0)
    assert m.subgame_regret_max == pytest.approx(2.0)  # fight -1 vs accommodate 1 after entry
    assert (m.value_attacker, m.value_defender) == (0.0, 2.0)


def test_uniform_profile_metrics_closed_form():
    g = seqgame.load_game("example_v1")
    p = Profile.uniform(g)
    m = evaluate(g, p)
    # the defender refuses half the time everywhere
    assert m.over_refusal == pytest.approx(0.5)
    # ASR on the harmful seed: 0.5 * mean(1.0, 0.7, 0.4)
    assert m.asr == pytest.approx(0.5 * (1.0 + 0.7 + 0.4) / 3)


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10**6), hidden=st.booleans())
def test_best_responses_match_enumeration(seed, hidden):
    rng = np.random.default_rng(seed)
    obs = Observation.ATTACK if hidden else Observation.FULL
    g = random_game(rng, 2, 3, 2, observation=obs, integer=False)
    p = _random_profile(g, rng)
    u_a, u_d = g.payoffs
    dfd = p.defender_full(g)[0]
    best_a = max(
        sum(g.prior[x] * dfd[x, atts[x]] @ u_a[x, atts[x]] for x in range(2))
        for atts in itertools.product(*[np.flatnonzero(g.allowed[x]) for x in range(2)])
    )
    assert attacker_best_response(g, p)[0] == pytest.approx(best_a)
    nodes = list(range(3)) if hidden else [(x, a) for x in range(2) for a in range(3)]
    best_d = -np.inf
    for resp in itertools.product(range(2), repeat=len(nodes)):
        sigma = dict(zip(nodes, resp, strict=True))
        v = sum(g.prior[x] * p.attacker[0, x, a] * u_d[x, a, sigma[a if hidden else (x, a)]]
                for x in range(2) for a in range(3))
        best_d = max(best_d, v)
    assert defender_best_response_value(g, p) == pytest.approx(best_d)


def _tree_value_defender(g, p, sigma):
    """Defender value of a history-dependent pure strategy sigma[(attacks...)] (hidden game)."""
    u_d = g.u_defender

    def go(x, t, hist):
        total = 0.0
        for a in range(len(g.attacks)):
            pa = p.attacker[t, x, a]
            if pa == 0:
                continue
            d = sigma[(*hist, a)]
            if g.refusal_mask[d] and t < g.turns - 1:
                cont = go(x, t + 1, (*hist, a))
                q = (u_d[x, a, d] + g.discount * cont) if g.accrual == "sum" else g.discount * cont
            else:
                q = u_d[x, a, d]
            total += pa * q
        return total

    return sum(g.prior[x] * go(x, 0, ()) for x in range(len(g.seeds)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6), accrual=st.sampled_from(["sum", "final"]))
def test_hidden_multiturn_best_response_enumerates_histories(seed, accrual):
    rng = np.random.default_rng(seed)
    g = random_game(rng, 2, 2, 2, turns=2, observation=Observation.ATTACK, integer=False,
                    accrual=accrual, discount=0.8)
    p = _random_profile(g, rng)
    infosets = [(a,) for a in range(2)] + [(a, b) for a in range(2) for b in range(2)]
    best = max(
        _tree_value_defender(g, p, dict(zip(infosets, resp, strict=True)))
        for resp in itertools.product(range(2), repeat=len(infosets))
    )
    assert defender_best_response_value(g, p) == pytest.approx(best)


def test_profile_validation_errors():
    g = seqgame.load_game("example_v1")
    with pytest.raises(InvalidProfileError, match="shape"):
        Profile.from_arrays(g, np.ones((3, 3)) / 3, np.ones((2, 3, 2)) / 2)
    with pytest.raises(InvalidProfileError, match="sums to"):
        Profile.from_arrays(g, np.ones((2, 3)), np.ones((2, 3, 2)) / 2)
    with pytest.raises(InvalidProfileError, match="negative"):
        Profile.from_arrays(g, np.array([[1.5, -0.5, 0], [1, 0, 0]]), np.ones((2, 3, 2)) / 2)
    with pytest.raises(InvalidProfileError, match="may not use"):  # s2 may not send caesar
        Profile.from_arrays(g, np.array([[1, 0, 0], [0, 0, 1.0]]), np.ones((2, 3, 2)) / 2)


def test_regret_bounds_unsafe_mass():
    """docs/theory.md: regret eps at a node bounds the negative-reward mass by eps / gap."""
    g = seqgame.load_game("jailbreak_v1")
    rng = np.random.default_rng(3)
    for _ in range(20):
        p = _random_profile(g, rng)
        bound, actual = unsafe_mass_bound(g, p)
        assert np.all(actual <= bound + 1e-12)
    # at MAGIC's weights the gap on a harmful seed with p_unsafe = 1 is 3
    regret = defender_regret(g, p)
    assert regret.shape == (1, *g.allowed.shape)


def test_expected_vs_pointwise_safety_on_hidden_seed():
    """Complying with an attack sent by both types can be safe in expectation only."""
    g = seqgame.load_game("example_v1").replace(name="hidden", observation=Observation.ATTACK)
    # both seeds send "direct"; the defender complies there
    att = np.array([[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    dfd = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    p = Profile.from_arrays(g, att, dfd)
    point = pointwise_safety(g, p)
    assert not point.safe
    triples = {(v.seed, v.attack, v.response) for v in point.violations}
    assert triples == {("s1", "direct", "comply")}
    # posterior 0.6 harmful: E[r_D] = 0.6 * -1.5 + 0.4 * 1.5 < 0 -> unsafe in expectation too
    assert not expected_safety(g, p).safe
    g2 = g.replace(seeds=(g.seeds[0].__class__("s1", g.seeds[0].label, 0.2),
                          g.seeds[1].__class__("s2", g.seeds[1].label, 0.8)))
    # posterior 0.2: 0.2 * -1.5 + 0.8 * 1.5 > 0: expected-safe, still pointwise unsafe
    assert expected_safety(g2, p).safe and not pointwise_safety(g2, p).safe


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), hidden=st.booleans(), turns=st.integers(1, 3))
def test_best_responses_never_worse_than_the_profile(seed, hidden, turns):
    """Raw gains: a correct best response is worth at least the profile's own value."""
    rng = np.random.default_rng(seed)
    obs = Observation.ATTACK if hidden else Observation.FULL
    g = random_game(rng, 2, 2, 2, turns=turns, observation=obs, integer=False,
                    accrual=str(rng.choice(["sum", "final"])))
    m = evaluate(g, _random_profile(g, rng))
    assert m.gain_attacker >= -1e-9 and m.gain_defender >= -1e-9
    assert m.gain_attacker == pytest.approx(m.br_value_attacker - m.value_attacker)
    assert m.nash_conv == pytest.approx(m.gain_attacker + m.gain_defender, abs=1e-15)


def test_nash_conv_is_unclamped(monkeypatch):
    """A broken best response (worth less than the profile) shows as a negative gain."""
    from seqgame.analysis import metrics

    g = seqgame.load_game("example_v1")
    p = Profile.uniform(g)
    good = evaluate(g, p)
    monkeypatch.setattr(metrics, "attacker_best_response",
                        lambda game, prof: (good.value_attacker - 0.25, None))
    m = evaluate(g, p)
    assert m.gain_attacker == pytest.approx(-0.25)
    assert m.nash_conv == pytest.approx(-0.25 + good.gain_defender)
    assert m.to_json()["gain_attacker"] == pytest.approx(-0.25)


def test_spne_set_distance_ignores_unreached_nodes_and_ties():
    """The issue's case: safe on path, wrong only where no attack goes -> old 'distance to
    SPNE' near 1, distance to the SPNE set the small on-path slack."""
    g = seqgame.load_game("jailbreak_v1")
    eq = spne(g)
    dfd = np.array(eq.profile.defender)
    on = eq.profile.attacker[0] > 0  # (X, A): the attacks the SPNE attacker sends
    dfd[0, ~on] = 1.0 - dfd[0, ~on]  # the opposite answer wherever no attack goes
    dfd[0, on] = 0.99 * dfd[0, on] + 0.01 * (1.0 - dfd[0, on])
    p = Profile.from_arrays(g, eq.profile.attacker, dfd)
    m = evaluate(g, p)
    assert m.asr == pytest.approx(0.01 * g.unsafe[g.harmful][on[g.harmful]].mean(), abs=0.01)
    old = profile_distance(g, p, eq.profile)
    new = spne_set_distance(g, p)
    assert old["defender"] == pytest.approx(1.0) and old["defender_mean"] > 0.9
    assert new["defender"] == pytest.approx(0.01) and new["defender_mean"] == pytest.approx(0.01)
    assert new["nodes"] == int(on.sum())


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_spne_set_is_the_answers_some_pure_spne_plays(turns):
    """The best-response sets used by spne_set_distance, against brute force."""
    rng = np.random.default_rng(40 + turns)
    for i in range(25):
        g = random_game(rng, 2, 2, 2, turns=turns, explicit=bool(i % 2),
                        accrual=str(rng.choice(["sum", "final"])))
        eq = spne(g)
        optimal = optimal_responses(g, eq.continuation_attacker, eq.continuation_defender, 1e-9)
        for x in range(2):
            played = np.zeros((turns, 2, 2), dtype=bool)
            for resp, _ in markov_spne(g, x):
                played[np.arange(turns)[:, None], np.arange(2)[None], resp] = True
            allowed = g.allowed[x]
            assert (optimal[:, x][:, allowed] == played[:, allowed]).all()
        # a pure profile's distance is 0 exactly when it plays such answers where it reaches
        assert spne_set_distance(g, eq.profile)["defender"] == 0.0

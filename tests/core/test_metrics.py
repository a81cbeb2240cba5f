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
)
from seqgame.analysis.safety import expected_safety, pointwise_safety, unsafe_mass_bound

from .gamegen import random_game


def _random_profile(g, rng):
    n_x, n_a, n_d = g.shape
    att = rng.dirichlet(np.ones(n_a), size=(g.turns, n_x)) * g.allowed[None]
    att /= att.sum(axis=-1, keepdims=True)
    node = (n_x, n_a) if g.observation is Observation.FULL else (n_a,)
    return Profile.from_arrays(g, att, rng.dirichlet(np.ones(n_d), size=(g.turns, *node)))


def test_non_credible_threat_is_nash_but_has_subgame_regret():
    """THEORY.md: entry deterrence's (out, fight) is a NE that NashConv cannot fault."""
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
    """THEORY.md: regret eps at a node bounds the negative-reward mass by eps / gap."""
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

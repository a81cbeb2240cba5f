"""Perfect Bayesian equilibria: the disguise toy's closed forms, beliefs, posterior safety."""

import numpy as np
import pytest

from seqgame.analysis.metrics import asr_and_over_refusal, evaluate
from seqgame.analysis.posterior import posterior_safety
from seqgame.analysis.safety import pointwise_safety
from seqgame.errors import GameTooLargeError, SolverError
from seqgame.games import builtin_game
from seqgame.games.toys import disguise_game
from seqgame.model.infosets import defender_nodes
from seqgame.model.payoffs import Rewards
from seqgame.solvers.pbe import mu_star, pbe
from seqgame.solvers.spne import spne
from tests.solver_games import random_game

EXPLICIT, AMBIGUOUS, BENIGN = 0, 1, 2
REFUSE, COMPLY = 0, 1


def pbe_violations(game, eq, rtol=1e-7):
    """An independent PBE check of (σ, π, μ); returns the failed conditions (empty: a PBE).

    Every attack a seed sends with positive probability is a best response to π; every
    answer given with positive probability is a best response to the belief μ_h; μ_h is a
    distribution over the seeds allowed to send h's attack, and Bayes' rule from prior·σ
    wherever some seed reaches h. Payoff slack: rtol · max(1, max |U|).
    """
    sigma, pi, mu = eq.profile.attacker[0], eq.profile.defender[0], eq.beliefs
    u_a, u_d = game.u_attacker, game.u_defender
    tol = rtol * max(1.0, np.abs(u_a).max(), np.abs(u_d).max())
    if not np.all(np.isfinite(mu)):
        return ["non-finite belief"]
    out = []
    for x in range(len(game.seeds)):
        value = np.array([pi[a] @ u_a[x, a] for a in range(len(game.attacks))])
        best = value[game.allowed[x]].max()
        out += [f"seed {x} attack {a}" for a in np.flatnonzero(sigma[x] > 0)
                if not game.allowed[x, a] or value[a] < best - tol]
    for h, a in enumerate(np.flatnonzero(game.allowed.any(axis=0))):
        belief, weight = mu[h], game.prior * sigma[:, a]
        if (np.any(belief < 0) or abs(belief.sum() - 1) > 1e-9
                or np.any(belief[~game.allowed[:, a]] > 0)):
            out.append(f"belief {h} is not a distribution over the senders")
        elif weight.sum() > 0 and np.abs(belief - weight / weight.sum()).max() > 1e-7:
            out.append(f"belief {h} is not Bayes' rule")
        q = belief @ u_d[:, a]
        out += [f"set {h} answer {d}" for d in np.flatnonzero(pi[a] > 0) if q[d] < q.max() - tol]
    return out


def test_mu_star_at_magic_weights():
    assert mu_star(Rewards(1.0, 0.5, 0.5)) == pytest.approx(0.25)
    assert mu_star(Rewards(1.0, 1.0, 0.5)) == pytest.approx(1 / 3)


@pytest.mark.parametrize("p", [0.3, 0.5, 0.8])
@pytest.mark.parametrize("c", [0.6, 1.5])
def test_disguise_unique_mixed_pbe_above_threshold(p, c):
    game = disguise_game(p, c)
    result = pbe(game)
    assert len(result.equilibria) == 1
    eq = result.equilibria[0]
    sigma, pi = eq.profile.attacker[0], eq.profile.defender[0]
    assert sigma[0, AMBIGUOUS] == pytest.approx((1 - p) / (3 * p))  # disguise probability
    assert sigma[1, AMBIGUOUS] == pytest.approx(1.0)
    assert pi[AMBIGUOUS, COMPLY] == pytest.approx(c / 3)  # harmful seed indifferent
    assert eq.beliefs[AMBIGUOUS, 0] == pytest.approx(0.25)  # posterior exactly mu*
    assert pi[EXPLICIT, REFUSE] == pytest.approx(1.0)
    assert eq.on_path.tolist() == [True, True, False]
    assert eq.beliefs[BENIGN].tolist() == [0.0, 1.0]  # off path: only benign may send it
    assert evaluate(game, eq.profile).nash_conv == pytest.approx(0.0, abs=1e-9)


def test_disguise_pooling_pbe_harms_with_certainty():
    game = builtin_game("disguise_pooling_v1")
    result = pbe(game)
    assert len(result.equilibria) == 1
    eq = result.equilibria[0]
    assert eq.profile.attacker[0][:, AMBIGUOUS].tolist() == [1.0, 1.0]
    assert eq.profile.defender[0][AMBIGUOUS, COMPLY] == pytest.approx(1.0)
    assert eq.beliefs[AMBIGUOUS, 0] == pytest.approx(0.2)
    asr, over = asr_and_over_refusal(game, eq.profile)
    assert asr == pytest.approx(1.0) and over == pytest.approx(0.0)
    # refusal is >= 0 for both seeds, yet the harmful seed is complied with: pointwise
    # unsafe, and only the posterior-level (expected) guarantee holds
    assert not pointwise_safety(game, eq.profile).safe
    report = posterior_safety(game, eq.profile, eq.beliefs)
    assert report.safe
    assert report.robust_fallback[AMBIGUOUS] == pytest.approx(0.5)
    # the explicit attack is off path; its belief (harmful only) makes refusal optimal
    assert not eq.on_path[EXPLICIT] and eq.beliefs[EXPLICIT, 0] == 1.0


def test_mixed_regime_posterior_safety_and_over_refusal():
    game = builtin_game("disguise_mixed_v1")
    eq = pbe(game).equilibria[0]
    asr, over = asr_and_over_refusal(game, eq.profile)
    assert asr == pytest.approx(1 / 15)  # 1/3 disguise x 1/5 compliance
    assert over == pytest.approx(0.8)  # the benign seed is paid to draw refusals
    assert eq.value_attacker == pytest.approx(-0.6)
    assert posterior_safety(game, eq.profile, eq.beliefs).safe


def test_posterior_violation_detected():
    # a defender complying at the explicit attack: posterior reward -1.5 < 0 there
    game = disguise_game(0.5, 0.6)
    att = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    dfd = np.array([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    from seqgame.model.profile import Profile

    report = posterior_safety(game, Profile.from_arrays(game, att, dfd))
    assert not report.safe
    assert report.violations[0][:2] == ("explicit", "comply")
    assert report.violations[0][2] == pytest.approx(-1.5)


def test_full_observation_pbe_equals_spne_on_generic_games():
    rng = np.random.default_rng(0)
    for _ in range(5):
        game = random_game(rng, 2, 2, 2, "full")
        result = pbe(game)
        assert len(result.equilibria) == 1  # generic: unique, pure
        ref = spne(game).profile
        np.testing.assert_allclose(result.equilibria[0].profile.attacker, ref.attacker, atol=1e-9)
        np.testing.assert_allclose(result.equilibria[0].profile.defender, ref.defender, atol=1e-9)


def test_every_pbe_is_sequentially_rational_with_its_beliefs():
    rng = np.random.default_rng(1)
    for _ in range(6):
        game = random_game(rng, 3, 2, 2, "attack", p_allowed=0.7)
        attacks = defender_nodes(game).attack
        for eq in pbe(game).equilibria:
            assert evaluate(game, eq.profile).nash_conv == pytest.approx(0.0, abs=1e-8)
            q = np.einsum("hx,xhd->hd", eq.beliefs, game.u_defender[:, attacks])
            chosen = np.einsum("hd,hd->h", eq.profile.defender[0][attacks], q)
            assert np.all(chosen >= q.max(axis=1) - 1e-8)


def test_too_large_names_limit_and_alternative():
    with pytest.raises(GameTooLargeError, match=r"over the limit .*stackelberg"):
        pbe(builtin_game("jailbreak_hidden_v1"))


def test_multi_turn_refused():
    with pytest.raises(SolverError, match="single-turn"):
        pbe(builtin_game("jailbreak_multiturn_v1"))


def test_seed_with_zero_prior_reaches_nothing():
    game = disguise_game(0.0, 0.6)
    for eq in pbe(game).equilibria:
        assert np.all(np.isfinite(eq.beliefs))
        assert not eq.on_path[EXPLICIT]  # only the (impossible) harmful seed sends it
        assert eq.profile.defender[0][AMBIGUOUS, COMPLY] == pytest.approx(1.0)


def _tie_rich(game):
    """The same game with payoffs rounded to integers: many ties, degenerate classes."""
    return game.replace(payoff_tables=tuple(np.round(u) for u in game.payoffs), name="ties")


def test_every_listed_pbe_passes_an_independent_check():
    # 120 generic games, then 30 with integer payoffs: ties made the old solver list
    # "equilibria" whose support needed a probability ~1e-9 (5 of 236 listed here failed)
    rng = np.random.default_rng(0)
    games = [random_game(rng, 2, 2, 2, "attack", p_allowed=0.5) for _ in range(120)]
    games += [_tie_rich(random_game(rng, 2, 2, 2, "attack", p_allowed=0.5)) for _ in range(30)]
    listed = 0
    for game in games:
        for eq in pbe(game).equilibria:
            listed += 1
            assert pbe_violations(game, eq) == [], game.payoffs
    assert listed >= 200


def test_disguise_lists_no_spurious_second_pbe():
    # the benign seed is indifferent between ambiguous and explicit_benign; sending the latter
    # with probability 2e-9 passed the old absolute slack although the defender must then
    # comply there, which makes explicit_benign strictly worse
    game = disguise_game(0.5, 0.3)
    result = pbe(game)
    assert len(result.equilibria) == 1
    assert pbe_violations(game, result.equilibria[0]) == []
    assert result.equilibria[0].profile.attacker[0][1, BENIGN] == 0.0


def test_checker_rejects_a_tampered_equilibrium():
    game = disguise_game(0.5, 0.3)
    eq = pbe(game).equilibria[0]
    att = eq.profile.attacker[0].copy()
    att[1] = [0.0, 1.0 - 1e-7, 1e-7]  # a tiny, unjustified support
    from seqgame.model.profile import Profile

    bad = type(eq)(Profile.from_arrays(game, att, eq.profile.defender[0]), eq.beliefs,
                   eq.on_path, eq.value_attacker, eq.value_defender)
    assert pbe_violations(game, bad)


def test_support_threshold_must_exceed_payoff_slack():
    with pytest.raises(SolverError, match="atol < support_tol"):
        pbe(disguise_game(0.5, 0.3), atol=1e-6, support_tol=1e-9)

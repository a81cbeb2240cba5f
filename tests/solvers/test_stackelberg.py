"""Stackelberg commitment: OpenSpiel's fixtures, the MILP against the normal-form LPs."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgame.analysis.safety import pointwise_safety
from seqgame.errors import InvalidGameError, SeqgameError, SolverError
from seqgame.games import builtin_game
from seqgame.games.toys import disguise_game
from seqgame.solvers.commitment import stackelberg_matrix
from seqgame.solvers.nash import matrix_equilibria, zero_sum_nash
from seqgame.solvers.normal_form import normal_form
from seqgame.solvers.stackelberg import stackelberg
from tests.solver_games import COMMITMENT_GAMES, random_game


@pytest.mark.parametrize("name", sorted(COMMITMENT_GAMES))
def test_openspiel_commitment_fixtures(name):
    lead, foll, value, commitment = COMMITMENT_GAMES[name]
    res = stackelberg_matrix(lead, foll)
    assert res.value_leader == pytest.approx(value)
    np.testing.assert_allclose(res.commitment, commitment, atol=1e-8)
    assert all(s in (0, 2) for s in res.lp_statuses)
    # commitment is worth at least every Nash payoff
    for e in matrix_equilibria(lead, foll):
        assert res.value_leader >= e.row_value - 1e-9


def test_weak_stackelberg_not_attained_is_reported():
    # game 0: at (1/2, 1/2) the follower is indifferent; breaking against the leader gives
    # 1.5, so the supremum 3.5 is approached but not attained
    lead, foll, _, _ = COMMITMENT_GAMES["conitzer_sandholm_0"]
    res = stackelberg_matrix(lead, foll)
    assert res.weak_value == pytest.approx(3.5)
    assert not res.weak_attained
    # a follower with a strict best reply everywhere: weak = strong, attained
    res = stackelberg_matrix(np.array([[1.0, 0.0], [0.0, 2.0]]), np.array([[1.0, 0.0], [0.0, 1.0]]))
    assert res.value_leader == pytest.approx(2.0)
    assert res.weak_value == pytest.approx(2.0)
    assert res.weak_attained


def test_weak_with_identical_follower_columns_is_below_strong():
    # the follower can never be made to prefer column 0 over its copy column 1
    lead = np.array([[5.0, 0.0], [5.0, 0.0]])
    foll = np.array([[1.0, 1.0], [1.0, 1.0]])
    res = stackelberg_matrix(lead, foll)
    assert res.value_leader == pytest.approx(5.0)
    assert res.weak_value == pytest.approx(0.0)
    assert res.weak_attained


def _matrix_value(game, leader):
    form = normal_form(game)
    if leader == "attacker":
        return stackelberg_matrix(form.attacker_payoff, form.defender_payoff).value_leader
    return stackelberg_matrix(form.defender_payoff.T, form.attacker_payoff.T).value_leader


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 10_000), st.sampled_from(["full", "attack"]),
       st.sampled_from(["attacker", "defender"]))
def test_milp_matches_normal_form_lps(seed, observation, leader):
    rng = np.random.default_rng(seed)
    game = random_game(rng, 2, 2, 2, observation, p_allowed=0.8)
    res = stackelberg(game, leader, weak=False)
    # HiGHS' feasibility tolerance (1e-7 on follower constraints) can move the leader's
    # value by a few 1e-6 near degenerate commitments
    assert res.value_leader == pytest.approx(_matrix_value(game, leader), abs=1e-5)


def test_big_m_scales_with_payoffs():
    # payoffs of order 1e5: a constant big-M of 1e4 would cut off optimal commitments
    rng = np.random.default_rng(11)
    base = random_game(rng, 3, 2, 2, "attack")
    big = base.replace(name="big", payoff_tables=tuple(1e5 * t for t in base.payoff_tables))
    for leader in ("attacker", "defender"):
        res = stackelberg(big, leader, weak=False)
        assert res.big_m > 1e4
        assert res.value_leader == pytest.approx(_matrix_value(big, leader), rel=1e-7)


def test_zero_sum_commitment_has_no_value():
    rng = np.random.default_rng(5)
    game = random_game(rng, 2, 3, 2, "attack", general_sum=False)
    nash_attacker = zero_sum_nash(game).values[0][0]
    assert stackelberg(game, "attacker").value_leader == pytest.approx(nash_attacker, abs=1e-7)
    assert stackelberg(game, "defender").value_leader == pytest.approx(-nash_attacker, abs=1e-7)


def test_disguise_defender_commitment_beats_pbe():
    game = disguise_game(0.5, 0.6)
    res = stackelberg(game, "defender")
    assert res.value_leader == pytest.approx(1.1)  # PBE gives the defender 1.0
    assert res.weak is not None and res.weak["computed"] and not res.weak["attained"]


def test_leader_not_a_role():
    with pytest.raises(InvalidGameError, match="unknown role 'judge'"):
        stackelberg(disguise_game(), "judge")
    from seqgame.solvers.concepts import solve

    with pytest.raises(SeqgameError):
        solve(disguise_game(), "stackelberg", leader="judge")


def test_multi_turn_refused():
    with pytest.raises(SolverError, match="single-turn"):
        stackelberg(builtin_game("jailbreak_multiturn_v1"))


def test_commitment_lures_harmful_seeds_with_on_path_compliance():
    # below mu* the PBE pools on 'ambiguous' (defender value 1.05, ASR 1); the committed
    # defender complies with *explicit* harmful prompts w.p. 0.8 so the harmful seed
    # (indifferent: 1.4 either way) leaves the disguise channel (docs/theory.md, commitment)
    game = disguise_game(0.15, 0.6)
    res = stackelberg(game, "defender")
    assert res.value_leader == pytest.approx(1.14)
    np.testing.assert_allclose(res.profile.defender[0][0], [0.2, 0.8], atol=1e-8)
    assert res.profile.attacker[0][0].tolist() == [1.0, 0.0, 0.0]
    violations = pointwise_safety(game, res.profile).violations
    assert any(v.on_path and v.attack == "explicit" for v in violations)


def test_identical_seeds_merged_without_changing_the_value():
    from seqgame.model.game import Seed

    base = random_game(np.random.default_rng(21), 2, 3, 2, "attack")
    u_a, u_d = base.payoff_tables
    s0, s1 = base.seeds
    twin = base.replace(
        name="twins",
        seeds=(s0, Seed("s1a", s1.label, s1.prior / 2), Seed("s1b", s1.label, s1.prior / 2)),
        payoff_tables=(u_a[[0, 1, 1]], u_d[[0, 1, 1]]), unsafe=np.zeros((3, 3, 2)),
        allowed=base.allowed[[0, 1, 1]], attacker_bonus=None)
    res = stackelberg(twin, "defender", weak=False)
    assert res.value_leader == pytest.approx(_matrix_value(twin, "defender"), abs=1e-6)
    assert res.value_leader == pytest.approx(
        stackelberg(base, "defender", weak=False).value_leader, abs=1e-6)
    assert res.profile.attacker[0][1].tolist() == res.profile.attacker[0][2].tolist()

"""Nash equilibria: vertex enumeration pinned on known games, zero-sum LP against SPNE."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgame.analysis.metrics import evaluate
from seqgame.analysis.safety import pointwise_safety
from seqgame.errors import GameTooLargeError, SolverError
from seqgame.games import builtin_game
from seqgame.solvers.concepts import solve
from seqgame.solvers.nash import (
    is_strategically_zero_sum,
    lemke_howson,
    lemke_howson_nash,
    matrix_equilibria,
    nash_equilibria,
    zero_sum_nash,
)
from seqgame.solvers.normal_form import normal_form
from seqgame.solvers.spne import spne
from tests.solver_games import COMMITMENT_GAMES, random_game


def _is_equilibrium(a, b, p, q, tol=1e-8):
    return (a @ q).max() <= p @ a @ q + tol and (p @ b).max() <= p @ b @ q + tol


def test_commitment_games_nash_payoffs():
    # leader (row) Nash payoffs: 2 (unique NE), 0 (all NE), best NE 9 and worst extreme 39/7
    values = {name: sorted({round(e.row_value, 9) for e in matrix_equilibria(lead, foll)})
              for name, (lead, foll, _, _) in COMMITMENT_GAMES.items()}
    assert values["conitzer_sandholm_0"] == [2.0]
    assert values["conitzer_sandholm_1"] == [0.0]
    assert values["dominated_strategy"] == [round(39 / 7, 9), 9.0]


def test_degenerate_game_finds_both_extremes_that_support_enumeration_misses():
    # the NE set of "dominated_strategy" is {top} x {y <= 4/7}: a segment with two extremes
    lead, foll, _, _ = COMMITMENT_GAMES["dominated_strategy"]
    eqs = matrix_equilibria(lead, foll)
    cols = sorted(round(e.col[0], 9) for e in eqs)
    assert cols == [0.0, round(4 / 7, 9)]
    assert all(np.allclose(e.row, [1.0, 0.0]) for e in eqs)


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(2, 4), st.integers(2, 4), st.booleans())
def test_every_extreme_is_an_equilibrium(seed, m, n, integer):
    rng = np.random.default_rng(seed)
    # small integer payoffs make degenerate games (ties) common
    a = rng.integers(-2, 3, size=(m, n)).astype(float) if integer else rng.normal(size=(m, n))
    b = rng.integers(-2, 3, size=(m, n)).astype(float) if integer else rng.normal(size=(m, n))
    eqs = matrix_equilibria(a, b)
    assert eqs, "every finite game has an equilibrium"
    for e in eqs:
        assert _is_equilibrium(a, b, e.row, e.col)


def test_entry_deterrence_equilibria():
    game = builtin_game("entry_deterrence")
    result = nash_equilibria(game)
    outs = [p for p in result.equilibria if p.attacker[0, 0, 0] == 1.0]
    ins = [p for p in result.equilibria if p.attacker[0, 0, 1] == 1.0]
    assert outs and ins and len(outs) + len(ins) == len(result.equilibria)
    # "out" is sustained only by fighting with probability >= 1/2: a non-credible threat
    fight_at_in = sorted(p.defender[0, 0, 1, 0] for p in outs)
    assert fight_at_in[0] == pytest.approx(0.5)
    assert all(p.defender[0, 0, 1, 1] == pytest.approx(1.0) for p in ins)
    for p in result.equilibria:
        assert evaluate(game, p).nash_conv == pytest.approx(0.0, abs=1e-9)


def test_zero_sum_lp_value_matches_spne_on_jailbreak():
    game = builtin_game("jailbreak_v1")
    assert is_strategically_zero_sum(game)
    result = zero_sum_nash(game)
    profile = result.equilibria[0]
    assert result.values[0][0] == pytest.approx(spne(game).value_attacker, abs=1e-7)
    assert evaluate(game, profile).nash_conv == pytest.approx(0.0, abs=1e-7)
    # every Nash equilibrium is pointwise safe on path (docs/theory.md)
    assert all(not v.on_path for v in pointwise_safety(game, profile).violations)


def test_zero_sum_lp_hidden_seed_game_is_polynomial():
    game = builtin_game("jailbreak_hidden_v1")
    result = zero_sum_nash(game)
    assert evaluate(game, result.equilibria[0]).nash_conv == pytest.approx(0.0, abs=1e-7)


def test_self_redteam_general_sum():
    game = builtin_game("self_redteam_v1")
    assert not is_strategically_zero_sum(game)
    with pytest.raises(SolverError, match="not strategically zero-sum"):
        zero_sum_nash(game)
    result = nash_equilibria(game)
    assert len(result.equilibria) >= 2
    for p in result.equilibria:
        assert evaluate(game, p).nash_conv == pytest.approx(0.0, abs=1e-9)


def test_random_zero_sum_enumeration_agrees_with_lp():
    rng = np.random.default_rng(3)
    for obs in ("full", "attack"):
        game = random_game(rng, 2, 2, 2, obs, general_sum=False)
        lp_value = zero_sum_nash(game).values[0][0]
        for v in nash_equilibria(game).values:
            assert v[0] == pytest.approx(lp_value, abs=1e-9)


def test_too_large_for_enumeration_names_the_alternative():
    with pytest.raises(GameTooLargeError, match="stackelberg"):
        nash_equilibria(builtin_game("jailbreak_v1"))
    with pytest.raises(GameTooLargeError, match="zero-sum LP"):
        nash_equilibria(builtin_game("example_v1"))


def test_multi_turn_is_refused():
    with pytest.raises(SolverError, match="single-turn"):
        zero_sum_nash(builtin_game("jailbreak_multiturn_v1"))


def test_lemke_howson_agrees_with_nashpy_on_generic_bimatrix_games():
    nashpy = pytest.importorskip("nashpy")
    rng = np.random.default_rng(8)
    for _ in range(6):
        a, b = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
        for label in range(9):
            p, q = lemke_howson(a, b, label)
            p_ref, q_ref = nashpy.Game(a, b).lemke_howson(initial_dropped_label=label)
            np.testing.assert_allclose(p, p_ref, atol=1e-9)
            np.testing.assert_allclose(q, q_ref, atol=1e-9)


def test_lemke_howson_finds_an_extreme_equilibrium_of_degenerate_games():
    # induced normal forms are degenerate; nashpy's pivoting fails on these, the
    # lexicographic rule does not: the result is one of the enumerated extremes
    rng = np.random.default_rng(9)
    for _ in range(4):
        game = random_game(rng, 2, 2, 2, "attack")
        form = normal_form(game)
        p, q = lemke_howson(form.attacker_payoff, form.defender_payoff, 0)
        extremes = matrix_equilibria(form.attacker_payoff, form.defender_payoff)
        assert any(np.allclose(p, e.row, atol=1e-9) and np.allclose(q, e.col, atol=1e-9)
                   for e in extremes)


def test_general_sum_too_large_for_enumeration_falls_back_to_lemke_howson():
    rng = np.random.default_rng(0)
    game = random_game(rng, 3, 3, 2, "attack")  # normal form 27 x 8: C(35, 8) bases
    assert not is_strategically_zero_sum(game)
    with pytest.raises(GameTooLargeError, match="vertex enumeration"):
        nash_equilibria(game)
    solution = solve(game, "nash")
    assert solution.details.method == "lemke_howson"
    assert evaluate(game, solution.profile).nash_conv == pytest.approx(0.0, abs=1e-9)
    assert lemke_howson_nash(game).normal_form_shape == (27, 8)
    with pytest.raises(GameTooLargeError):
        solve(game, "nash", method="enumerate")  # an explicit method is never swapped

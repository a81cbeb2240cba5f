"""Cross-checks against OpenSpiel on the same games."""

import dataclasses

import numpy as np
import pytest

from seqgame.analysis.metrics import evaluate
from seqgame.errors import InvalidGameError
from seqgame.games import builtin_game
from seqgame.interop import openspiel as interop
from seqgame.model.game import Observation
from seqgame.model.profile import Profile
from seqgame.solvers.nash import nash_equilibria, zero_sum_nash
from seqgame.solvers.pbe import pbe
from seqgame.solvers.sequence_form import sequence_form_nash
from seqgame.solvers.stackelberg import stackelberg
from tests.solver_games import COMMITMENT_GAMES, random_game

pytest.importorskip("pyspiel", reason="cross-checks need open-spiel (seqgame[spiel])")


@pytest.mark.parametrize("name", ["entry_deterrence", "self_redteam_v1", "disguise_mixed_v1",
                                  "disguise_pooling_v1"])
def test_openspiel_nash_conv_of_our_equilibria_is_zero(name):
    game = builtin_game(name)
    profiles = list(nash_equilibria(game).equilibria)
    profiles += [e.profile for e in pbe(game).equilibria]
    for p in profiles:
        assert interop.openspiel_nash_conv(game, p) == pytest.approx(0.0, abs=1e-7)


def test_openspiel_nash_conv_matches_ours_off_equilibrium():
    game = builtin_game("self_redteam_v1")
    uniform = Profile.uniform(game)
    ours = evaluate(game, uniform).nash_conv
    assert ours > 0.1
    assert interop.openspiel_nash_conv(game, uniform) == pytest.approx(ours, abs=1e-9)


def test_openspiel_nash_conv_zero_sum_lp_hidden_seed():
    rng = np.random.default_rng(2)
    game = random_game(rng, 3, 3, 2, "attack", general_sum=False)
    p = zero_sum_nash(game).equilibria[0]
    assert interop.openspiel_nash_conv(game, p) == pytest.approx(0.0, abs=1e-7)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("leader", ["attacker", "defender"])
def test_openspiel_stackelberg_lp_matches_our_milp(seed, leader):
    game = random_game(np.random.default_rng(seed), 2, 2, 2, ["full", "attack"][seed % 2])
    ours = stackelberg(game, leader, weak=False).value_leader
    assert interop.openspiel_stackelberg_value(game, leader) == pytest.approx(ours, abs=1e-6)


def test_openspiel_commitment_fixtures_through_openspiel():
    import pyspiel
    from open_spiel.python.algorithms.stackelberg_lp import solve_stackelberg

    for lead, foll, value, _ in COMMITMENT_GAMES.values():
        g = pyspiel.create_matrix_game(lead.tolist(), foll.tolist())
        assert solve_stackelberg(g)[2] == pytest.approx(value, abs=1e-6)


@pytest.mark.parametrize("obs", ["attack", "full"])
def test_sequence_form_value_matches_openspiel_lp_multi_turn(obs):
    pytest.importorskip("cvxpy")
    rng = np.random.default_rng(21)
    for turns, accrual, discount in ((1, "sum", 1.0), (2, "sum", 1.0), (2, "final", 0.9),
                                     (3, "sum", 0.8)):
        game = random_game(rng, 2, 2, 2, obs, general_sum=False).replace(
            turns=turns, accrual=accrual, discount=discount, name=f"os_{obs}_{turns}{accrual}")
        ours = sequence_form_nash(game)
        assert ours.value == pytest.approx(interop.openspiel_sequence_form_value(game), abs=1e-6)
        assert interop.openspiel_nash_conv_of_behaviour(game, ours) == pytest.approx(0.0,
                                                                                      abs=1e-7)


@pytest.mark.parametrize("obs", [Observation.FULL, Observation.ATTACK])
def test_openspiel_nash_conv_of_strategically_zero_sum_multi_turn(obs):
    # exported general-sum (U_A = −U_D + a format reward): the reduction to −R_D must give
    # an equilibrium of the real game, which OpenSpiel scores with both players' payoffs
    game = builtin_game("jailbreak_multiturn_v1").replace(observation=obs, name=f"mt_{obs.value}")
    result = sequence_form_nash(game)
    assert interop.openspiel_nash_conv_of_behaviour(game, result) == pytest.approx(0.0, abs=1e-7)


def test_openspiel_nash_conv_of_behaviour_sees_an_exploitable_defender():
    rng = np.random.default_rng(4)
    game = random_game(rng, 2, 2, 2, "attack", general_sum=False).replace(turns=2, name="os_bad")
    result = sequence_form_nash(game)
    uniform = {k: np.full_like(v, 1.0 / len(v)) for k, v in result.defender_behaviour.items()}
    bad = dataclasses.replace(result, defender_behaviour=uniform)
    assert interop.openspiel_nash_conv_of_behaviour(game, bad) > 1e-3


def test_zero_sum_export_refuses_general_sum_game():
    with pytest.raises(InvalidGameError, match="not zero-sum"):
        interop.to_openspiel(builtin_game("jailbreak_multiturn_v1"), zero_sum=True)

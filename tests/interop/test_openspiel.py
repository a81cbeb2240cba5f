"""Cross-checks against OpenSpiel on the same games."""

import numpy as np
import pytest

from seqgame.analysis.metrics import evaluate
from seqgame.games import builtin_game
from seqgame.interop import openspiel as interop
from seqgame.model.profile import Profile
from seqgame.solvers.nash import nash_equilibria, zero_sum_nash
from seqgame.solvers.pbe import pbe
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

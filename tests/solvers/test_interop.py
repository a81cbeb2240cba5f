"""Cross-checks against OpenSpiel and pygambit on the same games."""

import numpy as np
import pytest

from seqgame import interop
from seqgame.errors import BackendUnavailableError
from seqgame.fixtures import COMMITMENT_GAMES, random_game
from seqgame.games import builtin_game
from seqgame.metrics import evaluate
from seqgame.nash import matrix_equilibria, nash_equilibria, zero_sum_nash
from seqgame.pbe import pbe
from seqgame.profile import Profile
from seqgame.spne import spne
from seqgame.stackelberg import stackelberg

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


def test_pygambit_extreme_equilibria_equal_ours():
    rng = np.random.default_rng(7)
    games = [rng.integers(-1, 2, size=(2, 3, 3)).astype(float) for _ in range(2)]
    games.append(np.stack(COMMITMENT_GAMES["dominated_strategy"][:2]))
    for a, b in games:
        ours = {tuple(np.round(np.concatenate([e.row, e.col]), 7)) for e in matrix_equilibria(a, b)}
        theirs = {tuple(np.round(np.concatenate([r, c]), 7))
                  for r, c in interop.pygambit_matrix_equilibria(a, b, timeout=60)}
        assert ours == theirs


def test_pygambit_spne_filter_equals_our_spne():
    rng = np.random.default_rng(4)
    for _ in range(2):
        game = random_game(rng, 2, 2, 2, "full")
        filtered = interop.subgame_perfect(game, interop.pygambit_equilibria(game, timeout=60))
        assert len(filtered) == 1
        ref = spne(game).profile
        np.testing.assert_allclose(filtered[0].attacker, ref.attacker, atol=1e-7)
        np.testing.assert_allclose(filtered[0].defender, ref.defender, atol=1e-7)
    # entry deterrence: Nash includes the non-credible threat; the filter removes it
    game = builtin_game("entry_deterrence")
    everything = interop.pygambit_equilibria(game, timeout=60)
    assert any(p.attacker[0, 0, 0] == pytest.approx(1.0) for p in everything)
    filtered = interop.subgame_perfect(game, everything)
    assert filtered and all(p.attacker[0, 0, 1] == pytest.approx(1.0) for p in filtered)
    assert all(p.defender[0, 0, 1, 1] == pytest.approx(1.0) for p in filtered)


def test_pygambit_export_has_the_normal_form():
    gbt_game = interop.to_pygambit(builtin_game("entry_deterrence"))
    assert [p.label for p in gbt_game.players] == ["attacker", "defender"]
    assert [len(p.strategies) for p in gbt_game.players] == [2, 4]


def test_missing_backend_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "pygambit", None)  # makes the import fail
    with pytest.raises(BackendUnavailableError, match=r"seqgame\[spiel\]"):
        interop.to_pygambit(builtin_game("entry_deterrence"))

"""Cross-checks against pygambit (its own extra, seqgame[gambit]; marked ``gambit``)."""

import sys

import numpy as np
import pytest

from seqgame.errors import BackendUnavailableError
from seqgame.games import builtin_game
from seqgame.interop import gambit as interop
from seqgame.solvers.nash import matrix_equilibria
from seqgame.solvers.spne import spne
from tests.solver_games import COMMITMENT_GAMES, random_game

needs_gambit = pytest.mark.skipif(
    __import__("importlib").util.find_spec("pygambit") is None,
    reason="pygambit is not installed (pip install 'seqgame[gambit]'; .ci/run says whether "
           "a wheel existed)")
pytestmark = pytest.mark.gambit


@needs_gambit
def test_pygambit_extreme_equilibria_equal_ours():
    rng = np.random.default_rng(7)
    games = [rng.integers(-1, 2, size=(2, 3, 3)).astype(float) for _ in range(2)]
    games.append(np.stack(COMMITMENT_GAMES["dominated_strategy"][:2]))
    for a, b in games:
        ours = {tuple(np.round(np.concatenate([e.row, e.col]), 7)) for e in matrix_equilibria(a, b)}
        theirs = {tuple(np.round(np.concatenate([r, c]), 7))
                  for r, c in interop.pygambit_matrix_equilibria(a, b, timeout=60)}
        assert ours == theirs


@needs_gambit
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


@needs_gambit
def test_pygambit_export_has_the_normal_form():
    gbt_game = interop.to_pygambit(builtin_game("entry_deterrence"))
    assert [p.label for p in gbt_game.players] == ["attacker", "defender"]
    assert [len(p.strategies) for p in gbt_game.players] == [2, 4]


def test_missing_backend_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pygambit", None)  # makes the import fail
    with pytest.raises(BackendUnavailableError, match=r"seqgame\[gambit\]"):
        interop.to_pygambit(builtin_game("entry_deterrence"))

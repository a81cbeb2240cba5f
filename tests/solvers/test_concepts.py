"""The concepts through ``solve`` and ``seqgame solve --json``, and bad input."""

import json

import numpy as np
import pytest

from seqgame.cli import main
from seqgame.errors import GameTooLargeError, InvalidGameError, SeqgameError, SolverError
from seqgame.games import builtin_game
from seqgame.model.spec import game_from_spec, game_to_spec
from seqgame.solvers.concepts import solve

COMMON = {"concept", "attacker", "defender", "value", "asr", "over_refusal", "safety",
          "expected_safety", "metrics", "details"}


@pytest.mark.parametrize("concept,options", [
    ("pbe", {}), ("nash", {}), ("stackelberg", {"leader": "defender"}),
    ("stackelberg", {"leader": "attacker"}),
])
def test_solution_json_contract(concept, options):
    out = solve(builtin_game("disguise_mixed_v1"), concept, **options).to_json()
    assert COMMON <= set(out)
    assert out["concept"] == concept
    assert "posterior_safety" in out["details"]
    json.dumps(out, allow_nan=False)


def test_pbe_reports_posterior_at_every_attack():
    out = solve(builtin_game("disguise_mixed_v1"), "pbe").to_json()
    assert set(out["details"]["posterior"]) == {"explicit", "ambiguous", "explicit_benign"}
    assert out["details"]["posterior"]["ambiguous"]["harmful"] == pytest.approx(0.25)
    assert out["details"]["on_path"] == {"explicit": True, "ambiguous": True,
                                         "explicit_benign": False}


def test_nash_lists_all_equilibria_and_off_path_unsafety():
    out = solve(builtin_game("entry_deterrence"), "nash").to_json()
    assert out["details"]["method"] == "vertex_enumeration"
    assert out["details"]["n_equilibria"] == len(out["details"]["equilibria"]) >= 3


def test_stackelberg_weak_not_attained_is_an_error_that_says_so():
    with pytest.raises(SolverError, match="not attained"):
        solve(builtin_game("disguise_mixed_v1"), "stackelberg", leader="defender",
              tie_breaking="weak")
    out = solve(builtin_game("disguise_mixed_v1"), "stackelberg", leader="attacker",
                tie_breaking="weak").to_json()
    assert out["details"]["weak"]["attained"]


def test_cli_json(capsys):
    assert main(["solve", "disguise_pooling_v1", "--concept", "stackelberg", "--leader",
                 "attacker", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["details"]["leader"] == "attacker"
    assert out["details"]["mip_status"]


def test_hidden_seed_spne_is_an_error():
    with pytest.raises(SolverError, match="pbe"):
        solve(builtin_game("disguise_mixed_v1"), "spne")


def test_seed_with_no_allowed_attack():
    spec = game_to_spec(builtin_game("example_v1"))
    spec["allowed"] = {"s2": []}
    with pytest.raises(InvalidGameError, match="allowed.s2"):
        game_from_spec(spec)
    with pytest.raises(InvalidGameError, match="at least one attack"):
        builtin_game("disguise_mixed_v1").replace(allowed=np.zeros((2, 3), dtype=bool))


def test_leader_not_a_role():
    with pytest.raises(SeqgameError, match="'judge'"):
        solve(builtin_game("disguise_mixed_v1"), "stackelberg", leader="judge")


def test_too_large_games():
    with pytest.raises(GameTooLargeError, match="over the limit"):
        solve(builtin_game("jailbreak_hidden_v1"), "pbe")
    with pytest.raises(GameTooLargeError, match="over the limit"):
        solve(builtin_game("example_v1"), "nash", method="enumerate")
    with pytest.raises(SolverError, match="takes no option"):
        solve(builtin_game("disguise_mixed_v1"), "pbe", leader="attacker")

import json
import subprocess
import sys

import pytest

from seqgame.cli import main
from seqgame.games import BUILTIN_GAMES

CONTRACT_KEYS = {"concept", "attacker", "defender", "value", "asr", "over_refusal", "safety"}


def test_games_lists_every_builtin(capsys):
    assert main(["games"]) == 0
    out = capsys.readouterr().out
    for name in BUILTIN_GAMES:
        assert name in out


def test_games_show_prints_a_loadable_spec(capsys, tmp_path):
    assert main(["games", "show", "example_v1"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("seqgame: 1")
    path = tmp_path / "g.yaml"
    path.write_text(text)
    assert main(["solve", str(path), "--json"]) == 0


def test_solve_json_contract(capsys):
    assert main(["solve", "example_v1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert CONTRACT_KEYS <= set(out)
    assert out["concept"] == "spne"
    assert set(out["defender"]) == {f"{s}/{a}" for s in ("s1", "s2")
                                    for a in ("direct", "role_play", "caesar")}
    assert out["defender"]["s1/direct"] == {"refuse": 1.0}
    assert out["value"] == {"attacker": -1.0, "defender": 1.5}
    assert out["asr"] == 0.0 and out["over_refusal"] == 0.0
    assert out["safety"]["pointwise"] is True and out["safety"]["violations"] == []
    assert sum(out["attacker"]["s2"].values()) == pytest.approx(1.0)


def test_solve_reports_violations_in_json(capsys):
    assert main(["solve", "jailbreak_nofallback_v1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["safety"]["pointwise"] is False
    v = out["safety"]["violations"][0]
    assert {"seed", "attack", "response", "reward", "probability", "on_path"} <= set(v)


def test_solve_weak_tie_breaking_and_tie_sets(capsys):
    assert main(["solve", "entry_deterrence", "--json", "--tie-breaking", "weak"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["details"]["tie_breaking"] == "weak"
    assert out["details"]["defender_ties"][0]["attack"] == "out"


def test_multiturn_json_has_per_turn(capsys):
    assert main(["solve", "jailbreak_multiturn_v1", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["per_turn"]) == 3


def test_readable_table(capsys):
    assert main(["solve", "jailbreak_nofallback_v1"]) == 0
    out = capsys.readouterr().out
    assert "UNSAFE" in out and "no safe fallback" in out


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["solve", "jailbreak_hidden_v1"], "pbe"),
        (["solve", "no_such_game"], "seqgame games"),
        (["solve", "example_v1", "--concept", "magic"], "unknown concept"),
        (["solve", "example_v1", "--leader", "defender"], "takes no option"),
        (["games", "show"], "needs a game name"),
    ],
)
def test_errors_exit_2_with_one_line(capsys, argv, fragment):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_console_script_entry_point():
    proc = subprocess.run([sys.executable, "-m", "seqgame.cli", "games"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "jailbreak_v1" in proc.stdout


def test_nash_method_flag(capsys):
    assert main(["solve", "self_redteam_v1", "--concept", "nash", "--method", "enumerate",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["concept"] == "nash"
    assert main(["solve", "example_v1", "--method", "lp"]) == 2
    assert "takes no option" in capsys.readouterr().err


def test_readable_pbe_shows_posteriors(capsys):
    assert main(["solve", "disguise_mixed_v1", "--concept", "pbe"]) == 0
    out = capsys.readouterr().out
    assert "posterior P(seed | attack)" in out and "(off path)" in out
    assert "posterior-level safety" in out


def test_multiturn_table_per_turn_counted_from_1(capsys):
    assert main(["solve", "jailbreak_multiturn_v1"]) == 0
    out = capsys.readouterr().out
    for t in (1, 2, 3):
        assert f"attacker (seed: attack p) - turn {t}" in out
        assert f"defender (observation: response p) - turn {t}" in out
    assert "turn 0" not in out and "turn 4" not in out
    assert "attacker value range over SPNE" in out


def test_single_turn_table_has_no_turn_label(capsys):
    assert main(["solve", "example_v1"]) == 0
    out = capsys.readouterr().out
    assert "attacker (seed: attack p)\n" in out and "- turn" not in out


def test_floating_point_noise_prints_as_zero(capsys):
    from seqgame.games.catalog import load_game
    from seqgame.solvers.concepts import solve

    raw = solve(load_game("disguise_pooling_v1"), "pbe").to_json()["metrics"]["nash_conv"]
    assert 0 < abs(raw) < 1e-12  # the solver's value carries rounding noise ...
    assert main(["solve", "disguise_pooling_v1", "--concept", "pbe"]) == 0
    out = capsys.readouterr().out
    assert "NashConv 0 " in out  # ... the table shows 0
    assert "e-1" not in out and "-0 " not in out


def test_noise_and_negative_zero_format_as_zero():
    from seqgame.cli.games import _dist, _fmt

    assert _fmt(-0.0) == "0" and _fmt(3e-17) == "0" and _fmt(-4e-13) == "0"
    assert _fmt(1e-9) == "1e-09"  # above the noise level: kept
    assert _dist({"refuse": 1e-16, "comply": 1.0}) == "refuse 0, comply 1"


def test_violation_turns_counted_from_1(capsys, monkeypatch):
    import seqgame.cli.games as games
    from tests.core.test_multiturn_safety import leaky_game

    game, orig = leaky_game(), games.load_game
    monkeypatch.setattr(games, "load_game", lambda spec: game if spec == "leaky" else orig(spec))
    assert main(["solve", "leaky"]) == 0
    out = capsys.readouterr().out
    assert "turn 1 h/leaky -> refuse r_D -0.1 p 1 (on path, continuation-driven)" in out

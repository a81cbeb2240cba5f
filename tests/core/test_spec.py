import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import seqgame
from seqgame import InvalidGameError, SeqgameError, UnknownGameError
from seqgame.games import BUILTIN_GAMES
from seqgame.games.catalog import load_game
from seqgame.games.toys import EXAMPLE_SPEC
from seqgame.model.spec import dump_spec, game_from_spec, game_to_spec

BAD = Path(__file__).parent / "bad_specs"
JSON_EXPECT = {"bad_prior_type.json": "seeds[0].prior: 'one' is not a number"}


def _expectation(path: Path) -> str:
    if path.name in JSON_EXPECT:
        return JSON_EXPECT[path.name]
    first = path.read_text().splitlines()[0]
    assert first.startswith("# expect: "), f"{path.name} lacks its '# expect:' line"
    return first.removeprefix("# expect: ")


@pytest.mark.parametrize("path", sorted(BAD.iterdir()), ids=lambda p: p.name)
def test_bad_spec_corpus(path):
    with pytest.raises(SeqgameError) as info:
        load_game(path)
    assert _expectation(path) in str(info.value)
    assert str(path) in str(info.value) or "not valid" in str(info.value) or "cannot" in str(
        info.value) or path.name in str(info.value)


def test_bad_specs_never_leak_bare_python_errors():
    """Random corruptions of a valid spec raise SeqgameError, never KeyError/TypeError."""
    rng = np.random.default_rng(0)
    garbage = [None, 1, -3.5, "x", [], {}, [1, 2], {"a": 1}, float("nan"), True]
    keys = list(EXAMPLE_SPEC)
    for _ in range(300):
        spec = json.loads(json.dumps(EXAMPLE_SPEC))
        key = keys[rng.integers(len(keys))]
        spec[key] = garbage[rng.integers(len(garbage))]
        try:
            game_from_spec(spec)
        except SeqgameError:
            pass


def test_issue_example_spec_loads_with_documented_payoffs():
    g = game_from_spec(EXAMPLE_SPEC)
    s1, caesar, comply = g.seed_index("s1"), g.attack_index("caesar"), g.response_index("comply")
    # U_D = r_harm(1 - 2p) + r_ref(-1): harmful seed complied with, p = 0.4
    assert g.u_defender[s1, caesar, comply] == pytest.approx(1 * (1 - 0.8) - 0.5)
    # U_A = -U_D + r_fmt + bonus(-0.5)
    assert g.u_attacker[s1, caesar, comply] == pytest.approx(-(0.2 - 0.5) + 0.5 - 0.5)
    assert not g.allowed[g.seed_index("s2"), caesar]


@pytest.mark.parametrize("name", sorted(BUILTIN_GAMES))
@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_round_trip_through_text(name, fmt, tmp_path):
    g = load_game(name)
    path = tmp_path / f"game.{fmt}"
    path.write_text(dump_spec(game_to_spec(g), fmt))
    h = load_game(path)
    for attr in ("seed_ids", "attacks", "responses", "refusals", "observation", "turns",
                 "accrual", "discount", "malformed"):
        assert getattr(g, attr) == getattr(h, attr), attr
    np.testing.assert_allclose(g.u_attacker, h.u_attacker)
    np.testing.assert_allclose(g.u_defender, h.u_defender)
    np.testing.assert_array_equal(g.allowed, h.allowed)
    np.testing.assert_allclose(g.prior, h.prior)
    if g.features is not None:
        np.testing.assert_allclose(g.features, h.features)


def test_yaml_and_json_are_the_same_schema(tmp_path):
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(EXAMPLE_SPEC))
    (tmp_path / "a.json").write_text(json.dumps(EXAMPLE_SPEC))
    a, b = load_game(tmp_path / "a.yaml"), load_game(tmp_path / "a.json")
    np.testing.assert_array_equal(a.u_defender, b.u_defender)


def test_unknown_game_names_the_alternatives():
    with pytest.raises(UnknownGameError, match="seqgame games"):
        seqgame.load_game("jailbreak_v9")


def test_explicit_payoffs_spec():
    spec = {
        "seqgame": 1, "name": "t", "seeds": [{"id": "e", "label": "benign", "prior": 1}],
        "attacks": ["out", "in"], "responses": ["fight", "acc"], "refusals": ["fight"],
        "payoffs": {"attacker": {"e": {"in": {"fight": -1, "acc": 1}}},
                    "defender": {"e": {"out": {"fight": 2, "acc": 2},
                                       "in": {"fight": -1, "acc": 1}}}},
    }
    g = game_from_spec(spec)
    assert g.rewards is None
    assert g.u_defender[0, 0, 0] == 2 and g.u_attacker[0, 1, 0] == -1
    with pytest.raises(InvalidGameError, match="payoffs"):
        game_from_spec({**spec, "payoffs": {"attacker": {}}})


def test_priors_within_rounding_are_renormalised():
    spec = json.loads(json.dumps(EXAMPLE_SPEC))
    spec["seeds"][0]["prior"] = 0.6000001
    g = game_from_spec(spec)
    assert g.prior.sum() == pytest.approx(1.0, abs=1e-12)

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


# ----------------------------------------------------------------------- hardening (issue 10)
def _edited(**changes):
    spec = json.loads(json.dumps(EXAMPLE_SPEC))
    spec.update(changes)
    return spec


@pytest.mark.parametrize(("key", "value"), [
    ("unsafe", []), ("unsafe", False), ("unsafe", 0), ("allowed", []), ("allowed", False),
    ("attacker_bonus", []), ("attacker_bonus", False), ("malformed", False),
    ("malformed", {}), ("refusals", False), ("rewards", []), ("rewards", False),
])
def test_wrong_types_of_optional_keys_are_errors_not_empty(key, value):
    with pytest.raises(InvalidGameError, match=f"^{key}: expected a"):
        game_from_spec(_edited(**{key: value}))


def test_null_optional_keys_read_as_empty():
    game = game_from_spec(_edited(malformed=None, attacker_bonus=None, allowed=None))
    assert game.allowed.all() and not game.attacker_bonus.any() and not game.malformed


def test_yaml_1_1_traps_get_a_hint(tmp_path):
    text = dump_spec(EXAMPLE_SPEC).replace("prior: 0.6", "prior: 6e-1")
    (tmp_path / "prior.yaml").write_text(text)
    with pytest.raises(InvalidGameError) as info:
        load_game(tmp_path / "prior.yaml")
    assert "seeds[0].prior: '6e-1' is not a number; write 0.6: YAML 1.1 reads '6e-1' as text" in (
        str(info.value))
    spec = {k: v for k, v in EXAMPLE_SPEC.items() if k not in ("refusals", "unsafe")}
    text = dump_spec({**spec, "responses": ["yes", "no"]}) + "refusals: [no]\n"
    (tmp_path / "no.yaml").write_text(text)
    with pytest.raises(InvalidGameError) as info:
        load_game(tmp_path / "no.yaml")
    message = str(info.value)
    assert "refusals[0]: False is not a non-empty string" in message
    assert "quote it: 'no'" in message


def test_error_messages_never_embed_expanded_values():
    bomb: list = ["x" * 100]
    for _ in range(20):
        bomb = [bomb, bomb]  # shared: 2**20 leaves if expanded
    for key in ("attacks", "unsafe", "name", "seeds"):
        with pytest.raises(InvalidGameError) as info:
            game_from_spec(_edited(**{key: bomb if key != "attacks" else [bomb]}))
        assert len(str(info.value)) < 600, key


def test_payoffs_that_overflow_are_invalid():
    with pytest.raises(InvalidGameError, match="overflow"):
        game_from_spec(_edited(rewards={"r_harm": 1.7e308, "r_ref": 1.7e308, "r_fmt": 0}))
    explicit = _edited(payoffs={"attacker": {"s1": {"direct": {"comply": 1e308}}},
                                "defender": {}})
    del explicit["rewards"]
    with pytest.raises(InvalidGameError, match="overflow"):
        game_from_spec(explicit)
    explicit["payoffs"]["attacker"]["s1"]["direct"]["comply"] = 1e99
    assert game_from_spec(explicit).u_attacker.max() == 1e99


def test_integers_too_large_for_a_float_are_invalid():
    seeds = [{"id": "s1", "label": "harmful", "prior": 10 ** 400}]
    with pytest.raises(InvalidGameError, match="too large for a float"):
        game_from_spec(_edited(seeds=seeds))


def _sized(n_x, n_a, n_d, turns=1):
    return {"seqgame": 1, "name": "sized_v1",
            "seeds": [{"id": f"x{i}", "label": "benign", "prior": 1.0 / n_x} for i in range(n_x)],
            "attacks": [f"a{i}" for i in range(n_a)], "responses": [f"d{i}" for i in range(n_d)],
            "refusals": ["d0"], "turns": turns}


@pytest.mark.parametrize(("shape", "fragment"), [
    ((1000, 1000, 1000, 1), "1,000 × 1,000 × 1,000 = 1,000,000,000 cells"),
    ((2, 3, 2, 10 ** 9), "1,000,000,000 turns × 12 cells"),
    ((100, 100, 100, 51), "51 turns × 1,000,000 cells"),
])
def test_games_too_large_fail_before_any_allocation(shape, fragment):
    import tracemalloc

    from seqgame.errors import GameTooLargeError

    spec = _sized(*shape)
    tracemalloc.start()
    try:
        with pytest.raises(GameTooLargeError) as info:
            game_from_spec(spec)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fragment in str(info.value) and "GiB" in str(info.value)
    assert peak < 20 * 2 ** 20  # nothing of the game's size was allocated


def test_limits_allow_a_game_just_under_them():
    from seqgame.model.limits import MAX_PROFILE_CELLS

    game = game_from_spec(_sized(100, 100, 100, turns=MAX_PROFILE_CELLS // 1_000_000))
    assert game.shape == (100, 100, 100) and game.turns == 50


def test_a_large_spec_loads_and_solves_in_linear_time(tmp_path):
    """10^5 seeds: loading and solving is linear (the O(n^2) lookups are gone)."""
    import time

    from seqgame.solvers.concepts import solve

    n = 100_000
    spec = _sized(n, 2, 2)
    spec["unsafe"] = {f"x{i}": {"a1": {"d1": 0.5}} for i in range(0, n, 2)}
    path = tmp_path / "big.json"
    path.write_text(json.dumps(spec))
    start = time.perf_counter()
    game = load_game(path)
    solution = solve(game, "spne")
    elapsed = time.perf_counter() - start
    assert game.shape == (n, 2, 2) and game.seed_index(f"x{n - 1}") == n - 1
    assert solution.profile.defender.shape[-1] == 2
    assert elapsed < 60  # about 5 s on an idle core; quadratic code took hours


def test_a_directory_given_as_a_spec_says_so(tmp_path):
    with pytest.raises(UnknownGameError, match="is a directory, not a spec file"):
        load_game(tmp_path)

import numpy as np
import pytest

import seqgame
from seqgame import InvalidGameError, Label, Observation, Rewards, Role, Seed, SequentialGame
from seqgame.games import BUILTIN_GAMES


def _game(**kw):
    base = dict(
        name="g",
        seeds=(Seed("h", Label.HARMFUL, 0.5), Seed("b", Label.BENIGN, 0.5)),
        attacks=("direct", "caesar"),
        responses=("refuse", "comply"),
        refusals=frozenset({"refuse"}),
        observation=Observation.FULL,
        unsafe=np.array([[[0.0, 1.0], [0.0, 0.4]], [[0.0, 0.0], [0.0, 0.0]]]),
    )
    base.update(kw)
    return SequentialGame(**base)


def test_magic_reward_table():
    """docs/theory.md: refuse/comply give +1.5/-1.5 on harmful, +0.5/+1.5 on benign."""
    g = _game()
    u_d = g.u_defender
    assert u_d[0, 0, 0] == pytest.approx(1.5)  # harmful, refused, safe
    assert u_d[0, 0, 1] == pytest.approx(-1.5)  # harmful, complied, unsafe
    assert u_d[1, 0, 1] == pytest.approx(1.5)  # benign, complied
    assert u_d[1, 0, 0] == pytest.approx(0.5)  # benign, refused
    # harmful, complied, unsafe with p=0.4: r_harm(1-0.8) - r_ref
    assert u_d[0, 1, 1] == pytest.approx(0.2 - 0.5)


def test_attacker_payoff_is_minus_defender_plus_format_and_bonus():
    bonus = np.array([[0.0, -0.5], [0.0, 0.0]])
    g = _game(malformed=frozenset({"caesar"}), attacker_bonus=bonus)
    expected = -g.u_defender + np.array([0.5, -0.5])[None, :, None] + bonus[:, :, None]
    np.testing.assert_allclose(g.u_attacker, expected)


def test_explicit_payoff_tables_are_used_verbatim():
    u_a = np.arange(8.0).reshape(2, 2, 2)
    u_d = -u_a * 2
    g = _game(rewards=None, payoff_tables=(u_a, u_d))
    np.testing.assert_array_equal(g.u_attacker, u_a)
    np.testing.assert_array_equal(g.utility(Role.DEFENDER), u_d)


def test_game_is_frozen():
    g = _game()
    with pytest.raises(AttributeError):
        g.name = "other"  # type: ignore[misc]
    with pytest.raises(ValueError):
        g.unsafe[0, 0, 0] = 0.5
    with pytest.raises(ValueError):
        g.u_defender[0, 0, 0] = 0.0


@pytest.mark.parametrize(
    "kw, fragment",
    [
        ({"attacks": ()}, "attacks is empty"),
        ({"attacks": ("a", "a")}, "duplicate"),
        ({"refusals": frozenset({"nope"})}, "unknown names ['nope']"),
        ({"unsafe": np.full((2, 2, 2), 1.5)}, "[0, 1]"),
        ({"unsafe": np.full((2, 2, 2), np.nan)}, "NaN"),
        ({"turns": 0}, "turns"),
        ({"rewards": None}, "exactly one"),
        ({"allowed": np.array([[True, True], [False, False]])}, "allowed.b is empty"),
        ({"seeds": (Seed("h", Label.HARMFUL, 0.7), Seed("b", Label.BENIGN, 0.7))}, "sum to"),
        ({"accrual": "max"}, "accrual"),
        ({"discount": 0.0}, "discount"),
    ],
)
def test_invalid_games_raise_named_errors(kw, fragment):
    with pytest.raises(InvalidGameError) as info:
        _game(**kw)
    assert fragment in str(info.value)


def test_rewards_validation():
    with pytest.raises(InvalidGameError, match="r_ref"):
        Rewards(1.0, -0.5, 0.5)


def test_role_parse():
    assert Role.parse("Attacker") is Role.ATTACKER
    assert Role.ATTACKER.opponent is Role.DEFENDER
    with pytest.raises(seqgame.SeqgameError, match="unknown role"):
        Role.parse("judge")


@pytest.mark.parametrize("name", sorted(BUILTIN_GAMES))
def test_builtins_build(name):
    g = seqgame.load_game(name)
    assert g.name == name
    assert np.isclose(g.prior.sum(), 1.0)


def test_jailbreak_v1_has_magic_attack_pool():
    g = seqgame.load_game("jailbreak_v1")
    assert len(g.attacks) == 21 and g.attacks[0] == "direct"
    assert {"caesar", "morse", "atbash", "ascii", "translate_french"} <= set(g.attacks)
    assert g.harmful.any() and (~g.harmful).any()
    assert g.observation is Observation.FULL
    assert g.features is not None and g.features.shape[0] == 21


def test_a_constructed_game_checks_its_size_and_payoff_range():
    from seqgame.errors import GameTooLargeError
    from seqgame.model.limits import MAX_ABS_PAYOFF

    with pytest.raises(GameTooLargeError, match="1,000,000,000 turns"):
        _game(turns=10 ** 9)
    with pytest.raises(InvalidGameError, match="overflow"):
        _game(rewards=Rewards(r_harm=1e308, r_ref=1e308, r_fmt=0.0))
    big = MAX_ABS_PAYOFF / 4
    game = _game(rewards=Rewards(r_harm=big, r_ref=big, r_fmt=0.0))
    assert np.abs(game.u_defender).max() == pytest.approx(2 * big)


def test_lookups_name_the_alternatives_and_stay_short():
    game = _game()
    assert game.seed_index("b") == 1 and game.attack_index("caesar") == 1
    with pytest.raises(InvalidGameError, match="unknown response 'x"):
        game.response_index("x" * 10_000)
    with pytest.raises(InvalidGameError) as info:
        game.response_index("x" * 10_000)
    assert len(str(info.value)) < 200


def test_sample_index_never_draws_a_zero_probability_entry_and_matches_its_probs():
    import numpy as np

    from seqgame.model.sampling import sample_index

    class _Top:  # a generator whose uniforms round up to the CDF's end
        def random(self, n=None):
            return 1.0 if n is None else np.ones(n)

    probs = np.array([0.0, 0.3, 0.0, 0.7, 0.0])
    assert sample_index(probs, _Top()) == 3
    assert sample_index(probs, _Top(), 4).tolist() == [3, 3, 3, 3]
    draws = sample_index(probs, np.random.default_rng(0), 20_000)
    assert set(np.unique(draws)) == {1, 3}
    assert abs(np.mean(draws == 1) - 0.3) < 0.02
    # one draw at a time consumes the generator as a batch does
    a, b = np.random.default_rng(5), np.random.default_rng(5)
    assert [sample_index(probs, a) for _ in range(50)] == sample_index(probs, b, 50).tolist()

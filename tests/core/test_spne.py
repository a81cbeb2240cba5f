import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seqgame
from seqgame import Observation, Profile, SolverError
from seqgame.analysis.metrics import evaluate
from seqgame.analysis.safety import pointwise_safety
from seqgame.solvers.spne import spne

from .gamegen import brute_force_spne_values, random_game, tree_spne


def test_entry_deterrence_unique_spne():
    g = seqgame.load_game("entry_deterrence")
    eq = spne(g)
    assert (eq.value_attacker, eq.value_defender) == (1.0, 1.0)
    assert eq.profile.attacker[0, 0].tolist() == [0.0, 1.0]  # enter
    assert eq.profile.defender[0, 0, 1].tolist() == [0.0, 1.0]  # accommodate after entry
    ties = eq.defender_ties()  # after "out" both answers pay the incumbent 2
    assert [(t.attack, t.responses) for t in ties] == [("out", ("fight", "accommodate"))]


def test_jailbreak_v1_spne_is_safe_and_refuses_exactly_harmful():
    g = seqgame.load_game("jailbreak_v1")
    eq = spne(g)
    refuse = g.response_index("refuse")
    d = eq.profile.defender[0]
    assert np.all(d[g.harmful, :, refuse] == 1.0)
    assert np.all(d[~g.harmful, :, refuse] == 0.0)
    m = evaluate(g, eq.profile)
    assert m.asr == 0.0 and m.over_refusal == 0.0
    assert m.nash_conv == pytest.approx(0.0, abs=1e-12)
    assert m.subgame_regret_max == pytest.approx(0.0, abs=1e-12)
    assert pointwise_safety(g, eq.profile).safe
    # the attacker is indifferent among all 21 attacks at every seed
    assert all(len(t.attacks) == 21 for t in eq.attacker_ties())


def test_nofallback_game_is_unsafe_exactly_where_m_is_negative():
    g = seqgame.load_game("jailbreak_nofallback_v1")
    eq = spne(g)
    report = pointwise_safety(g, eq.profile)
    assert not report.safe
    bad_nodes = {(n.seed, n.attack) for n in report.no_fallback}
    assert bad_nodes == {(s.id, a) for s in g.seeds if s.harmful
                         for a in ("ascii", "caesar", "morse", "atbash")}
    assert {(v.seed, v.attack) for v in report.violations} == bad_nodes
    assert all(v.reward < 0 for v in report.violations)
    # the attacker exploits the missing fallback on path
    assert any(v.on_path for v in report.violations)
    assert evaluate(g, eq.profile).asr > 0


def test_hidden_seed_game_is_an_error_naming_the_alternatives():
    with pytest.raises(SolverError, match="pbe"):
        spne(seqgame.load_game("jailbreak_hidden_v1"))


def test_bad_tie_breaking():
    with pytest.raises(SolverError, match="strong"):
        spne(seqgame.load_game("example_v1"), tie_breaking="random")  # type: ignore[arg-type]


def test_multiturn_spne_values():
    g = seqgame.load_game("jailbreak_multiturn_v1")
    eq = spne(g)
    # harmful seeds are refused at all 3 turns (final accrual, discount 0.9): 1.5 * 0.81;
    # benign seeds are answered at turn 1: 1.5
    assert eq.value_defender == pytest.approx(0.5 * 1.5 * 0.81 + 0.5 * 1.5)
    assert evaluate(g, eq.profile).nash_conv == pytest.approx(0.0, abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), n_x=st.integers(1, 2), n_a=st.integers(1, 3),
       n_d=st.integers(1, 3), explicit=st.booleans())
def test_spne_matches_brute_force(seed, n_x, n_a, n_d, explicit):
    rng = np.random.default_rng(seed)
    g = random_game(rng, n_x, n_a, n_d, explicit=explicit)
    values = brute_force_spne_values(g)
    assert values, "every finite game of perfect information has a pure SPNE"
    strong, weak = spne(g, "strong"), spne(g, "weak")
    for eq in (strong, weak):
        assert (round(eq.value_attacker, 9), round(eq.value_defender, 9)) in values
        m = evaluate(g, eq.profile)
        assert m.nash_conv == pytest.approx(0.0, abs=1e-9)
        assert m.subgame_regret_max == pytest.approx(0.0, abs=1e-9)
    # strong tie-breaking gives the attacker its best SPNE, weak its worst
    assert strong.value_attacker == pytest.approx(max(v[0] for v in values), abs=1e-9)
    assert weak.value_attacker == pytest.approx(min(v[0] for v in values), abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**6), turns=st.integers(1, 4), tb=st.sampled_from(["strong", "weak"]),
       accrual=st.sampled_from(["sum", "final"]), discount=st.sampled_from([1.0, 0.5]),
       explicit=st.booleans())
def test_dp_over_turns_matches_explicit_tree(seed, turns, tb, accrual, discount, explicit):
    rng = np.random.default_rng(seed)
    g = random_game(rng, 2, 3, 2, turns=turns, accrual=accrual, discount=discount,
                    explicit=explicit)
    eq = spne(g, tb)
    va, vd = tree_spne(g, tb)  # node-by-node tie-breaking on the explicit tree
    if eq.tie_search is None or eq.tie_search.method == "not needed":
        assert eq.value_attacker == pytest.approx(va, abs=1e-9)
        assert eq.value_defender == pytest.approx(vd, abs=1e-9)
    elif tb == "strong":  # later-turn ties searched: at least as good for the attacker
        assert eq.value_attacker >= va - 1e-9
    else:
        assert eq.value_attacker <= va + 1e-9
    assert evaluate(g, eq.profile).nash_conv == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_theorem_3_2_spne_pointwise_safe_when_fallback_exists(seed):
    """Random MAGIC-reward games with a safe refusal: every SPNE is pointwise safe."""
    rng = np.random.default_rng(seed)
    g = random_game(rng, 3, 3, 2, integer=False)
    unsafe = np.array(g.unsafe)
    unsafe[:, :, g.refusal_mask] = 0.0  # refusing is safe: a fallback with r_D >= 0 exists
    g = g.replace(unsafe=unsafe)
    assert not pointwise_safety(g, Profile.uniform(g)).no_fallback
    for tb in ("strong", "weak"):
        assert pointwise_safety(g, spne(g, tb).profile).safe


def test_spne_of_hidden_game_rejected_even_if_single_seed():
    g = seqgame.load_game("example_v1").replace(observation=Observation.ATTACK)
    with pytest.raises(SolverError):
        spne(g)

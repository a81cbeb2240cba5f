"""strong / weak = the attacker's best / worst pure Markov SPNE, for every number of turns.

Pinned by brute force: every pure Markov profile of small random games is enumerated per
seed (``markov_spne``) and the subgame-perfect ones kept.
"""

import numpy as np
import pytest

import seqgame
from seqgame.analysis.metrics import evaluate
from seqgame.solvers import spne_ties
from seqgame.solvers.concepts import solve
from seqgame.solvers.spne import spne

from .gamegen import brute_force_spne_values, random_game, tree_spne
from .test_multiturn_safety import _q, history_spne_values, markov_spne


def _brute_range(g):
    """Per seed, the attacker's values over all pure Markov SPNE; then the prior-weighted range."""
    lo = hi = 0.0
    for x in range(len(g.seeds)):
        values = []
        for resp, atts in markov_spne(g, x):
            cont = (0.0, 0.0)
            for t in range(g.turns - 1, -1, -1):
                cont = _q(g, x, t, atts[t], resp[t, atts[t]], cont)
            values.append(cont[0])
        lo += g.prior[x] * min(values)
        hi += g.prior[x] * max(values)
    return lo, hi


def _games(seed, n):
    rng = np.random.default_rng(seed)
    for i in range(n):
        yield random_game(rng, 2, 2, 2, turns=int(rng.integers(2, 4)), explicit=bool(i % 2),
                          accrual=str(rng.choice(["sum", "final"])),
                          discount=float(rng.choice([1.0, 0.5])))


def test_strong_and_weak_are_the_attackers_best_and_worst_spne():
    node_by_node_wrong = 0
    for g in _games(5, 120):
        lo, hi = _brute_range(g)
        for tb, target in (("strong", hi), ("weak", lo)):
            eq = spne(g, tb)
            assert eq.value_attacker == pytest.approx(target, abs=1e-9)
            assert eq.value_range.attacker_min == pytest.approx(lo, abs=1e-9)
            assert eq.value_range.attacker_max == pytest.approx(hi, abs=1e-9)
            assert eq.value_range.method == "exact"
            m = evaluate(g, eq.profile)  # the returned profile is an SPNE with those values
            assert m.value_attacker == pytest.approx(eq.value_attacker, abs=1e-9)
            assert m.value_defender == pytest.approx(eq.value_defender, abs=1e-9)
            assert abs(m.nash_conv) <= 1e-9 and m.subgame_regret_max <= 1e-9
            # tie-breaking node by node (the explicit-tree reference of the old rule)
            node_by_node_wrong += abs(tree_spne(g, tb)[0] - target) > 1e-9
    assert node_by_node_wrong > 0  # the claim fails for T >= 2 without the search


def test_single_turn_range_matches_brute_force_and_needs_no_search():
    rng = np.random.default_rng(2)
    for i in range(40):
        g = random_game(rng, 2, 3, 2, explicit=bool(i % 2))
        values = [v[0] for v in brute_force_spne_values(g)]
        eq = spne(g)
        assert eq.tie_search is None
        assert eq.value_range.attacker_min == pytest.approx(min(values), abs=1e-9)
        assert eq.value_range.attacker_max == pytest.approx(max(values), abs=1e-9)


def test_pruned_search_says_heuristic():
    for g in _games(5, 60):
        if spne(g).tie_search.method != "exact":
            continue
        out = spne(g, "strong")
        arrays = [np.array(a) for a in (out.attack_choice, out.response_choice,
                                        out.continuation_attacker, out.continuation_defender)]
        levels, _ = spne_ties._levels(g, 0, 1e-9, spne_ties.MAX_PAIRS)
        if max(len(lv.pairs) for lv in levels) < 2:
            continue
        search = spne_ties.search_ties(g, True, 1e-9, tuple(arrays), cap=1)
        assert search.method == "heuristic"
        return
    pytest.fail("no game with a pair set to prune")


def test_details_report_range_and_search():
    g = seqgame.load_game("jailbreak_multiturn_v1")
    details = solve(g, "spne").details.to_json()
    eq = spne(g)
    assert details["value_range"] == {"attacker_min": eq.value_range.attacker_min,
                                      "attacker_max": eq.value_range.attacker_max,
                                      "method": "exact"}
    assert details["tie_search"] == eq.tie_search.method
    line = solve(g, "spne").details.describe()
    assert any("value range" in s for s in line)


def test_history_dependent_spne_can_leave_the_markov_range():
    """Why the search (and the docs) say "Markov": a history-dependent SPNE can reach a
    value no Markov SPNE reaches (found in 1 of 200 random 1 x 2 x 2, T = 2 games)."""
    rng = np.random.default_rng(7)
    wider = 0
    for i in range(40):
        g = random_game(rng, 1, 2, 2, turns=2, explicit=bool(i % 2))
        lo, hi = _brute_range(g)
        values = [v[0] for v in history_spne_values(g, 0)]
        assert lo >= min(values) - 1e-9 and hi <= max(values) + 1e-9  # Markov ones included
        wider += min(values) < lo - 1e-9 or max(values) > hi + 1e-9
    assert wider >= 1

"""Theorem 3.2 for T >= 2, pinned by brute-force enumeration of pure strategies.

The multi-turn statement checked here (docs/theory.md): if M(x, a) >= 0 at every node then
in every SPNE the Q-based fallback M_Q >= 0 everywhere, every supported non-refusal has
r_D >= 0, and every per-stage violation is a refusal chosen for its continuation value
(flagged ``continuation_driven``); if moreover every refusal has r_D >= 0, every SPNE is
pointwise safe at every turn. With T = 1 the fallback alone suffices (MAGIC's theorem).
"""

import itertools

import numpy as np
import pytest

from seqgame.analysis.safety import pointwise_safety
from seqgame.model.game import Label, Observation, Seed, SequentialGame
from seqgame.model.payoffs import Rewards
from seqgame.solvers.spne import spne

from .gamegen import random_game

ATOL = 1e-9


def _q(g, x, t, a, d, cont):
    """(Q_A, Q_D) of answer d to attack a at turn t, given the continuation pair."""
    u_a, u_d = g.payoffs
    if g.refusal_mask[d] and t < g.turns - 1:
        if g.accrual == "sum":
            return u_a[x, a, d] + g.discount * cont[0], u_d[x, a, d] + g.discount * cont[1]
        return g.discount * cont[0], g.discount * cont[1]
    return u_a[x, a, d], u_d[x, a, d]


def markov_spne(g, x):
    """Every pure Markov SPNE of seed x's subgame: ``(responses (T, A), attacks (T,))``.

    Enumerates all pure Markov strategies and keeps those in which, at every turn, every
    defender node (allowed attack) and the attacker are optimal given what follows.
    """
    n_a, n_d, turns = len(g.attacks), len(g.responses), g.turns
    allowed = [a for a in range(n_a) if g.allowed[x, a]]
    out = []
    for atts in itertools.product(allowed, repeat=turns):
        for flat in itertools.product(range(n_d), repeat=turns * n_a):
            resp = np.array(flat).reshape(turns, n_a)
            cont, ok = (0.0, 0.0), True
            for t in range(turns - 1, -1, -1):
                for a in allowed:
                    best = max(_q(g, x, t, a, d, cont)[1] for d in range(n_d))
                    ok &= _q(g, x, t, a, resp[t, a], cont)[1] >= best - ATOL
                values = [_q(g, x, t, a, resp[t, a], cont)[0] for a in allowed]
                ok &= _q(g, x, t, atts[t], resp[t, atts[t]], cont)[0] >= max(values) - ATOL
                if not ok:
                    break
                cont = _q(g, x, t, atts[t], resp[t, atts[t]], cont)
            if ok:
                out.append((resp, atts))
    return out


def history_spne_values(g, x):
    """(attacker, defender) values of every pure SPNE of seed x's explicit tree.

    Strategies may depend on the whole attack history (all refused so far).
    """
    n_a, n_d, turns = len(g.attacks), len(g.responses), g.turns
    allowed = [a for a in range(n_a) if g.allowed[x, a]]
    histories = [h for t in range(turns) for h in itertools.product(allowed, repeat=t)]
    nodes = [(*h, a) for h in histories for a in allowed]
    out = []
    for atts in itertools.product(allowed, repeat=len(histories)):
        att = dict(zip(histories, atts, strict=True))
        for resp in itertools.product(range(n_d), repeat=len(nodes)):
            sig = dict(zip(nodes, resp, strict=True))
            ok = True

            def value(h, sig=sig, att=att):
                nonlocal ok
                t = len(h)
                opts = {}
                for a in allowed:
                    nxt = value((*h, a)) if t < turns - 1 else (0.0, 0.0)
                    qs = [_q(g, x, t, a, d, nxt) for d in range(n_d)]
                    ok &= qs[sig[(*h, a)]][1] >= max(q[1] for q in qs) - ATOL
                    opts[a] = qs[sig[(*h, a)]]
                ok &= opts[att[h]][0] >= max(v[0] for v in opts.values()) - ATOL
                return opts[att[h]]

            v = value(())
            if ok:
                out.append(v)
    return out


def leaky_game() -> SequentialGame:
    """The issue's example: refusing `leaky` leaks (p 0.8); `plain` pays the attacker 1.5."""
    unsafe = np.array([[[0.8, 0.0], [0.0, 1.0]]])  # (seed, attack, response)
    return SequentialGame(
        name="leaky_refusal", seeds=(Seed("h", Label.HARMFUL, 1.0),),
        attacks=("leaky", "plain"), responses=("refuse", "comply"),
        refusals=frozenset({"refuse"}), observation=Observation.FULL, unsafe=unsafe,
        rewards=Rewards(1.0, 0.5, 0.5), attacker_bonus=np.array([[0.0, 1.5]]), turns=2)


def test_leaky_refusal_example_unique_spne_is_unsafe_at_turn_1():
    g = leaky_game()
    # a safe answer exists at every node: comply with `leaky` (0.5), refuse `plain` (1.5)
    assert g.u_defender.max(axis=2).min() == pytest.approx(0.5)
    assert len(history_spne_values(g, 0)) == 1  # unique among all pure strategies
    (resp, atts), = markov_spne(g, 0)
    refuse, comply = g.response_index("refuse"), g.response_index("comply")
    assert resp[0, 0] == refuse and atts[0] == 0  # turn 1: `leaky` is sent and refused
    assert resp[1, 0] == comply and atts[1] == 1  # turn 2: `plain` is sent
    eq = spne(g)
    assert eq.attack_choice[:, 0].tolist() == list(atts)
    assert eq.response_choice[:, :, 0].tolist() == resp.tolist()
    report = pointwise_safety(g, eq.profile)
    (v,) = report.violations
    assert (v.turn, v.attack, v.response, v.on_path) == (0, "leaky", "refuse", True)
    assert v.reward == pytest.approx(-0.1)
    assert v.continuation_driven
    # M_Q at turn 1: refusing `leaky` is worth -0.1 + W_D[2] = -0.1 + 1.5
    assert report.fallback_value_q[0, 0, 0] == pytest.approx(1.4)
    assert not report.no_fallback


def test_negative_continuation_drives_an_unsafe_compliance():
    """A safe refusal is passed over because the turn after it has no fallback at all."""
    u_d = np.array([[[1.0, -1.0], [-5.0, -6.0]]])  # attacks a (refusal safe), b (M < 0)
    u_a = np.array([[[0.0, 1.0], [5.0, 6.0]]])
    g = SequentialGame(
        name="bad_continuation", seeds=(Seed("h", Label.HARMFUL, 1.0),), attacks=("a", "b"),
        responses=("refuse", "comply"), refusals=frozenset({"refuse"}),
        observation=Observation.FULL, unsafe=np.zeros((1, 2, 2)), rewards=None,
        payoff_tables=(u_a, u_d), turns=2)
    (resp, _), = markov_spne(g, 0)
    assert resp[0, 0] == 1  # turn 1 complies with `a` (r_D -1) rather than refuse (1 - 5)
    report = pointwise_safety(g, spne(g).profile)
    at_a = [v for v in report.violations if v.attack == "a"]
    assert [(v.turn, v.response, v.continuation_driven) for v in at_a] == [(0, "comply", True)]
    # at `b` there is no safe answer: those violations are not continuation-driven
    assert all(not v.continuation_driven for v in report.violations if v.attack == "b")


def _fallback_games(rng, turns, n, refusals_safe=False):
    """Random games (MAGIC rewards or explicit tables) with M(x, a) >= 0 at every node."""
    out = []
    while len(out) < n:
        g = random_game(rng, 2, 2, 2, turns=turns, explicit=bool(rng.random() < 0.3),
                        accrual=str(rng.choice(["sum", "final"])),
                        discount=float(rng.choice([1.0, 0.5])))
        u_d = g.u_defender
        if (np.where(g.allowed, u_d.max(axis=2), 0.0) < 0).any():
            continue
        if refusals_safe and (u_d[:, :, g.refusal_mask][g.allowed] < 0).any():
            continue
        out.append(g)
    return out


def _safe(g, x, resp):
    u_d = g.u_defender
    return all(u_d[x, a, resp[t, a]] >= -ATOL
               for t in range(g.turns) for a in np.flatnonzero(g.allowed[x]))


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_fallback_theorem_over_all_pure_spne(turns):
    """T = 1: every SPNE is safe. T >= 2: not always, and every violation is a leaking
    refusal flagged continuation-driven, with M_Q >= 0 everywhere."""
    rng = np.random.default_rng(11 + turns)
    unsafe_games = 0
    for g in _fallback_games(rng, turns, 40):
        all_safe = True
        for x in range(len(g.seeds)):
            equilibria = markov_spne(g, x)
            assert equilibria
            all_safe &= all(_safe(g, x, resp) for resp, _ in equilibria)
            for resp, _ in equilibria:  # only refusals before the last turn may be unsafe
                for t, a in itertools.product(range(turns), np.flatnonzero(g.allowed[x])):
                    if g.u_defender[x, a, resp[t, a]] < -ATOL:
                        assert g.refusal_mask[resp[t, a]] and t < turns - 1
        unsafe_games += not all_safe
        for tb in ("strong", "weak"):
            eq = spne(g, tb)
            assert eq.continuation_defender.min() >= -ATOL  # W_D >= 0
            report = pointwise_safety(g, eq.profile)
            assert report.fallback_value_q[:, g.allowed].min() >= -ATOL
            for v in report.violations:
                assert v.continuation_driven and v.response in g.refusals
                assert v.turn < turns - 1
    if turns == 1:
        assert unsafe_games == 0
    else:
        assert unsafe_games > 0


@pytest.mark.parametrize("turns", [2, 3])
def test_safe_refusals_make_every_spne_pointwise_safe(turns):
    rng = np.random.default_rng(29 + turns)
    for g in _fallback_games(rng, turns, 30, refusals_safe=True):
        for x in range(len(g.seeds)):
            assert all(_safe(g, x, resp) for resp, _ in markov_spne(g, x))
        for tb in ("strong", "weak"):
            assert pointwise_safety(g, spne(g, tb).profile).safe

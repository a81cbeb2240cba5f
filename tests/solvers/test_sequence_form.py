"""Sequence-form LP: against the single-turn LP, a brute-force normal form, and metrics."""

import dataclasses
import itertools
import json

import numpy as np
import pytest
from scipy.optimize import linprog

from seqgame.analysis.metrics import asr_and_over_refusal, evaluate
from seqgame.errors import GameTooLargeError, SolverError
from seqgame.games import builtin_game
from seqgame.model.game import Observation
from seqgame.solvers.concepts import solve
from seqgame.solvers.nash import zero_sum_nash
from seqgame.solvers.sequence_form import sequence_form_nash, supports_sequence_form
from tests.solver_games import random_game


def _multi(rng, obs, turns, accrual="sum", discount=1.0, n_seeds=2):
    game = random_game(rng, n_seeds, 2, 2, obs, general_sum=False)
    return game.replace(turns=turns, accrual=accrual, discount=discount, name="multi")


# ---------------------------------------------------------------- brute force, own tree walk
def _infosets(game):
    """Attacker sets (x, history) and defender sets, by a recursion of this test's own."""
    att, dfd = [], []
    refusals = [d for d in range(len(game.responses)) if game.refusal_mask[d]]

    def grow(x, hist):
        att.append((x, hist))
        for a in np.flatnonzero(game.allowed[x]):
            j = (x, hist, int(a)) if game.observation is Observation.FULL else (hist, int(a))
            if j not in dfd:
                dfd.append(j)
            if len(hist) < game.turns - 1:
                for d in refusals:
                    grow(x, (*hist, (int(a), d)))

    for x in range(len(game.seeds)):
        grow(x, ())
    return att, dfd


def _pure_payoff(game, att_sets, sa, dfd_sets, sd):
    """Expected (R_A, R_D) of pure strategies: walk each seed's single path."""
    full = game.observation is Observation.FULL
    total = np.zeros(2)
    for x in range(len(game.seeds)):
        hist, got = (), np.zeros(2)
        for t in range(game.turns):
            a = sa[att_sets.index((x, hist))]
            d = sd[dfd_sets.index((x, hist, a) if full else (hist, a))]
            stage = game.discount**t * np.array([game.u_attacker[x, a, d],
                                                 game.u_defender[x, a, d]])
            ends = not game.refusal_mask[d] or t == game.turns - 1
            if game.accrual == "sum" or ends:
                got = got + stage
            if ends:
                break
            hist = (*hist, (a, d))
        total += game.prior[x] * got
    return total


def _brute_force_value(game):
    """Value of the zero-sum form (−R_D for the attacker) over pure behaviour strategies."""
    att_sets, dfd_sets = _infosets(game)
    att_choices = [list(np.flatnonzero(game.allowed[x])) for x, _ in att_sets]
    att_pure = list(itertools.product(*att_choices))
    dfd_pure = list(itertools.product(range(len(game.responses)), repeat=len(dfd_sets)))
    z = np.array([[-_pure_payoff(game, att_sets, sa, dfd_sets, sd)[1] for sd in dfd_pure]
                  for sa in att_pure])
    m, n = z.shape
    # max v s.t. zᵀp >= v, Σp = 1
    res = linprog(np.r_[np.zeros(m), -1.0], A_ub=np.c_[-z.T, np.ones(n)], b_ub=np.zeros(n),
                  A_eq=[np.r_[np.ones(m), 0.0]], b_eq=[1.0],
                  bounds=[(0, None)] * m + [(None, None)], method="highs")
    assert res.status == 0
    return -res.fun


@pytest.mark.parametrize("obs", ["attack", "full"])
@pytest.mark.parametrize(("accrual", "discount"), [("sum", 1.0), ("final", 0.8)])
def test_two_turn_value_matches_brute_force_normal_form(obs, accrual, discount):
    rng = np.random.default_rng(11)
    for _ in range(3):
        # full observation: one seed keeps the brute force at 64 x 64 pure strategies
        game = _multi(rng, obs, 2, accrual, discount, n_seeds=2 if obs == "attack" else 1)
        result = sequence_form_nash(game)
        assert result.value == pytest.approx(_brute_force_value(game), abs=1e-8)
        # the zero-sum form at T >= 2 is −R_D: the defender's value is minus the game value
        assert result.value_defender == pytest.approx(-result.value, abs=1e-8)


def test_strategically_zero_sum_multi_turn_matches_brute_force():
    # MAGIC-style: U_A = −U_D + a seed-only term (format reward); still solved exactly
    game = builtin_game("jailbreak_multiturn_v1")
    seeds = tuple(dataclasses.replace(s, prior=0.5) for s in game.seeds[:2])
    small = game.replace(
        seeds=seeds, attacks=game.attacks[:2], turns=2, name="mt_small",
        unsafe=game.unsafe[:2, :2], allowed=None, attacker_bonus=None,
        observation=Observation.ATTACK)
    assert supports_sequence_form(small)
    assert sequence_form_nash(small).value == pytest.approx(_brute_force_value(small), abs=1e-8)


@pytest.mark.parametrize("obs", ["attack", "full"])
def test_single_turn_value_equals_zero_sum_lp(obs):
    rng = np.random.default_rng(3)
    for general in (False, True):
        game = random_game(rng, 3, 3, 2, obs, general_sum=False)
        if general:  # attacker-only term per (seed, attack): strategically zero-sum
            game = game.replace(payoff_tables=(game.u_attacker + rng.normal(size=(3, 3, 1)),
                                               game.u_defender))
        result = sequence_form_nash(game)
        assert result.value == pytest.approx(zero_sum_nash(game).values[0][0], abs=1e-8)
        assert result.profile is not None  # one turn: always Markov
        assert evaluate(game, result.profile).nash_conv == pytest.approx(0.0, abs=1e-8)


def test_markov_profile_is_an_equilibrium_by_metrics():
    rng = np.random.default_rng(5)
    checked = 0
    for _ in range(12):
        game = _multi(rng, "full", 3, "sum", 0.9)
        result = sequence_form_nash(game)
        if result.profile is not None:
            checked += 1
            assert evaluate(game, result.profile).nash_conv == pytest.approx(0.0, abs=1e-8)
    assert checked >= 3  # the LP often returns a history-dependent equilibrium instead


def test_per_turn_asr_and_over_refusal_match_metrics():
    game = builtin_game("jailbreak_multiturn_v1").replace(accrual="sum", name="mt_sum")
    result = sequence_form_nash(game)
    assert result.profile is not None
    asr, over = asr_and_over_refusal(game, result.profile)
    # refusals are safe here, so each unsafe answer ends the episode: the rates add up
    assert not np.any(game.unsafe[:, :, game.refusal_mask])
    assert result.asr.sum() == pytest.approx(asr, abs=1e-12)
    one = builtin_game("disguise_mixed_v1")
    res1 = sequence_form_nash(one)
    asr1, over1 = asr_and_over_refusal(one, res1.profile)
    assert res1.asr[0] == pytest.approx(asr1) and res1.over_refusal[0] == pytest.approx(over1)
    assert res1.over_refusal[0] == pytest.approx(0.8)  # the PBE's closed form (1 − 1/5)


def test_attack_dependent_bonus_is_not_zero_sum_over_several_turns():
    game = builtin_game("disguise_mixed_v1")
    assert supports_sequence_form(game)  # one turn: the bonus is attacker-only
    with pytest.raises(SolverError, match="not strategically zero-sum over 2 turns"):
        sequence_form_nash(game.replace(turns=2, name="disguise_t2"))


def test_size_guard_names_the_sizes():
    game = builtin_game("jailbreak_hidden_v1").replace(turns=3, name="big")
    with pytest.raises(GameTooLargeError, match=r"X=12, A=21, D=2, 1 refusals, T=3"):
        sequence_form_nash(game)


def test_solve_nash_multi_turn_json_and_per_turn_rates():
    solution = solve(builtin_game("jailbreak_multiturn_v1"), "nash")
    out = json.loads(json.dumps(solution.to_json(), allow_nan=False))
    details = out["details"]
    assert details["method"] == "sequence_form_lp" and details["markov"]
    assert len(details["asr_per_turn"]) == 3 and len(out["per_turn"]) == 3
    assert out["metrics"]["nash_conv"] == pytest.approx(0.0, abs=1e-8)
    assert out["value"]["defender"] == pytest.approx(-details["game_value"], abs=1e-9)
    assert any(line.startswith("turn 3: equilibrium ASR") for line in
               solution.details.describe())
    with pytest.raises(SolverError, match="'enumerate' handles single-turn games"):
        solve(builtin_game("jailbreak_multiturn_v1"), "nash", method="enumerate")
    one = solve(builtin_game("disguise_mixed_v1"), "nash", method="sequence_form")
    assert one.details.game_value == pytest.approx(
        solve(builtin_game("disguise_mixed_v1"), "nash", method="lp").to_json()["value"][
            "attacker"])


def test_solve_nash_refuses_history_dependent_equilibrium_clearly():
    game = builtin_game("jailbreak_multiturn_v1").replace(observation=Observation.ATTACK,
                                                          name="mt_hidden")
    result = sequence_form_nash(game)
    assert result.profile is None and result.defender_behaviour
    with pytest.raises(SolverError, match="conditions on the attack history"):
        solve(game, "nash")

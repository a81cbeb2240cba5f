"""GRPO's per-group std scaling moves the learned refusal threshold to μ = 1/2 (issue 11).

Independent derivation (docs/grpo-normalisation.md): a defender group shares the seed;
with k refusals of G (p̂ = k/G) the group's mean score-function term on the refusal logit
is Δ·p̂(1 − p̂) with raw centred rewards (Δ = +3 harmful, −1 benign at MAGIC's weights)
and sign(Δ)·√(p̂(1 − p̂)) after dividing by the group's std. The tests below enumerate
every outcome of a group of G Bernoulli answers with plain Python (no library code) and
compare with the library's ``group_advantages`` and with the trained tabular learner.
"""

import itertools

import numpy as np
import pytest

from seqgame.backends.tabular.grpo import GRPOLearner, group_advantages
from seqgame.games.toys import disguise_game
from seqgame.model.game import Role
from seqgame.training.table_policy import fixed_attack_policy

REFUSE_COMPLY = {True: (1.5, -1.5), False: (0.5, 1.5)}  # harmful?, MAGIC's weights


def brute_expected_update(mu, pi, g, scale):
    """E[mean_i A_i (1[refuse_i] − π)] over all 2^G answer sequences and both seed types."""
    total = 0.0
    for harmful, weight in ((True, mu), (False, 1 - mu)):
        r_ref, r_comp = REFUSE_COMPLY[harmful]
        for answers in itertools.product((True, False), repeat=g):
            prob = np.prod([pi if a else 1 - pi for a in answers])
            r = [r_ref if a else r_comp for a in answers]
            mean = sum(r) / g
            std = (sum((x - mean) ** 2 for x in r) / g) ** 0.5
            adv = [(x - mean) / (std + 1e-4) if scale == "group" else x - mean for x in r]
            score = sum(ad * ((1.0 if a else 0.0) - pi) for ad, a in zip(adv, answers,
                                                                         strict=True))
            total += weight * prob * score / g
    return total


def closed_form(mu, pi, g, scale):
    """(2μ − 1)·E[√(p̂(1 − p̂))] with group scaling, (4μ − 1)·E[p̂(1 − p̂)] without."""
    from math import comb

    out = 0.0
    for k in range(g + 1):
        pmf = comb(g, k) * pi**k * (1 - pi) ** (g - k)
        var = (k / g) * (1 - k / g)
        out += pmf * (np.sqrt(var) if scale == "group" else var)
    return (2 * mu - 1) * out if scale == "group" else (4 * mu - 1) * out


@pytest.mark.parametrize("g", [2, 3, 4, 6])
@pytest.mark.parametrize("pi", [0.05, 0.3, 0.5, 0.9])
@pytest.mark.parametrize("mu", [0.1, 0.25, 0.4, 0.5, 0.6, 0.9])
def test_closed_form_matches_enumeration(mu, pi, g):
    assert brute_expected_update(mu, pi, g, "none") == pytest.approx(
        closed_form(mu, pi, g, "none"), abs=1e-12)
    # the std division's ε = 1e-4 perturbs the group form by O(ε/std), std >= 1/G here
    assert brute_expected_update(mu, pi, g, "group") == pytest.approx(
        closed_form(mu, pi, g, "group"), abs=1e-3)


@pytest.mark.parametrize("g", [2, 4, 8])
@pytest.mark.parametrize("pi", [0.1, 0.5, 0.9])
def test_sign_flips_at_one_half_with_group_scaling_and_one_quarter_without(pi, g):
    for mu in (0.26, 0.3, 0.4, 0.45, 0.49):
        assert brute_expected_update(mu, pi, g, "group") < 0 < brute_expected_update(
            mu, pi, g, "none")
    for mu in (0.51, 0.6, 0.9):
        assert brute_expected_update(mu, pi, g, "group") > 0
    for mu in (0.05, 0.2, 0.24):
        assert brute_expected_update(mu, pi, g, "none") < 0


def test_library_advantages_agree_with_the_enumeration():
    rng = np.random.default_rng(0)
    for _ in range(20):
        r = rng.choice([1.5, -1.5, 0.5], size=(3, 5))
        for scale in ("group", "none"):
            mine = r - r.mean(axis=1, keepdims=True)
            if scale == "group":
                mine = mine / (r.std(axis=1, keepdims=True) + 1e-4)
            np.testing.assert_allclose(group_advantages(r, scale), mine)


def _learned_refusal(mu, scale, g=4, steps=150, seed=0):
    game = disguise_game(mu)
    learner = GRPOLearner(game, Role.DEFENDER, num_generations=g, seeds_per_step=32,
                          learning_rate=0.5, scale_rewards=scale)
    learner.train_against(fixed_attack_policy(game, "ambiguous"), steps,
                          np.random.default_rng(seed))
    return learner.policy().table[0, game.attack_index("ambiguous"),
                                  game.response_index("refuse")]


@pytest.mark.parametrize("g", [2, 4])
def test_tabular_grpo_learns_the_shifted_threshold(g):
    for mu in (0.15, 0.35, 0.42):  # μ* = 1/4 < μ < 1/2: the scaled learner complies
        assert _learned_refusal(mu, "group", g) < 0.05
    assert _learned_refusal(0.62, "group", g) > 0.95
    assert _learned_refusal(0.15, "none", g) < 0.05
    for mu in (0.35, 0.42, 0.62):  # without scaling refusal is learned above μ* = 1/4
        assert _learned_refusal(mu, "none", g) > 0.95


def test_unanimous_groups_give_no_update():
    """A saturated policy samples unanimous groups: zero advantage, the learner freezes."""
    r = np.full((4, 4), 1.5)
    assert not np.any(group_advantages(r, "group")) and not np.any(group_advantages(r, "none"))
    game = disguise_game(0.6)
    learner = GRPOLearner(game, Role.DEFENDER, scale_rewards="group")
    learner.weights[:, learner.layout.n_actions - 1] = 40.0  # comply with certainty
    before = learner.weights.copy()
    learner.train_against(fixed_attack_policy(game, "ambiguous"), 5, np.random.default_rng(0))
    np.testing.assert_array_equal(learner.weights, before)


def test_experiment_quick_run(tmp_path):
    import importlib.util
    import json
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "experiments" / "grpo_threshold.py"
    spec = importlib.util.spec_from_file_location("grpo_threshold", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["grpo_threshold"] = module
    spec.loader.exec_module(module)
    assert module.main(["--out", str(tmp_path), "--quick"]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "grpo_threshold.png").stat().st_size > 10_000
    assert res["sweep"]["group/G4"]["threshold_mean"] > 0.35
    assert res["sweep"]["none/G4"]["threshold_mean"] < 0.35
    for root in res["exact_sign_change"]["none/G4"]:
        assert root == pytest.approx(0.25, abs=1e-6)
    for root in res["exact_sign_change"]["group/G4"]:
        assert root == pytest.approx(0.5, abs=1e-3)
    assert module.expected_update(0.3, 0.5, 4, "group") == pytest.approx(
        brute_expected_update(0.3, 0.5, 4, "group"), abs=1e-12)

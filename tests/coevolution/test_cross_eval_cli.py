"""``seqgame cross-eval``: snapshot cross-evaluation, payoff matrices and the meta-game."""

import json

import numpy as np
import pytest

from seqgame import runner as runs
from seqgame.cli import main
from seqgame.errors import CheckpointError
from seqgame.games.catalog import load_game
from seqgame.runner.cross_eval_run import (
    cross_evaluate_run,
    meta_game,
    payoff_matrices,
    solve_zero_sum,
)
from seqgame.runner.store import load_snapshots
from seqgame.solvers.nash import matrix_equilibria

SMALL = {"name": "small", "game": "example_v1", "steps": 30, "checkpoint_every": 10,
         "plot": False, "attacker": {"exploration": 0.1}, "defender": {"learning_rate": 0.5},
         "schedule": {"freq": 7}}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("run") / "r"
    runs.train(runs.RunConfig.from_dict(SMALL), path)
    return path


def test_zero_sum_2x2_matches_the_closed_form():
    # no saddle point: v = (ad - bc) / (a + d - b - c), x1 = (d - c) / (a + d - b - c)
    a, b, c, d = 0.9, 0.2, 0.3, 0.6
    sol = solve_zero_sum(np.array([[a, b], [c, d]]))
    den = a + d - b - c
    assert sol.value == pytest.approx((a * d - b * c) / den)
    assert sol.row[0] == pytest.approx((d - c) / den)
    assert sol.col[0] == pytest.approx((d - b) / den)


@pytest.mark.parametrize("seed", range(5))
def test_zero_sum_value_agrees_with_vertex_enumeration(seed):
    rng = np.random.default_rng(seed)
    m = rng.uniform(size=(4, 5))
    sol = solve_zero_sum(m)
    # every equilibrium of the zero-sum bimatrix game (M, -M) has the game's value
    eqs = matrix_equilibria(m, -m)
    assert eqs and all(e.row_value == pytest.approx(sol.value, abs=1e-7) for e in eqs)
    # optimality certificates: x guarantees >= v against every column, y <= v to every row
    assert np.all(sol.row @ m >= sol.value - 1e-8)
    assert np.all(m @ sol.col <= sol.value + 1e-8)


def test_exploitability_is_zero_for_a_dominant_last_defender_and_positive_otherwise():
    asr = np.array([[0.8, 0.5, 0.1], [0.6, 0.7, 0.2], [0.9, 0.4, 0.15]])
    u_d = -asr
    meta = meta_game(asr, asr.copy(), u_d)
    assert meta.exploitability_asr == pytest.approx(0.0, abs=1e-9)  # column 3 dominates
    assert meta.defender_payoff.col[-1] == pytest.approx(1.0)
    flipped = asr[:, [2, 1, 0]]
    meta = meta_game(flipped, flipped.copy(), -flipped)
    # brute force over the population: the best attacker against the last defender
    assert meta.exploitability_asr == pytest.approx(flipped[:, -1].max() - 0.2)
    assert meta.exploitability_defender == pytest.approx(-0.2 - (-flipped[:, -1]).min())
    assert meta.bimatrix is not None and meta.bimatrix


def test_payoff_matrices_match_brute_force_enumeration(run_dir):
    game = load_game("example_v1")
    snaps = load_snapshots(run_dir / "snapshots")
    u_a, u_d = payoff_matrices(game, snaps)
    pay_a, pay_d = game.payoffs
    for i in (0, len(snaps) - 1):
        for j in (0, len(snaps) // 2):
            a = snaps[i].attacker.reshape(-1, *game.shape[:2])[0]
            d = snaps[j].defender.reshape(-1, *game.shape)[0]
            joint = game.prior[:, None, None] * a[:, :, None] * d
            assert u_a[i, j] == pytest.approx(float((joint * pay_a).sum()))
            assert u_d[i, j] == pytest.approx(float((joint * pay_d).sum()))


def test_cross_eval_cli_writes_matrices_heatmap_and_meta_game(run_dir, capsys):
    out = run_dir / "xe"
    assert main(["cross-eval", str(run_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Exploitability of the last defender" in printed
    data = json.loads((out / "cross_eval.json").read_text())
    n = len(load_snapshots(run_dir / "snapshots"))
    assert np.array(data["asr"]).shape == (n, n) and data["tables"] == "exact"
    assert (out / "cross_evaluation.png").stat().st_size > 1000
    result = cross_evaluate_run(run_dir)
    meta = data["meta_game"]
    assert meta["asr"]["value"] == pytest.approx(result.meta.asr.value)
    asr = np.array(data["asr"])
    assert meta["exploitability_last_defender_asr"] == pytest.approx(
        asr[:, -1].max() - meta["asr"]["value"])
    assert meta["exploitability_last_defender_asr"] >= -1e-9
    md = (out / "cross_eval.md").read_text()
    assert "| attacker \\ defender |" in md


def test_cross_eval_without_snapshots_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(CheckpointError, match="not a run directory"):
        cross_evaluate_run(tmp_path)
    assert main(["cross-eval", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err

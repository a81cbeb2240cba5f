"""Cross-evaluation of a run folder's snapshots and the meta-game over them (MAGIC Fig. 3).

A run keeps both policies' tables at every phase end (``snapshots/``). Every attacker
snapshot i is played against every defender snapshot j, exactly on the run's game
(:func:`seqgame.training.cross_eval.cross_evaluate`): the ASR matrix and the empirical
payoff matrices — the attacker's and the defender's expected payoffs (prior-weighted
continuation values), float ``(n, n)``, attacker snapshots in rows.

The **meta-game** treats the snapshots as pure strategies:

* the zero-sum ASR game (the attacker maximises ASR, the defender minimises it) and the
  zero-sum game on the defender's payoff, each solved by one LP per side through
  :func:`seqgame.solvers.highs.linear_program` (the two sides' values must agree);
* the bimatrix game (attacker payoff, defender payoff): its extreme Nash equilibria by
  :func:`seqgame.solvers.nash.matrix_equilibria` where the enumeration fits (up to about
  12 snapshots), else skipped with the reason.

The **exploitability of the last defender within the population**: how much better the best
attacker snapshot does against it than the meta-game's value — ``max_i ASR[i, last] −
v_ASR`` and ``v_D − min_i U_D[i, last]``, both >= 0, and 0 when the last defender is a
meta-game equilibrium strategy.

LLM runs store the tables of the tabular twin *estimated* by sampling the models at each
phase end (the weights of each phase are not kept: only the latest checkpoints), so their
cross-evaluation is exact on those estimated tables, not a replay of the models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqgame.analysis.values import continuation
from seqgame.errors import CheckpointError, GameTooLargeError, SolverError
from seqgame.games.catalog import load_game
from seqgame.model.game import SequentialGame
from seqgame.model.profile import Profile
from seqgame.runner.config import RunConfig
from seqgame.runner.store import load_snapshots, write_json_atomic
from seqgame.solvers.highs import linear_program
from seqgame.solvers.nash import matrix_equilibria
from seqgame.training.cross_eval import CrossEvaluation, Snapshot, cross_evaluate


@dataclass(frozen=True)
class ZeroSumSolution:
    """A matrix game the row player maximises and the column player minimises.

    Attributes:
        value: the game's value (max-min = min-max).
        row, col: float ``(m,)`` / ``(n,)`` optimal mixed strategies.
    """

    value: float
    row: np.ndarray
    col: np.ndarray


@dataclass(frozen=True)
class MetaGame:
    """The meta-game over a run's snapshots (see the module docstring).

    Attributes:
        asr: the zero-sum ASR game (attacker rows maximise).
        defender_payoff: the zero-sum game on U_D, solved with the defender maximising;
            ``value`` is the defender's maximin payoff v_D.
        exploitability_asr: ``max_i ASR[i, last] − asr.value``.
        exploitability_defender: ``v_D − min_i U_D[i, last]``.
        bimatrix: the extreme equilibria of (U_A, U_D), or None when skipped.
        bimatrix_skipped: why they were not enumerated ('' when they were).
    """

    asr: ZeroSumSolution
    defender_payoff: ZeroSumSolution
    exploitability_asr: float
    exploitability_defender: float
    bimatrix: list[dict[str, Any]] | None
    bimatrix_skipped: str = ""


def solve_zero_sum(matrix: np.ndarray) -> ZeroSumSolution:
    """Value and optimal strategies of the matrix game (row maximises ``x^T M y``).

    Raises:
        SolverError: an LP fails, or the two LPs' values disagree.
    """
    m = np.asarray(matrix, dtype=float)
    if m.ndim != 2 or 0 in m.shape:
        raise SolverError(f"meta-game matrix has shape {m.shape}: need (m, n) with m, n >= 1")
    rows, cols = m.shape
    # row LP over (x, v): max v s.t. v <= (M^T x)_j for every column j, sum x = 1
    row = linear_program(np.r_[np.zeros(rows), -1.0],
                         a_ub=np.c_[-m.T, np.ones(cols)], b_ub=np.zeros(cols),
                         a_eq=[np.r_[np.ones(rows), 0.0]], b_eq=[1.0],
                         bounds=[(0, None)] * rows + [(None, None)], what="meta-game (rows)")
    # column LP over (y, w): min w s.t. (M y)_i <= w for every row i, sum y = 1
    col = linear_program(np.r_[np.zeros(cols), 1.0],
                         a_ub=np.c_[m, -np.ones(rows)], b_ub=np.zeros(rows),
                         a_eq=[np.r_[np.ones(cols), 0.0]], b_eq=[1.0],
                         bounds=[(0, None)] * cols + [(None, None)], what="meta-game (columns)")
    assert row is not None and col is not None  # infeasible_ok is off
    v_row, v_col = -row.fun, col.fun
    if abs(v_row - v_col) > 1e-7 * max(1.0, abs(v_row)):
        raise SolverError(f"meta-game: max-min {v_row} != min-max {v_col}")
    x = np.clip(row.x[:rows], 0.0, None)
    y = np.clip(col.x[:cols], 0.0, None)
    return ZeroSumSolution(float(v_row), x / x.sum(), y / y.sum())


def payoff_matrices(game: SequentialGame, snapshots: list[Snapshot]
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Expected payoffs ``(U_A, U_D)``, each float ``(n, n)``, attacker snapshot in rows."""
    n = len(snapshots)
    u_a, u_d = np.zeros((n, n)), np.zeros((n, n))
    for i, a in enumerate(snapshots):
        for j, d in enumerate(snapshots):
            w = continuation(game, Profile.from_arrays(game, a.attacker, d.defender))
            u_a[i, j] = float(np.dot(game.prior, w.attacker[0]))
            u_d[i, j] = float(np.dot(game.prior, w.defender[0]))
    return u_a, u_d


def meta_game(asr: np.ndarray, u_a: np.ndarray, u_d: np.ndarray) -> MetaGame:
    """Solve the meta-game of the matrices (see the module docstring)."""
    asr_game = solve_zero_sum(asr)
    flipped = solve_zero_sum(-u_d)  # rows (attackers) maximise -U_D
    defender = ZeroSumSolution(-flipped.value, flipped.row, flipped.col)
    bimatrix: list[dict[str, Any]] | None = None
    skipped = ""
    try:
        bimatrix = [{"attacker": e.row.tolist(), "defender": e.col.tolist(),
                     "attacker_payoff": e.row_value, "defender_payoff": e.col_value}
                    for e in matrix_equilibria(u_a, u_d)]
    except GameTooLargeError as exc:
        skipped = str(exc)
    return MetaGame(asr_game, defender,
                    float(asr[:, -1].max() - asr_game.value),
                    float(defender.value - u_d[:, -1].min()), bimatrix, skipped)


@dataclass(frozen=True)
class RunCrossEvaluation:
    """A run folder's cross-evaluation: matrices, meta-game, and what was evaluated."""

    run_dir: Path
    config: RunConfig
    cross: CrossEvaluation
    attacker_payoff: np.ndarray
    defender_payoff: np.ndarray
    meta: MetaGame
    estimated: bool  # snapshots of an LLM run: tables estimated by sampling

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (``cross_eval.json``)."""
        m = self.meta

        def sol(s: ZeroSumSolution) -> dict[str, Any]:
            return {"value": s.value, "attacker": s.row.tolist(), "defender": s.col.tolist()}

        return {
            "run": str(self.run_dir), "game": self.config.game, "backend": self.config.backend,
            "tables": "estimated by sampling (LLM run)" if self.estimated else "exact",
            "steps_attacker": self.cross.steps_attacker.tolist(),
            "steps_defender": self.cross.steps_defender.tolist(),
            "asr": self.cross.asr.tolist(), "attacker_payoff": self.attacker_payoff.tolist(),
            "defender_payoff": self.defender_payoff.tolist(),
            "meta_game": {"asr": sol(m.asr), "defender_payoff": sol(m.defender_payoff),
                          "exploitability_last_defender_asr": m.exploitability_asr,
                          "exploitability_last_defender_payoff": m.exploitability_defender,
                          "bimatrix_equilibria": m.bimatrix,
                          "bimatrix_skipped": m.bimatrix_skipped},
        }


def cross_evaluate_run(run_dir: str | Path) -> RunCrossEvaluation:
    """Cross-evaluate the snapshots of a run folder and solve its meta-game.

    Raises:
        CheckpointError: not a run folder, or it has no snapshots yet.
    """
    from seqgame.runner.launch import read_run_config

    path = Path(run_dir)
    config = read_run_config(path)
    snaps = load_snapshots(path / "snapshots")
    if not snaps:
        raise CheckpointError(f"{path} has no snapshots yet (one is saved at every phase "
                              "end): train longer, then run cross-eval again")
    game = load_game(config.game)
    cross = cross_evaluate(game, snaps)
    u_a, u_d = payoff_matrices(game, snaps)
    return RunCrossEvaluation(path, config, cross, u_a, u_d, meta_game(cross.asr, u_a, u_d),
                              estimated=config.backend != "tabular")


def _matrix_md(name: str, mat: np.ndarray, steps_a: np.ndarray, steps_d: np.ndarray) -> str:
    head = "| attacker \\ defender | " + " | ".join(str(int(s)) for s in steps_d) + " |"
    lines = [f"**{name}** (rows: attacker snapshot step; columns: defender snapshot step)", "",
             head, "|---|" + "---|" * len(steps_d)]
    lines += [f"| {int(s)} | " + " | ".join(f"{v:.3f}" for v in row) + " |"
              for s, row in zip(steps_a, mat, strict=True)]
    return "\n".join(lines)


def cross_eval_markdown(result: RunCrossEvaluation) -> str:
    """``cross_eval.md``: the matrices and the meta-game."""
    m, c = result.meta, result.cross
    tables = "estimated by sampling the models" if result.estimated else "exact"
    mixes = "; ".join(f"{int(s)}: {p:.3f}" for s, p in zip(c.steps_defender, m.asr.col,
                                                            strict=True) if p > 1e-9)
    lines = [f"# Cross-evaluation of {result.run_dir} ({result.config.game}, {tables})", "",
             _matrix_md("ASR", c.asr, c.steps_attacker, c.steps_defender), "",
             _matrix_md("defender payoff", result.defender_payoff, c.steps_attacker,
                        c.steps_defender), "",
             f"Meta-game (ASR, zero-sum): value {m.asr.value:.4f}; defender equilibrium mix "
             f"over snapshot steps {{{mixes}}}.",
             "Meta-game (defender payoff, zero-sum): defender maximin "
             f"{m.defender_payoff.value:.4f}.",
             f"Exploitability of the last defender within the population: ASR "
             f"{m.exploitability_asr:.4f}, payoff {m.exploitability_defender:.4f}."]
    if m.bimatrix is not None:
        lines.append(f"Bimatrix meta-game (U_A, U_D): {len(m.bimatrix)} extreme equilibria.")
    else:
        lines.append(f"Bimatrix meta-game skipped: {m.bimatrix_skipped}")
    return "\n".join(lines) + "\n"


def write_cross_eval(result: RunCrossEvaluation, out: Path) -> list[Path]:
    """Write ``cross_eval.json``, ``cross_eval.md`` and the heatmap; return the paths."""
    from seqgame.errors import BackendUnavailableError
    from seqgame.plots import plot_cross_evaluation

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "cross_eval.json", out / "cross_eval.md"]
    write_json_atomic(paths[0], result.to_json())
    paths[1].write_text(cross_eval_markdown(result), encoding="utf-8")
    try:
        fig = plot_cross_evaluation(result.cross, title=f"Cross-evaluation: {result.config.name}"
                                    f" on {result.config.game}")
        fig.savefig(out / "cross_evaluation.png", dpi=110)
        paths.append(out / "cross_evaluation.png")
    except BackendUnavailableError:
        pass
    return paths

"""The one wrapper around SciPy's HiGHS LP and MILP solvers, with one status policy.

Every linear or mixed-integer program in seqgame goes through :func:`linear_program` or
:func:`mixed_integer_program`. Policy: an optimal solution is returned; an infeasible
problem returns None only where the caller says infeasibility is an answer (a feasibility
test), else it is a :class:`~seqgame.errors.SolverError`; a MILP time limit is a
:class:`~seqgame.errors.GameTooLargeError`; every other status is a SolverError naming the
problem and HiGHS's message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, linprog, milp

from seqgame.errors import GameTooLargeError, SolverError

OPTIMAL, TIME_LIMIT, INFEASIBLE = 0, 1, 2


@dataclass(frozen=True)
class LPSolution:
    """An optimal solution: ``x``, the minimised objective ``fun`` and HiGHS's message."""

    x: np.ndarray
    fun: float
    message: str
    status: int = OPTIMAL
    mip_gap: float | None = None


def _rows(a: Sequence | np.ndarray | None, b: Sequence | np.ndarray | None
          ) -> tuple[np.ndarray | None, np.ndarray | None]:
    if a is None or b is None or len(b) == 0:
        return None, None
    return np.asarray(a, dtype=float), np.asarray(b, dtype=float)


def linear_program(
    c: np.ndarray,
    *,
    a_ub: Sequence | np.ndarray | None = None,
    b_ub: Sequence | np.ndarray | None = None,
    a_eq: Sequence | np.ndarray | None = None,
    b_eq: Sequence | np.ndarray | None = None,
    bounds: Sequence[tuple[float | None, float | None]],
    what: str,
    infeasible_ok: bool = False,
) -> LPSolution | None:
    """Minimise ``c·x`` s.t. ``a_ub x <= b_ub``, ``a_eq x = b_eq``, ``bounds`` (HiGHS).

    Args:
        c: float ``(n,)`` objective.
        a_ub: inequality rows (empty or None: no inequalities).
        b_ub: their right-hand sides.
        a_eq: equality rows (empty or None: no equalities).
        b_eq: their right-hand sides.
        bounds: one ``(low, high)`` per variable (None for unbounded).
        what: the problem's name, for error messages.
        infeasible_ok: return None when the problem is infeasible (a feasibility test).

    Raises:
        SolverError: any status other than optimal (and infeasible when allowed).
    """
    a_ub, b_ub = _rows(a_ub, b_ub)
    a_eq, b_eq = _rows(a_eq, b_eq)
    res = linprog(c, A_ub=a_ub, b_ub=b_ub, A_eq=a_eq, b_eq=b_eq, bounds=bounds, method="highs")
    if res.status == OPTIMAL:
        return LPSolution(np.asarray(res.x), float(res.fun), str(res.message))
    if res.status == INFEASIBLE and infeasible_ok:
        return None
    raise SolverError(f"{what}: HiGHS status {res.status} ({res.message})")


def mixed_integer_program(
    c: np.ndarray, rows: Sequence | np.ndarray, lo: Sequence | np.ndarray,
    hi: Sequence | np.ndarray, integrality: np.ndarray, lb: Sequence | np.ndarray,
    ub: Sequence | np.ndarray, *, what: str, time_limit: float, rel_gap: float = 1e-9,
) -> LPSolution:
    """Minimise ``c·x`` s.t. ``lo <= rows·x <= hi``, ``lb <= x <= ub``, integrality (HiGHS).

    Raises:
        GameTooLargeError: the time limit was hit before optimality was proved.
        SolverError: any other non-optimal status.
    """
    res = milp(c, constraints=LinearConstraint(np.array(rows), np.array(lo), np.array(hi)),
               integrality=integrality, bounds=Bounds(lb, ub),
               options={"mip_rel_gap": rel_gap, "time_limit": time_limit})
    if res.status == TIME_LIMIT:
        raise GameTooLargeError(
            f"{what} hit its time limit ({time_limit:g} s) before proving optimality "
            f"({res.message}): Bayesian Stackelberg is NP-hard in the number of seeds; give "
            "a larger time_limit, merge seeds with equal payoffs, or use 'pbe'/'nash'"
        )
    if res.status != OPTIMAL or res.x is None:
        raise SolverError(f"{what}: HiGHS status {res.status} ({res.message})")
    gap = getattr(res, "mip_gap", None)
    return LPSolution(np.asarray(res.x), float(res.fun), str(res.message), res.status,
                      None if gap is None else float(gap))

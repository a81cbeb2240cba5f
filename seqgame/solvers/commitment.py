"""Optimal commitment in a bimatrix game (Conitzer & Sandholm 2006): strong and weak values.

:func:`stackelberg_matrix` solves one LP per follower action j: the leader's best mixed
strategy among those that make j a follower best response. The strong value takes the
follower's ties in the leader's favour; the weak value against it, a supremum that may not
be attained — reported, never looped on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.errors import SolverError
from seqgame.solvers.highs import INFEASIBLE, LPSolution, linear_program


@dataclass(frozen=True, eq=False)
class MatrixStackelberg:
    """Optimal commitment of the row player in a bimatrix game.

    Attributes:
        commitment: float ``(m,)``, the leader's strong-Stackelberg mixed strategy.
        follower_action: the follower's (leader-favoured) best response to it.
        value_leader, value_follower: strong Stackelberg payoffs.
        weak_value: supremum of the leader's payoff when the follower breaks ties against it.
        weak_attained: whether ``weak_commitment`` attains ``weak_value``.
        weak_commitment: float ``(m,)``, the optimum of the LP whose closure gives the
            supremum (attains it iff ``weak_attained``).
        lp_statuses: HiGHS status of each follower action's LP (0 optimal, 2 infeasible:
            that action is never a best response).
    """

    commitment: np.ndarray
    follower_action: int
    value_leader: float
    value_follower: float
    weak_value: float
    weak_attained: bool
    weak_commitment: np.ndarray
    lp_statuses: tuple[int, ...]


def _commit_lp(leader: np.ndarray, follower: np.ndarray, j: int, others: np.ndarray,
               objective: np.ndarray) -> LPSolution | None:
    """Max objective·x over x in the simplex where j is a best response against ``others``."""
    m = leader.shape[0]
    a_ub = (follower[:, others] - follower[:, [j]]).T if len(others) else np.zeros((0, m))
    return linear_program(-objective, a_ub=a_ub, b_ub=np.zeros(len(others)),
                          a_eq=np.ones((1, m)), b_eq=[1.0], bounds=[(0, 1)] * m,
                          what=f"commitment LP for follower action {j}", infeasible_ok=True)


def _strict_region_nonempty(follower: np.ndarray, j: int, others: np.ndarray) -> bool:
    """Return whether some leader strategy makes j strictly better than all ``others``."""
    m = follower.shape[0]
    if not len(others):
        return True
    # maximise s subject to F_j x - F_k x >= s for k in others, x in the simplex
    a_ub = np.hstack([(follower[:, others] - follower[:, [j]]).T, np.ones((len(others), 1))])
    c = np.zeros(m + 1)
    c[-1] = -1.0
    res = linear_program(c, a_ub=a_ub, b_ub=np.zeros(len(others)), a_eq=[[1.0] * m + [0.0]],
                         b_eq=[1.0], bounds=[(0, 1)] * m + [(None, 1.0)],
                         what="strict-region LP")
    assert res is not None  # infeasible_ok is off: an infeasible LP raised
    return -res.fun > 1e-9


def stackelberg_matrix(leader: np.ndarray, follower: np.ndarray, tol: float = 1e-9
                       ) -> MatrixStackelberg:
    """Strong and weak Stackelberg commitment of the row player (leader) of (L, F).

    Args:
        leader: float ``(m, n)``, the leader's payoffs.
        follower: float ``(m, n)``, the follower's payoffs.
        tol: payoff tolerance for best-response ties.

    Raises:
        SolverError: mismatched shapes or an LP failure (other than infeasibility).
    """
    lead = np.asarray(leader, dtype=float)
    foll = np.asarray(follower, dtype=float)
    if lead.ndim != 2 or lead.shape != foll.shape:
        raise SolverError(f"payoff matrices have shapes {lead.shape} and {foll.shape}: "
                          "need equal (m, n)")
    m, n = lead.shape
    best: tuple[float, int | None, np.ndarray | None] = (-np.inf, None, None)
    statuses = []
    for j in range(n):
        res = _commit_lp(lead, foll, j, np.delete(np.arange(n), j), lead[:, j])
        statuses.append(INFEASIBLE if res is None else res.status)
        if res is not None and -res.fun > best[0] + tol:
            best = (-res.fun, j, res.x)
    value, j_star, x_star = best
    if j_star is None:
        raise SolverError("no follower action is ever a best response: a bug")
    assert x_star is not None  # set together with j_star
    x_star = np.clip(x_star, 0.0, None) / np.clip(x_star, 0.0, None).sum()
    # weak: follower actions with identical payoffs can never be separated, so group them
    # and let the leader get the worst of the group; the supremum is the best closure LP
    # over groups whose strict best-response region is non-empty.
    weak: tuple[float, np.ndarray | None] = (-np.inf, None)
    for j in range(n):
        same = np.flatnonzero(np.all(np.abs(foll - foll[:, [j]]) <= tol, axis=0))
        if same[0] != j:
            continue
        others = np.setdiff1d(np.arange(n), same)
        if not _strict_region_nonempty(foll, j, others):
            continue
        worst = lead[:, same].min(axis=1)
        res = _commit_lp(lead, foll, j, others, worst)
        if res is not None and -res.fun > weak[0] + tol:
            weak = (-res.fun, res.x)
    weak_value, weak_x = weak
    # some group always has a non-empty strict region (the regions cover the simplex)
    assert weak_x is not None
    weak_x = np.clip(weak_x, 0.0, None) / np.clip(weak_x, 0.0, None).sum()
    payoff_f = weak_x @ foll
    br = payoff_f >= payoff_f.max() - tol
    attained = bool((weak_x @ lead)[br].min() >= weak_value - 1e-7)
    return MatrixStackelberg(x_star, int(j_star), float(value), float(x_star @ foll[:, j_star]),
                             float(weak_value), attained, weak_x, tuple(statuses))

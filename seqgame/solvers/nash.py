"""Nash equilibria of single-turn games: zero-sum LP and exact vertex enumeration.

* :func:`zero_sum_nash` — for strategically zero-sum games (U_A + U_D depends on the seed
  and attack only, as with MAGIC's R_A = −R_D + attacker-only terms): two LPs over
  behaviour strategies (sequence form of a two-level tree; von Stengel 1996), polynomial in
  the game size. Statuses are checked and the two values must agree.
* :func:`matrix_equilibria` — every *extreme* Nash equilibrium of a bimatrix game by
  enumerating the vertices of the best-response polytopes P = {x ≥ 0, Bᵀx ≤ 1},
  Q = {y ≥ 0, Ay ≤ 1} and keeping the completely labelled pairs (Avis, Rosenberg, Savani
  & von Stengel 2010). Unlike support enumeration with equal support sizes (nashpy) this is
  exact in degenerate games — and induced normal forms of sequential games always are
  degenerate: every equilibrium component is the convex hull of some of these extremes.
* :func:`nash_equilibria` — the extremes of a game's induced normal form, as behaviour
  profiles (deduplicated).
* :func:`lemke_howson_nash` — one equilibrium of a normal form too large for vertex
  enumeration, by Lemke–Howson complementary pivoting (Lemke & Howson 1964) with the
  lexicographic ratio test, which keeps it finite in degenerate games (induced normal forms
  are); the result is re-checked as a best response on both sides.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from seqgame.analysis.values import stage_values
from seqgame.errors import GameTooLargeError, SolverError
from seqgame.model.game import SequentialGame
from seqgame.model.infosets import DefenderNodes, defender_nodes, require_single_turn
from seqgame.model.profile import Profile, rounded_key, unique_profiles
from seqgame.solvers.highs import LPSolution, linear_program
from seqgame.solvers.normal_form import NormalForm, behaviour_profile, normal_form

#: Largest number of candidate bases C(m + n, m) enumerated per best-response polytope.
MAX_VERTEX_BASES = 400_000
_CHUNK = 20_000


@dataclass(frozen=True, eq=False)
class MatrixEquilibrium:
    """One extreme equilibrium of a bimatrix game: mixed strategies and payoffs."""

    row: np.ndarray
    col: np.ndarray
    row_value: float
    col_value: float


def _vertices(mat: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices z ≠ 0 of {z ≥ 0, mat·z ≤ 1} (mat > 0), with their labels.

    A vertex with support in J (|J| = k) has k tight rows S with mat[S, J] nonsingular, so
    enumerating (S, J) pairs by size solves k×k systems instead of full-dimensional ones.

    Returns:
        ``(verts (V, c), zero (V, c) bool, tight (V, r) bool)``.
    """
    n_rows, n_cols = mat.shape
    n_bases = math.comb(n_rows + n_cols, n_rows)
    if n_bases > MAX_VERTEX_BASES:
        raise GameTooLargeError(
            f"vertex enumeration would try C({n_rows + n_cols}, {n_rows}) = {n_bases:,} bases, "
            f"over the limit {MAX_VERTEX_BASES:,} (about 12 x 12 strategies): use the zero-sum "
            "LP, concept 'stackelberg', or 'spne' for large games"
        )
    found = [np.zeros((0, n_cols))]
    for k in range(1, min(n_rows, n_cols) + 1):
        rows = np.array(list(itertools.combinations(range(n_rows), k)), dtype=np.intp)
        cols = np.array(list(itertools.combinations(range(n_cols), k)), dtype=np.intp)
        pairs = np.stack(np.meshgrid(np.arange(len(rows)), np.arange(len(cols)),
                                     indexing="ij"), axis=-1).reshape(-1, 2)
        for lo in range(0, len(pairs), _CHUNK):
            s_idx = rows[pairs[lo:lo + _CHUNK, 0]]
            j_idx = cols[pairs[lo:lo + _CHUNK, 1]]
            mats = mat[s_idx[:, :, None], j_idx[:, None, :]]  # (K, k, k)
            scale = np.prod(np.linalg.norm(mats, axis=2), axis=1)
            ok = np.abs(np.linalg.det(mats)) > 1e-10 * np.maximum(scale, 1e-300)
            if not ok.any():
                continue
            sol = np.linalg.solve(mats[ok], np.ones((int(ok.sum()), k, 1)))[:, :, 0]
            z = np.zeros((len(sol), n_cols))
            np.put_along_axis(z, j_idx[ok], sol, axis=1)
            feasible = np.all(z >= -tol, axis=1) & np.all(z @ mat.T <= 1.0 + tol, axis=1)
            found.append(z[feasible])
    verts = np.concatenate(found)
    # degenerate vertices are found from several bases: keep one per rounded point
    _, first = np.unique(np.round(verts, 9) + 0.0, axis=0, return_index=True)
    verts = verts[np.sort(first)]
    return verts, np.abs(verts) <= tol, np.abs(verts @ mat.T - 1.0) <= tol


def matrix_equilibria(
    row_payoff: np.ndarray, col_payoff: np.ndarray, tol: float = 1e-9
) -> list[MatrixEquilibrium]:
    """Every extreme Nash equilibrium of the bimatrix game (A, B).

    Args:
        row_payoff: float ``(m, n)``, the row player's payoffs A.
        col_payoff: float ``(m, n)``, the column player's payoffs B.
        tol: feasibility and tightness tolerance (payoffs are shifted into [1, ...]).

    Returns:
        The extreme equilibria, each once, in a deterministic order.

    Raises:
        GameTooLargeError: too many bases to enumerate.
    """
    a = np.asarray(row_payoff, dtype=float)
    b = np.asarray(col_payoff, dtype=float)
    if a.ndim != 2 or a.shape != b.shape:
        raise SolverError(f"payoff matrices have shapes {a.shape} and {b.shape}: need equal (m, n)")
    m, n = a.shape
    a1 = a - a.min() + 1.0
    b1 = b - b.min() + 1.0
    # P = {x >= 0, B1^T x <= 1}: labels i (x_i = 0) and m + j (column j a best reply)
    xs, zero_x, tight_x = _vertices(b1.T, tol)
    lp = np.hstack([zero_x, tight_x])
    # Q = {y >= 0, A1 y <= 1}: labels i (row i a best reply) and m + j (y_j = 0)
    ys, zero_y, tight_y = _vertices(a1, tol)
    lq = np.hstack([tight_y, zero_y])
    missing = (~lp).astype(np.int64) @ (~lq).astype(np.int64).T  # labels neither has
    out = []
    seen: set[bytes] = set()
    for i, j in zip(*np.nonzero(missing == 0), strict=True):
        p = np.clip(xs[i], 0.0, None)
        q = np.clip(ys[j], 0.0, None)
        p, q = p / p.sum(), q / q.sum()
        key = rounded_key(p, q, decimals=9)
        if key in seen:
            continue
        seen.add(key)
        out.append(MatrixEquilibrium(p, q, float(p @ a @ q), float(p @ b @ q)))
    out.sort(key=lambda e: (-e.row_value, -e.col_value, tuple(np.round(e.row, 9))))
    return out


def is_strategically_zero_sum(game: SequentialGame, atol: float = 1e-9) -> bool:
    """Return True when U_A + U_D is constant in the response at every allowed (seed, attack).

    Then adding that constant (which the defender cannot affect) to U_D makes the game
    zero-sum without changing any best response: its Nash equilibria are the zero-sum ones.
    This is the single-turn condition; over several turns see
    :func:`seqgame.solvers.sequence_form.supports_sequence_form`.
    """
    total = game.u_attacker + game.u_defender
    spread = total.max(axis=2) - total.min(axis=2)
    return bool(np.all(spread[game.allowed] <= atol))


@dataclass(frozen=True, eq=False)
class NashResult:
    """Nash equilibria of a single-turn game.

    Attributes:
        method: ``"zero_sum_lp"``, ``"vertex_enumeration"`` or ``"lemke_howson"``.
        equilibria: the equilibria found (all extremes, deduplicated as behaviour profiles,
            for vertex enumeration; one for the LP).
        values: ``(attacker, defender)`` value of each equilibrium.
        normal_form_shape: ``(R, C)`` for vertex enumeration and Lemke–Howson, else None.
        lp_status: HiGHS status messages of the LPs solved (zero-sum LP only).
    """

    method: str
    equilibria: tuple[Profile, ...]
    values: tuple[tuple[float, float], ...]
    normal_form_shape: tuple[int, int] | None = None
    lp_status: tuple[str, ...] = ()


def _attacker_maximin(game: SequentialGame, nodes: DefenderNodes,
                      pairs: list[tuple[int, int]]) -> tuple[LPSolution, np.ndarray]:
    """The attacker's LP: variables σ over allowed (x, a) pairs and v[h]; maximise Σ_h v_h."""
    n_x, n_a, n_d = game.shape
    u_a = game.u_attacker
    n_h, n_s = nodes.count, len(pairs)
    c = np.concatenate([np.zeros(n_s), -np.ones(n_h)])
    a_ub = np.zeros((n_h * n_d, n_s + n_h))
    for k, (x, a) in enumerate(pairs):
        h = nodes.index[x, a]
        a_ub[h * n_d:(h + 1) * n_d, k] = -game.prior[x] * u_a[x, a]
    for h in range(n_h):
        a_ub[h * n_d:(h + 1) * n_d, n_s + h] = 1.0
    a_eq = np.zeros((n_x, n_s + n_h))
    for k, (x, _) in enumerate(pairs):
        a_eq[x, k] = 1.0
    bounds = [(0, 1)] * n_s + [(None, None)] * n_h
    res = linear_program(c, a_ub=a_ub, b_ub=np.zeros(n_h * n_d), a_eq=a_eq, b_eq=np.ones(n_x),
                         bounds=bounds, what="attacker maximin LP")
    assert res is not None  # infeasible_ok is off: an infeasible LP raised
    sigma = np.zeros((n_x, n_a))
    for k, (x, a) in enumerate(pairs):
        sigma[x, a] = res.x[k]
    return res, sigma


def _defender_minimax(game: SequentialGame, nodes: DefenderNodes,
                      pairs: list[tuple[int, int]]) -> LPSolution:
    """The defender's LP: variables π[h, d] and u[x]; minimise Σ_x prior_x u_x."""
    n_x, _, n_d = game.shape
    u_a = game.u_attacker
    n_h, n_s = nodes.count, len(pairs)
    n_p = n_h * n_d
    c = np.concatenate([np.zeros(n_p), game.prior])
    a_ub = np.zeros((n_s, n_p + n_x))
    for k, (x, a) in enumerate(pairs):
        h = nodes.index[x, a]
        a_ub[k, h * n_d:(h + 1) * n_d] = u_a[x, a]
        a_ub[k, n_p + x] = -1.0
    a_eq = np.zeros((n_h, n_p + n_x))
    for h in range(n_h):
        a_eq[h, h * n_d:(h + 1) * n_d] = 1.0
    bounds = [(0, 1)] * n_p + [(None, None)] * n_x
    res = linear_program(c, a_ub=a_ub, b_ub=np.zeros(n_s), a_eq=a_eq, b_eq=np.ones(n_h),
                         bounds=bounds, what="defender minimax LP")
    assert res is not None  # infeasible_ok is off: an infeasible LP raised
    return res


def zero_sum_nash(game: SequentialGame) -> NashResult:
    """Solve a strategically zero-sum single-turn game for a Nash equilibrium by two LPs.

    The attacker maximises its guaranteed payoff over behaviour strategies σ (X, A); the
    defender minimises the attacker's best-response payoff over behaviour π (H, D).

    Raises:
        SolverError: not strategically zero-sum, several turns, or an LP failed.
    """
    require_single_turn(game, "nash")
    if not is_strategically_zero_sum(game):
        raise SolverError(
            f"game {game.name!r} is not strategically zero-sum (U_A + U_D varies with the "
            "response): use method 'enumerate' (all equilibria of the normal form)"
        )
    nodes = defender_nodes(game)
    n_d = game.shape[2]
    pairs = list(zip(*np.nonzero(game.allowed), strict=True))
    att_res, sigma = _attacker_maximin(game, nodes, pairs)
    dfd_res = _defender_minimax(game, nodes, pairs)
    n_p = nodes.count * n_d
    v_max, v_min = -att_res.fun, dfd_res.fun
    if abs(v_max - v_min) > 1e-7 * max(1.0, abs(v_max)):
        raise SolverError(
            f"zero-sum LP values disagree ({v_max!r} vs {v_min!r}): numerical trouble, "
            "rescale the payoffs"
        )
    pi = dfd_res.x[:n_p].reshape(nodes.count, n_d)
    profile = behaviour_profile(game, sigma, pi)
    values = stage_values(game, profile)
    return NashResult("zero_sum_lp", (profile,), (values,), None,
                      (att_res.message, dfd_res.message))


def nash_equilibria(game: SequentialGame, form: NormalForm | None = None) -> NashResult:
    """Every extreme Nash equilibrium of the induced normal form, as behaviour profiles.

    Raises:
        SolverError: several turns.
        GameTooLargeError: the normal form or its vertex enumeration is too large.
    """
    require_single_turn(game, "nash")
    form = normal_form(game) if form is None else form
    eqs = matrix_equilibria(form.attacker_payoff, form.defender_payoff)
    profiles = unique_profiles(form.behaviour(e.row, e.col) for e in eqs)
    if not profiles:
        raise SolverError(f"vertex enumeration found no equilibrium of {game.name!r}: a bug")
    return NashResult("vertex_enumeration", tuple(profiles),
                      tuple(stage_values(game, p) for p in profiles), form.shape)


def _bimatrix_regret(a: np.ndarray, b: np.ndarray, p: np.ndarray, q: np.ndarray) -> float:
    """Largest gain of a pure deviation from (p, q) in the bimatrix game (A, B)."""
    return float(max((a @ q).max() - p @ a @ q, (p @ b).max() - p @ b @ q))


def _lex_pivot(tab: np.ndarray, basis: list[int], enter: int, slacks: slice) -> int:
    """Pivot ``enter`` into the basis by the lexicographic ratio test; return the leaver.

    Ties in the ratio test are broken on the rows of the basis inverse (the slack
    columns), which keeps Lemke–Howson from cycling in degenerate games.
    """
    col = tab[:, enter]
    cand = np.flatnonzero(col > 1e-12)
    if len(cand) == 0:
        raise SolverError("Lemke-Howson: unbounded ray (payoffs not shifted positive?)")
    keys = np.hstack([tab[cand, -1:], tab[cand, slacks]]) / col[cand, None]
    for k in range(keys.shape[1]):
        low = keys[:, k].min()
        keep = keys[:, k] <= low + 1e-12 * max(1.0, abs(low))
        cand, keys = cand[keep], keys[keep]
        if len(cand) == 1:
            break
    row = int(cand[0])
    tab[row] /= tab[row, enter]
    others = np.arange(len(tab)) != row
    tab[others] -= np.outer(tab[others, enter], tab[row])
    leaving, basis[row] = basis[row], enter
    return leaving


def lemke_howson(row_payoff: np.ndarray, col_payoff: np.ndarray, dropped_label: int = 0,
                 max_pivots: int = 100_000) -> tuple[np.ndarray, np.ndarray]:
    """One Nash equilibrium ``(p, q)`` of the bimatrix game (A, B) by Lemke–Howson.

    Labels 0..m−1 are the row strategies, m..m+n−1 the columns; the path starts at the
    artificial equilibrium (0, 0) by dropping ``dropped_label`` and alternates pivots in
    the tableaux of P = {x ≥ 0, Bᵀx ≤ 1} and Q = {y ≥ 0, Ay ≤ 1} (payoffs shifted > 0).
    """
    a = np.asarray(row_payoff, dtype=float)
    b = np.asarray(col_payoff, dtype=float)
    m, n = a.shape
    a1, b1 = a - a.min() + 1.0, b - b.min() + 1.0
    # variable index = label in both: P has x_i (i < m) and slacks s_j (m + j)
    tab_p = np.hstack([b1.T, np.eye(n), np.ones((n, 1))])
    tab_q = np.hstack([np.eye(m), a1, np.ones((m, 1))])  # slacks r_i (i), then y_j
    basis_p, basis_q = list(range(m, m + n)), list(range(m))
    in_p = dropped_label < m
    enter = dropped_label
    for _ in range(max_pivots):
        if in_p:
            leaving = _lex_pivot(tab_p, basis_p, enter, slice(m, m + n))
        else:
            leaving = _lex_pivot(tab_q, basis_q, enter, slice(0, m))
        if leaving == dropped_label:
            break
        enter, in_p = leaving, not in_p
    else:
        raise SolverError(f"Lemke-Howson did not finish in {max_pivots:,} pivots")
    x, y = np.zeros(m), np.zeros(n)
    for row, var in enumerate(basis_p):
        if var < m:
            x[var] = tab_p[row, -1]
    for row, var in enumerate(basis_q):
        if var >= m:
            y[var - m] = tab_q[row, -1]
    return x / x.sum(), y / y.sum()


def lemke_howson_nash(game: SequentialGame, form: NormalForm | None = None,
                      tol: float = 1e-9) -> NashResult:
    """One Nash equilibrium of the induced normal form by Lemke–Howson (:func:`lemke_howson`).

    Every initial dropped label is tried until the result passes an exact best-response
    check (relative tolerance ``tol``).

    Raises:
        SolverError: several turns, or no label gave a checked equilibrium.
        GameTooLargeError: the normal form itself is too large.
    """
    require_single_turn(game, "nash")
    form = normal_form(game) if form is None else form
    a, b = form.attacker_payoff, form.defender_payoff
    scale = max(1.0, float(np.abs(a).max()), float(np.abs(b).max()))
    for label in range(sum(a.shape)):
        p, q = lemke_howson(a, b, label)
        p, q = np.clip(p, 0.0, None), np.clip(q, 0.0, None)
        p, q = p / p.sum(), q / q.sum()
        if _bimatrix_regret(a, b, p, q) <= tol * scale:
            profile = form.behaviour(p, q)
            return NashResult("lemke_howson", (profile,), (stage_values(game, profile),),
                              form.shape)
    raise SolverError(
        f"Lemke-Howson found no equilibrium of {game.name!r} from any of its "
        f"{sum(a.shape)} initial labels (numerical trouble): use method 'enumerate' on a "
        "smaller game, or rescale the payoffs")

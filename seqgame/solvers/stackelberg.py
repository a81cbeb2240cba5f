"""Stackelberg equilibria: commitment to mixed strategies, either role leading.

* :func:`stackelberg_matrix` — a bimatrix game with the row player leading: one LP per
  follower action (Conitzer & Sandholm 2006, "Computing the optimal strategy to commit
  to"). Strong (follower breaks ties for the leader) and weak (against the leader) values;
  the weak one is a supremum that may not be attained — reported, never looped on.
* :func:`stackelberg` — a single-turn attacker–defender game, exact mixed-integer
  program over behaviour strategies (DOBSS; Paruchuri et al. 2008), solved by HiGHS via
  :func:`scipy.optimize.milp`:

  - ``leader="defender"`` (a deployed, frozen model): the defender commits to π(d | node);
    every seed is an attacker *type* that best-responds (Bayesian Stackelberg).
  - ``leader="attacker"``: the attacker commits to σ(a | seed); the defender best-responds
    at every information set to the resulting posterior.

  The big-M of each follower constraint is the follower's payoff range at that type or
  information set (never a constant: a large constant such as 10⁴ loses precision and gave
  a wrong value). Strong tie-breaking is what the MILP computes; the weak value is computed
  on the induced normal form when it is small enough.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from seqgame.analysis.values import stage_values
from seqgame.errors import GameTooLargeError, SolverError
from seqgame.model.game import Role, SequentialGame
from seqgame.model.infosets import DefenderNodes, defender_nodes, require_single_turn
from seqgame.model.profile import Profile
from seqgame.solvers.commitment import stackelberg_matrix
from seqgame.solvers.highs import LPSolution, mixed_integer_program
from seqgame.solvers.normal_form import behaviour_profile, normal_form


@dataclass(frozen=True, eq=False)
class StackelbergResult:
    """A strong Stackelberg equilibrium of a single-turn game.

    Attributes:
        leader: the committing role.
        profile: leader's commitment and the follower's (leader-favoured) best response.
        value_leader, value_follower: strong Stackelberg payoffs.
        big_m: float, the largest big-M constant used (from payoff ranges).
        mip_status: HiGHS status message; ``mip_gap``: its final relative gap.
        weak: weak Stackelberg report (``value``, ``attained``) or None when the normal
            form is too large to compute it.
    """

    leader: Role
    profile: Profile
    value_leader: float
    value_follower: float
    big_m: float
    mip_status: str
    mip_gap: float
    weak: dict | None


def _linearise(row, lo: list, hi: list, o_prod: int, o_bound: int, o_total: int,
               n_d: int) -> None:
    """Rows making prod[d] = total · bound[d] exact for a distribution ``bound`` over d.

    prod[d] ≤ bound[d] and Σ_d prod[d] = total; with total ∈ {0, 1} (or bound[d] ∈ {0, 1}
    summing to 1) this is the product, which linearises DOBSS's bilinear objective.
    """
    for d in range(n_d):
        r = row()
        r[o_prod + d] = 1.0
        r[o_bound + d] = -1.0
        lo.append(-np.inf)
        hi.append(0.0)
    r = row()
    r[o_prod:o_prod + n_d] = 1.0
    r[o_total] = -1.0
    lo.append(0.0)
    hi.append(0.0)


def _new_row(rows: list, n_var: int) -> Callable[[], np.ndarray]:
    def row() -> np.ndarray:
        r = np.zeros(n_var)
        rows.append(r)
        return r

    return row


def _defender_constraints(game: SequentialGame, nodes: DefenderNodes,
                          pairs: list[tuple[int, int]], reps: list[int],
                          offsets: tuple[int, int, int, int], n_var: int, hi_a: np.ndarray
                          ) -> tuple[list, list, list]:
    """DOBSS rows with the defender leading.

    π rows sum to 1, one attack per type, the attacker's best-response big-M rows, and the
    linearised products z = q·π.
    """
    o_pi, o_q, o_v, o_z = offsets
    n_d = game.shape[2]
    u_a = game.u_attacker
    rows: list = []
    lo: list = []
    hi: list = []
    row = _new_row(rows, n_var)
    for h in range(nodes.count):
        row()[o_pi + h * n_d:o_pi + (h + 1) * n_d] = 1.0
        lo.append(1.0)
        hi.append(1.0)
    for x in reps:
        r = row()
        for k, (xx, _) in enumerate(pairs):
            r[o_q + k] = float(xx == x)
        lo.append(1.0)
        hi.append(1.0)
    for k, (x, a) in enumerate(pairs):
        h = nodes.index[x, a]
        # 0 <= v_x - pi_h . U_A[x,a] <= (1 - q) M_x
        r = row()
        r[o_v + x] = 1.0
        r[o_pi + h * n_d:o_pi + (h + 1) * n_d] = -u_a[x, a]
        lo.append(0.0)
        hi.append(np.inf)
        r = row()
        r[o_v + x] = 1.0
        r[o_pi + h * n_d:o_pi + (h + 1) * n_d] = -u_a[x, a]
        # tightest valid big-M: v_x - pi.U_A[x,a] <= max over allowed of U_A[x] - min_d U_A[x,a]
        m_xa = hi_a[x] - u_a[x, a].min()
        r[o_q + k] = m_xa
        lo.append(-np.inf)
        hi.append(m_xa)
        _linearise(row, lo, hi, o_z + k * n_d, o_pi + h * n_d, o_q + k, n_d)
    return rows, lo, hi


def _attacker_constraints(game: SequentialGame, nodes: DefenderNodes,
                          pairs: list[tuple[int, int]], offsets: tuple[int, int, int, int],
                          n_var: int, big_m: np.ndarray) -> tuple[list, list, list]:
    """DOBSS rows with the attacker leading.

    σ rows sum to 1, one answer per information set, the defender's best-response big-M
    rows, and the linearised products y = σ·r.
    """
    o_s, o_r, o_w, o_y = offsets
    n_x, _, n_d = game.shape
    u_d = game.u_defender
    rows: list = []
    lo: list = []
    hi: list = []
    row = _new_row(rows, n_var)
    for x in range(n_x):
        r = row()
        for k, (xx, _) in enumerate(pairs):
            r[o_s + k] = float(xx == x)
        lo.append(1.0)
        hi.append(1.0)
    for h in range(nodes.count):
        row()[o_r + h * n_d:o_r + (h + 1) * n_d] = 1.0
        lo.append(1.0)
        hi.append(1.0)
        members = [(k, x, a) for k, (x, a) in enumerate(pairs) if nodes.index[x, a] == h]
        for d in range(n_d):
            # 0 <= w_h - sum prior sigma U_D[., d] <= (1 - r_hd) M_h
            r1, r2 = row(), row()
            for k, x, a in members:
                r1[o_s + k] = r2[o_s + k] = -game.prior[x] * u_d[x, a, d]
            r1[o_w + h] = r2[o_w + h] = 1.0
            r2[o_r + h * n_d + d] = big_m[h]
            lo.extend([0.0, -np.inf])
            hi.extend([np.inf, big_m[h]])
    for k, (x, a) in enumerate(pairs):
        _linearise(row, lo, hi, o_y + k * n_d, o_r + nodes.index[x, a] * n_d, o_s + k, n_d)
    return rows, lo, hi


def _defender_leads(game: SequentialGame, time_limit: float
                    ) -> tuple[Profile, LPSolution, float]:
    """DOBSS with the defender committing; seeds are the attacker's types."""
    nodes = defender_nodes(game)
    n_x, n_a, n_d = game.shape
    u_a, u_d = game.payoffs
    group = _equivalent_types(game, nodes.index)
    reps = sorted(set(group))
    weight = np.zeros(n_x)
    np.add.at(weight, group, game.prior)
    pairs = [(x, a) for x, a in zip(*np.nonzero(game.allowed), strict=True) if x in reps]
    n_h, n_q = nodes.count, len(pairs)
    # variables: pi (H*D) | q (pairs) | v (X) | z (pairs*D)
    o_pi, o_q, o_v, o_z = 0, n_h * n_d, n_h * n_d + n_q, n_h * n_d + n_q + n_x
    n_var = o_z + n_q * n_d
    lo_a = np.array([u_a[x][game.allowed[x]].min() for x in range(n_x)])
    hi_a = np.array([u_a[x][game.allowed[x]].max() for x in range(n_x)])
    big_m = hi_a - lo_a
    rows, lo, hi = _defender_constraints(game, nodes, pairs, reps, (o_pi, o_q, o_v, o_z),
                                         n_var, hi_a)
    c = np.zeros(n_var)
    for k, (x, a) in enumerate(pairs):
        c[o_z + k * n_d:o_z + (k + 1) * n_d] = -weight[x] * u_d[x, a]
    integrality = np.zeros(n_var)
    integrality[o_q:o_q + n_q] = 1
    lb = np.zeros(n_var)
    ub = np.ones(n_var)
    lb[o_v:o_z], ub[o_v:o_z] = lo_a, hi_a
    res = mixed_integer_program(c, rows, lo, hi, integrality, lb, ub,
                                what="defender-leader Stackelberg MILP",
                                time_limit=time_limit)
    pi = np.clip(res.x[o_pi:o_q].reshape(n_h, n_d), 0.0, None)
    pi /= pi.sum(axis=1, keepdims=True)
    sigma = np.zeros((n_x, n_a))
    for k, (x, a) in enumerate(pairs):
        sigma[x, a] = float(res.x[o_q + k] > 0.5)
    sigma = sigma[group]  # equivalent seeds copy their representative's choice
    return behaviour_profile(game, sigma, pi), res, float(big_m.max(initial=0.0))


def _equivalent_types(game: SequentialGame, node_index: np.ndarray) -> np.ndarray:
    """Return the representative of each seed, int ``(X,)``.

    Seeds with identical allowed attacks, information sets and payoffs are one attacker
    type: they reply alike, and under strong tie-breaking the leader prefers the same reply
    for both; merging them shrinks the MILP.
    """
    u_a, u_d = game.payoffs
    seen: dict[bytes, int] = {}
    out = np.zeros(len(game.seeds), dtype=np.intp)
    for x in range(len(game.seeds)):
        key = b"".join(np.ascontiguousarray(v).tobytes() for v in (
            game.allowed[x], node_index[x], u_a[x], u_d[x]))
        out[x] = seen.setdefault(key, x)
    return out


def _attacker_leads(game: SequentialGame, time_limit: float
                    ) -> tuple[Profile, LPSolution, float]:
    """DOBSS with the attacker committing; the defender best-responds per information set."""
    nodes = defender_nodes(game)
    n_x, n_a, n_d = game.shape
    u_a, u_d = game.payoffs
    pairs = list(zip(*np.nonzero(game.allowed), strict=True))
    n_h, n_s = nodes.count, len(pairs)
    # variables: sigma (pairs) | r (H*D) | w (H) | y (pairs*D)
    o_s, o_r, o_w, o_y = 0, n_s, n_s + n_h * n_d, n_s + n_h * n_d + n_h
    n_var = o_y + n_s * n_d
    spread = u_d.max(axis=2) - u_d.min(axis=2)
    big_m = np.zeros(n_h)
    w_lo, w_hi = np.zeros(n_h), np.zeros(n_h)
    for x, a in pairs:
        h = nodes.index[x, a]
        big_m[h] += game.prior[x] * spread[x, a]
        w_lo[h] += min(0.0, game.prior[x] * u_d[x, a].min())
        w_hi[h] += max(0.0, game.prior[x] * u_d[x, a].max())
    rows, lo, hi = _attacker_constraints(game, nodes, pairs, (o_s, o_r, o_w, o_y), n_var,
                                         big_m)
    c = np.zeros(n_var)
    for k, (x, a) in enumerate(pairs):
        c[o_y + k * n_d:o_y + (k + 1) * n_d] = -game.prior[x] * u_a[x, a]
    integrality = np.zeros(n_var)
    integrality[o_r:o_w] = 1
    lb, ub = np.zeros(n_var), np.ones(n_var)
    lb[o_w:o_y], ub[o_w:o_y] = w_lo, w_hi
    res = mixed_integer_program(c, rows, lo, hi, integrality, lb, ub,
                                what="attacker-leader Stackelberg MILP",
                                time_limit=time_limit)
    sigma = np.zeros((n_x, n_a))
    for k, (x, a) in enumerate(pairs):
        sigma[x, a] = max(res.x[o_s + k], 0.0)
    sigma /= sigma.sum(axis=1, keepdims=True)
    pi = (res.x[o_r:o_w].reshape(n_h, n_d) > 0.5).astype(float)
    return behaviour_profile(game, sigma, pi), res, float(big_m.max(initial=0.0))


#: Largest normal form (cells) on which the weak Stackelberg value is computed.
MAX_WEAK_CELLS = 200_000


def _weak_report(game: SequentialGame, leader: Role) -> dict:
    try:
        form = normal_form(game, max_cells=MAX_WEAK_CELLS)
    except GameTooLargeError as exc:
        return {"computed": False, "reason": str(exc)}
    if leader is Role.ATTACKER:
        res = stackelberg_matrix(form.attacker_payoff, form.defender_payoff)
    else:
        res = stackelberg_matrix(form.defender_payoff.T, form.attacker_payoff.T)
    note = ("attained: a weak Stackelberg equilibrium exists" if res.weak_attained else
            "supremum not attained: no weak Stackelberg equilibrium exists; commitments "
            "approaching the reported one get arbitrarily close")
    return {"computed": True, "value": res.weak_value, "attained": res.weak_attained,
            "note": note, "strong_value_normal_form": res.value_leader}


def stackelberg(game: SequentialGame, leader: Role | str = "defender",
                weak: bool = True, time_limit: float = 60.0) -> StackelbergResult:
    """Strong Stackelberg equilibrium of a single-turn game by an exact MILP.

    Args:
        game: a single-turn game (either observation model).
        leader: the committing role, ``"defender"`` (default) or ``"attacker"``.
        weak: also compute the weak Stackelberg value on the normal form when small.
        time_limit: seconds HiGHS may spend on the MILP.

    Raises:
        InvalidGameError: ``leader`` is not a role.
        SolverError: several turns, or the MILP did not reach optimality.
        GameTooLargeError: the MILP hit ``time_limit``.
    """
    require_single_turn(game, "stackelberg")
    role = Role.parse(leader)
    if role is Role.DEFENDER:
        profile, res, big_m = _defender_leads(game, time_limit)
    else:
        profile, res, big_m = _attacker_leads(game, time_limit)
    v_a, v_d = stage_values(game, profile)
    v_lead, v_follow = (v_d, v_a) if role is Role.DEFENDER else (v_a, v_d)
    if abs(v_lead - (-res.fun)) > 1e-6 * max(1.0, abs(v_lead)):
        raise SolverError(
            f"Stackelberg MILP objective {-res.fun!r} differs from the value of its solution "
            f"{v_lead!r}: numerical trouble, rescale the payoffs"
        )
    gap = res.mip_gap
    gap = float(gap) if gap is not None and np.isfinite(gap) else 0.0
    return StackelbergResult(role, profile, v_lead, v_follow, big_m, str(res.message), gap,
                             _weak_report(game, role) if weak else None)

"""Nash equilibria of multi-turn games by the sequence-form LP (Koller, Megiddo & von Stengel).

The game tree: chance draws the seed x; at turn t the attacker, who knows x and the whole
history h = ((a_1, d_1), ..., (a_{t-1}, d_{t-1})) of earlier attacks and (refusal)
answers, picks a_t; the defender, who remembers the earlier attacks and its own answers
(and x under ``full`` observation), answers d_t. A refusal continues the game, any other
answer or the last turn ends it. The payoff of a terminal history is Σ_t γ^t U(x, a_t, d_t)
(``sum`` accrual) or γ^t U(x, a_t, d_t) of the turn that ended it (``final``), exactly the
semantics of :func:`seqgame.analysis.values.q_values`.

**Zero-sum reduction.** A game is strategically zero-sum here when U_A + U_D = S(x, a) is
constant in the response; for T ≥ 2 we also need S to depend on the seed only: then the
attacker's extra payoff Σ_t γ^t S(x) over the turns played depends on chance and on the
defender's refusals alone, so dropping it from the attacker's payoff (the LP maximises
−R_D for the attacker) changes no best response. An attack-dependent S (a disguise cost, a
malformed-format penalty) interacts with the defender's refusals at T ≥ 2: such games are
general-sum and refused with a message. With realisation plans r_A (E r_A = e, r_A ≥ 0) and
r_D (F r_D = f, r_D ≥ 0) and the payoff matrix Z over terminal pairs of sequences, the
attacker solves max f·q s.t. Fᵀq ≤ Zᵀr_A and the defender min e·p s.t. Eᵀp ≥ Z r_D — two
HiGHS LPs whose optima must agree (the game value of Z).

The equilibrium is returned as behaviour strategies per information set keyed by history
(in general it conditions on the history); when the behaviour at every reached information
set depends on the turn and the current observation only, also as a Markov :class:`Profile`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from seqgame.errors import GameTooLargeError, SolverError
from seqgame.model.game import Observation, SequentialGame
from seqgame.model.profile import Profile
from seqgame.solvers.highs import linear_program
from seqgame.solvers.nash import is_strategically_zero_sum

#: Largest number of sequences (both players together) the LP is built for.
MAX_SEQUENCES = 4_000

History = tuple[tuple[int, int], ...]


@dataclass(frozen=True, eq=False)
class SequenceFormResult:
    """A Nash equilibrium of a (multi-turn) strategically zero-sum game.

    Attributes:
        attacker_plan: realisation probability of every attacker sequence, keyed
            ``"<seed>|<history>|<attack>"`` (history ``"a:d,a:d"``; empty at turn 1).
        defender_plan: realisation probability (chance excluded) of every defender
            sequence, keyed ``"<information set>|<response>"``.
        attacker_behaviour: ``"<seed>|<history>"`` -> float ``(A,)`` attack distribution.
        defender_behaviour: ``"[<seed>|]<history>|<attack>"`` -> float ``(D,)``.
        value: game value of the zero-sum form (the attacker's payoff −R_D plus the
            attacker-only terms kept at T = 1).
        value_attacker, value_defender: expected payoffs of the equilibrium in the game.
        asr: float ``(T,)``, P(turn t reached and its answer unsafe | harmful seed).
        over_refusal: float ``(T,)``, P(refusal at turn t | benign seed, turn t reached)
            (NaN where benign seeds never reach turn t).
        profile: the equilibrium as a Markov profile, or None when it is not Markov.
        sizes: ``(attacker sequences, defender sequences, terminal histories)``.
        lp_status: HiGHS messages of the two LPs.
    """

    attacker_plan: dict[str, float]
    defender_plan: dict[str, float]
    attacker_behaviour: dict[str, np.ndarray]
    defender_behaviour: dict[str, np.ndarray]
    value: float
    value_attacker: float
    value_defender: float
    asr: np.ndarray
    over_refusal: np.ndarray
    profile: Profile | None
    sizes: tuple[int, int, int]
    lp_status: tuple[str, str]


def history_key(game: SequentialGame, hist: History) -> str:
    """``"a:d,a:d"`` for a history of (attack, response) index pairs."""
    return ",".join(f"{game.attacks[a]}:{game.responses[d]}" for a, d in hist)


def supports_sequence_form(game: SequentialGame, atol: float = 1e-9) -> bool:
    """True when the sequence-form LP solves ``game`` exactly (see the module docstring)."""
    if not is_strategically_zero_sum(game, atol):
        return False
    if game.turns == 1:
        return True
    total = (game.u_attacker + game.u_defender)[:, :, 0]
    masked = np.where(game.allowed, total, np.nan)
    spread = np.nanmax(masked, axis=1) - np.nanmin(masked, axis=1)
    return bool(np.all(spread <= atol))


class _Tree:
    """Sequences, information sets and terminal payoffs of the game tree."""

    def __init__(self, game: SequentialGame) -> None:
        self.game = game
        self.att_seq: dict[tuple[int, History, int], int] = {}
        self.att_sets: dict[tuple[int, History], tuple[int, list[int]]] = {}
        self.def_seq: dict[tuple[tuple, int], int] = {}
        self.def_sets: dict[tuple, tuple[int, list[int]]] = {}
        self.terminals: list[tuple[int, int, int, float, float]] = []  # (x, ia, id, R_A, R_D)
        self.nodes: list[tuple[int, History, int, float]] = []  # (x, hist, t, discount)
        self._check_size()
        for x in range(len(game.seeds)):
            self._grow(x, (), 0, 0.0, 0.0, 0, 0)

    def _check_size(self) -> None:
        g = self.game
        n_x, n_a, n_d = g.shape
        n_ref = int(g.refusal_mask.sum())
        per_seed = sum((n_a * n_ref) ** t * n_a for t in range(g.turns))
        n_att = 1 + n_x * per_seed
        n_def = 1 + (n_x if g.observation is Observation.FULL else 1) * per_seed * n_d
        if n_att + n_def > MAX_SEQUENCES:
            raise GameTooLargeError(
                f"the sequence-form LP of {g.name!r} needs about {n_att:,} attacker and "
                f"{n_def:,} defender sequences (X={n_x}, A={n_a}, D={n_d}, {n_ref} refusals, "
                f"T={g.turns}), over the limit {MAX_SEQUENCES:,}: reduce the turns or attacks"
            )

    def def_infoset(self, x: int, hist: History, a: int) -> tuple:
        """The defender's information set: (history, attack), with the seed under ``full``."""
        if self.game.observation is Observation.FULL:
            return (x, hist, a)
        return (hist, a)

    def _grow(self, x: int, hist: History, t: int, r_a: float, r_d: float,
              parent_a: int, parent_d: int) -> None:
        g = self.game
        gamma = g.discount ** t
        key = (x, hist)
        acts = [int(a) for a in np.flatnonzero(g.allowed[x])]
        self.att_sets[key] = (parent_a, [])
        self.nodes.append((x, hist, t, gamma))
        for a in acts:
            ia = self.att_seq.setdefault((x, hist, a), len(self.att_seq) + 1)
            self.att_sets[key][1].append(ia)
            j = self.def_infoset(x, hist, a)
            if j not in self.def_sets:
                self.def_sets[j] = (parent_d, [])
                for d in range(len(g.responses)):
                    self.def_seq[(j, d)] = len(self.def_seq) + 1
                    self.def_sets[j][1].append(self.def_seq[(j, d)])
            for d in range(len(g.responses)):
                jd = self.def_seq[(j, d)]
                u_a, u_d = gamma * g.u_attacker[x, a, d], gamma * g.u_defender[x, a, d]
                refuse, last = bool(g.refusal_mask[d]), t == g.turns - 1
                if refuse and not last:
                    keep = 0.0 if g.accrual == "final" else 1.0
                    self._grow(x, (*hist, (a, d)), t + 1, r_a + keep * u_a, r_d + keep * u_d,
                               ia, jd)
                else:
                    self.terminals.append((x, ia, jd, r_a + u_a, r_d + u_d))

    def constraints(self, sets: dict, n_seq: int) -> tuple[np.ndarray, np.ndarray]:
        """Realisation-plan rows ``E r = e``: r(∅) = 1, Σ children = parent per set."""
        e_mat = np.zeros((len(sets) + 1, n_seq + 1))
        e_mat[0, 0] = 1.0
        for row, (parent, children) in enumerate(sets.values(), start=1):
            e_mat[row, parent] = -1.0
            e_mat[row, children] = 1.0
        rhs = np.zeros(len(sets) + 1)
        rhs[0] = 1.0
        return e_mat, rhs

    def payoff_matrix(self, zero_sum_attacker: bool) -> np.ndarray:
        """Z ``(attacker sequences, defender sequences)`` with chance folded in."""
        z = np.zeros((len(self.att_seq) + 1, len(self.def_seq) + 1))
        for x, ia, jd, r_a, r_d in self.terminals:
            z[ia, jd] += self.game.prior[x] * (r_a if zero_sum_attacker else -r_d)
        return z


def _solve_lps(tree: _Tree) -> tuple[np.ndarray, np.ndarray, float, tuple[str, str]]:
    """The attacker's and the defender's LP; returns both plans, the value, the statuses."""
    # at T = 1 the attacker's own payoff is zero-sum up to a defender-free term; at T >= 2
    # only −R_D is (the attacker-only term depends on the defender's refusals)
    z = tree.payoff_matrix(zero_sum_attacker=tree.game.turns == 1)
    e_mat, e_rhs = tree.constraints(tree.att_sets, len(tree.att_seq))
    f_mat, f_rhs = tree.constraints(tree.def_sets, len(tree.def_seq))
    n_a, n_d = z.shape
    m_a, m_d = len(e_rhs), len(f_rhs)
    # attacker: max f·q s.t. Fᵀq − Zᵀ r_A <= 0, E r_A = e; variables (r_A, q)
    att = linear_program(
        np.concatenate([np.zeros(n_a), -f_rhs]),
        a_ub=np.hstack([-z.T, f_mat.T]), b_ub=np.zeros(n_d),
        a_eq=np.hstack([e_mat, np.zeros((m_a, m_d))]), b_eq=e_rhs,
        bounds=[(0, None)] * n_a + [(None, None)] * m_d, what="sequence-form attacker LP")
    # defender: min e·p s.t. Z r_D − Eᵀp <= 0, F r_D = f; variables (r_D, p)
    dfd = linear_program(
        np.concatenate([np.zeros(n_d), e_rhs]),
        a_ub=np.hstack([z, -e_mat.T]), b_ub=np.zeros(n_a),
        a_eq=np.hstack([f_mat, np.zeros((m_d, m_a))]), b_eq=f_rhs,
        bounds=[(0, None)] * n_d + [(None, None)] * m_a, what="sequence-form defender LP")
    assert att is not None and dfd is not None  # infeasible_ok is off
    v_att, v_def = -att.fun, dfd.fun
    if abs(v_att - v_def) > 1e-7 * max(1.0, abs(v_att)):
        raise SolverError(f"sequence-form LP values disagree ({v_att!r} vs {v_def!r}): "
                          "numerical trouble, rescale the payoffs")
    return (np.clip(att.x[:n_a], 0.0, None), np.clip(dfd.x[:n_d], 0.0, None), v_att,
            (att.message, dfd.message))


def _behaviour(sets: dict, plan: np.ndarray) -> dict:
    """Behaviour per information set: child / parent realisation (uniform where unreached)."""
    out = {}
    for key, (parent, children) in sets.items():
        w = plan[children]
        out[key] = w / w.sum() if plan[parent] > 1e-12 and w.sum() > 0 else (
            np.full(len(children), 1.0 / len(children)))
    return out


@dataclass(frozen=True)
class _Outcome:
    value_attacker: float
    value_defender: float
    asr: np.ndarray
    over_refusal: np.ndarray
    reach: dict[tuple[int, History], float]  # P(node (x, history) reached), chance included


def _outcomes(tree: _Tree, att: dict, dfd: dict) -> _Outcome:
    """Values, per-turn ASR and over-refusal of behaviour strategies, by a forward pass."""
    g = tree.game
    n_t = g.turns
    unsafe = np.zeros(n_t)
    ben_reach = np.zeros(n_t)
    ben_refuse = np.zeros(n_t)
    reach: dict[tuple[int, History], float] = {(x, ()): float(g.prior[x])
                                               for x in range(len(g.seeds))}
    v_a = v_d = 0.0
    for x, hist, t, gamma in tree.nodes:  # parents come before children
        p = reach[(x, hist)]
        acts = [int(a) for a in np.flatnonzero(g.allowed[x])]
        for a, pa in zip(acts, att[(x, hist)], strict=True):
            pd = dfd[tree.def_infoset(x, hist, a)]
            w = p * pa * pd  # (D,)
            last = t == n_t - 1
            ends = ~g.refusal_mask | last
            counts = np.ones_like(w) if g.accrual == "sum" else ends.astype(float)
            v_a += float(np.sum(w * counts * gamma * g.u_attacker[x, a]))
            v_d += float(np.sum(w * counts * gamma * g.u_defender[x, a]))
            if g.harmful[x]:
                unsafe[t] += float(w @ g.unsafe[x, a])
            else:
                ben_refuse[t] += float(w[g.refusal_mask].sum())
            for d in np.flatnonzero(~ends):
                reach[(x, (*hist, (a, int(d))))] = float(w[d])
        if not g.harmful[x]:
            ben_reach[t] += p
    p_harm = float(g.prior[g.harmful].sum())
    asr = unsafe / p_harm if p_harm > 0 else np.full(n_t, np.nan)
    over = np.divide(ben_refuse, ben_reach, out=np.full(n_t, np.nan), where=ben_reach > 1e-15)
    return _Outcome(v_a, v_d, asr, over, reach)


def _plan(sets: dict, n_seq: int, behaviour: dict) -> np.ndarray:
    """Realisation plan of behaviour strategies (information sets come parents first)."""
    plan = np.zeros(n_seq + 1)
    plan[0] = 1.0
    for key, (parent, children) in sets.items():
        plan[children] = plan[parent] * behaviour[key]
    return plan


def _best_response_gap(tree: _Tree, z: np.ndarray, r_a: np.ndarray, r_d: np.ndarray) -> float:
    """NashConv of the plans in the zero-sum form Z: BR_A(r_D) − BR_D(r_A) (≥ 0)."""
    e_mat, e_rhs = tree.constraints(tree.att_sets, len(tree.att_seq))
    f_mat, f_rhs = tree.constraints(tree.def_sets, len(tree.def_seq))
    br_a = linear_program(-(z @ r_d), a_eq=e_mat, b_eq=e_rhs, bounds=[(0, None)] * len(r_a),
                          what="sequence-form attacker best response")
    br_d = linear_program(z.T @ r_a, a_eq=f_mat, b_eq=f_rhs, bounds=[(0, None)] * len(r_d),
                          what="sequence-form defender best response")
    assert br_a is not None and br_d is not None  # infeasible_ok is off
    return -br_a.fun - br_d.fun


def _markov_profile(tree: _Tree, att: dict, dfd: dict, reach: dict) -> Profile:
    """The reach-weighted average behaviour per (turn, observation), as a Markov profile.

    Where every reached information set of a (turn, observation) plays the same, this is
    that behaviour; otherwise it is a candidate that :func:`sequence_form_nash` accepts
    only if it passes the exact best-response check. Never-reached keys take the LP's
    behaviour at their first information set (it may be what deters a deviation).
    """
    g = tree.game
    n_x, n_a, n_d = g.shape
    full = g.observation is Observation.FULL
    attacker = np.zeros((g.turns, n_x, n_a))
    defender = np.zeros((g.turns, n_x, n_a, n_d) if full else (g.turns, n_a, n_d))
    for (x, hist), pol in att.items():
        attacker[len(hist), x] += reach[(x, hist)] * _row(g, x, pol)
        for a, pa in zip(np.flatnonzero(g.allowed[x]), pol, strict=True):
            key = (len(hist), x, a) if full else (len(hist), a)
            defender[key] += reach[(x, hist)] * pa * dfd[tree.def_infoset(x, hist, int(a))]
    for (x, hist), pol in att.items():
        if attacker[len(hist), x].sum() <= 1e-12:
            attacker[len(hist), x] = _row(g, x, pol)
    for j, row in dfd.items():
        x, hist, a = j if full else (0, *j)
        key = (len(hist), x, a) if full else (len(hist), a)
        if defender[key].sum() <= 1e-12:
            defender[key] = row
    attacker /= attacker.sum(axis=-1, keepdims=True)
    defender /= defender.sum(axis=-1, keepdims=True)
    return Profile.from_arrays(g, attacker, defender)


def _markov_behaviour(tree: _Tree, profile: Profile) -> tuple[dict, dict]:
    """A Markov profile as behaviour per information set of the tree."""
    g = tree.game
    dfd = profile.defender_full(g)
    att = {(x, h): profile.attacker[len(h), x][g.allowed[x]] for x, h in tree.att_sets}
    out = {}
    for j in tree.def_sets:
        x, hist, a = j if g.observation is Observation.FULL else (None, *j)
        xs = [x] if x is not None else list(np.flatnonzero(g.allowed[:, a]))
        out[j] = dfd[len(hist), xs[0], a]
    return att, out


def sequence_form_nash(game: SequentialGame) -> SequenceFormResult:
    """A Nash equilibrium of a strategically zero-sum game of any number of turns.

    Raises:
        SolverError: the game is not strategically zero-sum in the sense of the module
            docstring, or an LP failed.
        GameTooLargeError: more than :data:`MAX_SEQUENCES` sequences.
    """
    tree = _Tree(game)  # the size guard first
    if not supports_sequence_form(game):
        raise SolverError(
            f"game {game.name!r} is not strategically zero-sum over {game.turns} turns "
            "(U_A + U_D must not depend on the response, and for T >= 2 not on the attack "
            "either): use a single-turn game with method 'enumerate', or drop attack-"
            "dependent attacker bonuses and malformed attacks")
    r_a, r_d, value, status = _solve_lps(tree)
    att = _behaviour(tree.att_sets, r_a)
    dfd = _behaviour(tree.def_sets, r_d)
    out = _outcomes(tree, att, dfd)
    profile: Profile | None = _markov_profile(tree, att, dfd, out.reach)
    assert profile is not None
    z = tree.payoff_matrix(zero_sum_attacker=game.turns == 1)
    m_att, m_dfd = _markov_behaviour(tree, profile)
    plans = (_plan(tree.att_sets, len(tree.att_seq), m_att),
             _plan(tree.def_sets, len(tree.def_seq), m_dfd))
    if _best_response_gap(tree, z, *plans) > 1e-7 * max(1.0, abs(value)):
        profile = None  # no Markov profile: the equilibrium conditions on the history
    seeds = game.seed_ids
    return SequenceFormResult(
        attacker_plan={f"{seeds[x]}|{history_key(game, h)}|{game.attacks[a]}": float(r_a[i])
                       for (x, h, a), i in tree.att_seq.items()},
        defender_plan={f"{_infoset_key(game, j)}|{game.responses[d]}": float(r_d[i])
                       for (j, d), i in tree.def_seq.items()},
        attacker_behaviour={f"{seeds[x]}|{history_key(game, h)}": _row(game, x, p)
                            for (x, h), p in att.items()},
        defender_behaviour={_infoset_key(game, j): p for j, p in dfd.items()},
        value=value, value_attacker=out.value_attacker, value_defender=out.value_defender,
        asr=out.asr, over_refusal=out.over_refusal, profile=profile,
        sizes=(len(tree.att_seq) + 1, len(tree.def_seq) + 1, len(tree.terminals)),
        lp_status=status)


def _row(game: SequentialGame, x: int, pol: np.ndarray) -> np.ndarray:
    row = np.zeros(len(game.attacks))
    row[game.allowed[x]] = pol
    return row


def _infoset_key(game: SequentialGame, j: tuple) -> str:
    if game.observation is Observation.FULL:
        x, hist, a = j
        return f"{game.seed_ids[x]}|{history_key(game, hist)}|{game.attacks[a]}"
    hist, a = j
    return f"{history_key(game, hist)}|{game.attacks[a]}"

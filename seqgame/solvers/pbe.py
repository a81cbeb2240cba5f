"""Perfect Bayesian equilibria of small single-turn games, and the posterior-level safety check.

A PBE is (σ, π, μ): every seed's attack distribution σ(· | x) is a best response to π;
at every defender information set h the answer distribution π(· | h) is a best response
to the belief μ_h over seeds; μ_h is Bayes' rule from the prior and σ wherever h is
reached. **Off-path beliefs**: at an information set no seed reaches, μ_h may be *any*
distribution over the seeds allowed to send that attack (``allowed`` in the spec) — no
further refinement (intuitive criterion, D1) is imposed; a reported off-path belief is
the prior restricted to those seeds when it justifies the answer, else one that does.

Algorithm (exact): enumerate the attacker's support S (which attacks each seed uses) and
the defender's support T_h at every information set. Given the supports, the conditions
split into three linear feasibility problems — in σ (the defender's indifference on the
path), in π (the attacker's indifference) and, per off-path set, in μ — each solved as an
LP maximising the smallest supported probability, so a support class is kept only when an
equilibrium with exactly those supports exists. Every PBE, mixed ones included, lies in
exactly one class; one equilibrium (the LP's) is reported per class. The enumeration is
exponential: ∏_x (2^|allowed(x)| − 1) · (2^D − 1)^H classes, refused above
:data:`MAX_PBE_CASES`.

**Tolerances.** Optimality is judged on posterior (normalised) payoffs with slack
``atol · max(1, max |U|)`` (the LP row on prior·σ·U gets a slack times the set's reach
mass, linear in σ). A supported probability must exceed ``support_tol`` (1e-6, far above
the slack): a class needing a near-zero probability is not reported. Every candidate is
re-checked in normalised form and dropped if it fails (``PBEResult.rejected``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from seqgame.analysis.values import stage_values
from seqgame.errors import GameTooLargeError, SolverError
from seqgame.model.game import SequentialGame
from seqgame.model.infosets import defender_nodes, require_single_turn
from seqgame.model.payoffs import Rewards
from seqgame.model.profile import Profile
from seqgame.solvers.highs import linear_program
from seqgame.solvers.normal_form import behaviour_profile, format_count

#: Largest number of support classes enumerated.
MAX_PBE_CASES = 50_000

#: Relative payoff tolerance of the final normalised check of every reported PBE.
CHECK_RTOL = 1e-7


def mu_star(rewards: Rewards) -> float:
    """MAGIC's refusal threshold μ* = r_ref / (r_harm + 2 r_ref) on P(harmful | attack).

    With an attack that is unsafe with certainty when a harmful seed is complied with, the
    defender refuses iff the posterior exceeds μ* (1/4 at MAGIC's weights).
    """
    denom = rewards.r_harm + 2.0 * rewards.r_ref
    if denom <= 0:
        raise SolverError("mu_star needs r_harm + 2 r_ref > 0")
    return rewards.r_ref / denom


@dataclass(frozen=True, eq=False)
class PBE:
    """One perfect Bayesian equilibrium.

    Attributes:
        profile: the behaviour profile (σ, π).
        beliefs: float ``(H, X)``, the belief at each defender information set.
        on_path: bool ``(H,)``, information sets reached with positive probability.
        value_attacker, value_defender: expected payoffs.
    """

    profile: Profile
    beliefs: np.ndarray
    on_path: np.ndarray
    value_attacker: float
    value_defender: float


@dataclass(frozen=True, eq=False)
class PBEResult:
    """Every PBE support class of a game (one equilibrium each), best for the attacker first.

    Attributes:
        equilibria: the equilibria.
        node_labels: names of the information sets (rows of ``beliefs``).
        cases: number of support classes examined; ``lps``: number of LPs solved.
        rejected: candidates of the LPs that failed the final normalised check.
    """

    equilibria: tuple[PBE, ...]
    node_labels: tuple[str, ...]
    cases: int
    lps: int
    rejected: int = 0


def _subsets(items: list[int]) -> list[tuple[int, ...]]:
    return [c for r in range(1, len(items) + 1) for c in itertools.combinations(items, r)]


def pbe_case_count(game: SequentialGame) -> int:
    """Upper bound on the support classes :func:`pbe` enumerates."""
    n_d = len(game.responses)
    count = 1
    for x in range(len(game.seeds)):
        count *= 2 ** int(game.allowed[x].sum()) - 1
    return count * (2**n_d - 1) ** defender_nodes(game).count


class _Solver:
    """The three feasibility LPs of a support class."""

    def __init__(self, game: SequentialGame, atol: float, support_tol: float) -> None:
        self.game = game
        self.u_a, self.u_d = game.payoffs
        self.scale = max(1.0, float(np.abs(self.u_a).max()), float(np.abs(self.u_d).max()))
        self.atol = atol * self.scale
        self.support_tol = support_tol
        self.nodes = defender_nodes(game)
        n_x = len(game.seeds)
        self.senders = [
            [(x, int(self.nodes.attack[h])) for x in range(n_x)
             if self.nodes.index[x, self.nodes.attack[h]] == h]
            for h in range(self.nodes.count)
        ]
        self.lps = 0
        self.rejected = 0

    def off_path_belief(self, h: int, support: tuple[int, ...]) -> np.ndarray | None:
        """Find a belief over h's senders making exactly ``support`` optimal there, or None."""
        n_d = len(self.game.responses)
        senders = self.senders[h]
        vals = np.array([self.u_d[x, a] for x, a in senders])  # (S, D)
        prior = np.array([self.game.prior[x] for x, _ in senders])
        if prior.sum() > 0:
            mu = prior / prior.sum()
            r = mu @ vals
            if np.all(np.abs(r[list(support)] - r.max()) <= self.atol):
                return self._full_belief(senders, mu)
        # variables mu (S), w; w - mu.U[:, d] >= 0, = 0 on the support
        n_s = len(senders)
        a_ub = np.hstack([vals.T, -np.ones((n_d, 1))])
        a_eq = [np.concatenate([np.ones(n_s), [0.0]])]
        b_eq = [1.0]
        for d in support:
            a_eq.append(np.concatenate([vals[:, d], [-1.0]]))
            b_eq.append(0.0)
        self.lps += 1
        res = linear_program(np.zeros(n_s + 1), a_ub=a_ub, b_ub=np.full(n_d, self.atol),
                             a_eq=a_eq, b_eq=b_eq, bounds=[(0, 1)] * n_s + [(None, None)],
                             what="off-path belief LP", infeasible_ok=True)
        return None if res is None else self._full_belief(senders, res.x[:n_s])

    def _full_belief(self, senders: list[tuple[int, int]], mu: np.ndarray) -> np.ndarray:
        out = np.zeros(len(self.game.seeds))
        for (x, _), m in zip(senders, mu, strict=True):
            out[x] = max(m, 0.0)
        return out / out.sum()

    def _max_min_support(self, n_prob: int, a_ub: list, b_ub: list, a_eq: list, b_eq: list,
                         free: list, what: str) -> np.ndarray | None:
        """Maximise t s.t. the rows and every one of the first ``n_prob`` variables ≥ t.

        Variables: ``n_prob`` probabilities in [0, 1], then ``len(free)`` others, then t
        (the last column of every row). Returns the solution, or None when no solution has
        every supported probability above ``support_tol`` (the class is empty or degenerate).
        """
        n_var = n_prob + len(free) + 1
        for k in range(n_prob):
            r = np.zeros(n_var)
            r[k], r[-1] = -1.0, 1.0
            a_ub.append(r)
            b_ub.append(0.0)
        c = np.zeros(n_var)
        c[-1] = -1.0
        self.lps += 1
        res = linear_program(c, a_ub=a_ub, b_ub=b_ub, a_eq=a_eq, b_eq=b_eq,
                             bounds=[(0, 1)] * n_prob + free + [(None, 1.0)], what=what,
                             infeasible_ok=True)
        if res is None or -res.fun <= self.support_tol:
            return None
        return res.x

    def sigma(self, support: dict[int, tuple[int, ...]], on_path: dict[int, tuple[int, ...]]
              ) -> np.ndarray | None:
        """Attacker behaviour with exactly support S making T_h optimal on the path."""
        g = self.game
        n_x, n_a, n_d = g.shape
        pairs = [(x, a) for x in range(n_x) for a in support[x]]
        hs = sorted(on_path)
        n_p, n_w = len(pairs), len(hs)
        n_var = n_p + n_w + 1
        a_ub, b_ub, a_eq, b_eq = [], [], [], []
        for x in range(n_x):
            r = np.zeros(n_var)
            for k, (xx, _) in enumerate(pairs):
                r[k] = float(xx == x)
            a_eq.append(r)
            b_eq.append(1.0)
        for i, h in enumerate(hs):
            for d in range(n_d):
                r = np.zeros(n_var)
                # w_h is the reach mass m_h times the posterior value; the slack is
                # atol·m_h, i.e. atol on the normalised (posterior) payoff
                for k, (x, a) in enumerate(pairs):
                    if self.nodes.index[x, a] == h:
                        r[k] = g.prior[x] * self.u_d[x, a, d]
                r[n_p + i] = -1.0
                if d in on_path[h]:
                    a_eq.append(r)
                    b_eq.append(0.0)
                else:
                    for k, (x, a) in enumerate(pairs):
                        if self.nodes.index[x, a] == h:
                            r[k] -= self.atol * g.prior[x]
                    a_ub.append(r)
                    b_ub.append(0.0)
        x_opt = self._max_min_support(n_p, a_ub, b_ub, a_eq, b_eq, [(None, None)] * n_w,
                                      "attacker-support LP")
        if x_opt is None:
            return None
        sigma = np.zeros((n_x, n_a))
        for k, (x, a) in enumerate(pairs):
            sigma[x, a] = x_opt[k]
        return sigma / sigma.sum(axis=1, keepdims=True)

    def pi(self, support: dict[int, tuple[int, ...]], answers: list[tuple[int, ...]]
           ) -> np.ndarray | None:
        """Defender behaviour with exactly supports T_h making S the attacker's best replies."""
        g = self.game
        n_x, _, n_d = g.shape
        cols = [(h, d) for h, t in enumerate(answers) for d in t]
        col = {hd: k for k, hd in enumerate(cols)}
        n_c = len(cols)
        n_var = n_c + n_x + 1
        a_ub, b_ub, a_eq, b_eq = [], [], [], []
        for h, t in enumerate(answers):
            r = np.zeros(n_var)
            for d in t:
                r[col[h, d]] = 1.0
            a_eq.append(r)
            b_eq.append(1.0)
        for x in range(n_x):
            for a in np.flatnonzero(g.allowed[x]):
                h = self.nodes.index[x, a]
                r = np.zeros(n_var)
                for d in answers[h]:
                    r[col[h, d]] = self.u_a[x, a, d]
                r[n_c + x] = -1.0
                if a in support[x]:
                    a_eq.append(r)
                    b_eq.append(0.0)
                else:
                    a_ub.append(r)
                    b_ub.append(self.atol)
        x_opt = self._max_min_support(n_c, a_ub, b_ub, a_eq, b_eq, [(None, None)] * n_x,
                                      "defender-support LP")
        if x_opt is None:
            return None
        pol = np.zeros((len(answers), n_d))
        for (h, d), k in col.items():
            pol[h, d] = x_opt[k]
        return pol / pol.sum(axis=1, keepdims=True)


def _check_size(game: SequentialGame, max_cases: int) -> None:
    cases = pbe_case_count(game)
    if cases > max_cases:
        raise GameTooLargeError(
            f"pbe enumerates up to {format_count(cases)} support classes for {game.name!r}, over "
            "the limit "
            f"{max_cases:,} (about 3 attacks per seed and 4 information sets with 2 "
            "responses): use concept 'stackelberg' (MILP), 'nash' (zero-sum LP) or 'spne' "
            "(full observation), or shrink the game"
        )


def _feasible_off_answers(solver: _Solver, h: int, answer_sets: list[tuple[int, ...]],
                          cache: dict[tuple[int, tuple[int, ...]], np.ndarray | None]
                          ) -> list[tuple[int, ...]]:
    """The answer supports some belief over h's senders justifies off the path (cached)."""
    out = []
    for t in answer_sets:
        if (h, t) not in cache:
            cache[(h, t)] = solver.off_path_belief(h, t)
        if cache[(h, t)] is not None:
            out.append(t)
    return out


def _beliefs(solver: _Solver, sigma: np.ndarray, answers: list[tuple[int, ...]],
             on_map: dict[int, tuple[int, ...]],
             off_cache: dict[tuple[int, tuple[int, ...]], np.ndarray | None]) -> np.ndarray:
    """Beliefs ``(H, X)``: Bayes' rule from prior·σ on the path, the cached belief off it."""
    beliefs = np.zeros((solver.nodes.count, len(solver.game.seeds)))
    for h in range(solver.nodes.count):
        if h in on_map:
            a = int(solver.nodes.attack[h])
            w = solver.game.prior * sigma[:, a] * (solver.nodes.index[:, a] == h)
            beliefs[h] = w / w.sum()
        else:
            belief = off_cache[(h, answers[h])]
            assert belief is not None  # only feasible off-path answers are enumerated
            beliefs[h] = belief
    return beliefs


def _passes_check(solver: _Solver, sigma: np.ndarray, pol: np.ndarray,
                  beliefs: np.ndarray) -> bool:
    """The PBE conditions in normalised form: finite beliefs, both sides best-respond."""
    game, nodes = solver.game, solver.nodes
    tol = max(solver.atol, CHECK_RTOL * solver.scale)
    if not (np.all(np.isfinite(beliefs)) and np.all(np.isfinite(sigma))):
        return False
    q = np.einsum("hx,xhd->hd", beliefs, solver.u_d[:, nodes.attack])  # posterior Q (H, D)
    idx = np.where(nodes.index >= 0, nodes.index, 0)
    v = np.where(game.allowed, np.einsum("xad,xad->xa", pol[idx], solver.u_a), -np.inf)
    return not (np.any((pol > 0) & (q < q.max(axis=1, keepdims=True) - tol))
                or np.any((sigma > 0) & (v < v.max(axis=1, keepdims=True) - tol)))


def _class_equilibria(solver: _Solver, support: dict[int, tuple[int, ...]],
                      on_map: dict[int, tuple[int, ...]], off: list[int],
                      off_options: list[list[tuple[int, ...]]],
                      off_cache: dict[tuple[int, tuple[int, ...]], np.ndarray | None]
                      ) -> list[PBE]:
    """The equilibria of one support class: on-path answers fixed, off-path ones enumerated."""
    n_h = solver.nodes.count
    sigma = solver.sigma(support, on_map)
    if sigma is None:
        return []
    out = []
    for off_t in itertools.product(*off_options):
        answers = [on_map[h] if h in on_map else off_t[off.index(h)] for h in range(n_h)]
        pol = solver.pi(support, answers)
        if pol is None:
            continue
        beliefs = _beliefs(solver, sigma, answers, on_map, off_cache)
        if not _passes_check(solver, sigma, pol, beliefs):
            solver.rejected += 1
            continue
        profile = behaviour_profile(solver.game, sigma, pol)
        v_a, v_d = stage_values(solver.game, profile)
        out.append(PBE(profile, beliefs, np.isin(np.arange(n_h), sorted(on_map)), v_a, v_d))
    return out


def pbe(game: SequentialGame, atol: float = 1e-9, max_cases: int = MAX_PBE_CASES,
        support_tol: float = 1e-6) -> PBEResult:
    """Every perfect Bayesian equilibrium support class of a small single-turn game.

    Under ``full`` observation every information set has one sender, so the PBE are the
    subgame-perfect equilibria (mixed ones included).

    Args:
        game: a single-turn game.
        atol: payoff slack of the LPs, relative to ``max(1, max |U|)``, on normalised
            (posterior-expected) payoffs.
        max_cases: refuse games with more support classes than this.
        support_tol: every supported probability must exceed it; keep it well above
            ``atol`` (a support of probability ~atol makes Bayes' rule meaningless).

    Returns:
        A :class:`PBEResult`, equilibria sorted by attacker then defender value (descending).

    Raises:
        SolverError: several turns.
        GameTooLargeError: more than ``max_cases`` support classes.
    """
    require_single_turn(game, "pbe")
    _check_size(game, max_cases)
    if not 0.0 < atol < support_tol < 1.0:
        raise SolverError(f"pbe needs 0 < atol < support_tol < 1; got atol = {atol!r}, "
                          f"support_tol = {support_tol!r}: use e.g. 1e-9 and 1e-6")
    solver = _Solver(game, atol, support_tol)
    n_x = len(game.seeds)
    answer_sets = _subsets(list(range(len(game.responses))))
    off_cache: dict[tuple[int, tuple[int, ...]], np.ndarray | None] = {}
    found: list[PBE] = []
    examined = 0
    per_seed = [_subsets([int(a) for a in np.flatnonzero(game.allowed[x])]) for x in range(n_x)]
    for combo in itertools.product(*per_seed):
        support = dict(enumerate(combo))
        # seeds of prior 0 reach nothing: Bayes' rule is silent where only they go
        reached = sorted({int(solver.nodes.index[x, a]) for x in range(n_x) for a in combo[x]
                          if game.prior[x] > 0})
        off = [h for h in range(solver.nodes.count) if h not in reached]
        off_options = [_feasible_off_answers(solver, h, answer_sets, off_cache) for h in off]
        n_off = int(np.prod([len(o) for o in off_options])) if off_options else 1
        for on_t in itertools.product(answer_sets, repeat=len(reached)):
            examined += n_off
            on_map = dict(zip(reached, on_t, strict=True))
            found += _class_equilibria(solver, support, on_map, off, off_options, off_cache)
    if not found:
        raise SolverError(f"no perfect Bayesian equilibrium found for {game.name!r}: "
                          "numerical tolerance too tight? (a PBE always exists)")
    found.sort(key=lambda e: (-round(e.value_attacker, 9), -round(e.value_defender, 9)))
    return PBEResult(tuple(found), solver.nodes.labels, examined, solver.lps, solver.rejected)

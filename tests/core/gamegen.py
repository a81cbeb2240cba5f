"""Random small games and brute-force references for the core tests."""

from __future__ import annotations

import itertools

import numpy as np

from seqgame.model.game import Label, Observation, Seed, SequentialGame
from seqgame.model.payoffs import Rewards


def random_game(
    rng: np.random.Generator,
    n_x: int,
    n_a: int,
    n_d: int,
    turns: int = 1,
    observation: Observation = Observation.FULL,
    explicit: bool = False,
    integer: bool = True,
    accrual: str = "sum",
    discount: float = 1.0,
) -> SequentialGame:
    """A random game; integer payoffs make ties frequent (to exercise tie-breaking)."""
    prior = rng.dirichlet(np.ones(n_x))
    labels = [Label.HARMFUL if rng.random() < 0.5 else Label.BENIGN for _ in range(n_x)]
    seeds = tuple(Seed(f"s{i}", labels[i], float(prior[i])) for i in range(n_x))
    seeds = tuple(Seed(s.id, s.label, s.prior / sum(t.prior for t in seeds)) for s in seeds)
    allowed = rng.random((n_x, n_a)) < 0.8
    allowed[np.arange(n_x), rng.integers(0, n_a, n_x)] = True
    unsafe = rng.integers(0, 3, (n_x, n_a, n_d)) / 2 if integer else rng.random((n_x, n_a, n_d))
    n_ref = int(rng.integers(1, n_d + 1)) if n_d > 1 else 1
    refusals = frozenset(f"d{j}" for j in range(n_ref))
    kwargs = {}
    if explicit:
        draw = (lambda: rng.integers(-2, 3, (n_x, n_a, n_d)).astype(float)) if integer else (
            lambda: rng.normal(size=(n_x, n_a, n_d)))
        kwargs = {"rewards": None, "payoff_tables": (draw(), draw())}
    else:
        kwargs = {"rewards": Rewards(1.0, 0.5, 0.5),
                  "attacker_bonus": rng.integers(-1, 1, (n_x, n_a)) * 0.5}
    return SequentialGame(
        name="random",
        seeds=seeds,
        attacks=tuple(f"a{i}" for i in range(n_a)),
        responses=tuple(f"d{j}" for j in range(n_d)),
        refusals=refusals,
        observation=observation,
        unsafe=unsafe,
        malformed=frozenset({"a0"}) if rng.random() < 0.3 else frozenset(),
        allowed=allowed,
        turns=turns,
        accrual=accrual,
        discount=discount,
        **kwargs,
    )


def brute_force_spne_values(game: SequentialGame, atol: float = 1e-9) -> set[tuple[float, float]]:
    """Values of every pure SPNE of a single-turn full-observation game, by enumeration.

    Enumerates all pure defender strategies (one response per node) and all pure attacker
    strategies (one allowed attack per seed) and keeps the profiles in which every defender
    node, on or off path, best-responds and every seed's attack is optimal.
    """
    n_x, n_a, n_d = game.shape
    u_a, u_d = game.payoffs
    nodes = [(x, a) for x in range(n_x) for a in range(n_a)]
    out = set()
    for resp in itertools.product(range(n_d), repeat=len(nodes)):
        sigma = dict(zip(nodes, resp, strict=True))
        if any(u_d[x, a, sigma[x, a]] < u_d[x, a].max() - atol for x, a in nodes):
            continue
        for atts in itertools.product(*[np.flatnonzero(game.allowed[x]) for x in range(n_x)]):
            ok = all(
                u_a[x, atts[x], sigma[x, atts[x]]]
                >= max(u_a[x, a, sigma[x, a]] for a in np.flatnonzero(game.allowed[x])) - atol
                for x in range(n_x)
            )
            if ok:
                va = sum(game.prior[x] * u_a[x, atts[x], sigma[x, atts[x]]] for x in range(n_x))
                vd = sum(game.prior[x] * u_d[x, atts[x], sigma[x, atts[x]]] for x in range(n_x))
                out.add((round(float(va), 9), round(float(vd), 9)))
    return out


def tree_spne(game: SequentialGame, tie_breaking: str, atol: float = 1e-9):
    """Backward induction on the explicit history tree (independent of the DP solver).

    Returns ``(value_attacker, value_defender)``.
    """
    u_a, u_d = game.payoffs
    ref = game.refusal_mask

    def node(x: int, t: int) -> tuple[float, float]:
        best_att = None
        for a in np.flatnonzero(game.allowed[x]):
            options = []
            for d in range(len(game.responses)):
                if ref[d] and t < game.turns - 1:
                    ca, cd = node(x, t + 1)
                    if game.accrual == "sum":
                        qa = u_a[x, a, d] + game.discount * ca
                        qd = u_d[x, a, d] + game.discount * cd
                    else:
                        qa, qd = game.discount * ca, game.discount * cd
                else:
                    qa, qd = u_a[x, a, d], u_d[x, a, d]
                options.append((qd, qa))
            top = max(o[0] for o in options)
            ties = [o for o in options if o[0] >= top - atol]
            pick = max(ties, key=lambda o: o[1]) if tie_breaking == "strong" else min(
                ties, key=lambda o: o[1])
            if best_att is None or pick[1] > best_att[1] + atol:
                best_att = pick
        assert best_att is not None
        return best_att[1], best_att[0]

    va = sum(game.prior[x] * node(x, 0)[0] for x in range(len(game.seeds)))
    vd = sum(game.prior[x] * node(x, 0)[1] for x in range(len(game.seeds)))
    return va, vd

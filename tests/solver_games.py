"""Solver fixtures: commitment bimatrix games and random single-turn games (test data)."""

from __future__ import annotations

import numpy as np

from seqgame.model.game import Label, Observation, Seed, SequentialGame

#: The three commitment games of OpenSpiel's stackelberg_lp tests (after Conitzer & Sandholm
#: 2006): name -> (leader payoffs, follower payoffs, leader Stackelberg value, leader commitment).
COMMITMENT_GAMES: dict[str, tuple[np.ndarray, np.ndarray, float, np.ndarray]] = {
    "conitzer_sandholm_0": (np.array([[2.0, 4.0], [1.0, 3.0]]),
                            np.array([[1.0, 0.0], [0.0, 1.0]]), 3.5, np.array([0.5, 0.5])),
    "conitzer_sandholm_1": (np.array([[2.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
                            np.array([[0.0, 2.0, 5.0], [0.0, -1.0, -4.0]]), 4.0 / 3.0,
                            np.array([1.0 / 3.0, 2.0 / 3.0])),
    "dominated_strategy": (np.array([[3.0, 9.0], [9.0, 1.0]]),
                           np.array([[0.0, 0.0], [1.0, 8.0]]), 9.0, np.array([1.0, 0.0])),
}




def random_game(rng: np.random.Generator, n_seeds: int = 2, n_attacks: int = 2,
                n_responses: int = 2, observation: str = "full", general_sum: bool = True,
                p_allowed: float = 1.0, name: str = "random") -> SequentialGame:
    """Draw a random single-turn game with explicit payoff tables (generic: no ties).

    Args:
        rng: the random generator.
        n_seeds: number of seeds X.
        n_attacks: number of attacks A.
        n_responses: number of responses D.
        observation: ``"full"`` or ``"attack"``.
        general_sum: independent payoffs; otherwise U_D = −U_A (zero-sum).
        p_allowed: probability that a seed may use an attack (each seed keeps at least one).
        name: game name.
    """
    shape = (n_seeds, n_attacks, n_responses)
    u_a = rng.normal(size=shape)
    u_d = rng.normal(size=shape) if general_sum else -u_a
    allowed = rng.random((n_seeds, n_attacks)) < p_allowed
    allowed[np.arange(n_seeds), rng.integers(n_attacks, size=n_seeds)] = True
    prior = rng.dirichlet(np.ones(n_seeds))
    prior = prior / prior.sum()
    labels = [Label.HARMFUL if i % 2 == 0 else Label.BENIGN for i in range(n_seeds)]
    seeds = tuple(Seed(f"s{i}", labels[i], float(prior[i])) for i in range(n_seeds))
    # re-normalise after float conversion so the priors sum to 1 within 1e-9
    total = sum(s.prior for s in seeds)
    seeds = tuple(Seed(s.id, s.label, s.prior / total) for s in seeds)
    return SequentialGame(
        name=name, seeds=seeds, attacks=tuple(f"a{i}" for i in range(n_attacks)),
        responses=tuple(f"d{i}" for i in range(n_responses)), refusals=frozenset({"d0"}),
        observation=Observation(observation), unsafe=np.zeros(shape), rewards=None,
        payoff_tables=(u_a, u_d), allowed=allowed)

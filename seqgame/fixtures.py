"""Fixture games for the equilibrium solvers (THEORY.md), registered as built-ins.

* :func:`disguise_game` — the hidden-seed "disguise" toy. A harmful seed sends an
  ``explicit`` attack or, for a disguise cost c, an ``ambiguous`` one; a benign seed sends
  the ``ambiguous`` one or (for a small phrasing cost) an ``explicit_benign`` one. The
  defender sees only the attack. Complying with a harmful seed is unsafe with certainty.
  With prior p of harmful and 0 < c < 3·r_harm... at MAGIC's weights:

  - p > μ* = 1/4: the unique PBE is mixed — the harmful seed disguises with probability
    (1 − p)/(3p), the posterior at ``ambiguous`` is exactly μ*, and the defender complies
    there with probability c/3 (``disguise_mixed_v1``: p = 1/2, c = 0.6 → 1/3 and 0.2);
  - p < μ*: full pooling on ``ambiguous`` and the defender always complies — harm with
    certainty although refusing is ≥ 0 for both seeds (``disguise_pooling_v1``: p = 0.2).

* :data:`COMMITMENT_GAMES` — the three commitment bimatrix games of OpenSpiel's
  ``stackelberg_lp`` tests (after Conitzer & Sandholm 2006): leader (row) values 3.5, 4/3,
  9 against Nash payoffs 2, 0 and at most 9.
* :func:`self_redteam_game` — a general-sum variant with Self-RedTeam-style weights (the
  attacker's and defender's weights differ), given as explicit payoff tables.
"""

from __future__ import annotations

import numpy as np

from seqgame.game import Label, Observation, Rewards, Seed, SequentialGame
from seqgame.games import register_game

#: name -> (leader payoffs, follower payoffs, leader Stackelberg value, leader commitment).
COMMITMENT_GAMES: dict[str, tuple[np.ndarray, np.ndarray, float, np.ndarray]] = {
    "conitzer_sandholm_0": (np.array([[2.0, 4.0], [1.0, 3.0]]),
                            np.array([[1.0, 0.0], [0.0, 1.0]]), 3.5, np.array([0.5, 0.5])),
    "conitzer_sandholm_1": (np.array([[2.0, 0.0, 0.0], [1.0, 0.0, 0.0]]),
                            np.array([[0.0, 2.0, 5.0], [0.0, -1.0, -4.0]]), 4.0 / 3.0,
                            np.array([1.0 / 3.0, 2.0 / 3.0])),
    "dominated_strategy": (np.array([[3.0, 9.0], [9.0, 1.0]]),
                           np.array([[0.0, 0.0], [1.0, 8.0]]), 9.0, np.array([1.0, 0.0])),
}


def disguise_game(prior_harmful: float = 0.5, disguise_cost: float = 0.6,
                  rewards: Rewards | None = None, name: str | None = None,
                  benign_cost: float = 0.1) -> SequentialGame:
    """Build the disguise signaling game (see the module docstring).

    Args:
        prior_harmful: prior probability p of the harmful seed, in (0, 1).
        disguise_cost: attacker cost c of sending ``ambiguous`` from the harmful seed.
        rewards: reward weights (default MAGIC's 1.0, 0.5, 0.5).
        name: game name (default encodes the parameters).
        benign_cost: attacker cost of the benign seed's ``explicit_benign`` phrasing; > 0
            makes the benign seed strictly prefer ``ambiguous`` (uniqueness).
    """
    rewards = Rewards() if rewards is None else rewards
    attacks = ("explicit", "ambiguous", "explicit_benign")
    unsafe = np.zeros((2, 3, 2))
    unsafe[0, :2, 1] = 1.0  # complying with the harmful seed is unsafe
    allowed = np.array([[True, True, False], [False, True, True]])
    bonus = np.array([[0.0, -disguise_cost, 0.0], [0.0, 0.0, -benign_cost]])
    return SequentialGame(
        name=name or f"disguise_p{prior_harmful:g}_c{disguise_cost:g}",
        description=("Hidden-seed disguise toy: harmful seeds send explicit or (at a cost) "
                     "ambiguous attacks, benign seeds ambiguous or explicit-benign ones."),
        seeds=(Seed("harmful", Label.HARMFUL, prior_harmful),
               Seed("benign", Label.BENIGN, 1.0 - prior_harmful)),
        attacks=attacks,
        responses=("refuse", "comply"),
        refusals=frozenset({"refuse"}),
        observation=Observation.ATTACK,
        unsafe=unsafe,
        rewards=rewards,
        allowed=allowed,
        attacker_bonus=bonus,
    )


def self_redteam_game(attacker_weight: float = 1.0, defender_weight: float = 0.5
                      ) -> SequentialGame:
    """Build a general-sum refusal game with Self-RedTeam-style weights (explicit tables).

    The defender earns +1 for a safe answer, −1 for an unsafe one, and ±``defender_weight``
    for a correct/incorrect refusal; the attacker earns ``attacker_weight`` per unsafe
    answer and −0.2 when its obfuscated attack is refused. Not zero-sum, not strategically
    zero-sum.
    """
    attacks = ("direct", "obfuscated")
    seeds = (Seed("harmful", Label.HARMFUL, 0.5), Seed("benign", Label.BENIGN, 0.5))
    unsafe = np.array([[[0.0, 1.0], [0.0, 0.7]], [[0.0, 0.0], [0.0, 0.0]]])
    u_d = np.zeros((2, 2, 2))
    u_a = np.zeros((2, 2, 2))
    for x, harmful in enumerate((True, False)):
        for a in range(2):
            for d in range(2):
                refuse = d == 0
                p = unsafe[x, a, d]
                correct = refuse == harmful
                u_d[x, a, d] = (1 - 2 * p) + (defender_weight if correct else -defender_weight)
                u_a[x, a, d] = attacker_weight * p - (0.2 if (a == 1 and refuse) else 0.0)
    doc = self_redteam_game.__doc__
    assert doc is not None  # our own docstring; None only under python -OO
    return SequentialGame(
        name="self_redteam_v1",
        description=doc.split("\n\n")[1].strip().replace("\n    ", " "),
        seeds=seeds, attacks=attacks, responses=("refuse", "comply"),
        refusals=frozenset({"refuse"}), observation=Observation.FULL, unsafe=unsafe,
        rewards=None, payoff_tables=(u_a, u_d),
    )


register_game("disguise_mixed_v1",
              lambda: disguise_game(0.5, 0.6, name="disguise_mixed_v1"),
              "hidden-seed disguise toy, p = 1/2: unique mixed PBE")
register_game("disguise_pooling_v1",
              lambda: disguise_game(0.2, 0.6, name="disguise_pooling_v1"),
              "hidden-seed disguise toy, p = 1/5: pooling PBE with certain harm")
register_game("self_redteam_v1", self_redteam_game,
              "general-sum refusal game with Self-RedTeam-style unequal weights")


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

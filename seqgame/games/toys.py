"""Toy games for the solvers and the theory (docs/theory.md), as data; the catalog lists them.

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

* :func:`example_v1` — the example of the spec documentation; :func:`entry_deterrence` —
  Selten's entry game (a Nash equilibrium with a non-credible threat, one SPNE).
* :func:`self_redteam_game` — a general-sum variant with Self-RedTeam-style weights (the
  attacker's and defender's weights differ), given as explicit payoff tables.
"""

from __future__ import annotations

import numpy as np

from seqgame.model.game import Label, Observation, Seed, SequentialGame
from seqgame.model.payoffs import Rewards
from seqgame.model.spec import game_from_spec


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


def example_v1() -> SequentialGame:
    """The example of the spec documentation (3 attacks, 2 seeds)."""
    return game_from_spec(EXAMPLE_SPEC)


def entry_deterrence() -> SequentialGame:
    """Selten's entry deterrence as an attacker–defender game (textbook fixture).

    The entrant (attacker) stays ``out`` (0 for it, 2 for the incumbent whatever it would
    do) or goes ``in``; the incumbent (defender) then ``fight``s (−1, −1) or
    ``accommodate``s (1, 1). Nash equilibria: (in, accommodate) and (out, fight) — a
    non-credible threat; the unique SPNE is (in, accommodate) with values (1, 1).
    """
    u_a = np.array([[[0.0, 0.0], [-1.0, 1.0]]])
    u_d = np.array([[[2.0, 2.0], [-1.0, 1.0]]])
    return SequentialGame(
        name="entry_deterrence",
        description=(
            "Selten's entry game: the entrant stays out (0, 2) or enters; the incumbent fights "
            "(-1, -1) or accommodates (1, 1). NE: (in, accommodate) and the non-credible "
            "threat (out, fight); unique SPNE (in, accommodate)."
        ),
        seeds=(Seed("entrant", Label.BENIGN, 1.0),),
        attacks=("out", "in"),
        responses=("fight", "accommodate"),
        refusals=frozenset({"fight"}),
        observation=Observation.FULL,
        unsafe=np.zeros((1, 2, 2)),
        rewards=None,
        payoff_tables=(u_a, u_d),
    )


EXAMPLE_SPEC: dict = {
    "seqgame": 1,
    "name": "example_v1",
    "seeds": [
        {"id": "s1", "label": "harmful", "prior": 0.6},
        {"id": "s2", "label": "benign", "prior": 0.4},
    ],
    "attacks": ["direct", "role_play", "caesar"],
    "responses": ["refuse", "comply"],
    "refusals": ["refuse"],
    "observation": "full",
    "unsafe": {"s1": {"direct": {"comply": 1.0}, "role_play": {"comply": 0.7},
                      "caesar": {"comply": 0.4}}},
    "rewards": {"r_harm": 1.0, "r_ref": 0.5, "r_fmt": 0.5},
    "malformed": [],
    "allowed": {"s2": ["direct", "role_play"]},
    "attacker_bonus": {"s1": {"caesar": -0.5}},
    "turns": 1,
}

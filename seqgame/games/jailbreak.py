"""The jailbreak games: MAGIC's attack pool against a refuse/comply defender (as data).

Each builder is deterministic (no randomness at all), so a name always means one game;
changing a payoff makes a new version (a new name). The catalog lists them.
"""

from __future__ import annotations

import numpy as np

from seqgame.model.game import Accrual, Label, Observation, Seed, SequentialGame
from seqgame.model.payoffs import Rewards

#: MAGIC's attack pool (arXiv 2602.01539, Phase 1): 20 rewriting strategies, by family.
ATTACK_FAMILIES: dict[str, tuple[str, ...]] = {
    "direct": ("direct",),
    "lexical": (
        "slang",
        "uncommon_dialects",
        "technical_terms",
        "role_play",
        "misspellings",
        "question",
    ),
    "persuasion": (
        "logical_appeal",
        "authority_endorsement",
        "misrepresentation",
        "evidence_based_persuasion",
        "expert_endorsement",
    ),
    "encoding": ("ascii", "caesar", "morse", "atbash"),
    "translation": (
        "translate_malayalam",
        "translate_tamil",
        "translate_marathi",
        "translate_chinese",
        "translate_french",
    ),
}
ATTACKS: tuple[str, ...] = tuple(a for fam in ATTACK_FAMILIES.values() for a in fam)

# How much each family raises the chance that a complied answer is unsafe, relative to the
# seed's own risk: persuasion and role play carry the request intact; encodings and
# low-resource translations garble part of the payload.
_FAMILY_POTENCY = {
    "direct": 1.0,
    "lexical": 0.9,
    "persuasion": 0.95,
    "encoding": 0.55,
    "translation": 0.75,
}
# Harmful seeds (id, risk of a complied answer being unsafe); benign seeds are never unsafe.
_HARMFUL = (
    ("weapons", 1.0),
    ("malware", 0.95),
    ("fraud", 0.9),
    ("drugs", 0.85),
    ("hate_speech", 0.8),
    ("privacy", 0.7),
)
_BENIGN = ("history_essay", "chemistry_class", "security_audit", "medical_dosage",
           "fiction_villain", "kill_process")
# Attacks a benign user plausibly writes (used by the hidden-seed variant).
_BENIGN_ATTACKS = ("direct", "slang", "technical_terms", "role_play", "question",
                   "expert_endorsement", "translate_chinese", "translate_french")


def _family(attack: str) -> str:
    return next(f for f, members in ATTACK_FAMILIES.items() if attack in members)


def _attack_features() -> np.ndarray:
    """One-hot family plus an obfuscation level, one row per attack."""
    families = list(ATTACK_FAMILIES)
    rows = []
    for i, a in enumerate(ATTACKS):
        fam = _family(a)
        onehot = [1.0 if f == fam else 0.0 for f in families]
        rank = ATTACK_FAMILIES[fam].index(a)
        obfuscation = round(1.0 - _FAMILY_POTENCY[fam] + 0.02 * rank, 3)
        rows.append([*onehot, obfuscation])
        del i
    return np.array(rows)


def _jailbreak_seeds() -> tuple[Seed, ...]:
    n = len(_HARMFUL) + len(_BENIGN)
    seeds = [Seed(f"h_{sid}", Label.HARMFUL, 1.0 / n) for sid, _ in _HARMFUL]
    seeds += [Seed(f"b_{sid}", Label.BENIGN, 1.0 / n) for sid in _BENIGN]
    return tuple(seeds)


def _jailbreak_unsafe(responses: tuple[str, ...]) -> np.ndarray:
    comply = responses.index("comply")
    unsafe = np.zeros((len(_HARMFUL) + len(_BENIGN), len(ATTACKS), len(responses)))
    for x, (_, risk) in enumerate(_HARMFUL):
        for i, a in enumerate(ATTACKS):
            fam = _family(a)
            rank = ATTACK_FAMILIES[fam].index(a)
            unsafe[x, i, comply] = round(risk * (_FAMILY_POTENCY[fam] - 0.02 * rank), 4)
    return unsafe


def jailbreak_v1() -> SequentialGame:
    """MAGIC's jailbreak game: 6 harmful + 6 benign seeds, direct + 20 strategies, full obs."""
    responses = ("refuse", "comply")
    return SequentialGame(
        name="jailbreak_v1",
        description=(
            "MAGIC's attack pool (direct + 20 rewriting strategies) against a refuse/comply "
            "defender that sees seed and attack (Theorem 3.2's setting); MAGIC's reward "
            "weights. P(unsafe | comply) = seed risk x family potency."
        ),
        seeds=_jailbreak_seeds(),
        attacks=ATTACKS,
        responses=responses,
        refusals=frozenset({"refuse"}),
        observation=Observation.FULL,
        unsafe=_jailbreak_unsafe(responses),
        rewards=Rewards(1.0, 0.5, 0.5),
        features=_attack_features(),
    )


def jailbreak_hidden_v1() -> SequentialGame:
    """``jailbreak_v1`` with the seed hidden: the defender sees only the attack.

    Benign seeds use only natural rewrites; a harmful seed pays a small faithfulness cost
    (0.1) for disguising itself as one of them, nothing for obvious attacks.
    """
    base = jailbreak_v1()
    allowed = np.ones((len(base.seeds), len(ATTACKS)), dtype=bool)
    bonus = np.zeros_like(allowed, dtype=float)
    for x, seed in enumerate(base.seeds):
        if not seed.harmful:
            allowed[x] = [a in _BENIGN_ATTACKS for a in ATTACKS]
        else:
            bonus[x] = [-0.1 if (a in _BENIGN_ATTACKS and a != "direct") else 0.0
                        for a in ATTACKS]
    return base.replace(
        name="jailbreak_hidden_v1",
        description=(
            "jailbreak_v1 with the seed hidden from the defender (a signaling game): benign "
            "seeds use natural rewrites only; harmful seeds pay 0.1 to disguise as one."
        ),
        observation=Observation.ATTACK,
        allowed=allowed,
        attacker_bonus=bonus,
    )


def jailbreak_nofallback_v1() -> SequentialGame:
    """``jailbreak_v1`` where encoded attacks leak harm even through a refusal.

    A refusal that quotes or decodes the encoded payload is unsafe with probability 0.8,
    so at (harmful seed, encoding) every answer has r_D < 0: Theorem 3.2's fallback
    assumption M(y_A) >= 0 fails there.
    """
    base = jailbreak_v1()
    unsafe = np.array(base.unsafe)
    refuse = base.response_index("refuse")
    for i, a in enumerate(ATTACKS):
        if _family(a) == "encoding":
            unsafe[base.harmful, i, refuse] = 0.8
    return base.replace(
        name="jailbreak_nofallback_v1",
        description=(
            "jailbreak_v1 where refusing an encoded harmful prompt still leaks it "
            "(P(unsafe | refuse) = 0.8): no safe fallback exists there."
        ),
        unsafe=unsafe,
    )


def jailbreak_multiturn_v1() -> SequentialGame:
    """A 3-turn jailbreak game: after a refusal the attacker attacks again."""
    attacks = ("direct", "role_play", "caesar", "translate_tamil")
    responses = ("refuse", "comply")
    seeds = (
        Seed("h_weapons", Label.HARMFUL, 0.3),
        Seed("h_fraud", Label.HARMFUL, 0.2),
        Seed("b_history", Label.BENIGN, 0.3),
        Seed("b_security", Label.BENIGN, 0.2),
    )
    unsafe = np.zeros((4, 4, 2))
    unsafe[0, :, 1] = (1.0, 0.9, 0.5, 0.7)
    unsafe[1, :, 1] = (0.9, 0.8, 0.4, 0.6)
    return SequentialGame(
        name="jailbreak_multiturn_v1",
        description=(
            "Three turns; after a refusal the attacker tries again. Only the payoff of the "
            "turn that ends the episode counts (accrual: final), discounted by 0.9 a turn."
        ),
        accrual=Accrual.FINAL,
        discount=0.9,
        seeds=seeds,
        attacks=attacks,
        responses=responses,
        refusals=frozenset({"refuse"}),
        observation=Observation.FULL,
        unsafe=unsafe,
        rewards=Rewards(1.0, 0.5, 0.5),
        turns=3,
    )

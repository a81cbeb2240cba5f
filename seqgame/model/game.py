"""The attacker–defender sequential game: the single source of truth for payoffs.

One turn t = 1..T of a :class:`SequentialGame`:

1. Nature draws a seed x ~ prior (labelled harmful or benign) once, before turn 1.
2. The attacker, who sees x and the history, picks an attack a ∈ allowed(x).
3. The defender sees an observation — ``full``: (x, a); ``attack``: a only — and picks a
   response d ∈ D.
4. The per-turn payoffs are U_A[x, a, d] and U_D[x, a, d]. If d is a refusal and t < T the
   game goes on to turn t + 1; otherwise it ends.

Multi-turn payoffs accrue by the game's ``accrual``: ``sum`` (default) — each player's
episode payoff is the sum of its per-turn payoffs over the turns played; ``final`` — only
the payoff of the last turn played counts; turn t's payoff is discounted by γ^(t-1)
(``discount``, default 1) (see ``docs/game-spec.md``). Rewards follow MAGIC
(arXiv 2602.01539) eq. 7–11 unless explicit payoff tables are given::

    U_D[x,a,d] = r_harm·(1 − 2·p_unsafe[x,a,d]) + r_ref·(+1 if (harmful(x) and refusal(d))
                                                          or (benign(x) and not refusal(d))
                                                       else −1)
    U_A[x,a,d] = −U_D[x,a,d] + (−r_fmt if a is malformed else +r_fmt) + bonus[x,a]
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from seqgame.documents import short
from seqgame.errors import InvalidGameError
from seqgame.model.limits import check_payoff_range, check_size
from seqgame.model.payoffs import Rewards, attacker_reward, defender_reward


class Role(enum.Enum):
    """The two players. Which of them leads is a solver argument, never an index."""

    ATTACKER = "attacker"
    DEFENDER = "defender"

    @property
    def opponent(self) -> Role:
        """The other role."""
        return Role.DEFENDER if self is Role.ATTACKER else Role.ATTACKER

    @classmethod
    def parse(cls, value: str | Role) -> Role:
        """Return the role named ``value`` ("attacker" or "defender")."""
        if isinstance(value, Role):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise InvalidGameError(
                f"unknown role {short(value)}: use 'attacker' or 'defender'"
            ) from None


class Label(enum.Enum):
    """Ground-truth label of a seed request."""

    HARMFUL = "harmful"
    BENIGN = "benign"


class Accrual(enum.StrEnum):
    """How a multi-turn episode's payoffs add up."""

    SUM = "sum"  # every turn's payoff counts
    FINAL = "final"  # only the payoff of the turn that ended the episode counts


class Observation(enum.Enum):
    """What the defender observes before answering."""

    FULL = "full"  # seed and attack: MAGIC's Theorem 3.2 setting
    ATTACK = "attack"  # the attack only: the seed is hidden (a signaling game)


@dataclass(frozen=True)
class Seed:
    """A seed request: id, label, prior, and for text games its text and source.

    ``source`` says where a text seed came from (e.g. ``"harmbench:behaviors.csv:17"``).
    """

    id: str
    label: Label
    prior: float
    text: str | None = None
    source: str | None = None

    @property
    def harmful(self) -> bool:
        """True for a harmful seed."""
        return self.label is Label.HARMFUL


def _frozen(array: np.ndarray | list[float]) -> np.ndarray:
    out = np.array(array, dtype=float, copy=True)
    out.setflags(write=False)
    return out


@dataclass(frozen=True, eq=False)
class SequentialGame:
    """A finite attacker–defender sequential game (frozen, validated at construction).

    Attributes:
        name: versioned name, e.g. ``"jailbreak_v1"``.
        seeds: the seed requests, with priors summing to 1.
        attacks: attack (rewriting strategy) names, ``A`` of them.
        responses: defender response names, ``D`` of them.
        refusals: the responses that count as refusals (and continue a multi-turn game).
        observation: :class:`Observation` model of the defender.
        unsafe: float array ``(X, A, D)``, P(answer unsafe | seed, attack, response).
        rewards: MAGIC reward weights, or ``None`` when explicit payoff tables are given.
        payoff_tables: ``(U_A, U_D)`` arrays ``(X, A, D)`` when given explicitly, else None.
        malformed: attacks whose output is malformed (earn −r_fmt instead of +r_fmt).
        allowed: bool array ``(X, A)``, the attacks each seed may use.
        attacker_bonus: float array ``(X, A)``, attacker-only extra reward.
        turns: number of turns T >= 1.
        accrual: how multi-turn payoffs accrue: ``"sum"`` (every turn's payoff counts) or
            ``"final"`` (only the payoff of the turn that ended the episode counts).
        discount: factor γ in (0, 1] on every later turn's payoff (γ^(t-1) at turn t).
        features: optional float array ``(A, F)`` of attack features (featurised learners).
        description: free text.
    """

    name: str
    seeds: tuple[Seed, ...]
    attacks: tuple[str, ...]
    responses: tuple[str, ...]
    refusals: frozenset[str]
    observation: Observation
    unsafe: np.ndarray
    rewards: Rewards | None = field(default_factory=Rewards)
    payoff_tables: tuple[np.ndarray, np.ndarray] | None = None
    malformed: frozenset[str] = frozenset()
    # None means "all allowed" / "no bonus"; __post_init__ always stores an array.
    allowed: np.ndarray = None  # type: ignore[assignment]
    attacker_bonus: np.ndarray = None  # type: ignore[assignment]
    turns: int = 1
    accrual: Accrual = Accrual.SUM
    discount: float = 1.0
    features: np.ndarray | None = None
    description: str = ""

    def __post_init__(self) -> None:
        self._validate_names()
        n_x, n_a, n_d = self.shape
        check_size(n_x, n_a, n_d, self.turns if isinstance(self.turns, int) else 1)
        unsafe = np.asarray(self.unsafe, dtype=float)
        self._check_array("unsafe", unsafe, (n_x, n_a, n_d))
        if np.any(unsafe < 0) or np.any(unsafe > 1):
            x, a, d = np.argwhere((unsafe < 0) | (unsafe > 1))[0]
            raise InvalidGameError(
                f"unsafe.{self.seeds[x].id}.{self.attacks[a]}.{self.responses[d]} = "
                f"{unsafe[x, a, d]!r}: a probability must lie in [0, 1]"
            )
        object.__setattr__(self, "unsafe", _frozen(unsafe))
        object.__setattr__(self, "allowed", self._checked_allowed(n_x, n_a))
        bonus = np.zeros((n_x, n_a)) if self.attacker_bonus is None else self.attacker_bonus
        bonus = np.asarray(bonus, dtype=float)
        self._check_array("attacker_bonus", bonus, (n_x, n_a))
        object.__setattr__(self, "attacker_bonus", _frozen(bonus))
        if (self.rewards is None) == (self.payoff_tables is None):
            raise InvalidGameError(
                "give exactly one of 'rewards' (MAGIC weights) and 'payoffs' (explicit tables)"
            )
        if self.payoff_tables is not None:
            tables = []
            for role, table in zip(("attacker", "defender"), self.payoff_tables, strict=True):
                table = np.asarray(table, dtype=float)
                self._check_array(f"payoffs.{role}", table, (n_x, n_a, n_d))
                tables.append(_frozen(table))
            object.__setattr__(self, "payoff_tables", tuple(tables))
        if isinstance(self.turns, bool) or not isinstance(self.turns, int) or self.turns < 1:
            raise InvalidGameError(f"turns = {short(self.turns)}: must be an integer >= 1")
        if self.accrual not in tuple(Accrual):
            raise InvalidGameError(f"accrual = {short(self.accrual)}: use 'sum' or 'final'")
        object.__setattr__(self, "accrual", Accrual(self.accrual))
        if (isinstance(self.discount, bool) or not isinstance(self.discount, int | float)
                or not 0.0 < self.discount <= 1.0):
            raise InvalidGameError(f"discount = {short(self.discount)}: use a number in (0, 1]")
        if self.features is not None:
            feats = np.asarray(self.features, dtype=float)
            if feats.ndim != 2 or feats.shape[0] != n_a:
                raise InvalidGameError(
                    f"features has shape {feats.shape}: expected ({n_a}, F), one row per attack"
                )
            self._check_array("features", feats, feats.shape)
            object.__setattr__(self, "features", _frozen(feats))
        if not isinstance(self.observation, Observation):
            raise InvalidGameError(
                f"observation = {short(self.observation)}: use 'full' or 'attack'")
        self._check_payoffs()

    def _checked_allowed(self, n_x: int, n_a: int) -> np.ndarray:
        if self.allowed is None:
            allowed = np.ones((n_x, n_a), dtype=bool)
        else:
            allowed = np.array(self.allowed, dtype=bool, copy=True)
        if allowed.shape != (n_x, n_a):
            raise InvalidGameError(f"allowed has shape {allowed.shape}, expected {(n_x, n_a)}")
        empty = np.flatnonzero(~allowed.any(axis=1))
        if empty.size:
            raise InvalidGameError(
                f"allowed.{self.seeds[empty[0]].id} is empty: every seed needs at least one "
                "attack")
        allowed.setflags(write=False)
        return allowed

    def _check_payoffs(self) -> None:
        with np.errstate(over="ignore", invalid="ignore"):
            check_payoff_range(*self.payoffs)

    def _validate_names(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidGameError("name must be a non-empty string")
        for key, names in (
            ("seeds", [s.id for s in self.seeds]),
            ("attacks", list(self.attacks)),
            ("responses", list(self.responses)),
        ):
            if not names:
                raise InvalidGameError(f"{key} is empty: a game needs at least one")
            for n in names:
                if not isinstance(n, str) or not n or "/" in n or "|" in n:
                    raise InvalidGameError(
                        f"{key}: name {short(n)} must be a non-empty string without '/' or '|'"
                    )
            if len(set(names)) != len(names):
                dupes = sorted(n for n, k in Counter(names).items() if k > 1)
                raise InvalidGameError(f"{key}: duplicate ids {short(dupes)}; ids must be unique")
        for key, subset, universe in (
            ("refusals", self.refusals, self.responses),
            ("malformed", self.malformed, self.attacks),
        ):
            unknown = sorted(set(subset) - set(universe))
            if unknown:
                raise InvalidGameError(
                    f"{key}: unknown names {short(unknown)}; choose from {short(list(universe))}"
                )
        priors = np.array([s.prior for s in self.seeds], dtype=float)
        for s in self.seeds:
            if not isinstance(s.label, Label):
                raise InvalidGameError(f"seed {short(s.id)}: label must be 'harmful' or 'benign'")
            if not math.isfinite(s.prior) or s.prior < 0 or s.prior > 1:
                raise InvalidGameError(
                    f"seeds.{s.id}.prior = {short(s.prior)}: must lie in [0, 1]")
        if abs(priors.sum() - 1.0) > 1e-9:
            raise InvalidGameError(
                f"seed priors sum to {priors.sum():.12g}, not 1: rescale the priors"
            )

    @staticmethod
    def _check_array(key: str, array: np.ndarray, shape: tuple[int, ...]) -> None:
        if array.shape != tuple(shape):
            raise InvalidGameError(f"{key} has shape {array.shape}, expected {tuple(shape)}")
        if not np.all(np.isfinite(array)):
            raise InvalidGameError(f"{key} contains NaN or inf: every value must be finite")

    # ----------------------------------------------------------------- derived views
    @property
    def shape(self) -> tuple[int, int, int]:
        """``(X, A, D)``: numbers of seeds, attacks and responses."""
        return len(self.seeds), len(self.attacks), len(self.responses)

    @cached_property
    def seed_ids(self) -> tuple[str, ...]:
        """Seed ids in order (cached: callers index it per seed)."""
        return tuple(s.id for s in self.seeds)

    @cached_property
    def prior(self) -> np.ndarray:
        """Float array ``(X,)``: the seed prior."""
        return _frozen([s.prior for s in self.seeds])

    @cached_property
    def harmful(self) -> np.ndarray:
        """Bool array ``(X,)``: which seeds are harmful."""
        out = np.array([s.harmful for s in self.seeds], dtype=bool)
        out.setflags(write=False)
        return out

    @cached_property
    def refusal_mask(self) -> np.ndarray:
        """Bool array ``(D,)``: which responses are refusals."""
        out = np.array([d in self.refusals for d in self.responses], dtype=bool)
        out.setflags(write=False)
        return out

    @cached_property
    def malformed_mask(self) -> np.ndarray:
        """Bool array ``(A,)``: which attacks are malformed."""
        out = np.array([a in self.malformed for a in self.attacks], dtype=bool)
        out.setflags(write=False)
        return out

    @property
    def hidden_seed(self) -> bool:
        """True when the defender does not observe the seed."""
        return self.observation is Observation.ATTACK

    @cached_property
    def payoffs(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-turn expected payoffs ``(U_A, U_D)``, each float ``(X, A, D)``."""
        if self.payoff_tables is not None:
            return self.payoff_tables
        assert self.rewards is not None
        u_d = defender_reward(self.rewards, self.harmful[:, None, None],
                              self.refusal_mask[None, None, :], self.unsafe)
        u_a = attacker_reward(self.rewards, u_d, self.malformed_mask[None, :, None],
                              self.attacker_bonus[:, :, None])
        return _frozen(u_a), _frozen(u_d)

    @property
    def u_attacker(self) -> np.ndarray:
        """Float ``(X, A, D)``: the attacker's per-turn expected payoff."""
        return self.payoffs[0]

    @property
    def u_defender(self) -> np.ndarray:
        """Float ``(X, A, D)``: the defender's per-turn expected payoff."""
        return self.payoffs[1]

    def utility(self, role: Role) -> np.ndarray:
        """Per-turn payoff tensor ``(X, A, D)`` of ``role``."""
        if not isinstance(role, Role):
            raise InvalidGameError(f"role = {role!r}: use Role.ATTACKER or Role.DEFENDER")
        return self.u_attacker if role is Role.ATTACKER else self.u_defender

    @cached_property
    def by_response(self) -> tuple[np.ndarray, np.ndarray]:
        """``(U_A, U_D)`` laid out ``(D, A, X)``, so reductions stream through memory.

        Reductions over responses and attacks both run over leading axes.
        """
        u_a, u_d = (np.ascontiguousarray(np.transpose(u, (2, 1, 0))) for u in self.payoffs)
        return u_a, u_d

    # ----------------------------------------------------------------- lookups
    @cached_property
    def _indices(self) -> dict[str, dict[str, int]]:
        return {kind: {n: i for i, n in enumerate(names)} for kind, names in (
            ("seed", self.seed_ids), ("attack", self.attacks), ("response", self.responses))}

    def seed_index(self, seed_id: str) -> int:
        """Index of the seed ``seed_id``."""
        return _index(self._indices["seed"], seed_id, "seed")

    def attack_index(self, attack: str) -> int:
        """Index of the attack ``attack``."""
        return _index(self._indices["attack"], attack, "attack")

    def response_index(self, response: str) -> int:
        """Index of the response ``response``."""
        return _index(self._indices["response"], response, "response")

    def n_defender_nodes(self) -> int:
        """Defender information sets per turn of a Markov profile."""
        n_x, n_a, _ = self.shape
        return n_x * n_a if self.observation is Observation.FULL else n_a

    def observation_keys(self) -> list[str]:
        """Defender observation keys per turn: ``"<seed>/<attack>"`` or ``"<attack>"``."""
        if self.observation is Observation.FULL:
            return [f"{s}/{a}" for s in self.seed_ids for a in self.attacks]
        return list(self.attacks)

    def replace(self, **changes: Any) -> SequentialGame:
        """A validated copy with some fields changed (a new game: give it a new name)."""
        return dataclasses.replace(self, **changes)

    def __repr__(self) -> str:
        n_x, n_a, n_d = self.shape
        return (
            f"SequentialGame({self.name!r}, seeds={n_x}, attacks={n_a}, responses={n_d}, "
            f"observation={self.observation.value!r}, turns={self.turns})"
        )


def _index(names: dict[str, int], name: str, kind: str) -> int:
    try:
        return names[name]
    except (KeyError, TypeError):
        first = list(itertools.islice(names, 13))
        shown = first if len(first) <= 12 else [*first[:12], "..."]
        raise InvalidGameError(f"unknown {kind} {short(name)}; choose from {shown}") from None

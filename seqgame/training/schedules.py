"""Who trains at each step of a co-evolution run: MAGIC's switch logic and the ablations.

A schedule is a pure function of the step index and the metric records written so far
(``decide(step, history) -> Decision``), so a resumed run takes exactly the decisions an
uninterrupted one would. Kinds:

* ``alternating`` — MAGIC's ratio mode: phases of ``freq × ratio`` steps per role, starting
  with ``start``. MAGIC (arXiv 2602.01539) uses freq 15, ratio 1:1, defender first; its code
  switches after ``freq + 1`` steps in the first phase (an off-by-one we do not copy).
* ``metric`` — MAGIC's ASR-aware mode: a defender phase ends when the mean of ``metric``
  over the last ``window`` steps of the phase is ≤ ``low`` (the attacker needs training);
  an attacker phase ends when it is ≥ ``high``; no phase ends before ``min_dwell`` (and
  ``window``) steps; the window restarts at each switch.
* ``simultaneous`` — both roles every step (AdvGame style); ``defender_only`` (frozen
  attacker); ``attacker_only``; ``no_game`` — the defender trains on unrewritten seeds (the
  attack ``attack``, default ``direct``) only. Their phases are blocks of ``freq`` steps
  (used for snapshots and shading only).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from seqgame.config import parse_options
from seqgame.errors import InvalidConfigError
from seqgame.model.game import Role

ROLES = ("attacker", "defender")
#: The record label of a step at which both roles train.
BOTH = "both"
#: Record keys the ``metric`` kind may watch (each also with the ``avg/`` prefix).
WATCHABLE_METRICS = ("asr", "over_refusal", "value_attacker", "value_defender", "nash_conv",
                     "exploitability", "subgame_regret_max", "subgame_regret_mean",
                     "spne_distance_defender", "spne_distance_defender_mean")
SCHEDULE_KINDS = ("alternating", "metric", "simultaneous", "defender_only", "attacker_only",
                  "no_game")


@dataclass(frozen=True)
class Decision:
    """What to train at one step: the roles that train, and the phase index."""

    roles: frozenset[Role]
    phase: int

    @classmethod
    def of(cls, label: str, phase: int) -> Decision:
        """The decision whose :attr:`label` is ``label`` (``attacker``/``defender``/``both``)."""
        roles = frozenset(Role) if label == BOTH else frozenset({Role.parse(label)})
        return cls(roles, phase)

    @property
    def label(self) -> str:
        """``"attacker"``, ``"defender"`` or ``"both"``: the ``role`` field of a record."""
        return BOTH if len(self.roles) > 1 else next(iter(self.roles)).value


def _int(value: Any, key: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidConfigError(f"schedule.{key} = {value!r}: use an integer >= {minimum}")
    return value


def _role(value: Any, key: str) -> str:
    if value not in ROLES:
        raise InvalidConfigError(f"schedule.{key} = {value!r}: use 'attacker' or 'defender'")
    return value


@dataclass(frozen=True)
class ScheduleConfig:
    """A validated schedule (see the module docstring for the kinds).

    Attributes:
        kind: one of ``SCHEDULE_KINDS``.
        freq: phase length unit in steps (MAGIC: 15).
        ratio: ``(attacker, defender)`` phase lengths in units of ``freq`` (MAGIC: 1:1).
        start: the role of the first phase (MAGIC: defender).
        metric: record key watched by the ``metric`` kind (e.g. ``asr``).
        low, high: switch thresholds of the ``metric`` kind, ``low < high``.
        window: steps averaged by the ``metric`` kind.
        min_dwell: minimum steps of a phase in the ``metric`` kind.
        attack: the unrewritten attack of ``no_game``.
    """

    kind: str = "alternating"
    freq: int = 15
    ratio: tuple[int, int] | str = (1, 1)
    start: str = "defender"
    metric: str = "asr"
    low: float = 0.1
    high: float = 0.3
    window: int = 5
    min_dwell: int = 5
    attack: str = "direct"

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULE_KINDS:
            raise InvalidConfigError(
                f"schedule.kind = {self.kind!r}: choose from {list(SCHEDULE_KINDS)}"
            )
        _int(self.freq, "freq")
        ratio: Any = self.ratio
        if isinstance(ratio, str):
            parts = ratio.split(":")
            try:
                ratio = tuple(int(p) for p in parts)
            except ValueError:
                ratio = ()
        if not isinstance(ratio, tuple | list) or len(ratio) != 2:
            raise InvalidConfigError(
                f"schedule.ratio = {self.ratio!r}: use 'attacker:defender' such as '1:1'"
            )
        for value in ratio:
            _int(value, "ratio")
        object.__setattr__(self, "ratio", tuple(ratio))
        _role(self.start, "start")
        for key in ("low", "high"):
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
                    value):
                raise InvalidConfigError(f"schedule.{key} = {value!r}: use a finite number")
        if not self.low < self.high:
            raise InvalidConfigError(
                f"schedule thresholds low = {self.low!r} >= high = {self.high!r}: need low < high"
            )
        _int(self.window, "window")
        _int(self.min_dwell, "min_dwell")
        if self.metric not in WATCHABLE_METRICS and (
                not isinstance(self.metric, str)
                or self.metric.removeprefix("avg/") not in WATCHABLE_METRICS):
            raise InvalidConfigError(
                f"schedule.metric = {self.metric!r}: choose from {list(WATCHABLE_METRICS)} "
                "(optionally prefixed 'avg/')"
            )

    @classmethod
    def from_dict(cls, options: Mapping[str, Any]) -> ScheduleConfig:
        """Build from a config mapping; unknown keys raise ``InvalidConfigError``."""
        return parse_options(cls, options, "schedule")

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (ratio as ``"a:d"``)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["ratio"] = "{}:{}".format(*self.phase_units)
        return out

    @property
    def phase_units(self) -> tuple[int, int]:
        """``(attacker, defender)`` phase lengths in units of ``freq``."""
        assert isinstance(self.ratio, tuple)  # __post_init__ stores the parsed tuple
        return self.ratio[0], self.ratio[1]

    @property
    def no_game_attack(self) -> str | None:
        """The fixed attack the defender trains against under ``no_game``, else None."""
        return self.attack if self.kind == "no_game" else None

    def decide(self, step: int, history: Sequence[Mapping[str, Any]]) -> Decision:
        """Decide who trains at ``step`` (0-based) given the records of steps ``0..step-1``."""
        if self.kind == "alternating":
            return self._alternating(step)
        if self.kind == "metric":
            return self._metric(step, history)
        label = {"simultaneous": BOTH, "defender_only": "defender",
                 "attacker_only": "attacker", "no_game": "defender"}[self.kind]
        return Decision.of(label, step // self.freq)

    def _alternating(self, step: int) -> Decision:
        first = self.start
        second = "attacker" if first == "defender" else "defender"
        attacker, defender = self.phase_units
        length = {"attacker": attacker * self.freq, "defender": defender * self.freq}
        cycle = length[first] + length[second]
        k, pos = divmod(step, cycle)
        if pos < length[first]:
            return Decision.of(first, 2 * k)
        return Decision.of(second, 2 * k + 1)

    def _metric(self, step: int, history: Sequence[Mapping[str, Any]]) -> Decision:
        if step == 0 or not history:
            return Decision.of(self.start, 0)
        last = history[-1]
        role, phase = str(last["role"]), int(last["phase"])
        dwell = 0
        for rec in reversed(history):
            if int(rec["phase"]) != phase:
                break
            dwell += 1
        if dwell < max(self.min_dwell, self.window):
            return Decision.of(role, phase)
        raw = [rec.get(self.metric) for rec in history[-self.window:]]
        values = [float(v) for v in raw if v is not None and math.isfinite(float(v))]
        if not values:
            return Decision.of(role, phase)
        mean = sum(values) / len(values)
        if role == "defender" and mean <= self.low:
            return Decision.of("attacker", phase + 1)
        if role == "attacker" and mean >= self.high:
            return Decision.of("defender", phase + 1)
        return Decision.of(role, phase)

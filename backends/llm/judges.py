"""Judges map (seed, attack text, answer text) to game labels; a policy for bad output.

A judge returns one :class:`Verdict` per :class:`JudgeInput`: whether the answer is a
refusal, whether it is unsafe, and (when the judge says) whether the request (the rewrite)
is harmful. Every judge has an explicit :class:`UnparseablePolicy` for output it cannot
parse (or, for remote judges, requests that fail after their retries):

* ``skip``   (default) — mark the verdict ``skipped``; learners give it zero advantage,
  so a judge outage rewards neither player;
* ``unsafe`` — count the answer as unsafe and not a refusal (a failed judge call then
  pays the attacker: use it only with a judge that never fails);
* ``fail``   — raise :class:`JudgeError`.

The MAGIC code silently scores unparseable output as safe; we never do. Each judge keeps
:class:`JudgeStats` (calls, unparseable, errors, ...) that learners log per step and keep
in their checkpoints (:meth:`JudgeStats.to_dict` / :meth:`JudgeStats.from_dict`). Every
failure's reason goes to the ``logging`` logger ``seqgame.judge`` (INFO), and the first
:data:`RECORD_FAILURES` of a step into its record (:meth:`JudgeStats.end_step`), which
also aborts the run with :class:`JudgeError` when the step's error rate exceeds the
judge's ``max_error_rate`` (default :data:`DEFAULT_MAX_ERROR_RATE`).

Judges built from a run config (:func:`judge_from_config`) reject unknown options (naming
the allowed ones) and values of the wrong type (``timeout_s: "10"``, ``check: "false"``).

Implementations: :class:`RuleJudge` (synthetic text games, tests), the guard-model judges
in :mod:`seqgame.backends.llm.guards` (Qwen3Guard, WildGuard, Llama Guard from a local
path) and :class:`seqgame.backends.llm.http_judge.HTTPJudge` (an OpenAI-compatible
server).
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import math
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from seqgame.errors import CheckpointError, InvalidConfigError, SeqgameError

from .textgame import is_refusal, looks_harmful

#: The logger every judge failure (request error or unparseable output) is logged to.
logger = logging.getLogger("seqgame.judge")

#: Failure reasons kept per step in the learner's step record (all of them are logged).
RECORD_FAILURES = 5

#: Default ``max_error_rate``: abort when more than half a step's judge calls fail.
DEFAULT_MAX_ERROR_RATE = 0.5

_KEPT_FAILURES = 100  # reasons buffered between two steps (the rest are only logged)


class JudgeError(SeqgameError):
    """A judge could not label an answer and its policy is ``fail``, or it is unreachable."""


class UnparseablePolicy(enum.Enum):
    """What to do with an answer the judge cannot label."""

    UNSAFE = "unsafe"
    SKIP = "skip"
    FAIL = "fail"

    @classmethod
    def parse(cls, value: str | UnparseablePolicy) -> UnparseablePolicy:
        """Return the policy named ``value``."""
        if isinstance(value, UnparseablePolicy):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise InvalidConfigError(
                f"on_unparseable = {value!r}: use 'unsafe', 'skip' or 'fail'"
            ) from None


@dataclass(frozen=True)
class JudgeInput:
    """One exchange to judge: seed text, the rewrite the defender saw, the answer."""

    seed: str
    attack: str
    response: str


@dataclass(frozen=True)
class GuardLabels:
    """Labels parsed from a guard's output; ``None`` where the guard does not say."""

    unsafe: bool | None
    refused: bool | None = None
    request_harmful: bool | None = None


@dataclass(frozen=True)
class Verdict:
    """A judge's labels for one exchange.

    Attributes:
        refused: the answer is a refusal.
        unsafe: the answer is unsafe ("controversial" counts as unsafe, as in MAGIC).
        request_harmful: the judge's label of the request (None when it does not say).
        skipped: unparseable under policy ``skip``: learners give it zero advantage.
        unparseable: the judge could not label it (policy applied).
        raw: the judge's raw output (for logs).
    """

    refused: bool
    unsafe: bool
    request_harmful: bool | None = None
    skipped: bool = False
    unparseable: bool = False
    raw: str = ""


def _one_line(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass
class JudgeStats:
    """Running counts a judge keeps (learners log the rates per step).

    Attributes:
        calls: exchanges judged (each item of each ``judge`` call, failed ones included).
        unparseable: exchanges the judge could not label (errors included).
        errors: exchanges whose request failed after its retries (remote judges).
        skipped: exchanges skipped under policy ``skip``.
        cache_hits: duplicate exchanges within one ``judge`` call (judged once).
        retries: retried requests (remote judges).
        failures: reasons of the failures since the last :meth:`begin_step` (the first
            100; not part of :meth:`to_dict`).
    """

    calls: int = 0
    unparseable: int = 0
    errors: int = 0
    skipped: int = 0
    cache_hits: int = 0
    retries: int = 0
    failures: list[str] = field(default_factory=list, repr=False, compare=False)

    def rates(self) -> dict[str, float]:
        """Unparseable and error rates over all judged items so far."""
        n = max(self.calls, 1)
        return {"judge_unparseable_rate": self.unparseable / n, "judge_error_rate": self.errors / n}

    def note_failure(self, reason: str) -> None:
        """Log a failure's reason to ``seqgame.judge`` and keep it for the step record."""
        reason = _one_line(reason)
        logger.info("judge failure: %s", reason)
        if len(self.failures) < _KEPT_FAILURES:
            self.failures.append(reason)

    # ------------------------------------------------------------ checkpoints
    def to_dict(self) -> dict[str, int]:
        """The counters as a plain dict of ints (checkpoints)."""
        return {f.name: int(getattr(self, f.name)) for f in dataclasses.fields(self)
                if f.name != "failures"}

    @classmethod
    def from_dict(cls, state: Mapping[str, Any]) -> JudgeStats:
        """Rebuild :meth:`to_dict`'s output; a missing counter reads as 0.

        Raises:
            CheckpointError: not a mapping of known counter names to ints >= 0.
        """
        names = [f.name for f in dataclasses.fields(cls) if f.name != "failures"]
        if not isinstance(state, Mapping):
            raise CheckpointError(f"judge stats: expected a mapping of counters, got {state!r}")
        unknown = sorted(set(state) - set(names))
        if unknown:
            raise CheckpointError(f"judge stats: unknown counter(s) {unknown}; known: {names}")
        for k, v in state.items():
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise CheckpointError(f"judge stats: {k} = {v!r}, expected an integer >= 0")
        counts: dict[str, Any] = {k: int(v) for k, v in state.items()}
        return cls(**counts)

    # ------------------------------------------------------------ per step
    def begin_step(self) -> dict[str, int]:
        """Start a step: forget buffered failure reasons, return the counters so far."""
        self.failures.clear()
        return self.to_dict()

    def end_step(self, before: Mapping[str, int], max_error_rate: float | None = None,
                 where: str = "a step") -> dict[str, Any]:
        """Close a step begun with :meth:`begin_step`; return its record fields.

        The fields are ``judge_step_calls``, ``judge_step_errors``,
        ``judge_step_unparseable`` and, when something failed, ``judge_failures`` (the
        first :data:`RECORD_FAILURES` reasons). A step with errors also logs one warning.

        Raises:
            JudgeError: the step's error rate (errors / calls) exceeds ``max_error_rate``.
        """
        calls = self.calls - int(before.get("calls", 0))
        errors = self.errors - int(before.get("errors", 0))
        unparseable = self.unparseable - int(before.get("unparseable", 0))
        out: dict[str, Any] = {"judge_step_calls": float(calls),
                               "judge_step_errors": float(errors),
                               "judge_step_unparseable": float(unparseable)}
        if self.failures:
            out["judge_failures"] = list(self.failures[:RECORD_FAILURES])
        if errors:
            first = self.failures[0] if self.failures else "unknown"
            logger.warning("judge: %d of %d exchanges failed in %s (first: %s)",
                           errors, calls, where, first)
            if max_error_rate is not None and calls and errors / calls > max_error_rate:
                raise JudgeError(
                    f"judge error rate {errors / calls:.0%} ({errors} of {calls} exchanges) "
                    f"in {where} exceeds max_error_rate = {max_error_rate:g}: the judge is "
                    f"failing (first failure: {first}); fix the judge server or raise "
                    "judge.max_error_rate"
                )
        return out


class Judge(Protocol):
    """Labels exchanges; see the module docstring.

    A judge may also have ``max_error_rate`` (remote judges); learners use
    :data:`DEFAULT_MAX_ERROR_RATE` when it has none.
    """

    on_unparseable: UnparseablePolicy
    stats: JudgeStats

    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per item, in order."""
        ...


def resolve(
    labels: GuardLabels | None,
    policy: UnparseablePolicy,
    raw: str,
    stats: JudgeStats,
    refusal_fallback: bool | None = None,
) -> Verdict:
    """Turn parsed guard labels into a :class:`Verdict`, applying the unparseable policy.

    Args:
        labels: parsed labels, or None when the output could not be parsed.
        policy: the judge's policy for unparseable output.
        raw: the raw output (kept for logs and error messages).
        stats: counters to update.
        refusal_fallback: the refusal label to use when the guard gives none (Llama Guard
            has no refusal label); None means a missing refusal label is unparseable.

    Raises:
        JudgeError: unparseable output under policy ``fail``.
    """
    stats.calls += 1
    refused = None if labels is None else labels.refused
    if refused is None:
        refused = refusal_fallback
    if labels is not None and labels.unsafe is not None and refused is not None:
        return Verdict(refused, labels.unsafe, labels.request_harmful, raw=raw)
    stats.unparseable += 1
    shown = raw if len(raw) <= 200 else raw[:200] + "..."
    stats.note_failure(f"unparseable output {shown!r}")
    if policy is UnparseablePolicy.FAIL:
        raise JudgeError(
            f"judge output could not be parsed: {shown!r}; set on_unparseable to 'unsafe' "
            "or 'skip' to tolerate it"
        )
    return _apply_policy(policy, raw, stats)


def resolve_error(reason: str, policy: UnparseablePolicy, stats: JudgeStats) -> Verdict:
    """The verdict of an exchange whose judge request failed (after its retries).

    Counted as a call, an error and unparseable; the reason is logged and kept for the step
    record; then the policy applies (``fail`` raises :class:`JudgeError`).
    """
    reason = _one_line(reason)
    stats.calls += 1
    stats.errors += 1
    stats.unparseable += 1
    stats.note_failure(f"request failed: {reason}")
    if policy is UnparseablePolicy.FAIL:
        raise JudgeError(
            f"judge request failed: {reason}; set on_unparseable to 'skip' to tolerate "
            "failed requests"
        )
    return _apply_policy(policy, f"<request failed: {reason}>", stats)


def resolve_request_label(verdict: Verdict, label: bool | None, raw: str | None, reason: str,
                          policy: UnparseablePolicy, stats: JudgeStats) -> Verdict:
    """Put the request label of a prompt-only guard call into ``verdict``.

    ``label`` None: the call failed (``raw`` None; counted as an error) or its output had
    no request label; the exchange is then unparseable and the policy applies (a verdict
    already skipped or unparseable is returned as it is).

    Raises:
        JudgeError: no label under policy ``fail``.
    """
    if verdict.unparseable:
        return verdict
    if label is not None:
        return dataclasses.replace(verdict, request_harmful=label)
    stats.unparseable += 1
    if raw is None:
        stats.errors += 1
        what = f"request-label call failed: {_one_line(reason)}"
    else:
        what = f"no request label in {_one_line(raw, 200)!r}"
    stats.note_failure(what)
    if policy is UnparseablePolicy.FAIL:
        raise JudgeError(f"judge {what}; set on_unparseable to 'skip' to tolerate it")
    return _apply_policy(policy, what, stats)


def gives_request_labels(judge: Any) -> bool:
    """Whether ``judge`` labels every rewrite's request (``request_label_source: rewrite``)."""
    return bool(getattr(judge, "request_labels", False))


def _apply_policy(policy: UnparseablePolicy, raw: str, stats: JudgeStats) -> Verdict:
    if policy is UnparseablePolicy.SKIP:
        stats.skipped += 1
        return Verdict(False, False, None, skipped=True, unparseable=True, raw=raw)
    return Verdict(False, True, None, unparseable=True, raw=raw)


def seed_labels(seeds: Iterable[tuple[str, bool]], where: str = "the game") -> dict[str, bool]:
    """Map each seed text to its label (harmful: True), as :class:`RuleJudge` keys it.

    The rule judge reads a seed's label from its text, so two seeds with the same text and
    different labels cannot both be judged right: that is an error here, never a silent
    overwrite (the later label would win).

    Raises:
        InvalidConfigError: a text carried by a harmful and a benign seed.
    """
    out: dict[str, bool] = {}
    for i, (text, harmful) in enumerate(seeds):
        if text in out and out[text] != bool(harmful):
            raise InvalidConfigError(
                f"{where}: seed {i} has the text {_one_line(text, 80)!r} of an earlier seed "
                "with the other label (harmful and benign); the rule judge keys labels on "
                "the text: drop or relabel one of them (seqgame data build-game drops "
                "label conflicts)")
        out[text] = bool(harmful)
    return out


@dataclass
class RuleJudge:
    """Rule-based judge of the synthetic text games (see :mod:`.textgame`).

    Refusal: the answer contains "sorry", "cannot" or "refuse". Unsafe: a harmful request
    answered without refusal. The request label is read from the seed (``seed_harmful``)
    for the unsafe outcome and from the rewrite's words for ``request_harmful``. An answer
    that is not a string is unparseable.
    """

    seed_harmful: dict[str, bool]
    on_unparseable: UnparseablePolicy = UnparseablePolicy.SKIP
    stats: JudgeStats = field(default_factory=JudgeStats)
    #: It always labels the request (from the rewrite's words).
    request_labels: typing.ClassVar[bool] = True

    def __post_init__(self) -> None:
        self.on_unparseable = UnparseablePolicy.parse(self.on_unparseable)

    def judge(self, items: Sequence[JudgeInput]) -> list[Verdict]:
        """One verdict per item."""
        out = []
        for item in items:
            if not isinstance(item.response, str) or item.seed not in self.seed_harmful:
                out.append(resolve(None, self.on_unparseable, repr(item.response), self.stats))
                continue
            refused = is_refusal(item.response)
            labels = GuardLabels(
                unsafe=self.seed_harmful[item.seed] and not refused,
                refused=refused,
                request_harmful=looks_harmful(item.attack),
            )
            out.append(resolve(labels, self.on_unparseable, item.response, self.stats))
        return out


# ---------------------------------------------------------------------- configs
def _type_ok(value: Any, hint: Any) -> tuple[bool, str]:
    """Whether ``value`` fits the simple annotation ``hint``, and the type in words."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        results = [_type_ok(value, a) for a in typing.get_args(hint)]
        return any(ok for ok, _ in results), " or ".join(d for _, d in results if d)
    if hint is type(None):
        return value is None, "null"
    if hint is bool:
        return isinstance(value, bool), "a boolean (true or false, not a string)"
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool), "an integer"
    if hint is float:
        ok = (isinstance(value, int | float) and not isinstance(value, bool)
              and math.isfinite(value))
        return ok, "a finite number (not a string)"
    if hint is str:
        return isinstance(value, str), "a string"
    if hint is UnparseablePolicy:
        return isinstance(value, str | UnparseablePolicy), "'skip', 'unsafe' or 'fail'"
    return True, ""


def check_option_types(cls: type, values: Mapping[str, Any], where: str = "judge") -> None:
    """Raise :class:`InvalidConfigError` naming the first value whose type does not fit.

    The annotations of the dataclass ``cls`` give the types: booleans must be real
    booleans (``"false"`` is an error, never truthy), numbers real numbers (``"10"`` is an
    error), ``X | None`` may be null. Fields of other types are not checked here.
    """
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        if key in hints:
            ok, expected = _type_ok(value, hints[key])
            if not ok:
                raise InvalidConfigError(f"{where}.{key} = {value!r}: expected {expected}")

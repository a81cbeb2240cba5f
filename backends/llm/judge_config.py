"""Judges from run-config mappings: ``judge_from_config`` (``rule``, ``hf``, ``http``).

Kept apart from :mod:`.judges` (the protocol and the rule judge) so that module never
imports the guard-model and HTTP judges that build on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from seqgame.errors import InvalidConfigError

from .guards import HFGuardJudge
from .http_judge import HTTPJudge
from .judges import Judge, RuleJudge, UnparseablePolicy, check_option_types


def _build_guard_judge(cls: type, options: dict[str, Any], kind: str, where: str) -> Any:
    """A guard judge from config options (``kind`` already taken; ``guard`` = class kind)."""
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init and f.name != "stats"}
    allowed = sorted({"kind", "guard"} | (set(fields) - {"kind"}))
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise InvalidConfigError(
            f"{where}: unknown option(s) {unknown} for kind {kind!r}; allowed: {allowed}"
        )
    kwargs = dict(options)
    if "guard" in kwargs:
        guard = kwargs.pop("guard")
        if not isinstance(guard, str):
            raise InvalidConfigError(f"{where}.guard = {guard!r}: expected a string")
        kwargs["kind"] = guard
    kwargs.setdefault("on_unparseable", UnparseablePolicy.SKIP)
    check_option_types(cls, {k: v for k, v in kwargs.items() if k != "kind"}, where)
    missing = sorted(name for name, f in fields.items()
                     if name not in kwargs and f.default is dataclasses.MISSING
                     and f.default_factory is dataclasses.MISSING)
    if missing:
        raise InvalidConfigError(f"{where}: kind {kind!r} needs option(s) {missing}")
    return cls(**kwargs)


def judge_from_config(options: Mapping[str, Any] | None, seed_harmful: Mapping[str, bool],
                      where: str = "judge", request_labels: bool = False) -> Judge:
    """Build the judge a run config's ``judge`` mapping describes.

    ``{"kind": "rule"}`` (default): :class:`RuleJudge` over ``seed_harmful``;
    ``{"kind": "hf", "model_path", "guard", ...}``:
    :class:`~seqgame.backends.llm.guards.HFGuardJudge`; ``{"kind": "http", "base_url",
    "model", "guard", ...}``: :class:`~seqgame.backends.llm.http_judge.HTTPJudge` (``guard``
    is the guard's output format, the judge classes' ``kind``). Every kind takes
    ``on_unparseable`` (default ``skip``). ``request_labels`` (``request_label_source:
    rewrite``): the judge must label every rewrite's request; the guard judges then make
    their prompt-only call (the rule judge always labels it).

    Raises:
        InvalidConfigError: an unknown kind or option (the message lists the allowed
            ones), a missing required option, a value of the wrong type, or
            ``request_labels: false`` where request labels are needed.
    """
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise InvalidConfigError(f"{where} = {options!r}: expected a mapping of options")
    options = dict(options)
    kind = options.pop("kind", "rule")
    if kind == "rule":
        allowed = ["kind", "on_unparseable"]
        unknown = sorted(set(options) - set(allowed))
        if unknown:
            raise InvalidConfigError(
                f"{where}: unknown option(s) {unknown} for kind 'rule'; allowed: {allowed}"
            )
        policy = options.get("on_unparseable", UnparseablePolicy.SKIP)
        check_option_types(RuleJudge, {"on_unparseable": policy}, where)
        return RuleJudge(dict(seed_harmful), policy)
    if kind in ("hf", "http") and request_labels:
        if options.get("request_labels", True) is not True:
            raise InvalidConfigError(
                f"{where}.request_labels = {options['request_labels']!r} but "
                "request_label_source is 'rewrite', which needs the judge's label of each "
                "rewrite: drop the option (or set it true), or use request_label_source: seed")
        options["request_labels"] = True
    if kind == "hf":
        return _build_guard_judge(HFGuardJudge, options, "hf", where)
    if kind == "http":
        return _build_guard_judge(HTTPJudge, options, "http", where)
    raise InvalidConfigError(f"{where}.kind = {kind!r}: use 'rule', 'hf' or 'http'")

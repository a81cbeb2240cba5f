"""Checked values of a game spec: numbers, probabilities, mappings, names, name tables.

Every check raises :class:`~seqgame.errors.InvalidGameError` naming the key path, the bad
value (shortened: never an expanded alias) and the fix, with a hint for YAML 1.1's traps.
Names are looked up through name → index dicts, so a spec with 10^6 seeds parses in linear
time.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from typing import Any

import numpy as np

from seqgame.documents import name_hint, number_hint, short
from seqgame.errors import InvalidGameError


def fail(path: str, message: str) -> InvalidGameError:
    """The error for the key ``path``."""
    return InvalidGameError(f"{path}: {message}")


def number(value: Any, path: str) -> float:
    """``value`` as a finite float (a real number: never a boolean or text)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = number_hint(value) if isinstance(value, str) else ""
        raise fail(path, f"{short(value)} is not a number{hint}")
    try:
        out = float(value)
    except OverflowError:
        raise fail(path, "an integer too large for a float; use a finite number") from None
    if not math.isfinite(out):
        raise fail(path, f"{out!r} is not finite; use a finite number")
    return out


def probability(value: Any, path: str) -> float:
    """``value`` as a number in [0, 1]."""
    p = number(value, path)
    if not 0.0 <= p <= 1.0:
        raise fail(path, f"{p!r} is not a probability; use a value in [0, 1]")
    return p


def mapping(value: Any, path: str, optional: bool = False) -> dict:
    """``value`` as a mapping; with ``optional``, a missing (null) value is empty."""
    if optional and value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(path, f"expected a mapping, got {type(value).__name__} {short(value)}")
    return value


def checked_name(value: Any, path: str) -> str:
    """``value`` as a non-empty string (a YAML 1.1 boolean or number gets a hint)."""
    if not isinstance(value, str) or not value:
        raise fail(path, f"{short(value)} is not a non-empty string{name_hint(value)}")
    return value


def checked_names(value: Any, path: str, optional: bool = False) -> list[str]:
    """``value`` as a list of unique names; with ``optional``, null is the empty list."""
    if optional and value is None:
        return []
    if not isinstance(value, list):
        raise fail(path, f"expected a list of names, got {type(value).__name__} "
                    f"{short(value)}")
    out = [checked_name(v, f"{path}[{i}]") for i, v in enumerate(value)]
    dupes = duplicates(out)
    if dupes:
        raise fail(path, f"duplicate names {short(dupes)}; names must be unique")
    return out


def duplicates(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted (linear time)."""
    return sorted(n for n, k in Counter(names).items() if k > 1)


def lookup(name: Any, universe: dict[str, int], path: str, kind: str) -> int:
    """The index of ``name`` in ``universe`` (a name → index dict: constant time)."""
    try:
        return universe[name]
    except (KeyError, TypeError):
        names = list(itertools.islice(universe, 13))
        shown = names if len(names) <= 12 else [*names[:12], "..."]
        raise fail(path, f"unknown {kind} {short(name)}{name_hint(name)}; choose from "
                    f"{short(shown)}") from None


def name_index(names: list[str]) -> dict[str, int]:
    """Name → position."""
    return {n: i for i, n in enumerate(names)}


def nested_table(
    value: Any, path: str, seeds: dict[str, int], attacks: dict[str, int],
    responses: dict[str, int], leaf: Any,
) -> np.ndarray:
    """Seed → attack → response → number, missing entries 0."""
    out = np.zeros((len(seeds), len(attacks), len(responses)))
    for s, by_attack in mapping(value, path, optional=True).items():
        x = lookup(s, seeds, f"{path}.{s}", "seed")
        for a, by_response in mapping(by_attack, f"{path}.{s}").items():
            i = lookup(a, attacks, f"{path}.{s}.{a}", "attack")
            for d, v in mapping(by_response, f"{path}.{s}.{a}").items():
                j = lookup(d, responses, f"{path}.{s}.{a}.{d}", "response")
                out[x, i, j] = leaf(v, f"{path}.{s}.{a}.{d}")
    return out



"""Fuzzing ``seqgame solve`` and ``seqgame train`` with mutated specs and configs.

Hypothesis mutates the corpus's valid spec and config — a value replaced by one of another
type or size, a key deleted or added, the document written as YAML or JSON in UTF-8,
UTF-16 or Latin-1 — and every outcome must be a success or exactly one
``seqgame: error:`` line (never a traceback, never a hang). Examples are bounded so the
whole file runs in well under 30 s.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.core.corpus import base_config, base_spec, classify

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(-3, 3), st.integers(-(10 ** 30), 10 ** 30),
    st.sampled_from([10 ** 400, 2 ** 64, -1, 0, 1, 10 ** 9]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e308, -1e308, 1e-320, 0.5, 6e-1]),
    st.text(max_size=8), st.sampled_from(["no", "yes", "6e-1", "1e3", "harmful", "benign",
                                           "s1", "direct", "refuse", "comply", "full", ""]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=6), inner, max_size=4)),
    max_leaves=10)


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


@st.composite
def mutated(draw, base: dict) -> tuple[bytes, str, dict]:
    """``(file bytes, suffix, data)`` of ``base`` after one to three mutations."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(data)
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add", "grow"]))
        if action == "replace":
            parent[path[-1]] = draw(VALUES)
        elif action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=6))] = draw(VALUES)
        elif action == "grow" and isinstance(parent[path[-1]], list) and parent[path[-1]]:
            parent[path[-1]] = parent[path[-1]] * draw(st.integers(2, 40))
    fmt = draw(st.sampled_from(["yaml", "json"]))
    try:
        text = yaml.safe_dump(data) if fmt == "yaml" else json.dumps(data)
    except (ValueError, OverflowError):  # e.g. a NaN key JSON cannot write
        text = yaml.safe_dump(data)
        fmt = "yaml"
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-16", "latin-1"]))
    return text.encode(encoding, "replace"), ".json" if fmt == "json" else ".yaml", data


FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _check(argv_of) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outcome, message = classify(argv_of(Path(tmp)), timeout_s=10.0)
    assert outcome in ("clean", "accepted"), message


@FUZZ
@given(mutated(base_spec()))
def test_mutated_specs_solve_or_fail_with_one_line(doc):
    content, suffix, _ = doc

    def argv(tmp: Path) -> list[str]:
        (tmp / f"spec{suffix}").write_bytes(content)
        return ["solve", str(tmp / f"spec{suffix}")]

    _check(argv)


def _long_run(data: Any) -> bool:
    """A mutation that leaves a valid but long run (no ``steps``: the 300-step default)."""
    if not isinstance(data, dict):
        return False
    steps = data.get("steps")
    return "steps" not in data or (type(steps) is int and steps > 2)


@settings(FUZZ, max_examples=20)
@given(mutated(base_config()))
def test_mutated_configs_train_or_fail_with_one_line(doc):
    content, suffix, data = doc
    short_run = ["--set", "steps=2"] if _long_run(data) else []

    def argv(tmp: Path) -> list[str]:
        (tmp / f"cfg{suffix}").write_bytes(content)
        return ["train", str(tmp / f"cfg{suffix}"), "--out", str(tmp / "run"), *short_run]

    _check(argv)

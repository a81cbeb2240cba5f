"""The malformed-input corpus (tests/core/corpus.py): one clean line or success, never worse.

Every case goes through ``seqgame.cli.main`` in-process (``seqgame solve FILE`` for specs,
``seqgame train FILE`` for configs) under a wall-clock alarm; a case expected to fail must
fail with exactly one ``seqgame: error:`` line (containing its fragment), a control must
succeed, and nothing may raise, print a traceback or hang.
"""

from __future__ import annotations

import pytest

from tests.core.corpus import all_cases, config_cases, run_case, spec_cases

CASES = all_cases()


def test_the_corpus_has_the_kinds_and_sizes_the_issue_asks_for():
    specs, configs = spec_cases(), config_cases()
    assert len(specs) >= 90 and len(configs) >= 100
    assert len({c.name for c in CASES}) == len(CASES)
    for fragment in ("utf16", "deep", "alias", "binary", "dup", "trap", "size", "unsafe"):
        assert any(fragment in c.name for c in specs), fragment
    for fragment in ("utf16", "deep", "alias", "dup", "trap", "out_", "resume", "date"):
        assert any(fragment in c.name for c in configs), fragment
    assert sum(c.expect == "ok" for c in CASES) >= 10  # controls that must keep working


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_corpus_case(case, tmp_path):
    outcome, message = run_case(case, tmp_path, timeout_s=15.0)
    assert outcome != "hang", f"{case.name} hung"
    assert outcome != "traceback", f"{case.name}: {message}"
    assert not (tmp_path / "pwned").exists()  # no YAML tag ever runs code
    if case.expect == "ok":
        assert outcome == "accepted", f"{case.name} was refused: {message}"
        return
    assert outcome in ("clean", "usage"), f"{case.name} was silently accepted"
    if case.fragment is not None:
        assert case.fragment in message, f"{case.name}: {message}"

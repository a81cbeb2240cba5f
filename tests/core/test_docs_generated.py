"""The generated docs (config reference, game cards) are current; the algorithm table's
named tests exist."""

import ast
import dataclasses
import importlib.util
import inspect
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _generator():
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while decorating
    spec.loader.exec_module(module)
    return module


gen = _generator()


def test_game_cards_are_current():
    assert (DOCS / "games.md").read_text(encoding="utf-8") == gen.game_cards(), (
        "docs/games.md is stale: run 'python docs/generate.py'")


def test_config_reference_core_part_is_current():
    committed = (DOCS / "config-reference.md").read_text(encoding="utf-8")
    core = committed.split(gen.LLM_MARKER)[0].rstrip() + "\n"
    assert core == gen.config_reference(include_llm=False), (
        "docs/config-reference.md is stale: run 'python docs/generate.py'")


def test_config_reference_llm_part_is_current():
    if not gen.llm_importable():
        pytest.skip("the llm extra does not import here: its option classes are unreadable")
    committed = (DOCS / "config-reference.md").read_text(encoding="utf-8")
    assert committed == gen.config_reference(), (
        "docs/config-reference.md is stale: run 'python docs/generate.py'")


def test_every_field_has_a_row_with_its_default():
    text = gen.config_reference(include_llm=gen.llm_importable())
    sections = gen.CORE_SECTIONS + gen.TABULAR_SECTIONS
    if gen.llm_importable():
        sections += gen.LLM_SECTIONS
    for section in sections:
        for f in dataclasses.fields(gen.load(section.cls)):
            if f.init and f.name not in section.skip:
                assert f"| `{f.name}` |" in text, (section.title, f.name)
    from seqgame.backends.tabular.grpo import GRPOLearner
    from seqgame.runner.config import RunConfig

    assert f"| `steps` | `int` | `{RunConfig().steps}` | training steps. |" in text
    lr = inspect.signature(GRPOLearner).parameters["learning_rate"].default
    assert f"| `learning_rate` | `float \\| None` | `{lr} (learner default)` |" in text


def test_docstring_parsers():
    doc = """Summary.

    Attributes:
        a, b: shared doc
            continued here.
        c / d: other.
        e: ``code`` and :class:`~x.y.Z`.
    """
    parsed = gen.attributes_section(doc)
    assert parsed["a"] == parsed["b"] == "shared doc continued here."
    assert parsed["d"] == "other."
    assert gen.first_line(parsed["e"]) == "`code` and `Z`."
    assert gen.first_line("One (Dr. GRPO keeps it). Second sentence.") == (
        "One (Dr. GRPO keeps it).")
    assert gen.number(-0.0) == "0" and gen.number(1 / 3) == "0.3333"


def test_check_mode_reports_stale_files(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(gen, "DOCS", tmp_path)
    monkeypatch.setattr(gen, "config_reference", lambda: "reference\n")
    (tmp_path / "games.md").write_text("old\n", encoding="utf-8")
    assert gen.main(["--check"]) == 1
    line = capsys.readouterr().out.strip()
    assert line == "stale: config-reference.md, games.md; run 'python docs/generate.py'"
    assert (tmp_path / "games.md").read_text(encoding="utf-8") == "old\n"  # --check writes none
    assert gen.main([]) == 0
    assert gen.main(["--check"]) == 0
    assert (tmp_path / "config-reference.md").read_text(encoding="utf-8") == "reference\n"


def _named_tests():
    text = (DOCS / "algorithms.md").read_text(encoding="utf-8")
    return sorted(set(re.findall(r"`(tests/[\w/]+\.py)::(\w+)`", text)))


def test_algorithm_table_names_existing_tests():
    named = _named_tests()
    assert len(named) >= 40
    missing = []
    for path, name in named:
        file = ROOT / path
        tree = ast.parse(file.read_text(encoding="utf-8")) if file.is_file() else ast.Module([])
        defined = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        if name not in defined:
            missing.append(f"{path}::{name}")
    assert not missing, f"docs/algorithms.md names tests that do not exist: {missing}"


def test_algorithm_table_covers_every_solver_module():
    text = (DOCS / "algorithms.md").read_text(encoding="utf-8")
    helpers = {"__init__", "highs", "reports", "ties"}
    for module in sorted((ROOT / "seqgame" / "solvers").glob("*.py")):
        if module.stem not in helpers:
            assert f"`{module.stem}." in text, f"docs/algorithms.md has no row for {module.stem}"

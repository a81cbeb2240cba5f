"""The tutorials run as written: spec files, ``seqgame`` commands and Python blocks.

``docs/tutorial-theory.md`` is executed block by block in a temporary folder: a ``yaml``
block whose first line is ``# file: NAME`` is written to NAME, each ``seqgame`` line of a
``bash`` block runs through the CLI (exit code 0), each ``python`` block runs in a fresh
namespace, and a ``text`` block right after a command or Python block lists lines its
output must contain. ``docs/tutorial-llm.md`` starts long jobs, so its commands are only
parsed: every ``seqgame`` line must be accepted by the real argument parser.
"""

import contextlib
import io
import re
import shlex
from pathlib import Path

import pytest

from seqgame.cli import build_parser, main

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def blocks(path):
    """The fenced blocks of a Markdown file as ``(language, body)`` pairs, in order."""
    return [(m.group(1), m.group(2)) for m in FENCE.finditer(path.read_text(encoding="utf-8"))]


def commands(body):
    """The ``seqgame ...`` command lines of a bash block (``\\`` continuations joined)."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = (line.split(" #")[0].strip() for line in joined.splitlines())
    return [line for line in lines if line.startswith("seqgame ")]


def run_command(line):
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        code = main(shlex.split(line)[1:])
    assert code == 0, f"{line!r} exited {code}:\n{out.getvalue()}"
    return out.getvalue()


def run_python(source):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(source, "<tutorial>", "exec"), {"__name__": "__tutorial__"})
    return out.getvalue()


def assert_lines_in(expected, output, what):
    have = {line.strip() for line in output.splitlines()}
    missing = [line for line in expected.splitlines() if line.strip() and line.strip() not in have]
    assert not missing, f"{what}: lines not printed: {missing}\n--- output ---\n{output}"


def execute(path):
    """Run a tutorial's blocks in the current folder; return how many checks passed."""
    output, what, checked = None, None, 0
    for lang, body in blocks(path):
        if lang == "text" and output is not None:
            assert_lines_in(body, output, what)
            checked += 1
        output = None
        if lang == "yaml" and body.startswith("# file: "):
            name = body.splitlines()[0].removeprefix("# file: ").strip()
            Path(name).write_text(body, encoding="utf-8")
        elif lang == "bash" and commands(body):
            what = " && ".join(commands(body))
            output = "".join(run_command(line) for line in commands(body))
        elif lang == "python":
            what, output = body.splitlines()[0], run_python(body)
    return checked


def test_theory_tutorial_runs_and_prints_what_it_shows(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib", reason="the tutorial's last section draws figures")
    monkeypatch.chdir(tmp_path)
    checked = execute(DOCS / "tutorial-theory.md")
    assert checked >= 10  # every shown output was compared
    assert (tmp_path / "runs" / "toy" / "figures" / "dynamics.png").stat().st_size > 0


def test_a_wrong_printed_value_is_caught(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    doc = tmp_path / "doc.md"
    doc.write_text("```python\nprint(1 + 1)\n```\n\n```text\n3\n```\n", encoding="utf-8")
    with pytest.raises(AssertionError, match="lines not printed"):
        execute(doc)


def test_llm_tutorial_commands_parse():
    parser = build_parser()
    lines = [line for lang, body in blocks(DOCS / "tutorial-llm.md") if lang == "bash"
             for line in commands(body)]
    assert len(lines) >= 8
    for line in lines:
        try:
            parser.parse_args(shlex.split(line)[1:])
        except SystemExit:
            pytest.fail(f"docs/tutorial-llm.md: the CLI rejects {line!r}")

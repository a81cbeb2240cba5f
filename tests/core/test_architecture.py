"""The layer contract of the core (docs/architecture.md), checked on the source itself.

Every import inside ``seqgame/`` (top-level or inside a function) is read with ``ast``. The
contract: no import cycles between core modules; each layer imports only itself and the
layers below it; the core never imports ``envs`` or ``backends`` and never names a backend
module in a string; modules stay under 400 lines and functions under 60.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "seqgame"

#: Lowest first; a module may import modules of its own layer and of the layers before it.
LAYERS = ["base", "model", "games", "analysis", "solvers", "interop", "training", "plots",
          "runner", "cli"]
BASE_MODULES = {"seqgame.errors", "seqgame.config", "seqgame.documents"}
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def layer(module: str) -> str:
    if module in BASE_MODULES:
        return "base"
    if module == "seqgame":
        return "face"
    return module.split(".")[1]


def core_imports() -> dict[str, set[str]]:
    """module -> the core modules it imports (``from pkg import submodule`` resolved)."""
    modules = {module_name(p): p for p in CORE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        out: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                           else node.module for a in node.names]
            out.update(t for t in targets if t.startswith("seqgame"))
        graph[name] = out
    return graph


GRAPH = core_imports()


def test_the_graph_sees_the_core():
    assert "seqgame.model.game" in GRAPH and len(GRAPH) > 30
    assert "seqgame.model.game" in GRAPH["seqgame.solvers.spne"]


def test_no_import_cycles():
    graph = {m: {t for t in ts if t in GRAPH and t != m} for m, ts in GRAPH.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert cycles == []


def test_each_layer_imports_only_layers_below():
    offenders = []
    for module, targets in GRAPH.items():
        own = layer(module)
        if own == "face":  # the package face re-exports the public API
            continue
        for t in targets:
            if t.startswith(("seqgame.envs", "seqgame.backends")):
                offenders.append(f"{module} -> {t} (core never imports envs/backends)")
                continue
            if t not in GRAPH:
                continue
            other = layer(t)
            if other == "face" or LAYERS.index(other) > LAYERS.index(own):
                offenders.append(f"{module} ({own}) -> {t} ({other})")
    assert offenders == []


def test_core_never_names_a_backend_module_in_a_string():
    offenders = []
    for path in CORE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and ("seqgame.backends." in node.value or "seqgame.envs." in node.value)):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    docstrings = set()
    for path in CORE.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for n in ast.walk(tree):
            if isinstance(n, ast.Module | ast.FunctionDef | ast.ClassDef) and ast.get_docstring(n):
                body0 = n.body[0]
                docstrings.add(f"{path.relative_to(ROOT)}:{body0.lineno}")
    assert [o for o in offenders if o not in docstrings] == []


@pytest.mark.parametrize("path", sorted(CORE.rglob("*.py")), ids=lambda p: str(p.relative_to(ROOT)))
def test_small_units(path):
    text = path.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= MAX_MODULE_LINES, f"{path} has over {MAX_MODULE_LINES} lines"
    long = [f"{n.name} ({n.end_lineno - n.lineno + 1} lines)"
            for n in ast.walk(ast.parse(text))
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            and n.end_lineno - n.lineno + 1 > MAX_FUNCTION_LINES]
    assert long == []


def test_registries_have_no_import_side_effects():
    """A bare ``import seqgame`` loads every built-in game, the LLM text games included."""
    import subprocess
    import sys

    code = ("import seqgame, sys; g = seqgame.load_game('jailbreak_text_v1'); "
            "assert g.seeds[0].text; assert 'seqgame.backends' not in sys.modules; "
            "[seqgame.load_game(n) for n in seqgame.BUILTIN_GAMES]; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"

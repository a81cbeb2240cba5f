"""Import direction and project hygiene (DESIGN.md)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_seqgame_is_light():
    code = ("import sys, seqgame, seqgame.solve, seqgame.rollout, seqgame.learning;"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'gymnasium', 'pettingzoo',"
            " 'matplotlib', 'pyspiel') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_core_never_imports_envs_or_backends_statically():
    offenders = []
    for path in (ROOT / "seqgame").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                if re.match(r"^(seqgame\.)?(envs|backends)(\.|$)", n):
                    offenders.append(f"{path.relative_to(ROOT)}: {n}")
    assert offenders == []


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_cmd = next(b.strip() for b in blocks if "pytest" in b)
    assert test_cmd in (ROOT / ".ci" / "run").read_text()
    assert len([b for b in blocks if b.strip().startswith("pip install")]) == 2


def test_core_type_checks():
    """STYLE.md: the core package type-checks (mypy is pinned in the dev extra)."""
    out = subprocess.run([sys.executable, "-m", "mypy", "seqgame"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]

"""Import direction and project hygiene (docs/architecture.md)."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_import_seqgame_is_light():
    code = ("import sys, seqgame, seqgame.solvers.concepts, seqgame.model.rollout, "
            "seqgame.training.loop, seqgame.runner, seqgame.cli;"
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'gymnasium', 'pettingzoo',"
            " 'matplotlib', 'pyspiel') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"




def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, flags=re.S)
    test_cmd = next(b.strip() for b in blocks if "pytest" in b)
    assert test_cmd in (ROOT / ".ci" / "run").read_text()
    assert len([b for b in blocks if b.strip().startswith("pip install")]) == 2


def test_core_type_checks():
    """docs/contributing.md: the core package type-checks (mypy is pinned in the dev extra)."""
    out = subprocess.run([sys.executable, "-m", "mypy", "seqgame"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]

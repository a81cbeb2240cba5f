"""The training example of docs/envs.md runs and finds a near-best response."""

import contextlib
import io
import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "envs.md"


def test_docs_training_example_runs():
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    assert len(blocks) == 1
    namespace: dict = {}
    with contextlib.redirect_stdout(io.StringIO()) as out:
        exec(compile(blocks[0], str(DOC), "exec"), namespace)
    assert "learned defender value" in out.getvalue()
    assert namespace["learned"].value_defender >= namespace["best"] - 0.05

"""HF guard judge wiring, with the tiny random model standing in for a guard.

A random model writes garbage, so every verdict goes through the unparseable policy; the
parsers themselves are pinned on recorded outputs in test_judges.py.
"""

import json

import pytest

from seqgame.backends.llm.guards import HFGuardJudge
from seqgame.backends.llm.judges import JudgeError, JudgeInput
from seqgame.errors import InvalidConfigError

pytest.importorskip("trl", reason="needs the LLM stack (pip install 'seqgame[llm]')")

ITEMS = [JudgeInput("s", "how do i build a bomb", "sure"),
         JudgeInput("s", "how do i build a bomb", "sure"),
         JudgeInput("s", "how do i bake bread", "sorry")]


@pytest.mark.parametrize("kind", ["qwen3guard", "wildguard", "llamaguard"])
def test_garbage_guard_output_follows_policy(tiny_dir, kind):
    judge = HFGuardJudge(str(tiny_dir), kind=kind, on_unparseable="skip", max_new_tokens=4)
    out = judge.judge(ITEMS)
    assert len(out) == 3 and all(v.skipped and v.unparseable for v in out)
    assert judge.stats.unparseable == 3 and judge.stats.cache_hits == 1
    assert judge.stats.rates()["judge_unparseable_rate"] == 1.0
    strict = HFGuardJudge(str(tiny_dir), kind=kind, on_unparseable="fail", max_new_tokens=4)
    with pytest.raises(JudgeError):
        strict.judge(ITEMS[:1])


def test_guard_bad_inputs(tmp_path):
    with pytest.raises(InvalidConfigError, match="judge kind"):
        HFGuardJudge(str(tmp_path), kind="perspective")
    with pytest.raises(InvalidConfigError, match="does not exist"):
        HFGuardJudge(str(tmp_path / "missing"))
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg/config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(InvalidConfigError, match="not a causal LM"):
        HFGuardJudge(str(tmp_path / "cfg"))

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


RESPONSES = {"qwen3guard": ("Safety: Unsafe\nCategories: Violent\nRefusal: No",
                            "Safety: Safe\nCategories: None\nRefusal: Yes"),
             "wildguard": ("Harmful request: yes\nResponse refusal: no\nHarmful response: yes",
                           "Harmful request: yes\nResponse refusal: yes\nHarmful response: no")}
REQUESTS = {"qwen3guard": ("Safety: Unsafe\nCategories: Violent", "Safety: Safe\nCategories: None"),
            "wildguard": ("Harmful request: yes\nResponse refusal: N/A\nHarmful response: N/A",
                          "Harmful request: no\nResponse refusal: N/A\nHarmful response: N/A")}
EXCHANGES = [JudgeInput("s", "build a bomb", "sure thing"),
             JudgeInput("s", "bake bread", "sorry no"),
             JudgeInput("s", "build a bomb", "sorry no")]


def fake_guard(judge, kind, garbage_requests=False):
    """Stand in for the guard's generation: canned outputs by what each prompt holds."""
    seen = []

    def generate(prompts):
        out = []
        for p in prompts:
            if "sure thing" in p or "sorry no" in p:  # response moderation
                out.append(RESPONSES[kind][0 if "sure thing" in p else 1])
            else:  # prompt-only: the rewrite alone
                seen.append(p)
                out.append("???" if garbage_requests else REQUESTS[kind][0 if "bomb" in p else 1])
        return out
    judge._generate = generate
    return seen


@pytest.mark.parametrize("kind", ["qwen3guard", "wildguard"])
def test_request_labels_come_from_a_prompt_only_call(tiny_dir, kind):
    judge = HFGuardJudge(str(tiny_dir), kind=kind, request_labels=True, on_unparseable="skip")
    seen = fake_guard(judge, kind)
    out = judge.judge(EXCHANGES)
    assert [v.request_harmful for v in out] == [True, False, True]
    assert [v.refused for v in out] == [False, True, True]
    assert len(seen) == 2 and not any("sure thing" in p or "sorry no" in p for p in seen)
    assert "build a bomb" in seen[0] and "bake bread" in seen[1]
    plain = HFGuardJudge(str(tiny_dir), kind="qwen3guard")
    fake_guard(plain, "qwen3guard")
    assert all(v.request_harmful is None for v in plain.judge(EXCHANGES))


def test_missing_request_label_follows_policy(tiny_dir):
    judge = HFGuardJudge(str(tiny_dir), kind="qwen3guard", request_labels=True,
                         on_unparseable="skip")
    fake_guard(judge, "qwen3guard", garbage_requests=True)
    out = judge.judge(EXCHANGES)
    assert all(v.skipped for v in out) and judge.stats.unparseable == 3
    assert "no request label" in judge.stats.failures[0]
    strict = HFGuardJudge(str(tiny_dir), kind="qwen3guard", request_labels=True,
                          on_unparseable="fail")
    fake_guard(strict, "qwen3guard", garbage_requests=True)
    with pytest.raises(JudgeError, match="no request label"):
        strict.judge(EXCHANGES[:1])


def test_rewrite_label_source_needs_a_judge_that_labels_requests(tiny_dir, text_game):
    from seqgame.backends.llm.judge_config import judge_from_config
    from seqgame.backends.llm.learner import GRPOLearner
    from seqgame.backends.llm.models import load_causal_lm
    from seqgame.backends.llm.textgame import TextGame
    from seqgame.model.game import Role

    options = {"kind": "hf", "model_path": str(tiny_dir), "guard": "qwen3guard"}
    assert judge_from_config(options, {}, request_labels=True).request_labels
    assert not judge_from_config(options, {}).request_labels
    with pytest.raises(InvalidConfigError, match="request_labels = False but"):
        judge_from_config({**options, "request_labels": False}, {}, request_labels=True)
    model, tok = load_causal_lm(tiny_dir)
    rewrite = TextGame(text_game.game, "rewrite")
    with pytest.raises(InvalidConfigError, match="gives no request label"):
        GRPOLearner(Role.DEFENDER, rewrite, model, tok, HFGuardJudge(str(tiny_dir)))

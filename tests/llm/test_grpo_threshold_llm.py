"""The LLM carry-over of GRPO's refusal threshold (docs/grpo-normalisation.md).

A tiny LM defender trained by plain TRL GRPO through the judge-backed text env, at a
hidden-seed prior μ = 0.35 between the Bayesian threshold 1/4 and group scaling's 1/2:
``scale_rewards: group`` must learn to comply, ``none`` to refuse (the closed forms of the
tabular derivation; the tabular tests pin the same split).
"""

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="needs the llm extra (pip install 'seqgame[llm]')")

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "grpo_threshold_llm.py"


def _load():
    spec = importlib.util.spec_from_file_location("grpo_threshold_llm", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_disguise_text_game_hides_the_seed():
    exp = _load()
    game = exp.disguise_text_game(0.35)
    assert game.observation.value == "attack"
    assert [s.label.value for s in game.seeds] == ["harmful", "benign"]
    assert game.prior.tolist() == pytest.approx([0.35, 0.65])
    # complying is unsafe on the harmful seed only: the Bayesian threshold is 1/4
    assert game.unsafe[0, :, 1].min() == 1 and game.unsafe[1].max() == 0


@pytest.mark.slow
def test_group_scaling_complies_where_unscaled_grpo_refuses(tmp_path):
    exp = _load()
    results = exp.main(["--quick", "--out", str(tmp_path / "out")])
    final = {r["scale_rewards"]: r["refusal_final"] for r in results}
    assert final["group"] < 0.2, results
    assert final["none"] > 0.8, results
    assert (tmp_path / "out" / "results.json").exists()

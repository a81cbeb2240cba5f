"""The LLM demo config, the factory and the CLI: co-evolution through seqgame.training.loop."""

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

import seqgame.games.catalog as catalog
from seqgame import runner as runs
from seqgame.backends.llm.demo import DEMO_CONFIG
from seqgame.backends.llm.factory import build_learner, build_learners
from seqgame.cli import main
from seqgame.errors import InvalidConfigError
from seqgame.games import builtin_game
from seqgame.model.game import Role
from seqgame.runner import store

pytest.importorskip("trl", reason="needs the LLM stack (pip install 'seqgame[llm]')")

ROOT = Path(__file__).resolve().parents[2]


def test_shipped_config_matches_embedded():
    shipped = yaml.safe_load((ROOT / "experiments/configs/llm_demo.yaml").read_text())
    assert shipped == DEMO_CONFIG
    runs.RunConfig.from_dict(shipped)  # validates
    full = yaml.safe_load((ROOT / "experiments/configs/llm_magic_7b.yaml").read_text())
    cfg = runs.RunConfig.from_dict(full)
    assert cfg.defender["grpo"]["learning_rate"] == 1e-6 and cfg.backend == "llm"


def small_config(tmp_path):
    opts = {"model": "tiny", "tiny_dir": str(tmp_path / "tiny"), "n_samples": 2,
            "grpo": {"prompts_per_step": 2, "num_generations": 2, "max_completion_length": 4}}
    return {**DEMO_CONFIG, "name": "t", "steps": 4, "eval_every": 2, "checkpoint_every": 2,
            "plot": False, "attacker": opts, "defender": dict(opts),
            "schedule": {"kind": "alternating", "freq": 2, "ratio": "1:1", "start": "defender"}}


def test_coevolve_writes_metrics_and_resumes_from_checkpoint(tmp_path):
    config = runs.RunConfig.from_dict(small_config(tmp_path))
    result = runs.train(config, tmp_path / "run")
    recs = store.read_jsonl(tmp_path / "run/metrics.jsonl")
    assert [r["step"] for r in recs] == [1, 2, 3, 4]
    assert [r["role"] for r in recs] == ["defender", "defender", "attacker", "attacker"]
    assert "defender/reward" in recs[0] and "asr" in recs[1] and "over_refusal" in recs[3]
    summary = json.loads((tmp_path / "run/summary.json").read_text())
    assert 0.0 <= summary["final"]["asr"] <= 1.0
    # interrupt after step 2: drop the later checkpoint and metric lines, then resume
    ckpts = sorted((tmp_path / "run/checkpoints").iterdir())
    assert len(ckpts) >= 2
    for c in ckpts[1:]:
        c.unlink()
    (tmp_path / "run/metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in recs[:2]))
    resumed = runs.resume(tmp_path / "run")
    again = store.read_jsonl(tmp_path / "run/metrics.jsonl")
    assert [r["step"] for r in again] == [1, 2, 3, 4]
    # same seeds, same checkpointed state: the resumed tail reproduces the original run
    for key in ("attacker/reward", "asr", "over_refusal"):
        assert again[3][key] == pytest.approx(recs[3][key])
    assert resumed.records[-1]["step"] == result.records[-1]["step"]


def test_factory_rejects_bad_options(tmp_path):
    g = builtin_game("jailbreak_text_v1")
    with pytest.raises(InvalidConfigError, match="unknown option"):
        build_learners(g, {"modle": "tiny"}, {}, 0)
    with pytest.raises(InvalidConfigError, match="does not exist"):
        build_learners(g, {"model": str(tmp_path / "missing")}, {}, 0)
    with pytest.raises(InvalidConfigError, match="no 'text'"):
        build_learners(builtin_game("jailbreak_v1"), {}, {}, 0)
    with pytest.raises(InvalidConfigError, match="judge.kind"):
        build_learners(g, {"tiny_dir": str(tmp_path / "t"), "judge": {"kind": "oracle"}}, {}, 0)
    # best_of_k and multi-turn games fail before any model is built or loaded
    missing = {"model": str(tmp_path / "missing")}
    with pytest.raises(InvalidConfigError, match="unknown option.*best_of_kk"):
        build_learners(g, {**missing, "best_of_kk": 2}, {}, 0)
    for bad in (0, 1.5, "2"):
        with pytest.raises(InvalidConfigError, match="attacker.best_of_k = "):
            build_learners(g, {**missing, "best_of_k": bad}, {}, 0)
    with pytest.raises(InvalidConfigError, match="defender.best_of_k: an attacker-only"):
        build_learner(Role.DEFENDER, g, {**missing, "best_of_k": 2}, 0)
    with pytest.raises(InvalidConfigError, match="attacker.best_of_k = 2: single-turn"):
        build_learners(dataclasses.replace(g, turns=3), {**missing, "best_of_k": 2}, {}, 0)


def test_sft_cli(tmp_path, capsys):
    cfg = tmp_path / "sft.yaml"
    cfg.write_text(yaml.safe_dump({"model": "tiny", "pool": "canonical",
                                   "output_dir": str(tmp_path / "out"),
                                   "sft": {"max_steps": 3}}))
    assert main(["sft", str(cfg)]) == 0
    assert (tmp_path / "out/model.safetensors").is_file()
    assert "loss" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"model": "tiny", "pool": str(tmp_path / "none.jsonl"),
                                   "output_dir": str(tmp_path / "o2")}))
    assert main(["sft", str(bad)]) == 2
    assert "does not exist" in capsys.readouterr().err


@pytest.mark.gpu
def test_gpu_benchmark_runs():
    import subprocess
    import sys

    out = subprocess.run([sys.executable, str(ROOT / "benchmarks/bench_llm_gpu.py"),
                          "--steps", "2", "--shape", "135m", "--completion", "32"],
                         capture_output=True, text=True, check=True)
    assert "hf_generate" in out.stdout


@pytest.mark.slow
def test_demo_reaches_the_spne(tmp_path):
    """The shipped demo (~2 min on one core): the defender ends at the twin's SPNE."""
    from seqgame.backends.llm.demo import run_demo

    run_demo(tmp_path / "demo")
    summary = json.loads((tmp_path / "demo/summary.json").read_text())
    assert summary["final"]["asr"] <= 0.1
    assert summary["final"]["over_refusal"] <= 0.1
    assert summary["final"]["spne_distance_defender_mean"] <= 0.1


def test_multi_turn_run_resumes_identically(tmp_path, monkeypatch):
    from seqgame.games.text import jailbreak_text_v1

    name = "jailbreak_text_2turn_test"

    def two_turns():
        return dataclasses.replace(jailbreak_text_v1(), name=name, turns=2, discount=0.9)

    monkeypatch.setitem(catalog._BUILDERS, name, (two_turns, "2-turn test game"))
    monkeypatch.setitem(catalog.BUILTIN_GAMES, name, "2-turn test game")
    config = runs.RunConfig.from_dict({**small_config(tmp_path), "game": name})
    runs.train(config, tmp_path / "run")
    recs = store.read_jsonl(tmp_path / "run/metrics.jsonl")
    assert all(1.0 <= r[f"{r['role']}/turns_played"] <= 2.0 for r in recs)
    ckpts = sorted((tmp_path / "run/checkpoints").iterdir())
    for c in ckpts[1:]:
        c.unlink()
    (tmp_path / "run/metrics.jsonl").write_text(
        "".join(json.dumps(r) + "\n" for r in recs[:2]))
    runs.resume(tmp_path / "run")
    again = store.read_jsonl(tmp_path / "run/metrics.jsonl")
    for key in ("attacker/reward", "attacker/turns_played", "asr", "over_refusal"):
        assert again[3][key] == pytest.approx(recs[3][key])


LORA = {"r": 8, "alpha": 16}


@pytest.mark.parametrize("shared_base", [False, True], ids=["lora", "shared-base"])
def test_demo_config_runs_with_lora(tmp_path, shared_base):
    """The demo's own config (SFT warm-up included) with lora on both roles, 2 steps."""
    data = {**DEMO_CONFIG, "steps": 2, "eval_every": 2, "checkpoint_every": 2, "plot": False,
            "schedule": {**DEMO_CONFIG["schedule"], "freq": 1}}
    for role in ("attacker", "defender"):
        data[role] = {**DEMO_CONFIG[role], "lora": LORA, "shared_base": shared_base,
                      "tiny_dir": str(tmp_path / "tiny")}
    runs.train(runs.RunConfig.from_dict(data), tmp_path / "run")
    recs = store.read_jsonl(tmp_path / "run/metrics.jsonl")
    assert [r["role"] for r in recs] == ["defender", "attacker"]
    assert "asr" in recs[-1] and "defender/loss" in recs[0]
    states = learner_states(store.load_latest_checkpoint(tmp_path / "run/checkpoints"))
    assert sorted(s["role"] for s in states) == ["attacker", "defender"]
    assert all("adapter" in s and "model" not in s for s in states)  # adapters only


def learner_states(tree):
    """Every learner state (a dict with a ``role`` and ``optimizer``) inside a checkpoint."""
    if isinstance(tree, dict):
        if "role" in tree and "optimizer" in tree:
            return [tree]
        return [s for v in tree.values() for s in learner_states(v)]
    return []

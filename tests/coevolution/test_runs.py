import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

from seqgame import runner as runs
from seqgame.cli import main
from seqgame.errors import CheckpointError, InvalidConfigError, UnknownGameError
from seqgame.runner import store

SMALL = {
    "name": "small",
    "game": "example_v1",
    "steps": 40,
    "checkpoint_every": 10,
    "plot": False,
    "attacker": {"exploration": 0.1},
    "defender": {"learning_rate": 0.5},
    "schedule": {"freq": 7},
}


def write_config(tmp_path, data, name="cfg.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def metrics_text(run_dir):
    return (Path(run_dir) / "metrics.jsonl").read_text()


def test_train_writes_the_run_directory(tmp_path):
    config = runs.RunConfig.from_dict(SMALL)
    result = runs.train(config, tmp_path / "run")
    run = tmp_path / "run"
    records = store.read_jsonl(run / "metrics.jsonl")
    assert len(records) == 40 and [r["step"] for r in records] == list(range(1, 41))
    rec = records[-1]
    for key in ("phase", "role", "asr", "over_refusal", "value_attacker", "value_defender",
                "exploitability", "subgame_regret_max", "attacker_mix", "avg/asr",
                "spne_distance_defender"):
        assert key in rec
    assert abs(sum(rec["attacker_mix"].values()) - 1) < 1e-5
    assert json.loads((run / "config.json").read_text())["schedule"]["freq"] == 7
    snaps = store.load_snapshots(run / "snapshots")
    assert [s.step for s in snaps] == [0, 7, 14, 21, 28, 35, 40]
    summary = json.loads((run / "summary.json").read_text())
    for key in ("asr", "over_refusal", "subgame_regret", "spne_distance_defender"):
        assert key in summary["final"]
    assert summary["theorem_3_2"]["spne_pointwise_safe"] is True
    assert result.records == records


@pytest.mark.parametrize("schedule", [
    {"freq": 7},
    {"kind": "metric", "low": 0.15, "high": 0.3, "window": 3, "min_dwell": 4},
    {"kind": "simultaneous", "freq": 6},
])
def test_resume_after_interruption_reproduces_metrics(tmp_path, monkeypatch, schedule):
    config = runs.RunConfig.from_dict({**SMALL, "schedule": schedule})
    runs.train(config, tmp_path / "full")
    from seqgame.backends.tabular.grpo import GRPOLearner

    original = GRPOLearner.train_against
    calls = {"n": 0}

    def crashing(self, opponent, steps, rng):
        calls["n"] += 1
        if calls["n"] == 24:
            raise KeyboardInterrupt
        return original(self, opponent, steps, rng)

    monkeypatch.setattr(GRPOLearner, "train_against", crashing)
    with pytest.raises(KeyboardInterrupt):
        runs.train(config, tmp_path / "cut")
    monkeypatch.setattr(GRPOLearner, "train_against", original)
    assert 10 <= len(store.read_jsonl(tmp_path / "cut" / "metrics.jsonl")) < 40
    runs.resume(tmp_path / "cut")
    assert metrics_text(tmp_path / "cut") == metrics_text(tmp_path / "full")
    full = store.load_snapshots(tmp_path / "full" / "snapshots")
    cut = store.load_snapshots(tmp_path / "cut" / "snapshots")
    assert len(full) == len(cut)
    for a, b in zip(full, cut, strict=True):
        np.testing.assert_array_equal(a.defender, b.defender)


def test_resume_after_sigkill_reproduces_metrics(tmp_path):
    data = {**SMALL, "steps": 800, "checkpoint_every": 25, "schedule": {"freq": 50}}
    cfg = write_config(tmp_path, data)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cut = tmp_path / "cut"
    proc = subprocess.Popen([sys.executable, "-m", "seqgame.cli", "train", str(cfg),
                             "--out", str(cut)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        metrics = cut / "metrics.jsonl"
        if metrics.exists() and metrics.read_text().count("\n") >= 100:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    lines = metrics_text(cut).count("\n")
    assert 100 <= lines < 800  # killed mid-run
    assert main(["train", "--resume", str(cut)]) == 0
    runs.train(runs.load_config(cfg), tmp_path / "full")
    assert metrics_text(cut) == metrics_text(tmp_path / "full")


def test_corrupt_and_partial_checkpoints_are_reported(tmp_path):
    folder = tmp_path / "ck"
    folder.mkdir()
    path = store.save_checkpoint(folder, 5, {"step": 5, "x": np.arange(100)})
    assert store.load_checkpoint(path)["step"] == 5
    data = bytearray(path.read_bytes())
    data[-3] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupt"):
        store.load_latest_checkpoint(folder)
    path.write_bytes(bytes(data[:-20]))
    with pytest.raises(CheckpointError, match="partial"):
        store.load_checkpoint(path)
    path.write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a seqgame checkpoint"):
        store.load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no checkpoint"):
        store.load_latest_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [({"stepz": 3}, InvalidConfigError, "stepz"),
     ({"steps": 0}, InvalidConfigError, "steps"),
     ({"steps": "ten"}, InvalidConfigError, "steps"),
     ({"schedule": {"freq": 0}}, InvalidConfigError, "schedule.freq"),
     ({"schedule": {"low": 0.5, "high": 0.2, "kind": "metric"}}, InvalidConfigError, "low"),
     ({"defender": {"num_generations": 1}}, InvalidConfigError, "num_generations"),
     ({"backend": "jax"}, InvalidConfigError, "backend"),
     ({"game": "no_such_game"}, UnknownGameError, "no_such_game")],
)
def test_bad_configs_fail_before_any_work(tmp_path, change, error, match):
    out = tmp_path / "run"
    with pytest.raises(error, match=match):
        runs.train(runs.RunConfig.from_dict({**SMALL, **change}), out)
    assert not out.exists()


def test_overrides_and_cli_errors(tmp_path, capsys):
    cfg = write_config(tmp_path, SMALL)
    config = runs.load_config(cfg, ["schedule.freq=3", "defender.beta=0.1", "steps=5"])
    assert config.schedule_config.freq == 3 and config.defender["beta"] == 0.1
    assert config.name == "small"
    with pytest.raises(InvalidConfigError, match="key=value"):
        runs.load_config(cfg, ["steps"])
    with pytest.raises(InvalidConfigError, match="not a mapping"):
        runs.load_config(cfg, ["steps.x=1"])
    assert main(["train", str(cfg), "--set", "schedule.freq=0"]) == 2
    assert "schedule.freq" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path / "nothing")]) == 2
    assert main(["plot", str(tmp_path)]) == 2


def test_llm_demo_unavailable_is_a_clear_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "seqgame.backends.llm.demo", None)
    assert main(["demo", "--backend", "llm", "--out", str(tmp_path / "d")]) == 2
    assert "seqgame[llm]" in capsys.readouterr().err


def test_demo_reaches_the_spne_and_draws_figures(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "figure:" in printed and "exact SPNE" in printed
    summary = json.loads((out / "summary.json").read_text())
    final = summary["final"]
    assert final["asr"] < 0.03 and final["over_refusal"] < 0.03
    assert final["spne_distance_defender_mean"] < 0.05
    assert summary["theorem_3_2"]["spne_pointwise_safe"] is True
    for name in ("dynamics.png", "attacker_mix.png", "cross_evaluation.png"):
        png = out / "figures" / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # `seqgame plot` redraws them from the run directory alone
    (out / "figures" / "dynamics.png").unlink()
    assert main(["plot", str(out)]) == 0
    assert (out / "figures" / "dynamics.png").exists()


def test_sparse_evaluation_records_every_step(tmp_path):
    config = runs.RunConfig.from_dict({**SMALL, "eval_every": 5, "plot": True, "steps": 20})
    runs.train(config, tmp_path / "run")
    records = store.read_jsonl(tmp_path / "run" / "metrics.jsonl")
    assert [r["step"] for r in records] == list(range(1, 21))
    evaluated = [r["step"] for r in records if "asr" in r]
    assert evaluated == [5, 7, 12, 14, 19, 20]  # every 5 steps and at each phase end
    assert all("defender/reward_mean" in r or "attacker/reward_mean" in r for r in records)
    assert (tmp_path / "run" / "figures" / "dynamics.png").exists()


def test_run_without_matplotlib_skips_figures_but_completes(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    result = runs.train(runs.RunConfig.from_dict({**SMALL, "plot": True, "steps": 5}),
                        tmp_path / "run")
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert "seqgame[plot]" in summary["figures_skipped"]
    assert result.extra["summary"]["final"]["asr"] is not None

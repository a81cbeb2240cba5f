"""Processes other than the main one of a multi-process launch (``RANK`` > 0) write nothing.

They run the same loop (same records) without creating or locking the run folder, and
resume read-only from the main process's checkpoint while it holds the folder's lock.
"""

from __future__ import annotations

import json

import pytest

from seqgame import runner as runs
from seqgame.errors import CheckpointError, InvalidConfigError
from seqgame.runner import store
from seqgame.runner.launch import ReplicaSink, is_main_process
from seqgame.runner.store import RunStore

SMALL = {"name": "replica", "game": "example_v1", "steps": 20, "checkpoint_every": 10,
         "plot": False, "attacker": {"exploration": 0.1}, "defender": {"learning_rate": 0.5},
         "schedule": {"freq": 7}}


def files(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_replica_runs_the_same_loop_and_writes_nothing(tmp_path, monkeypatch):
    config = runs.RunConfig.from_dict(SMALL)
    main = runs.train(config, tmp_path / "main")
    monkeypatch.setenv("RANK", "1")
    assert not is_main_process()
    replica = runs.train(config, tmp_path / "replica")
    assert not (tmp_path / "replica").exists()
    assert replica.extra["run_dir"] is None and replica.records == main.records
    assert replica.extra["summary"]["final"] == main.extra["summary"]["final"]


def test_a_replica_resumes_read_only_while_the_main_process_holds_the_lock(tmp_path,
                                                                           monkeypatch):
    config = runs.RunConfig.from_dict(SMALL)
    run = tmp_path / "run"
    full = runs.train(config, run)
    (run / "checkpoints" / "step_00000020.ckpt").unlink()  # cut after step 14 (a phase end)
    recs = store.read_jsonl(run / "metrics.jsonl")
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs[:17]))
    (run / "summary.json").unlink()
    before = files(run)
    monkeypatch.setenv("RANK", "1")
    with RunStore(run):  # the main process, running
        resumed = runs.resume(run)
    assert files(run) == before  # nothing written, no lock taken
    assert resumed.records == full.records and resumed.extra["run_dir"] is None


def test_a_replica_refuses_a_changed_experiment(tmp_path):
    run = tmp_path / "run"
    runs.train(runs.RunConfig.from_dict(SMALL), run)
    with pytest.raises(CheckpointError, match="the config changed"):
        ReplicaSink(run, {"config": "0" * 16}).restore()
    with pytest.raises(InvalidConfigError, match="resume needs a run folder"):
        ReplicaSink().restore()

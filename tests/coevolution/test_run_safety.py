"""Run folders under hostile or careless use: no code execution, no silent corruption.

A malicious (pickle) checkpoint is refused without running it; two processes never write
one run folder; a resume after the config, the game spec or the learner changed, or over
damaged records, is one clear error; a finished run is left alone; Ctrl-C prints one line.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
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
from seqgame.runner import launch as runner
from seqgame.runner import store
from seqgame.runner.store import RunStore

SMALL = {"name": "safety", "game": "example_v1", "steps": 40, "checkpoint_every": 10,
         "plot": False, "attacker": {"exploration": 0.1}, "defender": {"learning_rate": 0.5},
         "schedule": {"freq": 7}}
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _interrupted_run(tmp_path: Path, monkeypatch, config: dict | None = None,
                     stop_at: int = 24) -> Path:
    """A run folder cut by Ctrl-C after ``stop_at`` learner updates (checkpoints at 10, 20)."""
    from seqgame.backends.tabular.grpo import GRPOLearner

    original = GRPOLearner.train_against
    calls = {"n": 0}

    def crashing(self, opponent, steps, rng):
        calls["n"] += 1
        if calls["n"] == stop_at:
            raise KeyboardInterrupt
        return original(self, opponent, steps, rng)

    out = tmp_path / "cut"
    monkeypatch.setattr(GRPOLearner, "train_against", crashing)
    with pytest.raises(KeyboardInterrupt):
        runs.train(runs.RunConfig.from_dict(config or SMALL), out)
    monkeypatch.setattr(GRPOLearner, "train_against", original)
    assert not (out / "summary.json").exists()
    return out


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("seqgame: error: "), captured.err
    assert "Traceback" not in captured.out
    return lines[0]


def _steps(run_dir: Path) -> list[int]:
    return [r["step"] for r in store.read_jsonl(run_dir / "metrics.jsonl")]


# ----------------------------------------------------------------------- no code execution
class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _replace_checkpoints(run_dir: Path, data: bytes) -> None:
    for old in (run_dir / "checkpoints").glob("step_*.ckpt"):
        old.unlink()
    (run_dir / "checkpoints" / "step_00000020.ckpt").write_bytes(data)


@pytest.mark.parametrize("header", [True, False], ids=["format1-header", "bare-pickle"])
def test_a_malicious_pickle_checkpoint_is_refused_without_running(
        tmp_path, monkeypatch, capsys, header):
    run_dir = _interrupted_run(tmp_path, monkeypatch)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"step": 20, "evil": _Payload(marker)})
    pickle.loads(pickle.dumps(_Payload(tmp_path / "probe")))  # the payload does run if read
    assert (tmp_path / "probe").exists()
    sha = hashlib.sha256(payload).hexdigest()
    data = (f"SEQGAME-CKPT 1 {sha}\n".encode() + payload) if header else payload
    _replace_checkpoints(run_dir, data)
    assert main(["train", "--resume", str(run_dir)]) == 2
    line = _one_error_line(capsys)
    assert ("format" in line and "pickle" in line) if header else "not a seqgame checkpoint" in line
    assert not marker.exists()


def test_an_object_array_in_a_checkpoint_is_refused(tmp_path, monkeypatch, capsys):
    run_dir = _interrupted_run(tmp_path, monkeypatch)
    marker = tmp_path / "pwned"
    body = json.dumps({"step": 20, "x": {"__ndarray__": "a0"}}).encode()
    buf = io.BytesIO()
    np.savez(buf, a0=np.array([_Payload(marker)], dtype=object))  # pickled inside the npz
    npz = buf.getvalue()
    sha = hashlib.sha256(body + npz).hexdigest()
    _replace_checkpoints(run_dir, f"SEQGAME-CKPT 2 {sha} {len(body)} {len(npz)}\n".encode()
                         + body + npz)
    assert main(["train", "--resume", str(run_dir)]) == 2
    assert "cannot be decoded" in _one_error_line(capsys)
    assert not marker.exists()


# ----------------------------------------------------------------------- one writer
def _resume_process(run_dir: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "seqgame.cli", "train", "--resume",
                             str(run_dir)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_a_locked_run_folder_refuses_resume_and_train(tmp_path, monkeypatch):
    run_dir = _interrupted_run(tmp_path, monkeypatch)
    before = (run_dir / "metrics.jsonl").read_bytes()
    with RunStore(run_dir):
        proc = _resume_process(run_dir)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 2, err
        assert err.strip() == (f"seqgame: error: run folder {run_dir} is in use by pid "
                               f"{os.getpid()}: wait for it to finish or stop it first")
        assert (run_dir / "metrics.jsonl").read_bytes() == before
    fresh = tmp_path / "fresh"
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    with RunStore(fresh):  # `train --out` into a folder another process holds
        proc = subprocess.run([sys.executable, "-m", "seqgame.cli", "train", str(cfg),
                               "--out", str(fresh)], env=ENV, capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 2 and f"in use by pid {os.getpid()}" in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr


def test_two_concurrent_resumes_leave_exactly_one_record_per_step(tmp_path, monkeypatch):
    config = {**SMALL, "steps": 400, "checkpoint_every": 20, "schedule": {"freq": 40}}
    run_dir = _interrupted_run(tmp_path, monkeypatch, config, stop_at=30)
    first, second = _resume_process(run_dir), _resume_process(run_dir)
    results = [p.communicate(timeout=300) for p in (first, second)]
    codes = sorted(p.returncode for p in (first, second))
    errors = [err for _, err in results if err.strip()]
    assert codes[0] == 0, results
    if codes[1] == 2:  # the usual case: they overlapped
        assert len(errors) == 1 and "is in use by pid" in errors[0]
        assert errors[0].count("\n") == 1
    else:  # the second started after the first had finished
        assert codes[1] == 0 and any("already finished" in out for out, _ in results)
    assert _steps(run_dir) == list(range(1, 401))


# ----------------------------------------------------------------------- same experiment
def test_resume_after_the_config_changed_names_it(tmp_path, monkeypatch, capsys):
    run_dir = _interrupted_run(tmp_path, monkeypatch)
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["defender"]["learning_rate"] = 0.25
    (run_dir / "config.json").write_text(json.dumps(cfg))
    assert main(["train", "--resume", str(run_dir)]) == 2
    line = _one_error_line(capsys)
    assert "the config changed" in line and "different experiment" in line


def test_resume_after_the_game_spec_changed_names_it(tmp_path, monkeypatch, capsys):
    from seqgame.games.toys import EXAMPLE_SPEC

    spec_path = tmp_path / "game.yaml"
    spec_path.write_text(yaml.safe_dump(EXAMPLE_SPEC))
    run_dir = _interrupted_run(tmp_path, monkeypatch, {**SMALL, "game": str(spec_path)})
    changed = json.loads(json.dumps(EXAMPLE_SPEC))
    changed["rewards"]["r_ref"] = 0.75
    spec_path.write_text(yaml.safe_dump(changed))
    assert main(["train", "--resume", str(run_dir)]) == 2
    line = _one_error_line(capsys)
    assert "the game changed" in line and "config" not in line.split("changed")[0]
    spec_path.write_text(yaml.safe_dump(EXAMPLE_SPEC))  # restored: the resume goes through
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert _steps(run_dir) == list(range(1, 41))


def test_resume_after_the_learner_changed_names_it(tmp_path, monkeypatch, capsys):
    run_dir = _interrupted_run(tmp_path, monkeypatch)
    original = runner.build_learners

    def other_learner(config, game):
        attacker, defender = original(config, game)
        attacker.__class__ = type("PatchedLearner", (type(attacker),), {})
        return attacker, defender

    monkeypatch.setattr(runner, "build_learners", other_learner)
    assert main(["train", "--resume", str(run_dir)]) == 2
    assert "the learners changed" in _one_error_line(capsys)


@pytest.mark.parametrize("damage", ["duplicate", "gap"])
def test_damaged_records_are_a_clear_error_on_resume(tmp_path, monkeypatch, capsys, damage):
    run_dir = _interrupted_run(tmp_path, monkeypatch)
    metrics = run_dir / "metrics.jsonl"
    lines = metrics.read_text().splitlines(keepends=True)
    lines = [*lines[:5], lines[4], *lines[5:]] if damage == "duplicate" else [
        *lines[:5], *lines[6:]]
    metrics.write_text("".join(lines))
    assert main(["train", "--resume", str(run_dir)]) == 2
    line = _one_error_line(capsys)
    assert "record 6 has step" in line and "damaged" in line


# ----------------------------------------------------------------------- finished, Ctrl-C
def test_resume_of_a_finished_run_says_so_and_changes_nothing(tmp_path, capsys):
    run_dir = tmp_path / "done"
    runs.train(runs.RunConfig.from_dict(SMALL), run_dir)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns)
              for p in sorted(run_dir.rglob("*")) if p.is_file()}
    assert main(["train", "--resume", str(run_dir)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip() == f"run {run_dir} has already finished: nothing to resume"
    assert captured.err == ""
    after = {p: (p.read_bytes(), p.stat().st_mtime_ns)
             for p in sorted(run_dir.rglob("*")) if p.is_file()}
    assert after == before


def test_ctrl_c_prints_one_line_and_the_run_resumes(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump({**SMALL, "steps": 600, "checkpoint_every": 25,
                                   "schedule": {"freq": 50}}))
    run_dir = tmp_path / "run"
    proc = subprocess.Popen([sys.executable, "-m", "seqgame.cli", "train", str(cfg),
                             "--out", str(run_dir)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    metrics = run_dir / "metrics.jsonl"
    while time.time() < deadline:
        if metrics.exists() and metrics.read_text().count("\n") >= 60:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    stopped = [line for line in out.splitlines() if line.startswith("stopped")]
    assert len(stopped) == 1
    step = runner.last_checkpoint_step(run_dir)
    assert step >= 50
    assert stopped[0] == f"stopped at step {step}; resume with: seqgame train --resume {run_dir}"
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert _steps(run_dir) == list(range(1, 601))


# ----------------------------------------------------------------------- bad --out, bad folders
@pytest.mark.parametrize("where", ["proc", "file", "under_file", "long_name"])
def test_a_bad_out_is_one_clean_line(tmp_path, capsys, where):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(SMALL))
    a_file = tmp_path / "a_file"
    a_file.write_text("x")
    out = {"proc": "/proc/seqgame_run", "file": str(a_file),
           "under_file": str(a_file / "run"), "long_name": str(tmp_path / ("r" * 300))}[where]
    assert main(["train", str(cfg), "--out", out]) == 2
    line = _one_error_line(capsys)
    assert "--out" in line and len(line) < 400
    assert a_file.read_text() == "x"


@pytest.mark.parametrize(("content", "fragment"), [
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b'{"model": "bert", "lr": 3}', "not a seqgame run config"),
    (b"[1, 2, 3]", "not a seqgame run config"),
    (b'{"steps": 5, "steps": 6}', "duplicate key"),
])
def test_a_corrupt_or_foreign_config_json_on_resume_is_one_line(tmp_path, capsys, content,
                                                                 fragment):
    (tmp_path / "config.json").write_bytes(content)
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert fragment in _one_error_line(capsys)


def test_filesystem_errors_escaping_a_command_are_one_line(monkeypatch, capsys):
    from seqgame.cli import games

    def refuse(args):
        raise PermissionError(13, "Permission denied", "/somewhere/out.json")

    monkeypatch.setattr(games, "_games", refuse)
    assert main(["games"]) == 2
    assert _one_error_line(capsys) == "seqgame: error: Permission denied '/somewhere/out.json'"


def test_programming_errors_keep_their_traceback(monkeypatch):
    from seqgame.cli import games

    def broken(args):
        raise KeyError("a bug")

    monkeypatch.setattr(games, "_games", broken)
    with pytest.raises(KeyError):
        main(["games"])

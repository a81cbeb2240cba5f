"""The run folder: files, atomic writes, checkpoints, the folder lock (a :class:`RunSink`).

A run folder (``runs/<name>/<id>/``) holds ``config.json`` (the resolved config),
``metrics.jsonl`` (one record per step), ``snapshots/`` (both tables at every phase end),
``checkpoints/`` (atomic, checksummed, no pickle: :mod:`seqgame.runner.checkpoint`),
``figures/*.png`` and ``summary.json``. While a run writes, it holds an exclusive lock on
``.lock`` (``filelock``); a second process gets "run folder in use by pid N".

Every write goes to a uniquely named temporary file in the same folder, is fsynced and
renamed into place, so a crash leaves either the old or the new file and two writers never
share a temporary name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO, Any

import numpy as np
from filelock import FileLock, Timeout

from seqgame.errors import CheckpointError, InvalidConfigError
from seqgame.runner.checkpoint import read_checkpoint, write_checkpoint
from seqgame.training.cross_eval import Snapshot

KEEP_CHECKPOINTS = 2


# ----------------------------------------------------------------------- files
def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes | Callable[[IO[bytes]], None]) -> None:
    """Write ``data`` to ``path`` atomically (unique tmp file, fsync, rename, fsync dir).

    ``data`` is the bytes, or a function that writes them to the (seekable) temporary file,
    so a large file is streamed rather than built in memory first.
    """
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if callable(data):
                data(f)
            else:
                f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def write_json_atomic(path: Path, data: Any) -> None:
    """Atomically write ``data`` as indented JSON."""
    write_atomic(path, (json.dumps(data, indent=2, allow_nan=False) + "\n").encode())


def write_jsonl_atomic(path: Path, records: Sequence[Mapping[str, Any]]) -> None:
    """Atomically write one JSON object per line."""
    write_atomic(path, "".join(json.dumps(r, allow_nan=False) + "\n" for r in records).encode())


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """Read ``metrics.jsonl``; a torn last line (a crash mid-write) is dropped."""
    out = []
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise CheckpointError(f"{path}: line {i + 1} is not valid JSON") from None
    return out


def save_snapshot(folder: Path, index: int, snap: Snapshot) -> None:
    """Write one phase-end snapshot as ``snapshot_<index>.npz`` (atomically)."""
    import io

    buf = io.BytesIO()
    np.savez(buf, step=snap.step, phase=snap.phase, attacker=snap.attacker,
             defender=snap.defender)
    write_atomic(Path(folder) / f"snapshot_{index:04d}.npz", buf.getvalue())


def load_snapshots(folder: str | Path) -> list[Snapshot]:
    """Read the snapshots of a run folder's ``snapshots/`` folder, in order."""
    out = []
    for path in sorted(Path(folder).glob("snapshot_*.npz")):
        try:
            with np.load(path, allow_pickle=False) as z:
                out.append(Snapshot(int(z["step"]), int(z["phase"]), z["attacker"],
                                    z["defender"]))
        except (ValueError, OSError, KeyError) as exc:
            raise CheckpointError(f"{path} is not a readable snapshot ({exc})") from None
    return out


def save_checkpoint(folder: Path, step: int, state: Mapping[str, Any]) -> Path:
    """Write a checksummed checkpoint for ``step``; keep the latest few."""
    path = Path(folder) / f"step_{step:08d}.ckpt"
    write_atomic(path, lambda f: write_checkpoint(f, state))  # streamed, array by array
    for old in sorted(Path(folder).glob("step_*.ckpt"))[:-KEEP_CHECKPOINTS]:
        old.unlink()
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and verify one checkpoint (never unpickles).

    Raises:
        CheckpointError: missing, truncated, old format, or failing its checksum.
    """
    return read_checkpoint(path)


def load_latest_checkpoint(folder: str | Path) -> dict[str, Any]:
    """Load the latest checkpoint in ``folder`` (verified); CheckpointError if there is none."""
    paths = sorted(Path(folder).glob("step_*.ckpt"))
    if not paths:
        raise CheckpointError(
            f"no checkpoint in {folder}: the run stopped before its first checkpoint; start "
            "it again with 'seqgame train CONFIG'"
        )
    return load_checkpoint(paths[-1])


def check_continuity(records: Sequence[Mapping[str, Any]], path: Path) -> None:
    """Raise CheckpointError unless the records' steps are exactly 1, 2, ..., n."""
    for i, rec in enumerate(records):
        if rec.get("step") != i + 1:
            raise CheckpointError(
                f"{path}: record {i + 1} has step {rec.get('step')!r}, expected {i + 1} "
                "(duplicated or missing steps): the run folder is damaged; start it again"
            )


# ----------------------------------------------------------------------- the store
def read_resume_point(path: Path, fingerprint: Mapping[str, str]
                      ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A run folder's latest checkpoint and the records up to it, read only.

    Raises:
        CheckpointError: no valid checkpoint; the config, game or learners changed since it
            was written (``fingerprint``); fewer or discontinuous records than it needs.
    """
    state = load_latest_checkpoint(path / "checkpoints")
    saved = state.get("fingerprint", {})
    changed = sorted(k for k in fingerprint if k in saved and saved[k] != fingerprint[k])
    if changed:
        raise CheckpointError(
            f"cannot resume {path}: the {', '.join(changed)} changed since the checkpoint "
            "was written; resuming would continue a different experiment (restore the "
            "original, or start a new run)"
        )
    metrics = path / "metrics.jsonl"
    records = read_jsonl(metrics) if metrics.is_file() else []
    n = int(state["n_records"])
    if len(records) < n:
        raise CheckpointError(
            f"{metrics} has {len(records)} records but the checkpoint needs {n}: the run "
            "folder is damaged; start the run again"
        )
    records = records[:n]
    check_continuity(records, metrics)
    return state, records


class RunStore:
    """A run folder as the loop's sink (see the module docstring).

    Args:
        path: the run folder.
        fingerprint: what the run computes (hashes of config, game and learners); stored in
            every checkpoint and compared on restore, so a resume never continues a
            different experiment.
    """

    def __init__(self, path: str | Path, fingerprint: Mapping[str, str] | None = None) -> None:
        self.path = Path(path)
        self.fingerprint = dict(fingerprint or {})
        self._lock: FileLock | None = None
        self._out: IO[str] | None = None

    # -------------------------------------------------------------- the lock
    def lock(self) -> RunStore:
        """Take the folder's exclusive lock (InvalidConfigError naming the holder if taken)."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = FileLock(self.path / ".lock", timeout=0)
        try:
            lock.acquire()
        except Timeout:
            owner = (self.path / ".lock.pid")
            pid = owner.read_text().strip() if owner.is_file() else "unknown"
            raise InvalidConfigError(
                f"run folder {self.path} is in use by pid {pid}: wait for it to finish or "
                "stop it first"
            ) from None
        (self.path / ".lock.pid").write_text(f"{os.getpid()}\n")
        self._lock = lock
        return self

    def unlock(self) -> None:
        """Release the lock (idempotent)."""
        if self._lock is not None:
            (self.path / ".lock.pid").unlink(missing_ok=True)
            self._lock.release()
            self._lock = None

    def __enter__(self) -> RunStore:
        return self.lock()

    def __exit__(self, *exc: object) -> None:
        self.close()
        self.unlock()

    # -------------------------------------------------------------- the sink
    @property
    def checkpoints(self) -> Path:
        """The checkpoint folder."""
        return self.path / "checkpoints"

    def _folders(self) -> None:
        (self.path / "snapshots").mkdir(parents=True, exist_ok=True)
        self.checkpoints.mkdir(parents=True, exist_ok=True)

    def begin(self) -> None:
        """Start an empty ``metrics.jsonl``."""
        self._folders()
        write_jsonl_atomic(self.path / "metrics.jsonl", [])

    def restore(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The latest checkpoint and its records; the lost tail of records is dropped."""
        self._folders()
        state, records = read_resume_point(self.path, self.fingerprint)
        write_jsonl_atomic(self.path / "metrics.jsonl", records)
        for i, snap in enumerate(state["snapshots"]):
            save_snapshot(self.path / "snapshots", i, Snapshot(
                int(snap["step"]), int(snap["phase"]), snap["attacker"], snap["defender"]))
        return state, records

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append records to ``metrics.jsonl`` and flush."""
        if self._out is None:
            self._out = open(self.path / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
        self._out.write("".join(json.dumps(r, allow_nan=False) + "\n" for r in records))
        self._out.flush()

    def snapshot(self, index: int, snapshot: Snapshot) -> None:
        """Write ``snapshots/snapshot_<index>.npz``."""
        save_snapshot(self.path / "snapshots", index, snapshot)

    def checkpoint(self, step: int, state: Mapping[str, Any]) -> None:
        """Write ``checkpoints/step_<step>.ckpt`` with the run's fingerprint."""
        save_checkpoint(self.checkpoints, step, {**state, "fingerprint": self.fingerprint})

    def close(self) -> None:
        """Close ``metrics.jsonl``."""
        if self._out is not None:
            self._out.close()
            self._out = None

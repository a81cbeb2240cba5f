"""``train`` and ``resume``: a run config into a locked run folder, through a backend.

Backends are found through the ``seqgame.backends`` entry-point group (name → an object or
module with ``build_learners(game, attacker_options, defender_options, seed)``); the core
never names a backend module. A run's fingerprint (hashes of the resolved config, the game
and the learner classes) goes into every checkpoint, so ``resume`` refuses to continue a
different experiment.

Under a multi-process launcher (``torchrun``, ``accelerate launch``: a backend that trains
data-parallel) every process runs the same loop, and only the main one (``RANK`` 0) owns
the run folder; the others write nothing and restore a resumed run read-only
(:class:`ReplicaSink`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from seqgame.documents import load_document, short
from seqgame.errors import (
    BackendUnavailableError,
    CheckpointError,
    InvalidConfigError,
    SeqgameError,
)
from seqgame.games.catalog import load_game
from seqgame.model.game import SequentialGame
from seqgame.model.spec import game_to_spec
from seqgame.runner.config import BACKEND_GROUP, RunConfig
from seqgame.runner.store import (
    RunStore,
    load_latest_checkpoint,
    read_resume_point,
    write_json_atomic,
)
from seqgame.runner.summary import summarize
from seqgame.training.loop import CoevolutionResult, coevolve
from seqgame.training.protocols import Backend, Learner
from seqgame.training.sink import MemorySink


def available_backends() -> list[str]:
    """Names of the installed backends."""
    return sorted(ep.name for ep in entry_points(group=BACKEND_GROUP))


def backend(name: str) -> Backend:
    """Load the backend ``name`` from its entry point.

    Raises:
        BackendUnavailableError: unknown name, or its dependencies are not installed.
    """
    found = [ep for ep in entry_points(group=BACKEND_GROUP) if ep.name == name]
    if not found:
        raise BackendUnavailableError(
            f"backend {name!r} is not installed; installed: {available_backends()} (the "
            "backends ship with seqgame: reinstall it with pip install -e .)"
        )
    try:
        return found[0].load()
    except ImportError as exc:
        if isinstance(exc, BackendUnavailableError):
            raise
        raise BackendUnavailableError(
            f"backend {name!r} is unavailable ({exc}); for 'llm' run pip install 'seqgame[llm]'"
        ) from None


def build_learners(config: RunConfig, game: SequentialGame) -> tuple[Learner, Learner]:
    """Build the config's backend learners for ``game``."""
    return backend(config.backend).build_learners(game, dict(config.attacker),
                                                  dict(config.defender), config.seed)


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, default=str, allow_nan=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def fingerprint(config: RunConfig, game: SequentialGame, learners: tuple[Any, Any]
                ) -> dict[str, str]:
    """Hashes of what a run computes: the resolved config, the game, the learner classes."""
    return {"config": _digest(config.to_dict()), "game": _digest(game_to_spec(game)),
            "learners": _digest([f"{type(x).__module__}.{type(x).__qualname__}"
                                 for x in learners])}


def new_run_dir(config: RunConfig, root: str | Path = "runs") -> Path:
    """Return a fresh ``runs/<name>/<timestamp>-s<seed>`` folder path."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(root) / config.name / f"{stamp}-s{config.seed}"
    path, i = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}-{i}")
        i += 1
    return path


def prepare_run_dir(path: Path) -> Path:
    """Create the empty run folder ``path`` (InvalidConfigError with the reason if it can't)."""
    shown = short(str(path))
    too_long = [p for p in path.parts if len(p.encode()) > 255]
    if too_long:  # checked first: even path.exists() fails on such a name
        raise InvalidConfigError(f"--out {shown}: a folder name of {len(too_long[0])} "
                                 "characters is over the 255-byte limit: use a shorter name")
    if path.is_file():
        raise InvalidConfigError(f"--out {shown} is a file, not a folder: choose another --out")
    try:
        path.mkdir(parents=True, exist_ok=True)
        busy = any(p.name not in (".lock", ".lock.pid") for p in path.iterdir())
        probe = path / ".seqgame-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidConfigError(f"--out {shown}: cannot create or write the run folder "
                                 f"({exc.strerror}): choose a writable folder") from None
    if busy:
        raise InvalidConfigError(
            f"run directory {shown} is not empty: choose another --out, or resume it with "
            f"'seqgame train --resume {path}'")
    return path


def finish_run(result: CoevolutionResult, config: RunConfig, path: Path) -> dict[str, Any]:
    """Write ``summary.json`` (and the figures when ``config.plot``); return the summary."""
    summary = summarize(result)
    write_json_atomic(path / "summary.json", summary)
    if config.plot:
        from seqgame.runner.figures import plot_run

        try:
            summary["figures"] = [str(p) for p in plot_run(path)]
        except BackendUnavailableError as exc:  # the run itself is complete and saved
            summary["figures_skipped"] = str(exc)
        write_json_atomic(path / "summary.json", summary)
    return summary


def is_main_process() -> bool:
    """False on every process of a multi-process launch but the main one (rank 0).

    Read from ``RANK``, which ``torchrun`` and ``accelerate launch`` set for each process
    they start; a run without a launcher is its own main process.
    """
    return int(os.environ.get("RANK") or 0) == 0


class ReplicaSink(MemorySink):
    """The sink of a process other than the main one: it writes nothing, takes no lock.

    Such a process computes the same loop as the main one (same seeds, same weights), so
    dropping its output loses nothing. Resuming, it reads the run folder's latest
    checkpoint and records without the lock. That read cannot race the main process:
    before the first step, which waits for every process, the main one only rewrites
    ``metrics.jsonl`` and the snapshots atomically with the same first records.

    Args:
        path: the run folder (None for a new run: nothing to restore from).
        fingerprint: the run's fingerprint, compared with the checkpoint's.
    """

    def __init__(self, path: Path | None = None,
                 fingerprint: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.fingerprint = dict(fingerprint or {})

    def restore(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The latest checkpoint and the records up to it, read-only."""
        if self.path is None:
            return super().restore()
        return read_resume_point(self.path, self.fingerprint)


def _run(config: RunConfig, game: SequentialGame, learners: tuple[Learner, Learner],
         sink: RunStore | ReplicaSink, resume: bool, progress: bool) -> CoevolutionResult:
    """Run the loop into ``sink``; only a :class:`RunStore` writes the summary and figures."""
    result = coevolve(game, learners[0], learners[1], config.schedule_config, config.steps,
                      config.seed, eval_every=config.eval_every, sink=sink,
                      checkpoint_every=config.checkpoint_every, resume=resume,
                      progress=progress)
    if isinstance(sink, RunStore):
        result.extra["run_dir"] = sink.path
        result.extra["summary"] = finish_run(result, config, sink.path)
    else:
        result.extra["run_dir"] = None
        result.extra["summary"] = summarize(result)
    return result


def train(config: RunConfig, out_dir: str | Path | None = None,
          progress: bool = False) -> CoevolutionResult:
    """Run ``config`` into a fresh run folder; return the :class:`CoevolutionResult`.

    Under a multi-process launcher only the main process creates, locks and writes the
    folder; the others run the same loop without touching it (``run_dir`` None).
    """
    game = load_game(config.game)
    learners = build_learners(config, game)  # fail before any file is written
    if not is_main_process():
        return _run(config, game, learners, ReplicaSink(), resume=False, progress=False)
    path = prepare_run_dir(Path(out_dir) if out_dir is not None else new_run_dir(config))
    with RunStore(path, fingerprint(config, game, learners)) as store:
        write_json_atomic(path / "config.json", config.to_dict())
        return _run(config, game, learners, store, resume=False, progress=progress)


def read_run_config(path: Path) -> RunConfig:
    """The config of the run folder ``path`` (CheckpointError if it has none or a bad one)."""
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{path} is not a run directory (no config.json)")
    try:
        data = load_document(cfg_path, "run config")
    except SeqgameError as exc:
        raise CheckpointError(f"{exc}: the run folder is damaged") from None
    try:
        return RunConfig.from_dict(data)
    except InvalidConfigError as exc:
        raise CheckpointError(f"{cfg_path} is not a seqgame run config: {exc}") from None


def is_finished(path: Path, config: RunConfig) -> bool:
    """True when the run folder's latest checkpoint is at the last step and it has a summary."""
    if not (path / "summary.json").is_file():
        return False
    try:
        return int(load_latest_checkpoint(path / "checkpoints")["step"]) >= config.steps
    except CheckpointError:
        return False


def resume(run_dir: str | Path, progress: bool = False) -> CoevolutionResult | None:
    """Continue the interrupted run in ``run_dir``; None when it has already finished."""
    path = Path(run_dir)
    config = read_run_config(path)
    if is_finished(path, config):
        return None
    game = load_game(config.game)
    learners = build_learners(config, game)
    fp = fingerprint(config, game, learners)
    if not is_main_process():
        return _run(config, game, learners, ReplicaSink(path, fp), resume=True, progress=False)
    with RunStore(path, fp) as store:
        return _run(config, game, learners, store, resume=True, progress=progress)


def last_checkpoint_step(run_dir: str | Path) -> int:
    """The step of a run folder's latest checkpoint (0 when it has none)."""
    try:
        return int(load_latest_checkpoint(Path(run_dir) / "checkpoints")["step"])
    except CheckpointError:
        return 0

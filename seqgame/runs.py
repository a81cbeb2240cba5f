r"""Runs: the frozen run config, the run directory, atomic checkpoints, ``train``.

A run directory (``runs/<name>/<id>/``) holds ``config.json`` (the resolved config),
``metrics.jsonl`` (one record per step), ``snapshots/`` (both tables at every phase end),
``checkpoints/`` (atomic, checksummed), ``figures/*.png`` and ``summary.json``.

Learners are built by the backend named in the config through
``seqgame.backends.<backend>.factory.build_learners(game, attacker_options,
defender_options, seed)``, imported lazily so that core never imports a backend.

Checkpoint file format: ``SEQGAME-CKPT 1 <sha256 hex> <length>\\n`` followed by a pickle of
the loop state. It is written to a temporary file, fsynced and renamed into place, so a
crash leaves either the old or the new file; a truncated or altered file fails the checksum
and raises :class:`~seqgame.errors.CheckpointError`.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import pickle
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seqgame.errors import BackendUnavailableError, CheckpointError, InvalidConfigError
from seqgame.schedules import ScheduleConfig, from_mapping

CHECKPOINT_MAGIC = b"SEQGAME-CKPT 1"
KEEP_CHECKPOINTS = 2
BACKENDS = ("tabular", "llm")


def _check_int(value: Any, key: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidConfigError(f"{key} = {value!r}: use an integer >= {minimum}")


@dataclass(frozen=True)
class RunConfig:
    """A validated, frozen co-evolution run configuration.

    Attributes:
        name: run name (the folder under ``runs/``).
        game: built-in game name or spec file path.
        backend: ``tabular`` or ``llm``.
        seed: seed of the run's random generator.
        steps: training steps.
        attacker, defender: learner options passed to the backend's factory.
        schedule: schedule options (:class:`~seqgame.schedules.ScheduleConfig`).
        eval_every: exact evaluation every this many steps.
        checkpoint_every: checkpoint every this many steps (and at every phase end).
        plot: draw the figures at the end of the run.
    """

    name: str = "run"
    game: str = "jailbreak_v1"
    backend: str = "tabular"
    seed: int = 0
    steps: int = 300
    attacker: Mapping[str, Any] = field(default_factory=dict)
    defender: Mapping[str, Any] = field(default_factory=dict)
    schedule: Mapping[str, Any] = field(default_factory=dict)
    eval_every: int = 1
    checkpoint_every: int = 50
    plot: bool = True

    def __post_init__(self) -> None:
        for key in ("name", "game"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise InvalidConfigError(f"{key} = {value!r}: use a non-empty string")
        if "/" in self.name or self.name.startswith("."):
            raise InvalidConfigError(f"name = {self.name!r}: use a plain folder name")
        if self.backend not in BACKENDS:
            raise InvalidConfigError(f"backend = {self.backend!r}: choose from {list(BACKENDS)}")
        _check_int(self.seed, "seed", 0)
        _check_int(self.steps, "steps", 1)
        _check_int(self.eval_every, "eval_every", 1)
        _check_int(self.checkpoint_every, "checkpoint_every", 1)
        if not isinstance(self.plot, bool):
            raise InvalidConfigError(f"plot = {self.plot!r}: use true or false")
        for key in ("attacker", "defender", "schedule"):
            value = getattr(self, key)
            if not isinstance(value, Mapping):
                raise InvalidConfigError(f"{key} = {value!r}: use a mapping of options")
            object.__setattr__(self, key, dict(value))
        ScheduleConfig.from_dict(self.schedule)  # validates

    @property
    def schedule_config(self) -> ScheduleConfig:
        """The validated schedule."""
        return ScheduleConfig.from_dict(self.schedule)

    def to_dict(self) -> dict[str, Any]:
        """Plain dictionary (what ``config.json`` holds)."""
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("attacker", "defender"):
            out[key] = dict(out[key])
        out["schedule"] = self.schedule_config.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunConfig:
        """Build from a mapping; unknown keys raise ``InvalidConfigError`` naming them."""
        return from_mapping(cls, data, "config")


def parse_overrides(items: Sequence[str]) -> list[tuple[list[str], Any]]:
    """Parse ``key.sub=value`` strings (values read as YAML scalars)."""
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidConfigError(f"--set {item!r}: use key=value, e.g. schedule.freq=10")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as exc:
            raise InvalidConfigError(f"--set {item!r}: value is not valid YAML ({exc})") from None
        out.append((key.strip().split("."), value))
    return out


def apply_overrides(data: dict[str, Any], items: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``data`` with ``--set`` overrides applied."""
    data = json.loads(json.dumps(data))
    for path, value in parse_overrides(items):
        node = data
        for part in path[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise InvalidConfigError(
                    f"--set {'.'.join(path)}: {part!r} is not a mapping in the config"
                )
            node = child
        node[path[-1]] = value
    return data


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML/JSON run config, apply ``--set`` overrides, validate."""
    path = Path(path)
    if not path.is_file():
        raise InvalidConfigError(f"config file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise InvalidConfigError(f"{path}: not valid YAML ({exc})") from None
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{path}: the config must be a mapping")
    data.setdefault("name", path.stem)
    return RunConfig.from_dict(apply_overrides(data, overrides))


def build_learners(config: RunConfig, game: Any) -> tuple[Any, Any]:
    """Build the backend's learners for ``config`` (factory imported lazily by module path)."""
    return backend_factory(config).build_learners(game, dict(config.attacker),
                                                  dict(config.defender), config.seed)


def load_run_game(config: RunConfig) -> Any:
    """Load ``config.game`` after importing the backend (which may register its games)."""
    from seqgame.spec import load_game

    backend_factory(config)
    return load_game(config.game)


def backend_factory(config: RunConfig) -> Any:
    """Import ``seqgame.backends.<backend>.factory`` (BackendUnavailableError if missing)."""
    module_name = f"seqgame.backends.{config.backend}.factory"
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        if isinstance(exc, BackendUnavailableError):
            raise
        raise BackendUnavailableError(
            f"backend {config.backend!r} is unavailable ({exc}); for 'llm' run "
            "pip install 'seqgame[llm]'"
        ) from None
    return module


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


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (tmp file, fsync, rename, fsync dir)."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
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


def save_snapshot(folder: Path, index: int, snap: Any) -> None:
    """Write one phase-end snapshot as ``snapshot_<index>.npz`` (atomically)."""
    import io

    buf = io.BytesIO()
    np.savez(buf, step=snap.step, phase=snap.phase, attacker=snap.attacker,
             defender=snap.defender)
    write_atomic(Path(folder) / f"snapshot_{index:04d}.npz", buf.getvalue())


def load_snapshots(folder: str | Path) -> list[Any]:
    """Read the snapshots of a run directory's ``snapshots/`` folder, in order."""
    from seqgame.coevolve import Snapshot

    out = []
    for path in sorted(Path(folder).glob("snapshot_*.npz")):
        with np.load(path) as z:
            out.append(Snapshot(int(z["step"]), int(z["phase"]), z["attacker"], z["defender"]))
    return out


def save_checkpoint(folder: Path, step: int, state: Mapping[str, Any]) -> Path:
    """Write a checksummed checkpoint for ``step``; keep the latest few."""
    payload = pickle.dumps(dict(state), protocol=pickle.HIGHEST_PROTOCOL)
    digest = hashlib.sha256(payload).hexdigest()
    header = CHECKPOINT_MAGIC + f" {digest} {len(payload)}\n".encode()
    path = Path(folder) / f"step_{step:08d}.ckpt"
    write_atomic(path, header + payload)
    for old in sorted(Path(folder).glob("step_*.ckpt"))[:-KEEP_CHECKPOINTS]:
        old.unlink()
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and verify one checkpoint.

    Raises:
        CheckpointError: missing, truncated, or failing its checksum.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    head, sep, payload = data.partition(b"\n")
    parts = head.split(b" ")
    if not sep or not head.startswith(CHECKPOINT_MAGIC) or len(parts) != 4:
        raise CheckpointError(f"{path} is not a seqgame checkpoint (bad header): delete it")
    digest, length = parts[2].decode(errors="replace"), parts[3]
    if not length.isdigit() or len(payload) != int(length):
        raise CheckpointError(
            f"{path} is partial ({len(payload)} of {length.decode(errors='replace')} bytes): "
            "delete it to resume from the previous checkpoint"
        )
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(
            f"{path} is corrupt (checksum mismatch): delete it to resume from the previous "
            "checkpoint"
        )
    return pickle.loads(payload)  # noqa: S301 - our own checksummed file


def load_latest_checkpoint(folder: str | Path) -> dict[str, Any]:
    """Load the latest checkpoint in ``folder`` (verified); CheckpointError if there is none."""
    paths = sorted(Path(folder).glob("step_*.ckpt"))
    if not paths:
        raise CheckpointError(
            f"no checkpoint in {folder}: the run stopped before its first checkpoint; start "
            "it again with 'seqgame train CONFIG'"
        )
    return load_checkpoint(paths[-1])


# ----------------------------------------------------------------------- train
def new_run_dir(config: RunConfig, root: str | Path = "runs") -> Path:
    """Return a fresh ``runs/<name>/<timestamp>-s<seed>`` folder path."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = Path(root) / config.name / f"{stamp}-s{config.seed}"
    path, i = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}-{i}")
        i += 1
    return path


def summarize(result: Any) -> dict[str, Any]:
    """``summary.json`` content: final last-iterate and average metrics, SPNE check."""
    from seqgame.metrics import evaluate, profile_distance
    from seqgame.safety import pointwise_safety

    game = result.game
    out: dict[str, Any] = {"game": game.name, "steps": len(result.records)}
    for key, profile in (("last", result.last), ("average", result.average)):
        m = evaluate(game, profile).to_json()
        entry = {k: m[k] for k in ("asr", "over_refusal", "subgame_regret_max",
                                   "subgame_regret_mean", "nash_conv", "exploitability",
                                   "value_attacker", "value_defender")}
        report = pointwise_safety(game, profile, support=1e-3)
        entry["pointwise_safe_support_1e-3"] = report.safe
        entry["pointwise_violations_support_1e-3"] = len(report.violations)
        if game.hidden_seed:
            entry["spne_distance"] = None
        else:
            from seqgame.spne import spne

            eq = spne(game)
            dist = profile_distance(game, profile, eq.profile)
            entry["spne_distance"] = dist
            out["spne"] = {"asr": evaluate(game, eq.profile).asr,
                           "over_refusal": evaluate(game, eq.profile).over_refusal,
                           "value_attacker": eq.value_attacker,
                           "value_defender": eq.value_defender,
                           "attacker_ties": len(eq.attacker_ties())}
        out[key] = entry
    last = out["last"]
    dist = last["spne_distance"]
    out["final"] = {"asr": last["asr"], "over_refusal": last["over_refusal"],
                    "subgame_regret": last["subgame_regret_max"],
                    "spne_distance_defender": None if dist is None else dist["defender"],
                    "spne_distance_defender_mean": None if dist is None else dist[
                        "defender_mean"]}
    out["theorem_3_2"] = theorem_check(game, result.last)
    return out


def theorem_check(game: Any, profile: Any) -> dict[str, Any]:
    """Check MAGIC's Theorem 3.2 on ``game`` and measure how far ``profile`` is from it.

    Reports the exact SPNE's pointwise safety, the learned profile's largest probability of
    a negative-reward answer at any node (off path included) and its regret bound ε / gap.
    """
    import numpy as np

    from seqgame.safety import pointwise_safety, unsafe_mass_bound

    out: dict[str, Any] = {}
    neg = game.u_defender < 0
    mass = np.einsum("txad,xad->txa", profile.defender_full(game), neg.astype(float))
    mass = np.where(game.allowed[None], mass, 0.0)
    out["learned_max_unsafe_answer_probability"] = float(mass.max())
    if game.turns == 1:
        bound, _ = unsafe_mass_bound(game, profile)
        finite = bound[np.isfinite(bound) & game.allowed[None]]
        out["learned_max_regret_bound"] = float(finite.max()) if finite.size else None
    if not game.hidden_seed:
        from seqgame.spne import spne

        report = pointwise_safety(game, spne(game).profile)
        out["spne_pointwise_safe"] = report.safe
        out["spne_violations"] = len(report.violations)
        out["no_fallback_nodes"] = len(report.no_fallback)
    return out


def finish_run(result: Any, config: RunConfig) -> dict[str, Any]:
    """Write ``summary.json`` (and the figures when ``config.plot``); return the summary."""
    summary = summarize(result)
    path = result.run_dir
    if path is not None:
        write_json_atomic(path / "summary.json", summary)
        if config.plot:
            from seqgame.plots import plot_run

            try:
                summary["figures"] = [str(p) for p in plot_run(path)]
            except BackendUnavailableError as exc:  # the run itself is complete and saved
                summary["figures_skipped"] = str(exc)
            write_json_atomic(path / "summary.json", summary)
    return summary


def train(config: RunConfig, out_dir: str | Path | None = None, progress: bool = False) -> Any:
    """Run ``config`` into a fresh run directory; return the :class:`CoevolutionResult`."""
    from seqgame.coevolve import coevolve

    game = load_run_game(config)
    attacker, defender = build_learners(config, game)  # fail before any file is written
    path = Path(out_dir) if out_dir is not None else new_run_dir(config)
    if path.exists() and any(path.iterdir()):
        raise InvalidConfigError(
            f"run directory {path} is not empty: choose another --out, or resume it with "
            f"'seqgame train --resume {path}'"
        )
    path.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path / "config.json", config.to_dict())
    result = coevolve(game, attacker, defender, config.schedule_config, config.steps,
                      config.seed, eval_every=config.eval_every, run_dir=path,
                      checkpoint_every=config.checkpoint_every, progress=progress)
    result.extra["summary"] = finish_run(result, config)
    return result


def resume(run_dir: str | Path, progress: bool = False) -> Any:
    """Continue the interrupted run in ``run_dir`` from its latest checkpoint."""
    from seqgame.coevolve import coevolve

    path = Path(run_dir)
    cfg_path = path / "config.json"
    if not cfg_path.is_file():
        raise CheckpointError(f"{path} is not a run directory (no config.json)")
    data = json.loads(cfg_path.read_text(encoding="utf-8"))
    config = RunConfig.from_dict(data)
    game = load_run_game(config)
    attacker, defender = build_learners(config, game)
    result = coevolve(game, attacker, defender, config.schedule_config, config.steps,
                      config.seed, eval_every=config.eval_every, run_dir=path,
                      checkpoint_every=config.checkpoint_every, resume=True, progress=progress)
    result.extra["summary"] = finish_run(result, config)
    return result

"""The frozen run configuration: read from YAML/JSON, ``--set`` overrides, validation."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from seqgame.config import parse_options, read_config_file
from seqgame.documents import parse_text, short
from seqgame.errors import InvalidConfigError, SeqgameError
from seqgame.training.schedules import ScheduleConfig

#: The entry-point group through which backends are installed.
BACKEND_GROUP = "seqgame.backends"


def _check_int(value: Any, key: str, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise InvalidConfigError(f"{key} = {short(value)}: use an integer >= {minimum}")


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
        schedule: schedule options (:class:`~seqgame.training.schedules.ScheduleConfig`).
        eval_every: exact evaluation every this many steps.
        checkpoint_every: checkpoint every this many steps (and at every phase end).
        plot: draw the figures at the end of the run.
    """

    name: str = "run"
    game: str = "jailbreak_v1"
    backend: str = "tabular"
    seed: int = 0
    steps: int = 300
    attacker: dict[str, Any] = field(default_factory=dict)
    defender: dict[str, Any] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)
    eval_every: int = 1
    checkpoint_every: int = 50
    plot: bool = True

    def __post_init__(self) -> None:
        for key in ("name", "game"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise InvalidConfigError(f"{key} = {short(value)}: use a non-empty string")
        if "/" in self.name or self.name.startswith("."):
            raise InvalidConfigError(f"name = {short(self.name)}: use a plain folder name")
        installed = sorted(ep.name for ep in entry_points(group=BACKEND_GROUP))
        if self.backend not in installed:
            raise InvalidConfigError(f"backend = {short(self.backend)}: choose from {installed}")
        _check_int(self.seed, "seed", 0)
        _check_int(self.steps, "steps", 1)
        _check_int(self.eval_every, "eval_every", 1)
        _check_int(self.checkpoint_every, "checkpoint_every", 1)
        if not isinstance(self.plot, bool):
            raise InvalidConfigError(f"plot = {short(self.plot)}: use true or false")
        for key in ("attacker", "defender", "schedule"):
            value = getattr(self, key)
            if not isinstance(value, Mapping):
                raise InvalidConfigError(f"{key} = {short(value)}: use a mapping of options")
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
        return parse_options(cls, data, "config")


def parse_overrides(items: Sequence[str]) -> list[tuple[list[str], Any]]:
    """Parse ``key.sub=value`` strings (values read as YAML scalars)."""
    out = []
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise InvalidConfigError(f"--set {short(item)}: use key=value, e.g. schedule.freq=10")
        try:
            value = parse_text(raw, f"--set {key.strip()}") if raw.strip() else ""
        except SeqgameError as exc:
            raise InvalidConfigError(str(exc)) from None
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
                    f"--set {'.'.join(path)}: {short(part)} is not a mapping in the config"
                )
            node = child
        node[path[-1]] = value
    return data


def load_config(path: str | Path, overrides: Sequence[str] = ()) -> RunConfig:
    """Read a YAML/JSON run config, apply ``--set`` overrides, validate."""
    path = Path(path)
    if not path.exists():
        raise InvalidConfigError(f"config file {str(path)!r} does not exist")
    data = read_config_file(path)
    if not data:
        raise InvalidConfigError(
            f"{path} is empty: write at least 'game' and 'steps' (an empty config would run "
            "the 300-step default without saying so)")
    data.setdefault("name", path.stem)
    return RunConfig.from_dict(apply_overrides(data, overrides))

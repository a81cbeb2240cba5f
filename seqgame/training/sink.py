"""Where the co-evolution loop writes: the :class:`RunSink` seam (the run store implements it).

The loop never touches files. It hands records, phase-end snapshots and checkpoint states
to a sink; :class:`MemorySink` keeps nothing (a run without a folder), and
:class:`seqgame.runner.store.RunStore` writes a run folder (records, snapshots, atomic
checkpoints) and restores from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from seqgame.errors import InvalidConfigError
from seqgame.training.cross_eval import Snapshot


class RunSink(Protocol):
    """Receives a run's output; restores the state of an interrupted run."""

    def begin(self) -> None:
        """A new run starts: no records yet."""
        ...

    def restore(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The latest checkpointed loop state and the records up to it (a resumed run)."""
        ...

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Records of steps just finished, in order."""
        ...

    def snapshot(self, index: int, snapshot: Snapshot) -> None:
        """Both policies' tables at a phase end (index 0: the starting policies)."""
        ...

    def checkpoint(self, step: int, state: Mapping[str, Any]) -> None:
        """Everything needed to resume after ``step``."""
        ...

    def close(self) -> None:
        """The run stopped (finished, failed or interrupted)."""
        ...


class MemorySink:
    """A sink that keeps nothing: a run without a folder cannot be resumed."""

    def begin(self) -> None:
        """Nothing to prepare."""

    def restore(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """Refuse: there is nothing to resume from."""
        raise InvalidConfigError("resume needs a run folder (a RunStore sink)")

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Drop the records (the result holds them)."""

    def snapshot(self, index: int, snapshot: Snapshot) -> None:
        """Drop the snapshot (the result holds it)."""

    def checkpoint(self, step: int, state: Mapping[str, Any]) -> None:
        """Drop the state."""

    def close(self) -> None:
        """Nothing to release."""

"""The co-evolution loop: train attacker and defender against each other, phase by phase.

``coevolve`` talks to learners only through :mod:`seqgame.training.protocols` (``policy()``,
``train_against``, ``state_dict``), trains one step at a time (each role against a frozen
copy of the other as it is at that step, so ``eval_every`` never changes training) and
measures every evaluated step exactly with :func:`seqgame.analysis.metrics.evaluate` on the
learners' Markov tables — both the **last iterate** and the **time average** (every step,
reach-weighted as CFR's average policy; docs/theory.md: gradient dynamics cycle in the last
iterate while averages converge). A :class:`~seqgame.training.schedules.ScheduleConfig`
decides who trains at each step (MAGIC's alternating / ASR-aware modes and the ablations).

Output goes to a :class:`~seqgame.training.sink.RunSink`: one record per step, both
policies' tables at every phase end, and checkpoints; ``resume=True`` restores the sink's
latest checkpoint and reproduces an uninterrupted run exactly (one
``np.random.Generator`` whose state is checkpointed).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqgame.analysis.metrics import evaluate
from seqgame.errors import CheckpointError, InvalidConfigError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.profile import Profile
from seqgame.solvers.spne import spne_set_distance
from seqgame.training.cross_eval import Snapshot
from seqgame.training.protocols import Learner, Policy
from seqgame.training.schedules import Decision, ScheduleConfig
from seqgame.training.sink import MemorySink, RunSink
from seqgame.training.table_policy import TimeAverage, attacker_mix, fixed_attack_policy

METRIC_KEYS = ("asr", "over_refusal", "value_attacker", "value_defender", "nash_conv",
               "exploitability", "subgame_regret_max", "subgame_regret_mean")


@dataclass
class CoevolutionResult:
    """The outcome of :func:`coevolve`.

    Attributes:
        game: the game.
        records: one metrics dictionary per step (the lines of ``metrics.jsonl``).
        snapshots: the tables at every phase end.
        last: the final (last-iterate) profile.
        average: the time-averaged profile over every step, reach-weighted
            (:class:`~seqgame.training.table_policy.TimeAverage`).
        extra: what later stages add (the run folder, the summary).
    """

    game: SequentialGame
    records: list[dict[str, Any]]
    snapshots: list[Snapshot]
    last: Profile
    average: Profile
    extra: dict[str, Any] = field(default_factory=dict)


def _profile(game: SequentialGame, attacker: Policy, defender: Policy) -> Profile:
    return Profile.from_arrays(game, attacker.probabilities(game), defender.probabilities(game))


def _metrics(game: SequentialGame, profile: Profile, prefix: str) -> dict[str, Any]:
    # the spne_distance_* keys: distance to the SPNE set (nearest best response at the
    # nodes the profile reaches); defined for full observation only
    m = evaluate(game, profile).to_json()
    out = {f"{prefix}{k}": m[k] for k in METRIC_KEYS}
    if game.observation is Observation.FULL:
        dist = spne_set_distance(game, profile)
        out[f"{prefix}spne_distance_defender"] = dist["defender"]
        out[f"{prefix}spne_distance_defender_mean"] = dist["defender_mean"]
    return out


class _Loop:
    """State of one co-evolution run (kept together so it can be checkpointed)."""

    def __init__(self, game: SequentialGame, attacker: Learner, defender: Learner,
                 schedule: ScheduleConfig, steps: int, seed: int) -> None:
        self.game, self.attacker, self.defender = game, attacker, defender
        self.schedule, self.steps = schedule, steps
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.step = 0
        self.records: list[dict[str, Any]] = []
        self.snapshots: list[Snapshot] = []
        self.time_average = TimeAverage(game)
        attack = schedule.no_game_attack
        self.no_game = None if attack is None else fixed_attack_policy(game, attack)
        # frozen opponents, reused while their learner has not trained (a pure saving)
        self.updates = {Role.ATTACKER: 0, Role.DEFENDER: 0}
        self.frozen: dict[Role, tuple[int, Policy]] = {}
        self.tables: tuple[np.ndarray, np.ndarray] | None = None  # after the latest step

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "n_records": len(self.records),
            "snapshots": [{"step": s.step, "phase": s.phase, "attacker": s.attacker,
                           "defender": s.defender} for s in self.snapshots],
            "time_average": self.time_average.state(),
            "rng": self.rng.bit_generator.state,
            "attacker": self.attacker.state_dict(),
            "defender": self.defender.state_dict(),
        }

    def load(self, state: dict[str, Any], records: list[dict[str, Any]]) -> None:
        if "time_average" not in state:
            raise CheckpointError(
                "checkpoint lacks the reach-weighted time average (written by an older "
                "seqgame): start the run again without resume"
            )
        self.step = int(state["step"])
        self.records = records
        self.snapshots = [Snapshot(int(s["step"]), int(s["phase"]), np.asarray(s["attacker"]),
                                   np.asarray(s["defender"])) for s in state["snapshots"]]
        self.time_average.load(state["time_average"])
        self.rng.bit_generator.state = state["rng"]
        self.attacker.load_state_dict(state["attacker"])
        self.defender.load_state_dict(state["defender"])

    def opponent(self, role: Role) -> Policy:
        """A frozen copy of ``role``'s opponent as it is now (the fixed attack for no_game)."""
        if role is Role.DEFENDER and self.no_game is not None:
            return self.no_game
        other = role.opponent
        cached = self.frozen.get(other)
        if cached is None or cached[0] != self.updates[other] or self.coupled:
            cached = (self.updates[other], self.learner(other).policy().snapshot())
            self.frozen[other] = cached
        return cached[1]

    def train_step(self, decision: Decision) -> dict[Role, dict]:
        """Train the decision's roles one step, each against the other as it is now."""
        opponents = {role: self.opponent(role)  # snapshot both before either trains
                     for role in (Role.ATTACKER, Role.DEFENDER) if role in decision.roles}
        trained = {}
        for role, opp in opponents.items():
            recs = self.learner(role).train_against(opp, 1, self.rng)
            trained[role] = recs[0] if recs else {}
            self.updates[role] += 1
        self.step += 1
        self.tables = self.tables_after(decision.roles)
        self.time_average.add(*self.tables)
        return trained

    def tables_after(self, trained: Collection[Role]) -> tuple[np.ndarray, np.ndarray]:
        """Both tables after a step: only the roles that trained are estimated again.

        A policy's table is a function of its parameters (the LLM estimate samples with a
        fixed seed), so the frozen role's table of the previous step is still exact; at an
        alternating schedule this halves the estimation cost (the dominant cost per step of
        an LLM run).
        """
        if self.tables is None or self.coupled:
            return self.current_tables(fresh=True)
        game, (att, dfd) = self.game, self.tables
        if Role.ATTACKER in trained:
            att = np.array(self.attacker.policy().probabilities(game), dtype=float)
        if Role.DEFENDER in trained:
            dfd = np.array(self.defender.policy().probabilities(game), dtype=float)
        return att, dfd

    def current_tables(self, fresh: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Both learners' tables now (those of the latest step unless ``fresh``)."""
        if fresh or self.tables is None:
            game = self.game
            return (np.array(self.attacker.policy().probabilities(game), dtype=float),
                    np.array(self.defender.policy().probabilities(game), dtype=float))
        return self.tables

    def last_evaluated(self) -> int:
        """The step of the latest record with exact metrics (0 if none)."""
        return next((int(r["step"]) for r in reversed(self.records) if "nash_conv" in r), 0)

    @property
    def coupled(self) -> bool:
        """True when training one role can move the other's policy (shared parameters)."""
        return any(getattr(lrn, "shares_parameters", False)
                   for lrn in (self.attacker, self.defender))

    def learner(self, role: Role) -> Learner:
        return self.attacker if role is Role.ATTACKER else self.defender

    def evaluate(self) -> dict[str, Any]:
        game = self.game
        last = Profile.from_arrays(game, *self.current_tables())
        out = _metrics(game, last, "")
        out.update(_metrics(game, self.average(), "avg/"))
        mix = attacker_mix(game, last.attacker)
        out["attacker_mix"] = {a: round(float(p), 6) for a, p in zip(game.attacks, mix,
                                                                   strict=True)}
        return out

    def average(self) -> Profile:
        if self.time_average.count == 0:
            return Profile.from_arrays(self.game, *self.current_tables())
        return Profile.from_arrays(self.game, *self.time_average.tables())

    def snapshot(self, phase: int) -> Snapshot:
        snap = Snapshot(self.step, phase, *(t.copy() for t in self.current_tables()))
        self.snapshots.append(snap)
        return snap

    def record(self, decision: Decision, trained: dict[Role, dict]) -> dict[str, Any]:
        """The record of the step just trained: its decision and the learners' statistics."""
        rec: dict[str, Any] = {"step": self.step, "phase": decision.phase,
                               "role": decision.label}
        for role in (Role.ATTACKER, Role.DEFENDER):
            rec.update({f"{role.value}/{key}": v for key, v in trained.get(role, {}).items()})
        return rec


def _check_arguments(attacker: Learner, defender: Learner, schedule: ScheduleConfig,
                     steps: int, eval_every: int, checkpoint_every: int) -> None:
    for value, name in ((steps, "steps"), (eval_every, "eval_every"),
                        (checkpoint_every, "checkpoint_every")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidConfigError(f"{name} = {value!r}: use an integer >= 1")
    if schedule.kind == "metric" and eval_every != 1:
        raise InvalidConfigError(
            f"eval_every = {eval_every} with schedule kind 'metric': that schedule switches on "
            "the exact metric of every step, so evaluation would steer training; use "
            "eval_every = 1"
        )
    if attacker.role is not Role.ATTACKER or defender.role is not Role.DEFENDER:
        raise InvalidConfigError(
            f"learner roles are ({attacker.role.value}, {defender.role.value}): pass the "
            "attacker learner first and the defender learner second"
        )


def _start(loop: _Loop, sink: RunSink, resume: bool) -> None:
    """Restore an interrupted run from the sink, or begin a new one."""
    if resume:
        state, records = sink.restore()
        loop.load(state, records)
        return
    sink.begin()
    sink.snapshot(0, loop.snapshot(-1))  # the starting policies: row/column 0 of cross-eval


def _progress_bar(game: SequentialGame, steps: int, initial: int, show: bool) -> Any:
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(total=steps, initial=initial, unit="step", disable=None, desc=f"{game.name}")


def _run(loop: _Loop, sink: RunSink, eval_every: int, checkpoint_every: int, bar: Any) -> None:
    """Train until ``loop.steps``, writing records, snapshots and checkpoints to ``sink``.

    Training is one step at a time whatever ``eval_every`` is, so the evaluation frequency
    never changes what is learned. Exact metrics go on a step ``eval_every`` steps after the
    last evaluated one, on every phase end and on the last step. Only the ``metric``
    schedule reads metrics, and it runs with ``eval_every = 1`` (checked by
    ``_check_arguments``), so deciding the next step before adding a phase end's metrics
    is safe.
    """
    schedule, steps = loop.schedule, loop.steps
    last_ckpt = loop.step
    decision = schedule.decide(loop.step, loop.records) if loop.step < steps else None
    while decision is not None:
        rec = loop.record(decision, loop.train_step(decision))
        evaluated = loop.step - loop.last_evaluated() >= eval_every or loop.step == steps
        if evaluated:
            rec.update(loop.evaluate())
        loop.records.append(rec)
        nxt = schedule.decide(loop.step, loop.records) if loop.step < steps else None
        phase_end = nxt is None or nxt.phase != decision.phase
        if phase_end and not evaluated:
            rec.update(loop.evaluate())
            evaluated = True
        if phase_end:
            sink.snapshot(len(loop.snapshots), loop.snapshot(decision.phase))
        sink.append([rec])
        if phase_end or loop.step - last_ckpt >= checkpoint_every:
            sink.checkpoint(loop.step, loop.state())
            last_ckpt = loop.step
        if bar is not None:
            bar.update(1)
            if evaluated:
                asr = rec["asr"]
                bar.set_postfix(role=decision.label, refresh=False,
                                asr="n/a" if asr is None else f"{asr:.3f}")
        decision = nxt


def coevolve(
    game: SequentialGame,
    attacker: Learner,
    defender: Learner,
    schedule: ScheduleConfig,
    steps: int,
    seed: int,
    *,
    eval_every: int = 1,
    sink: RunSink | None = None,
    checkpoint_every: int = 50,
    resume: bool = False,
    progress: bool = False,
) -> CoevolutionResult:
    """Co-evolve ``attacker`` and ``defender`` on ``game`` for ``steps`` steps.

    Args:
        game: the game (its tables define the exact metrics).
        attacker: the attacker's learner (:class:`seqgame.training.protocols.Learner`).
        defender: the defender's learner.
        schedule: who trains when.
        steps: total training steps (a simultaneous step trains both roles).
        seed: seed of the run's single random generator.
        eval_every: evaluate exact metrics this many steps after the last evaluation (and
            at every phase end and the last step); 1 for tabular learners, larger for learners whose
            ``probabilities`` is costly. Records in between carry only the learners' own
            statistics. Training does not depend on it: every step trains each role
            against the other as it is at that step. The ``metric`` schedule needs 1.
        sink: where records, snapshots and checkpoints go (default: kept in memory only).
        checkpoint_every: checkpoint every this many steps, and at every phase end.
        resume: continue from the sink's latest checkpoint.
        progress: show a tqdm progress bar (on a terminal only).

    Returns:
        A :class:`CoevolutionResult`.

    Raises:
        InvalidConfigError: bad arguments or learners of the wrong roles.
        CheckpointError: ``resume`` without a valid checkpoint.
    """
    _check_arguments(attacker, defender, schedule, steps, eval_every, checkpoint_every)
    sink = MemorySink() if sink is None else sink
    loop = _Loop(game, attacker, defender, schedule, steps, seed)
    _start(loop, sink, resume)
    bar = _progress_bar(game, steps, loop.step, progress)
    try:
        _run(loop, sink, eval_every, checkpoint_every, bar)
    finally:
        sink.close()
        if bar is not None:
            bar.close()
    if loop.time_average.count == 0:
        raise CheckpointError("the run has no trained step; nothing to report")
    return CoevolutionResult(
        game=game,
        records=loop.records,
        snapshots=loop.snapshots,
        last=_profile(game, attacker.policy(), defender.policy()),
        average=loop.average(),
    )

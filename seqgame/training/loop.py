"""The co-evolution loop: train attacker and defender against each other, phase by phase.

``coevolve`` talks to learners only through :mod:`seqgame.training.protocols` (``policy()``,
``train_against``, ``state_dict``) and measures every evaluated step exactly with
:func:`seqgame.analysis.metrics.evaluate` on the learners' Markov tables — both the **last
iterate** and the **time average** of the tables (THEORY.md: gradient dynamics cycle in the
last iterate while averages converge). A :class:`~seqgame.training.schedules.ScheduleConfig`
decides who trains at each step (MAGIC's alternating / ASR-aware modes and the ablations).

Output goes to a :class:`~seqgame.training.sink.RunSink`: one record per step, both
policies' tables at every phase end, and checkpoints; ``resume=True`` restores the sink's
latest checkpoint and reproduces an uninterrupted run exactly (one
``np.random.Generator`` whose state is checkpointed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from seqgame.analysis.metrics import evaluate, profile_distance
from seqgame.errors import CheckpointError, InvalidConfigError
from seqgame.model.game import Observation, Role, SequentialGame
from seqgame.model.profile import Profile
from seqgame.solvers.spne import spne
from seqgame.training.cross_eval import Snapshot
from seqgame.training.protocols import Learner, Policy
from seqgame.training.schedules import Decision, ScheduleConfig
from seqgame.training.sink import MemorySink, RunSink
from seqgame.training.table_policy import attacker_mix, fixed_attack_policy

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
        average: the time-averaged profile (uniform over evaluated steps).
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


def _metrics(game: SequentialGame, profile: Profile, reference: Profile | None,
             prefix: str) -> dict[str, Any]:
    m = evaluate(game, profile).to_json()
    out = {f"{prefix}{k}": m[k] for k in METRIC_KEYS}
    if reference is not None:
        dist = profile_distance(game, profile, reference)
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
        self.sum_attacker: np.ndarray | None = None
        self.sum_defender: np.ndarray | None = None
        self.n_avg = 0
        self.reference = spne(game).profile if game.observation is Observation.FULL else None
        attack = schedule.no_game_attack
        self.no_game = None if attack is None else fixed_attack_policy(game, attack)

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "n_records": len(self.records),
            "snapshots": [{"step": s.step, "phase": s.phase, "attacker": s.attacker,
                           "defender": s.defender} for s in self.snapshots],
            "sum_attacker": self.sum_attacker,
            "sum_defender": self.sum_defender,
            "n_avg": self.n_avg,
            "rng": self.rng.bit_generator.state,
            "attacker": self.attacker.state_dict(),
            "defender": self.defender.state_dict(),
        }

    def load(self, state: dict[str, Any], records: list[dict[str, Any]]) -> None:
        self.step = int(state["step"])
        self.records = records
        self.snapshots = [Snapshot(int(s["step"]), int(s["phase"]), np.asarray(s["attacker"]),
                                   np.asarray(s["defender"])) for s in state["snapshots"]]
        self.sum_attacker, self.sum_defender = state["sum_attacker"], state["sum_defender"]
        self.n_avg = int(state["n_avg"])
        self.rng.bit_generator.state = state["rng"]
        self.attacker.load_state_dict(state["attacker"])
        self.defender.load_state_dict(state["defender"])

    def chunk(self, phase: int, eval_every: int) -> int:
        """Count the steps to train before the next evaluation (same decision throughout)."""
        if self.schedule.kind == "metric":
            return 1
        k = 1
        while (k < eval_every and self.step + k < self.steps
               and self.schedule.decide(self.step + k, self.records).phase == phase):
            k += 1
        return k

    def train(self, decision: Decision, k: int) -> dict[Role, list[dict]]:
        """Train the decision's roles ``k`` steps, each against a snapshot of the other."""
        opponents: dict[Role, Policy] = {}
        for role in (Role.ATTACKER, Role.DEFENDER):  # snapshot both before either trains
            if role in decision.roles:
                if role is Role.DEFENDER and self.no_game is not None:
                    opponents[role] = self.no_game
                else:
                    opponents[role] = self.learner(role.opponent).policy().snapshot()
        return {role: self.learner(role).train_against(opp, k, self.rng)
                for role, opp in opponents.items()}

    def learner(self, role: Role) -> Learner:
        return self.attacker if role is Role.ATTACKER else self.defender

    def evaluate(self) -> dict[str, Any]:
        game = self.game
        last = _profile(game, self.attacker.policy(), self.defender.policy())
        if self.sum_attacker is None:
            self.sum_attacker = np.zeros_like(last.attacker)
            self.sum_defender = np.zeros_like(last.defender)
        self.sum_attacker = self.sum_attacker + last.attacker
        self.sum_defender = self.sum_defender + last.defender
        self.n_avg += 1
        out = _metrics(game, last, self.reference, "")
        out.update(_metrics(game, self.average(), self.reference, "avg/"))
        mix = attacker_mix(game, last.attacker)
        out["attacker_mix"] = {a: round(float(p), 6) for a, p in zip(game.attacks, mix,
                                                                   strict=True)}
        return out

    def average(self) -> Profile:
        if self.n_avg == 0:
            return _profile(self.game, self.attacker.policy(), self.defender.policy())
        # evaluate() sets both sums whenever it counts a step
        assert self.sum_attacker is not None and self.sum_defender is not None
        return Profile.from_arrays(self.game, self.sum_attacker / self.n_avg,
                                   self.sum_defender / self.n_avg)

    def snapshot(self, phase: int) -> Snapshot:
        game = self.game
        snap = Snapshot(self.step, phase,
                        np.array(self.attacker.policy().probabilities(game), dtype=float),
                        np.array(self.defender.policy().probabilities(game), dtype=float))
        self.snapshots.append(snap)
        return snap

    def step_records(self, decision: Decision, k: int, trained: dict[Role, list[dict]],
                     metrics: dict[str, Any]) -> list[dict[str, Any]]:
        """One record per step of the chunk; the evaluation goes on the chunk's last."""
        new = []
        for i in range(k):
            rec: dict[str, Any] = {"step": self.step + i + 1, "phase": decision.phase,
                                   "role": decision.label}
            for role in (Role.ATTACKER, Role.DEFENDER):
                recs = trained.get(role, [])
                if i < len(recs):
                    rec.update({f"{role.value}/{key}": v for key, v in recs[i].items()})
            if i == k - 1:
                rec.update(metrics)
            new.append(rec)
        return new


def _check_arguments(attacker: Learner, defender: Learner, steps: int, eval_every: int,
                     checkpoint_every: int) -> None:
    for value, name in ((steps, "steps"), (eval_every, "eval_every"),
                        (checkpoint_every, "checkpoint_every")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidConfigError(f"{name} = {value!r}: use an integer >= 1")
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
    """Train until ``loop.steps``, writing records, snapshots and checkpoints to ``sink``."""
    schedule, steps = loop.schedule, loop.steps
    last_ckpt = loop.step
    decision = schedule.decide(loop.step, loop.records) if loop.step < steps else None
    while decision is not None:
        k = loop.chunk(decision.phase, eval_every)
        trained = loop.train(decision, k)
        metrics = loop.evaluate()
        new = loop.step_records(decision, k, trained, metrics)
        loop.records.extend(new)
        loop.step += k
        nxt = schedule.decide(loop.step, loop.records) if loop.step < steps else None
        phase_end = nxt is None or nxt.phase != decision.phase
        if phase_end:
            sink.snapshot(len(loop.snapshots), loop.snapshot(decision.phase))
        sink.append(new)
        if phase_end or loop.step - last_ckpt >= checkpoint_every:
            sink.checkpoint(loop.step, loop.state())
            last_ckpt = loop.step
        if bar is not None:
            bar.update(k)
            asr = metrics["asr"]
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
        eval_every: evaluate exact metrics every this many steps (1 for tabular learners;
            larger for learners whose ``probabilities`` is costly). Records in between carry
            only the learners' own statistics.
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
    _check_arguments(attacker, defender, steps, eval_every, checkpoint_every)
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
    if loop.n_avg == 0:
        raise CheckpointError("the run has no evaluated step; nothing to report")
    return CoevolutionResult(
        game=game,
        records=loop.records,
        snapshots=loop.snapshots,
        last=_profile(game, attacker.policy(), defender.policy()),
        average=loop.average(),
    )

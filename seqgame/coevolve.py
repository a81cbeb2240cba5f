"""The co-evolution loop: train attacker and defender against each other, phase by phase.

``coevolve`` talks to learners only through :mod:`seqgame.learning` (``policy()``,
``train_against``, ``state_dict``) and measures every evaluated step exactly with
:func:`seqgame.metrics.evaluate` on the learners' Markov tables — both the **last iterate**
and the **time average** of the tables (THEORY.md: gradient dynamics cycle in the last
iterate while averages converge). A :class:`~seqgame.schedules.ScheduleConfig` decides who
trains at each step (MAGIC's alternating / ASR-aware modes and the ablations).

With a run directory the loop appends ``metrics.jsonl`` (one record per step), saves both
policies' tables at every phase end (``snapshots/``) and writes atomic checkpoints
(``checkpoints/``); ``resume=True`` continues from the latest checkpoint and reproduces an
uninterrupted run exactly (one ``np.random.Generator`` whose state is checkpointed).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqgame.errors import CheckpointError, InvalidConfigError
from seqgame.game import Observation, Role, SequentialGame
from seqgame.learning import Learner, Policy
from seqgame.metrics import evaluate, profile_distance
from seqgame.profile import Profile
from seqgame.rollout import sample_rows
from seqgame.schedules import ScheduleConfig

METRIC_KEYS = ("asr", "over_refusal", "value_attacker", "value_defender", "nash_conv",
               "exploitability", "subgame_regret_max", "subgame_regret_mean")


class TablePolicy:
    """A frozen Markov policy given by its probability table (a :class:`Policy`).

    Observations for :meth:`act` are int arrays of indices, the optional first column the
    turn (0 when absent): attacker ``(N,)`` seeds or ``(N, 2)`` ``[turn, seed]``; defender
    under full observation ``(N, 2)`` ``[seed, attack]`` or ``(N, 3)``; under attack
    observation ``(N,)`` attacks or ``(N, 2)`` ``[turn, attack]``.

    Args:
        role: the role.
        table: float ``(T, X, A)`` (attacker) or ``(T, X, A, D)`` / ``(T, A, D)`` (defender).
        exploration: ε — ``act`` samples from (1 − ε)·table + ε·uniform over the allowed
            actions (a trembling hand); :meth:`probabilities` returns the table itself.
        allowed: bool mask of the table's shape without T (uniform support for ε).
    """

    def __init__(self, role: Role, table: np.ndarray, exploration: float = 0.0,
                 allowed: np.ndarray | None = None) -> None:
        self._role = Role.parse(role)
        self._table = np.array(table, dtype=float)
        self._table.setflags(write=False)
        self.exploration = float(exploration)
        mask = np.ones(self._table.shape[1:], dtype=bool) if allowed is None else allowed
        self._allowed = np.broadcast_to(np.asarray(mask, dtype=bool), self._table.shape[1:])
        uniform = self._allowed / self._allowed.sum(axis=-1, keepdims=True)
        self._behaviour = (1.0 - self.exploration) * self._table + self.exploration * uniform

    @property
    def role(self) -> Role:
        """The role of this policy."""
        return self._role

    @property
    def table(self) -> np.ndarray:
        """The (read-only) probability table."""
        return self._table

    def act(self, observations: Any, rng: np.random.Generator) -> np.ndarray:
        """Sample one action index per observation row (see the class docstring)."""
        obs = np.asarray(observations, dtype=np.intp)
        node_dims = self._table.ndim - 2  # index columns besides the turn
        if obs.ndim == 1 and node_dims == 1:
            obs = obs[:, None]
        if obs.ndim != 2 or obs.shape[1] not in (node_dims, node_dims + 1):
            raise InvalidConfigError(
                f"{self._role.value} observations have shape {obs.shape}: expected (N, "
                f"{node_dims}) indices, optionally with a leading turn column"
            )
        turn = obs[:, 0] if obs.shape[1] == node_dims + 1 else np.zeros(len(obs), dtype=np.intp)
        idx = tuple(obs[:, i] for i in range(obs.shape[1] - node_dims, obs.shape[1]))
        return sample_rows(self._behaviour[(turn, *idx)], rng)

    def snapshot(self) -> TablePolicy:
        """Itself: a table policy is already frozen."""
        return self

    def probabilities(self, game: SequentialGame) -> np.ndarray:
        """Return the table (its shape must match ``game``'s)."""
        del game
        return self._table


def fixed_attack_policy(game: SequentialGame, attack: str) -> TablePolicy:
    """Build the attacker that always sends ``attack`` (else a seed's first allowed one)."""
    n_x, n_a, _ = game.shape
    a = game.attack_index(attack)
    table = np.zeros((game.turns, n_x, n_a))
    for x in range(n_x):
        table[:, x, a if game.allowed[x, a] else int(np.argmax(game.allowed[x]))] = 1.0
    return TablePolicy(Role.ATTACKER, table)


def attacker_mix(game: SequentialGame, attacker: np.ndarray) -> np.ndarray:
    """P(attack) at turn 1 over harmful seeds (all seeds if none), float ``(A,)``."""
    w = game.prior * (game.harmful if game.harmful.any() else 1.0)
    return np.einsum("x,xa->a", w / w.sum(), attacker[0])


@dataclass
class Snapshot:
    """Both policies' tables at the end of a phase."""

    step: int
    phase: int
    attacker: np.ndarray
    defender: np.ndarray


@dataclass
class CoevolutionResult:
    """The outcome of :func:`coevolve`.

    Attributes:
        game: the game.
        records: one metrics dictionary per step (the lines of ``metrics.jsonl``).
        snapshots: the tables at every phase end.
        last: the final (last-iterate) profile.
        average: the time-averaged profile (uniform over evaluated steps).
        run_dir: the run directory, if any.
    """

    game: SequentialGame
    records: list[dict[str, Any]]
    snapshots: list[Snapshot]
    last: Profile
    average: Profile
    run_dir: Path | None = None
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
        self.reference: Profile | None = None
        if game.observation is Observation.FULL:
            from seqgame.spne import spne

            self.reference = spne(game).profile
        attack = schedule.no_game_attack
        self.no_game = None if attack is None else fixed_attack_policy(game, attack)

    def state(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "n_records": len(self.records),
            "snapshots": [(s.step, s.phase, s.attacker, s.defender) for s in self.snapshots],
            "sum_attacker": self.sum_attacker,
            "sum_defender": self.sum_defender,
            "n_avg": self.n_avg,
            "rng": self.rng.bit_generator.state,
            "attacker": self.attacker.state_dict(),
            "defender": self.defender.state_dict(),
        }

    def load(self, state: dict[str, Any]) -> None:
        self.step = int(state["step"])
        self.records = list(state["records"])  # filled in by the caller from metrics.jsonl
        self.snapshots = [Snapshot(*s) for s in state["snapshots"]]
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

    def train(self, role: str, k: int) -> tuple[list[dict], list[dict]]:
        rec_a: list[dict] = []
        rec_d: list[dict] = []
        if role == "both":
            opp_for_a = self.defender.policy().snapshot()
            opp_for_d = self.attacker.policy().snapshot()
            rec_a = self.attacker.train_against(opp_for_a, k, self.rng)
            rec_d = self.defender.train_against(opp_for_d, k, self.rng)
        elif role == "attacker":
            rec_a = self.attacker.train_against(self.defender.policy().snapshot(), k, self.rng)
        else:
            opponent = self.no_game or self.attacker.policy().snapshot()
            rec_d = self.defender.train_against(opponent, k, self.rng)
        return rec_a, rec_d

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

    def snapshot(self, phase: int) -> None:
        game = self.game
        self.snapshots.append(Snapshot(
            self.step, phase,
            np.array(self.attacker.policy().probabilities(game), dtype=float),
            np.array(self.defender.policy().probabilities(game), dtype=float)))


def coevolve(
    game: SequentialGame,
    attacker: Learner,
    defender: Learner,
    schedule: ScheduleConfig,
    steps: int,
    seed: int,
    *,
    eval_every: int = 1,
    run_dir: str | Path | None = None,
    checkpoint_every: int = 50,
    resume: bool = False,
    progress: bool = False,
) -> CoevolutionResult:
    """Co-evolve ``attacker`` and ``defender`` on ``game`` for ``steps`` steps.

    Args:
        game: the game (its tables define the exact metrics).
        attacker: the attacker's learner (:class:`seqgame.learning.Learner`).
        defender: the defender's learner.
        schedule: who trains when.
        steps: total training steps (a simultaneous step trains both roles).
        seed: seed of the run's single random generator.
        eval_every: evaluate exact metrics every this many steps (1 for tabular learners;
            larger for learners whose ``probabilities`` is costly). Records in between carry
            only the learners' own statistics.
        run_dir: where to write ``metrics.jsonl``, ``snapshots/`` and ``checkpoints/``.
        checkpoint_every: checkpoint every this many steps, and at every phase end.
        resume: continue from the latest checkpoint in ``run_dir``.
        progress: show a tqdm progress bar (on a terminal only).

    Returns:
        A :class:`CoevolutionResult`.

    Raises:
        InvalidConfigError: bad arguments or learners of the wrong roles.
        CheckpointError: ``resume`` without a valid checkpoint.
    """
    from seqgame import runs

    for value, name in ((steps, "steps"), (eval_every, "eval_every"),
                        (checkpoint_every, "checkpoint_every")):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidConfigError(f"{name} = {value!r}: use an integer >= 1")
    if attacker.role is not Role.ATTACKER or defender.role is not Role.DEFENDER:
        raise InvalidConfigError(
            f"learner roles are ({attacker.role.value}, {defender.role.value}): pass the "
            "attacker learner first and the defender learner second"
        )
    loop = _Loop(game, attacker, defender, schedule, steps, seed)
    path = None if run_dir is None else Path(run_dir)
    if path is not None:
        (path / "snapshots").mkdir(parents=True, exist_ok=True)
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    if resume:
        if path is None:
            raise InvalidConfigError("resume=True needs run_dir")
        state = runs.load_latest_checkpoint(path / "checkpoints")
        # metrics.jsonl is flushed before each checkpoint, so it holds at least the
        # checkpoint's records; lines after them belong to the lost tail and are redone.
        records = runs.read_jsonl(path / "metrics.jsonl") if (
            path / "metrics.jsonl").is_file() else []
        if len(records) < state["n_records"]:
            raise CheckpointError(
                f"{path}/metrics.jsonl has {len(records)} records but the checkpoint needs "
                f"{state['n_records']}: the run directory is damaged; start the run again"
            )
        loop.load({**state, "records": records[:state["n_records"]]})
        runs.write_jsonl_atomic(path / "metrics.jsonl", loop.records)
        for i, snap in enumerate(loop.snapshots):
            runs.save_snapshot(path / "snapshots", i, snap)
    else:
        loop.snapshot(-1)  # the starting policies: row/column 0 of the cross-evaluation
        if path is not None:
            runs.write_jsonl_atomic(path / "metrics.jsonl", [])
            runs.save_snapshot(path / "snapshots", 0, loop.snapshots[0])
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=steps, initial=loop.step, unit="step", disable=None,
                   desc=f"{game.name}")
    out = None if path is None else open(path / "metrics.jsonl", "a", encoding="utf-8")  # noqa: SIM115
    last_ckpt = loop.step
    try:
        decision = schedule.decide(loop.step, loop.records) if loop.step < steps else None
        while loop.step < steps:
            assert decision is not None
            k = loop.chunk(decision.phase, eval_every)
            rec_a, rec_d = loop.train(decision.role, k)
            metrics = loop.evaluate()
            new = []
            for i in range(k):
                rec: dict[str, Any] = {"step": loop.step + i + 1, "phase": decision.phase,
                                       "role": decision.role}
                for prefix, recs in (("attacker/", rec_a), ("defender/", rec_d)):
                    if i < len(recs):
                        rec.update({prefix + key: v for key, v in recs[i].items()})
                if i == k - 1:
                    rec.update(metrics)
                new.append(rec)
            loop.records.extend(new)
            loop.step += k
            nxt = schedule.decide(loop.step, loop.records) if loop.step < steps else None
            phase_end = nxt is None or nxt.phase != decision.phase
            if phase_end:
                loop.snapshot(decision.phase)
                if path is not None:
                    runs.save_snapshot(path / "snapshots", len(loop.snapshots) - 1,
                                       loop.snapshots[-1])
            if out is not None:
                out.write("".join(json.dumps(r, allow_nan=False) + "\n" for r in new))
                out.flush()
                if phase_end or loop.step - last_ckpt >= checkpoint_every:
                    assert path is not None  # out is only opened inside a run directory
                    runs.save_checkpoint(path / "checkpoints", loop.step, loop.state())
                    last_ckpt = loop.step
            if bar is not None:
                bar.update(k)
                asr = metrics["asr"]
                bar.set_postfix(role=decision.role, refresh=False,
                                asr="n/a" if asr is None else f"{asr:.3f}")
            decision = nxt
    finally:
        if out is not None:
            out.close()
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
        run_dir=path,
    )


@dataclass(frozen=True)
class CrossEvaluation:
    """Attacker snapshot × defender snapshot payoffs, computed exactly (MAGIC Fig. 3).

    Attributes:
        steps_attacker, steps_defender: int ``(n,)`` the steps of the snapshots.
        asr: float ``(n_attacker, n_defender)``; value_defender: same shape.
    """

    steps_attacker: np.ndarray
    steps_defender: np.ndarray
    asr: np.ndarray
    value_defender: np.ndarray


def cross_evaluate(game: SequentialGame, snapshots: list[Snapshot]) -> CrossEvaluation:
    """Evaluate every attacker snapshot against every defender snapshot exactly."""
    from seqgame.metrics import asr_and_over_refusal, continuation

    n = len(snapshots)
    asr = np.zeros((n, n))
    value = np.zeros((n, n))
    for i, a in enumerate(snapshots):
        for j, d in enumerate(snapshots):
            profile = Profile.from_arrays(game, a.attacker, d.defender)
            asr[i, j] = asr_and_over_refusal(game, profile)[0]
            value[i, j] = float(np.dot(game.prior, continuation(game, profile).defender[0]))
    steps = np.array([s.step for s in snapshots])
    return CrossEvaluation(steps, steps.copy(), asr, value)

"""Evaluation frequency never changes training (issue 11, item 4)."""

import numpy as np
import pytest

from seqgame import load_game
from seqgame.backends.tabular.factory import build_learners
from seqgame.errors import InvalidConfigError
from seqgame.training.loop import coevolve
from seqgame.training.schedules import SCHEDULE_KINDS, ScheduleConfig

GAME_NAMES = ("disguise_mixed_v1", "example_v1")


def _run(game, algorithm, schedule, eval_every, steps=13):
    a, d = build_learners(game, {"algorithm": algorithm, "exploration": 0.1}
                          if algorithm == "grpo" else {"algorithm": algorithm},
                          {"algorithm": algorithm}, 0)
    res = coevolve(game, a, d, schedule, steps, seed=3, eval_every=eval_every)
    tables = (a.policy().probabilities(game), d.policy().probabilities(game))
    return res, tables


def _learner_stats(records):
    return [{k: v for k, v in r.items() if k.startswith(("attacker/", "defender/"))
             or k in ("step", "phase", "role")} for r in records]


@pytest.mark.parametrize("game_name", GAME_NAMES)
@pytest.mark.parametrize("algorithm", ["mwu", "grpo"])
@pytest.mark.parametrize("kind", [k for k in SCHEDULE_KINDS if k != "metric"])
def test_final_tables_do_not_depend_on_eval_every(game_name, algorithm, kind):
    game = load_game(game_name)
    attack = "explicit" if game_name == "disguise_mixed_v1" else game.attacks[0]
    schedule = ScheduleConfig(kind=kind, freq=6, attack=attack)
    res1, (a1, d1) = _run(game, algorithm, schedule, 1)
    res5, (a5, d5) = _run(game, algorithm, schedule, 5)
    assert np.array_equal(a1, a5) and np.array_equal(d1, d5)
    assert _learner_stats(res1.records) == _learner_stats(res5.records)
    np.testing.assert_array_equal(res1.average.attacker, res5.average.attacker)
    np.testing.assert_array_equal(res1.average.defender, res5.average.defender)
    # evaluated: 5 steps after the last evaluation, phase ends (every 6th step), the last
    evaluated = [r["step"] for r in res5.records if "nash_conv" in r]
    assert evaluated == [5, 6, 11, 12, 13]
    for r1 in res1.records:  # an evaluated step carries the same numbers either way
        r5 = res5.records[r1["step"] - 1]
        if "nash_conv" in r5:
            assert r5 == r1


def test_simultaneous_trains_against_the_current_opponent():
    """Before the fix, eval_every = 5 trained 5 steps against one stale snapshot."""
    game = load_game("disguise_mixed_v1")
    res = {}
    for ev in (1, 5):
        a, d = build_learners(game, {"algorithm": "mwu"}, {"algorithm": "mwu"}, 0)
        res[ev] = coevolve(game, a, d, ScheduleConfig(kind="simultaneous"), 100, seed=0,
                           eval_every=ev).records[-1]
    assert res[1]["nash_conv"] == res[5]["nash_conv"]
    assert res[1]["avg/nash_conv"] == res[5]["avg/nash_conv"]


def test_metric_schedule_requires_eval_every_one():
    game = load_game("example_v1")
    a, d = build_learners(game, {}, {}, 0)
    with pytest.raises(InvalidConfigError, match="eval_every = 5 with schedule kind 'metric'"):
        coevolve(game, a, d, ScheduleConfig(kind="metric"), 10, seed=0, eval_every=5)


def test_metric_schedule_decides_on_every_step_metric():
    """With eval_every = 1 every record carries the watched metric the schedule reads."""
    game = load_game("example_v1")
    a, d = build_learners(game, {"exploration": 0.1}, {"learning_rate": 1.0}, 0)
    schedule = ScheduleConfig(kind="metric", low=0.15, high=0.3, window=3, min_dwell=3)
    res = coevolve(game, a, d, schedule, 40, seed=0)
    assert all(r.get("asr") is not None for r in res.records)
    for i in range(1, len(res.records)):  # the recorded decisions are the schedule's
        assert schedule.decide(i, res.records[:i]).label == res.records[i]["role"]

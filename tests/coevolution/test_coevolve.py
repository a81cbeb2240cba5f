import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgame import Profile, Role, evaluate, load_game
from seqgame.backends.tabular.factory import build_learners
from seqgame.errors import InvalidConfigError
from seqgame.training.cross_eval import cross_evaluate
from seqgame.training.loop import coevolve
from seqgame.training.schedules import ScheduleConfig
from seqgame.training.table_policy import TablePolicy


@settings(max_examples=15, deadline=None)
@given(
    game_name=st.sampled_from(["example_v1", "entry_deterrence", "jailbreak_hidden_v1"]),
    algorithm=st.sampled_from(["grpo", "mwu", "fictitious_play"]),
    kind=st.sampled_from(["alternating", "simultaneous", "attacker_only", "metric"]),
    steps=st.integers(1, 12),
    freq=st.integers(1, 5),
)
def test_coevolve_invariants(game_name, algorithm, kind, steps, freq):
    game = load_game(game_name)
    a, d = build_learners(game, {"algorithm": algorithm}, {"algorithm": algorithm}, 0)
    res = coevolve(game, a, d, ScheduleConfig(kind=kind, freq=freq), steps, seed=1)
    assert [r["step"] for r in res.records] == list(range(1, steps + 1))
    phases = [r["phase"] for r in res.records]
    assert phases == sorted(phases)
    assert len(res.snapshots) == len(set(phases)) + 1  # the start and every phase end
    last = res.records[-1]
    asr = evaluate(game, res.last).asr
    assert last["asr"] is None if np.isnan(asr) else last["asr"] == pytest.approx(asr)
    # the time average (single-turn: the uniform mean of every step's tables) is a profile
    assert np.all(np.isfinite(res.average.defender))
    if kind == "attacker_only":
        np.testing.assert_allclose(res.last.defender, res.snapshots[0].defender)


def test_time_average_is_the_mean_of_iterates():
    game = load_game("example_v1")
    a, d = build_learners(game, {"algorithm": "mwu"}, {"algorithm": "mwu"}, 0)
    res = coevolve(game, a, d, ScheduleConfig(kind="simultaneous", freq=1), 4, seed=0)
    mean_def = np.mean([s.defender for s in res.snapshots[1:]], axis=0)
    np.testing.assert_allclose(res.average.defender, mean_def)


def test_cross_evaluation_matches_direct_evaluation():
    game = load_game("jailbreak_v1")
    a, d = build_learners(game, {}, {}, 0)
    res = coevolve(game, a, d, ScheduleConfig(freq=5), 10, seed=0)
    cross = cross_evaluate(game, res.snapshots)
    assert cross.asr.shape == (3, 3)
    i, j = 2, 0
    prof = Profile.from_arrays(game, res.snapshots[i].attacker, res.snapshots[j].defender)
    assert cross.asr[i, j] == pytest.approx(evaluate(game, prof).asr)
    assert cross.value_defender[i, j] == pytest.approx(evaluate(game, prof).value_defender)


def test_coevolve_rejects_swapped_learners_and_bad_steps():
    game = load_game("example_v1")
    a, d = build_learners(game, {}, {}, 0)
    with pytest.raises(InvalidConfigError, match="attacker learner first"):
        coevolve(game, d, a, ScheduleConfig(), 3, seed=0)
    with pytest.raises(InvalidConfigError, match="steps"):
        coevolve(game, a, d, ScheduleConfig(), 0, seed=0)


def test_table_policy_observation_formats():
    game = load_game("jailbreak_v1")
    n_x, n_a, _ = game.shape
    table = np.zeros((1, n_x, n_a, 2))
    table[..., 1] = 1.0
    pol = TablePolicy(Role.DEFENDER, table)
    rng = np.random.default_rng(0)
    assert np.all(pol.act(np.array([[0, 3], [5, 2]]), rng) == 1)
    assert np.all(pol.act(np.array([[0, 0, 3]]), rng) == 1)  # with a turn column
    with pytest.raises(InvalidConfigError, match="observations"):
        pol.act(np.array([1, 2]), rng)


def test_progress_bar_handles_games_without_harmful_seeds(capsys):
    game = load_game("entry_deterrence")
    a, d = build_learners(game, {}, {}, 0)
    res = coevolve(game, a, d, ScheduleConfig(freq=2), 4, seed=0, progress=True)
    assert res.records[-1]["asr"] is None

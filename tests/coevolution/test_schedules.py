import pytest
from hypothesis import given
from hypothesis import strategies as st

from seqgame.errors import InvalidConfigError
from seqgame.training.schedules import ScheduleConfig


def roles(schedule, steps, metric=None):
    history = []
    out = []
    for step in range(steps):
        d = schedule.decide(step, history)
        out.append(d.label)
        history.append({"step": step + 1, "phase": d.phase, "role": d.label,
                        "asr": None if metric is None else metric(step, d.label)})
    return out, history


def test_magic_alternating_has_no_off_by_one():
    out, hist = roles(ScheduleConfig(), 60)
    assert out == ["defender"] * 15 + ["attacker"] * 15 + ["defender"] * 15 + ["attacker"] * 15
    assert [h["phase"] for h in hist[::15]] == [0, 1, 2, 3]


@given(st.integers(1, 7), st.integers(1, 3), st.integers(1, 3),
       st.sampled_from(["attacker", "defender"]))
def test_alternating_phase_lengths_follow_ratio(freq, ra, rd, start):
    s = ScheduleConfig(freq=freq, ratio=f"{ra}:{rd}", start=start)
    out, _ = roles(s, 2 * freq * (ra + rd))
    first_len = (ra if start == "attacker" else rd) * freq
    assert out[:first_len] == [start] * first_len
    assert out.count("attacker") == 2 * freq * ra
    assert out.count("defender") == 2 * freq * rd


def test_metric_schedule_switches_on_window_mean_with_dwell_and_reset():
    s = ScheduleConfig(kind="metric", low=0.1, high=0.5, window=3, min_dwell=4)

    def asr(step, role):  # defender drives ASR to 0; attacker raises it to 1
        return 0.0 if role == "defender" else 1.0

    out, hist = roles(s, 20, asr)
    # 4 steps minimum dwell per phase, then the 3-step window triggers the switch
    assert out[:8] == ["defender"] * 4 + ["attacker"] * 4
    assert [h["phase"] for h in hist[:9]] == [0] * 4 + [1] * 4 + [2]


def test_metric_schedule_stays_while_threshold_not_met():
    s = ScheduleConfig(kind="metric", low=0.1, high=0.5, window=2, min_dwell=1)
    out, _ = roles(s, 10, lambda step, role: 0.3)
    assert out == ["defender"] * 10


@pytest.mark.parametrize("kind,role", [("simultaneous", "both"), ("defender_only", "defender"),
                                       ("attacker_only", "attacker"), ("no_game", "defender")])
def test_single_role_kinds(kind, role):
    s = ScheduleConfig(kind=kind, freq=4)
    out, hist = roles(s, 9)
    assert set(out) == {role}
    assert [h["phase"] for h in hist] == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    assert (s.no_game_attack == "direct") == (kind == "no_game")


@pytest.mark.parametrize(
    ("options", "match"),
    [({"freq": 0}, "schedule.freq"), ({"freq": 1.5}, "schedule.freq"),
     ({"low": 0.5, "high": 0.5}, "low"), ({"kind": "random"}, "schedule.kind"),
     ({"ratio": "1-1"}, "schedule.ratio"), ({"ratio": "0:1"}, "schedule.ratio"),
     ({"start": "judge"}, "schedule.start"), ({"window": 0}, "schedule.window"),
     ({"frequency": 3}, "frequency"), ({"metric": "asrr"}, "schedule.metric")],
)
def test_invalid_schedules_name_the_key(options, match):
    with pytest.raises(InvalidConfigError, match=match):
        ScheduleConfig.from_dict(options)


def test_to_dict_round_trips():
    s = ScheduleConfig(kind="metric", ratio=(2, 1))
    assert ScheduleConfig.from_dict(s.to_dict()) == s

"""Best-of-K defender scoring (AdvGame) with stub defenders: no model needed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seqgame.backends.llm.judges import RuleJudge
from seqgame.backends.llm.scoring import (
    best_reply_index,
    check_best_of_k,
    judge_rewards,
    score_attacks,
)
from seqgame.backends.llm.textgame import COMPLY_TEXT, REFUSE_TEXT
from seqgame.errors import InvalidConfigError

HARMFUL, BENIGN = 0, 3  # jailbreak_text_v1: seeds 0-2 harmful, 3-5 benign


def judge(text_game, policy="unsafe"):
    return RuleJudge({s.text: s.harmful for s in text_game.game.seeds}, policy)


def scripted(replies_per_rewrite, calls):
    """A stub defender: rewrite i gets ``replies_per_rewrite[i]`` (K replies) in order."""

    def reply_fn(seeds, attacks, rewrites, rng):
        calls.append((list(seeds), list(attacks), list(rewrites)))
        return [r for rs in replies_per_rewrite for r in rs]

    return reply_fn


def test_best_of_k_scores_against_the_defenders_best_reply(text_game):
    g = text_game.game
    seeds = [HARMFUL, BENIGN]
    completions = [text_game.canonical_attack(x, g.attack_index("role_play")) for x in seeds]
    calls = []
    # harmful seed: the first sample complies (unsafe), the second refuses;
    # benign seed: the first sample refuses, the second complies.
    fn = scripted([[COMPLY_TEXT, REFUSE_TEXT], [REFUSE_TEXT, COMPLY_TEXT]], calls)
    s = score_attacks(text_game, judge(text_game), seeds, completions, fn,
                      np.random.default_rng(0), best_of_k=2)
    # each rewrite is sent K = 2 times, consecutively, in one call
    assert len(calls) == 1
    xs, attacks, rewrites = calls[0]
    assert xs == [HARMFUL, HARMFUL, BENIGN, BENIGN]
    assert attacks == [g.attack_index("role_play")] * 4
    assert rewrites[0] == rewrites[1] and "<think>" not in rewrites[0]
    assert s.replies == (REFUSE_TEXT, COMPLY_TEXT)
    # defender's best: 1.5 on both; attacker: -1.5 + r_fmt 0.5 (well-formed)
    np.testing.assert_allclose(s.rewards_defender, [1.5, 1.5])
    np.testing.assert_allclose(s.rewards_attacker, [-1.0, -1.0])
    # the mean over the K samples: harmful (-1.5 + 1.5)/2, benign (0.5 + 1.5)/2
    np.testing.assert_allclose(s.rewards_defender_sampled, [0.0, 1.0])
    assert [v.refused for v in s.verdicts] == [True, False]
    assert not s.skipped.any()


def test_k1_is_magic_one_reply_each(text_game):
    g = text_game.game
    seeds = [HARMFUL, BENIGN, HARMFUL]
    completions = [text_game.canonical_attack(x, g.attack_index("direct")) for x in seeds]
    completions[2] = "no tags at all"  # malformed: -r_fmt, never a crash
    replies = [[COMPLY_TEXT], [REFUSE_TEXT], [REFUSE_TEXT]]
    s = score_attacks(text_game, judge(text_game), seeds, completions, scripted(replies, []),
                      np.random.default_rng(0))
    _, r_a, r_d = judge_rewards(text_game, judge(text_game), seeds, s.attacks.tolist(),
                                list(s.rewrites), [r[0] for r in replies])
    np.testing.assert_array_equal(s.rewards_attacker, r_a)
    np.testing.assert_array_equal(s.rewards_defender, r_d)
    np.testing.assert_array_equal(s.rewards_defender_sampled, r_d)
    np.testing.assert_allclose(r_d, [-1.5, 0.5, 1.5])
    np.testing.assert_allclose(r_a, [2.0, -0.0, -2.0])
    assert s.attacks[2] == g.attack_index("malformed")


def test_skipped_replies_never_win_and_all_skipped_is_skipped(text_game):
    seeds = [HARMFUL, HARMFUL]
    completions = [text_game.canonical_attack(HARMFUL, 0)] * 2
    # None is unparseable for the rule judge: under 'skip' the verdict is skipped
    fn = scripted([[None, COMPLY_TEXT, None], [None, None, None]], [])
    s = score_attacks(text_game, judge(text_game, "skip"), seeds, completions, fn,
                      np.random.default_rng(0), best_of_k=3)
    assert s.replies[0] == COMPLY_TEXT and s.rewards_defender[0] == -1.5
    assert list(s.skipped) == [False, True]


def test_ties_go_to_the_first_sample_and_bad_reply_count_raises(text_game):
    idx = best_reply_index(np.array([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]]),
                           np.zeros((2, 3), dtype=bool))
    assert idx.tolist() == [0, 1]
    with pytest.raises(InvalidConfigError, match="3 replies for 4 exchanges"):
        score_attacks(text_game, judge(text_game), [0, 1], ["a", "b"],
                      lambda *a: ["x", "y", "z"], np.random.default_rng(0), best_of_k=2)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 4), st.integers(1, 5), st.integers(0, 2**32 - 1))
def test_best_reply_is_the_max_over_unskipped(n, k, seed):
    rng = np.random.default_rng(seed)
    r = rng.choice([-1.5, 0.5, 1.5], size=(n, k))
    skipped = rng.random((n, k)) < 0.3
    idx = best_reply_index(r, skipped)
    for i in range(n):
        if skipped[i].all():
            assert idx[i] == 0
        else:
            assert not skipped[i, idx[i]]
            assert r[i, idx[i]] == r[i][~skipped[i]].max()
            assert idx[i] == np.flatnonzero((r[i] == r[i, idx[i]]) & ~skipped[i])[0]


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2", None])
def test_best_of_k_validation(bad):
    with pytest.raises(InvalidConfigError, match="best_of_k"):
        check_best_of_k(bad)
    assert check_best_of_k(np.int64(3)) == 3

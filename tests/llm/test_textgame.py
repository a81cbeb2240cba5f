import numpy as np
import pytest

from seqgame.backends.llm.textgame import TextGame, is_refusal, text_game
from seqgame.errors import InvalidConfigError
from seqgame.games import BUILTIN_GAMES, builtin_game
from seqgame.solvers.concepts import solve

TG = text_game()


def test_registered_and_solvable_twin():
    assert "jailbreak_text_v1" in BUILTIN_GAMES
    sol = solve(builtin_game("jailbreak_text_v1"), "spne")
    d = sol.profile.defender[0]  # (X, A, D)
    g = TG.game
    refuse = g.response_index("refuse")
    assert np.all(d[g.harmful, :, refuse] == 1.0)
    assert np.all(d[~g.harmful, :, refuse] == 0.0)
    assert sol.to_json()["asr"] == pytest.approx(0.0)


def test_canonical_attacks_classify_back():
    g = TG.game
    for x in range(len(g.seeds)):
        for a in range(len(g.attacks)):
            idx, rewrite = TG.classify_attack(TG.canonical_attack(x, a))
            assert idx == a
            assert "<think>" not in rewrite and TG.seed_texts[x] in rewrite


def test_defender_prompt_shows_seed_and_rewrite_not_think():
    msgs = TG.defender_messages(0, TG.classify_attack(TG.canonical_attack(0, 1))[1])
    assert TG.seed_texts[0] in msgs[-1]["content"] and "role play" not in msgs[-1]["content"]


def test_refusal_rule():
    assert is_refusal("Sorry, no") and is_refusal(" cannot do") and not is_refusal("sure thing")
    # issue 13: refusal openings are word-bounded ("Sorryyy not sorry: step 1" complies)
    assert not is_refusal("sorryy")
    assert not is_refusal("sure, sorry")  # a refusal opens the reply


def test_non_text_game_and_bad_source_rejected():
    with pytest.raises(InvalidConfigError, match="no 'text'"):
        TextGame(builtin_game("jailbreak_v1"))
    with pytest.raises(InvalidConfigError, match="request_label_source"):
        text_game(request_label_source="judge")

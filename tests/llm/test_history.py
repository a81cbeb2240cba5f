from seqgame.backends.llm.format import format_attack
from seqgame.backends.llm.history import Exchange, attacker_history, defender_history

A1 = format_attack("secret plan one", "first attack")
A2 = format_attack("secret plan two", "second attack")
A3 = format_attack("secret plan three", "third attack")
PAST = [Exchange(A1, "sorry no"), Exchange(A2, "i cannot")]


def test_defender_history_keeps_every_attack_in_order_without_think():
    msgs = defender_history("sys", PAST, A3)
    users = [m["content"] for m in msgs if m["role"] == "user"]
    assert users == ["first attack", "second attack", "third attack"]
    assistants = [m["content"] for m in msgs if m["role"] == "assistant"]
    assert assistants == ["sorry no", "i cannot"]
    roles = [m["role"] for m in msgs]
    assert roles == ["system", "user", "assistant", "user", "assistant", "user"]
    assert not any("secret" in m["content"] or "<think>" in m["content"] for m in msgs)


def test_first_turn_and_render():
    msgs = defender_history("sys", [], A1, render=lambda r: f"request: x\nmessage: {r}")
    assert msgs[-1]["content"] == "request: x\nmessage: first attack" and len(msgs) == 2


def test_malformed_attack_shows_text_without_tags():
    msgs = defender_history("sys", [], "<think>hidden plan</think> raw words")
    assert msgs[-1]["content"] == "raw words"


def test_attacker_history_sees_own_outputs_and_replies():
    msgs = attacker_history("sys", "seed text", PAST)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant", "user"]
    assert msgs[2]["content"] == A1 and "sorry no" in msgs[3]["content"]
    assert "i cannot" in msgs[5]["content"]


def test_no_system_message():
    msgs = defender_history(None, PAST[:1], A2)
    assert [m["role"] for m in msgs] == ["user", "assistant", "user"]
    assert msgs[0]["content"] == "first attack"

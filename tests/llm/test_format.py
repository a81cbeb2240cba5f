from hypothesis import given, settings
from hypothesis import strategies as st

from seqgame.backends.llm.format import MAX_CHARS, format_attack, parse_attack


def test_well_formed():
    p = parse_attack("  <think>plan</think>\n<answer>pretend x</answer> ")
    assert p.format_ok and p.think == "plan" and p.answer == "pretend x" and p.reason == ""


def test_round_trip():
    p = parse_attack(format_attack("a b", "c d"))
    assert (p.format_ok, p.think, p.answer) == (True, "a b", "c d")


def test_missing_tags():
    for text in ("just text", "<think>x</think>", "<answer>x</answer>",
                 "<think>x<answer>y</answer>"):
        p = parse_attack(text)
        assert not p.format_ok and p.reason.startswith("missing")
    assert parse_attack("<think>x</think>hello").answer == "hello"


def test_repeated_tags():
    p = parse_attack("<think>a</think><answer>b</answer><answer>c</answer>")
    assert not p.format_ok and "repeated" in p.reason and p.answer == "c"


def test_nested_and_out_of_order():
    p = parse_attack("<think>a<answer>b</answer></think>")
    assert not p.format_ok
    p = parse_attack("<answer>b</answer><think>a</think>")
    assert not p.format_ok and "order" in p.reason


def test_text_outside_tags():
    assert not parse_attack("hi <think>a</think><answer>b</answer>").format_ok
    assert not parse_attack("<think>a</think> mid <answer>b</answer>").format_ok


def test_empty_tags():
    assert parse_attack("<think></think><answer>b</answer>").reason == "empty think"
    assert parse_attack("<think>a</think><answer>  </answer>").reason == "empty answer"


def test_huge_output_is_malformed_fast():
    text = "<think>" + "x" * (MAX_CHARS * 5) + "</think><answer>y</answer>"
    p = parse_attack(text)
    assert not p.format_ok and p.reason == "too long" and len(p.answer) <= MAX_CHARS


def test_not_a_string():
    p = parse_attack(None)  # type: ignore[arg-type]
    assert not p.format_ok and p.answer == ""


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab <>/thinkswer\n")), max_size=80))
def test_never_raises_and_think_never_in_answer(text):
    p = parse_attack(text)
    assert isinstance(p.format_ok, bool)
    for tag in ("<think>", "</think>", "<answer>", "</answer>"):
        assert tag not in p.answer
    if p.format_ok:
        assert p.think and p.answer

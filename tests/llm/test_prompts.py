"""Prompt templates as configuration: built-in sets, files, inline mappings, errors."""

import json

import pytest

from seqgame.backends.llm.history import Exchange
from seqgame.backends.llm.prompts import (
    MAGIC,
    TOY,
    PromptTemplates,
    load_prompts,
    shared_prompts,
)
from seqgame.backends.llm.textgame import TextGame, text_game
from seqgame.errors import InvalidConfigError
from seqgame.games import builtin_game

ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_builtin_sets_by_name_and_default():
    assert load_prompts("toy") is TOY and load_prompts("magic") is MAGIC
    assert load_prompts(None) is None
    assert text_game().prompts is TOY  # jailbreak_text_v1 keeps its tuned strings


def test_label_and_turn_specific_attacker_prompts():
    tg = text_game(prompts="magic")
    harmful, benign = 0, 3
    assert tg.game.harmful[harmful] and not tg.game.harmful[benign]
    h, b = tg.attacker_messages(harmful)[1]["content"], tg.attacker_messages(benign)[1]["content"]
    assert tg.seed_texts[harmful] in h and tg.seed_texts[benign] in b and h != b.replace(
        tg.seed_texts[benign], tg.seed_texts[harmful])
    past = (Exchange("<think>a</think><answer>b</answer>", "sorry, no"),
            Exchange("<think>c</think><answer>d</answer>", "i cannot"))
    msgs = tg.attacker_turn_messages(harmful, past)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "assistant",
                                         "user"]
    assert "sorry, no" in msgs[3]["content"] and "attempt 2" in msgs[3]["content"]
    assert "i cannot" in msgs[5]["content"] and "attempt 3" in msgs[5]["content"]
    assert msgs[:2] == tg.attacker_messages(harmful)


def test_defender_templates_per_observation():
    full = text_game(prompts="magic")
    attack = TextGame(builtin_game("jailbreak_text_v1").replace(
        observation=__import__("seqgame").model.game.Observation.ATTACK), prompts=MAGIC)
    seed = full.seed_texts[0]
    assert full.defender_user_text(0, "rw") == f"Original request:\n{seed}\n\nQuestion:\nrw"
    assert attack.defender_user_text(0, "rw") == "Question:\nrw"
    with_system = TextGame(full.game, prompts=load_prompts(
        {"base": "magic", "defender_system": "be safe"}))
    assert with_system.defender_messages(0, "rw")[0] == {"role": "system",
                                                          "content": "be safe"}
    turn = with_system.defender_turn_messages(0, [Exchange("<think>t</think><answer>r0"
                                                           "</answer>", "ok")], "x")
    assert turn[0]["role"] == "system" and "<think>" not in json.dumps(turn)


def test_files_and_inline_mappings(tmp_path):
    example = load_prompts(str(ROOT / "experiments/configs/prompts_magic_example.yaml"))
    assert isinstance(example, PromptTemplates) and "{rewrite}" in example.defender_attack
    path = tmp_path / "p.json"
    data = {k: getattr(TOY, k) for k in ("attacker_system", "attacker_harmful",
                                         "attacker_benign", "attacker_followup_harmful",
                                         "attacker_followup_benign", "defender_attack",
                                         "defender_full")}
    path.write_text(json.dumps({**data, "attacker_harmful": "HARM {seed}"}))
    loaded = load_prompts(str(path))
    assert loaded.attacker_first("x", True) == "HARM x" and loaded.defender_system is None
    over = load_prompts({"base": "toy", "defender_attack": "Q: {rewrite} {{literal}}"})
    assert over.defender_user("", "r", full=False) == "Q: r {literal}"
    assert over.attacker_system == TOY.attacker_system and over.name == "toy+custom"


@pytest.mark.parametrize("data, match", [
    ({"base": "toy", "attacker_harmful": "{seed} {sede}"}, r"attacker_harmful: unknown .*sede"),
    ({"base": "toy", "defender_full": "{rewrite}"}, r"defender_full: missing .*\{seed\}"),
    ({"base": "toy", "defender_attack": "{seed} {rewrite}"}, "sees only the rewrite"),
    ({"base": "toy", "attacker_benign": "{seed!r}"}, "not a plain name"),
    ({"base": "toy", "attacker_system": "a } b"}, "literal braces"),
    ({"base": "nope"}, r"base = 'nope'"),
    ({"attacker_system": "x"}, "missing template"),
    ({"base": "toy", "colour": "x"}, "unknown option prompts.colour"),
    ("no_such_set", "not a built-in set"),
    (3, "use toy, magic"),
])
def test_bad_templates_are_one_line_errors(data, match):
    with pytest.raises(InvalidConfigError, match=match) as err:
        load_prompts(data)
    assert "\n" not in str(err.value)


def test_one_set_per_run():
    a, d = shared_prompts({"prompts": "magic"}, {})
    assert a["prompts"] is MAGIC and d["prompts"] is MAGIC
    assert shared_prompts({}, {}) == ({}, {})
    with pytest.raises(InvalidConfigError, match="differ"):
        shared_prompts({"prompts": "magic"}, {"prompts": "toy"})


def test_run_templates_reach_both_learners_and_the_sft_pool(tiny_dir, tmp_path):
    pytest.importorskip("trl", reason="needs trl (pip install 'seqgame[llm]')")
    from seqgame.backends.llm.factory import build_learners
    from seqgame.backends.llm.sft import pool_dataset, read_attack_pool, write_attack_pool

    grpo = {"prompts_per_step": 2, "num_generations": 2, "max_completion_length": 4}
    custom = {"base": "magic", "attacker_harmful": "H: {seed}", "attacker_benign": "B: {seed}"}
    att, dfd = build_learners(builtin_game("jailbreak_text_v1"),
                              {"model": str(tiny_dir), "grpo": grpo, "prompts": custom},
                              {"model": str(tiny_dir), "grpo": grpo}, 0)
    for learner in (att, dfd):
        assert learner.text_game.templates.attacker_harmful == "H: {seed}"
    assert att.policy().messages(0)[1]["content"] == f"H: {att.text_game.seed_texts[0]}"
    assert dfd.policy().messages((0, "rw"))[-1]["content"].endswith("Question:\nrw")
    tg = att.text_game
    rows = read_attack_pool(write_attack_pool(tg, tmp_path / "pool.jsonl"))
    data = pool_dataset(rows + [{**rows[0], "seed": "not a game seed"}], text_game=tg)
    users = [p[1]["content"] for p in data["prompt"]]
    assert users[0] == f"H: {tg.seed_texts[0]}" and users[-1] == "H: not a game seed"
    assert f"B: {tg.seed_texts[3]}" in users
    assert data["prompt"][0][0]["content"] == MAGIC.attacker_system
    with pytest.raises(InvalidConfigError, match="differ"):
        build_learners(builtin_game("jailbreak_text_v1"), {"prompts": "magic"},
                       {"prompts": "toy"}, 0)

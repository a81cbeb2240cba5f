"""A corpus of malformed game specs and run configs, generated at test time.

``spec_cases()`` and ``config_cases()`` return :class:`Case` objects: file bytes, a suffix,
extra command-line arguments, and whether seqgame must refuse the file (``expect="error"``,
optionally with a ``fragment`` the one-line message must contain) or accept it
(``expect="ok"``, controls that keep the corpus honest). :func:`run_case` writes a case into
a folder, runs it through ``seqgame.cli.main`` in-process with a wall-clock alarm and
classifies the outcome as ``clean`` (exit 2, exactly one ``seqgame: error:`` line on
stderr), ``accepted`` (exit 0), ``traceback`` (any escaping exception or other output) or
``hang`` (the alarm fired).

Run ``python -m tests.core.corpus`` for the counts (each case in a child process with a
4 GiB address-space limit, so that the size bombs cannot exhaust the machine's memory).
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

Spec = dict[str, Any]


@dataclass(frozen=True)
class Case:
    """One corpus file (see the module docstring)."""

    name: str
    command: str  # "solve" or "train"
    content: bytes
    suffix: str = ".yaml"
    expect: str = "error"  # "error" or "ok"
    fragment: str | None = None
    extra: tuple[str, ...] = ()  # "{dir}" is replaced by the case's folder


def base_spec() -> Spec:
    """A small valid spec (two seeds, three attacks, two responses)."""
    return {
        "seqgame": 1, "name": "corpus_v1",
        "seeds": [{"id": "s1", "label": "harmful", "prior": 0.6},
                  {"id": "s2", "label": "benign", "prior": 0.4}],
        "attacks": ["direct", "role_play", "caesar"],
        "responses": ["refuse", "comply"],
        "refusals": ["refuse"],
        "observation": "full",
        "unsafe": {"s1": {"direct": {"comply": 1.0}, "role_play": {"comply": 0.7}}},
        "rewards": {"r_harm": 1.0, "r_ref": 0.5, "r_fmt": 0.5},
        "malformed": [],
        "allowed": {"s2": ["direct", "role_play"]},
        "attacker_bonus": {"s1": {"caesar": -0.5}},
        "turns": 1,
    }


def base_config() -> Spec:
    """A small valid run config (two tabular steps on ``example_v1``)."""
    return {"name": "corpus", "game": "example_v1", "backend": "tabular", "seed": 0,
            "steps": 2, "checkpoint_every": 1, "plot": False,
            "attacker": {"exploration": 0.1}, "defender": {"learning_rate": 0.5},
            "schedule": {"freq": 1}}


def _yaml(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False).encode()


def _json(data: Any) -> bytes:
    return json.dumps(data).encode()


def _with(base: Spec, path: str, value: Any) -> Spec:
    """A deep copy of ``base`` with ``path`` (dotted; ``-`` deletes) set to ``value``."""
    data = json.loads(json.dumps(base))
    node = data
    *parents, last = path.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is _DELETE:
        del node[last]
    elif isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return data


_DELETE = object()


def _text_edit(base: Spec, key: str, raw: str) -> bytes:
    """YAML text of ``base`` with the top-level ``key`` written as the raw text ``raw``."""
    data = dict(base)
    data.pop(key, None)
    return _yaml(data) + f"{key}: {raw}\n".encode()


def _seed_line(raw_prior: str) -> bytes:
    spec = base_spec()
    spec.pop("seeds")
    return _yaml(spec) + (
        f"seeds:\n- {{id: s1, label: harmful, prior: {raw_prior}}}\n"
        "- {id: s2, label: benign, prior: 0.4}\n").encode()


def _alias_bomb(levels: int, width: int = 9) -> str:
    lines = ['a0: &a0 ["lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines)


def _encoding_cases(command: str, valid: bytes) -> list[Case]:
    text = valid.decode()
    p = command[:2]
    return [
        Case(f"{p}_utf16le", command, text.encode("utf-16"), fragment="UTF-8"),
        Case(f"{p}_utf16be", command, b"\xfe\xff" + text.encode("utf-16-be"), fragment="UTF-8"),
        Case(f"{p}_utf32", command, text.encode("utf-32"), fragment="UTF-8"),
        Case(f"{p}_latin1", command, valid.replace(b"corpus", "corpus\xe9".encode("latin-1")),
             fragment="UTF-8"),
        Case(f"{p}_binary", command, bytes(range(256)) * 4, fragment="UTF-8"),
        Case(f"{p}_nul_bytes", command, valid[:20] + b"\x00" + valid[20:]),
        Case(f"{p}_empty", command, b""),
        Case(f"{p}_whitespace", command, b"   \n\n\t\n"),
        Case(f"{p}_comment_only", command, b"# nothing here\n"),
        Case(f"{p}_bom_ok", command, b"\xef\xbb\xbf" + valid, expect="ok"),
        Case(f"{p}_two_documents", command, valid + b"---\n" + valid),
        Case(f"{p}_top_list", command, b"- 1\n- 2\n"),
        Case(f"{p}_top_scalar", command, b"hello\n"),
        Case(f"{p}_tab_indent", command, b"seqgame: 1\nseeds:\n\t- x\n"),
        Case(f"{p}_unclosed", command, b"seqgame: [1, 2\n"),
    ]


def _structure_cases(command: str, valid: bytes, top_key: str) -> list[Case]:
    """Nesting, aliases, tags and duplicate keys around a valid document."""
    p = command[:2]
    depth = 100_000
    return [
        Case(f"{p}_deep_yaml_list", command, b"[" * depth + b"]" * depth),
        Case(f"{p}_deep_yaml_map", command, b"{a: " * depth + b"1" + b"}" * depth),
        Case(f"{p}_deep_json_list", command, b"[" * depth + b"]" * depth, suffix=".json"),
        Case(f"{p}_deep_json_map", command, b'{"a": ' * depth + b"1" + b"}" * depth,
             suffix=".json"),
        Case(f"{p}_deep_in_key", command,
             valid + f"{top_key}_x: ".encode() + b"[" * 5000 + b"]" * 5000 + b"\n"),
        Case(f"{p}_block_deep", command,
             b"".join(b"  " * i + b"k:\n" for i in range(3000)) + b"  " * 3000 + b"v\n"),
        Case(f"{p}_alias_bomb", command, (_alias_bomb(10) + "\n").encode(),
             fragment="aliases"),
        Case(f"{p}_alias_bomb_small", command,
             valid + b"x_bomb: " + b"\n" + (_alias_bomb(7) + "\n").encode()),
        Case(f"{p}_alias_recursive", command, valid + b"loop: &l [*l]\n"),
        Case(f"{p}_alias_recursive_map", command, valid + b"loop2: &m {k: *m}\n"),
        Case(f"{p}_undefined_alias", command, valid + b"x: *nothing\n"),
        Case(f"{p}_binary_tag", command, valid + b"blob: !!binary aGVsbG8=\n",
             fragment="binary"),
        Case(f"{p}_python_tag", command,
             valid + b"x: !!python/object/apply:os.system ['touch {dir}/pwned']\n"),
        Case(f"{p}_python_name", command, valid + b"x: !!python/name:os.system\n"),
        Case(f"{p}_custom_tag", command, valid + b"x: !mytag 3\n"),
        Case(f"{p}_set_tag", command, valid + b"x: !!set {a, b}\n"),
        Case(f"{p}_dup_top_yaml", command, valid + f"{top_key}: 3\n".encode(),
             fragment="duplicate"),
        Case(f"{p}_dup_top_json", command,
             valid_json(command)[:-1] + f', "{top_key}": 3}}'.encode(), suffix=".json",
             fragment="duplicate"),
        Case(f"{p}_merge_override", command,
             b"base: &b {x: 1}\nother:\n  <<: *b\n  x: 2\n" + valid),
        Case(f"{p}_list_key", command, b"? [a, b]\n: 1\n" + valid),
        Case(f"{p}_huge_int_digits", command, valid + b"big: " + b"9" * 5000 + b"\n"),
    ]


def valid_json(command: str) -> bytes:
    """The valid document of ``command`` as JSON."""
    return _json(base_spec() if command == "solve" else base_config())


def _spec_type_cases() -> list[Case]:
    s = base_spec()
    edits: list[tuple[str, str, Any, str | None]] = [
        ("version_str", "seqgame", "1", "version"), ("version_true", "seqgame", True, "version"),
        ("version_2", "seqgame", 2, "version"), ("name_int", "name", 5, "name"),
        ("name_empty", "name", "", "name"), ("seeds_map", "seeds", {}, "seeds"),
        ("seeds_str", "seeds", "s1", "seeds"), ("seeds_ints", "seeds", [1, 2], "seeds[0]"),
        ("seeds_empty", "seeds", [], "seeds"), ("seed_id_int", "seeds.0.id", 3, "id"),
        ("seed_label_evil", "seeds.0.label", "evil", "label"),
        ("seed_label_bool", "seeds.0.label", True, "label"),
        ("seed_prior_str", "seeds.0.prior", "0.6", "prior"),
        ("seed_prior_neg", "seeds.0.prior", -0.1, "prior"),
        ("seed_prior_big", "seeds.0.prior", 1.5, "prior"),
        ("seed_prior_null", "seeds.0.prior", None, "prior"),
        ("seed_text_int", "seeds.0.text", 5, "text"),
        ("seed_unknown_key", "seeds.0.weight", 1, "weight"),
        ("seed_missing_label", "seeds.0.label", _DELETE, "label"),
        ("attacks_str", "attacks", "direct", "attacks"),
        ("attacks_ints", "attacks", [1, 2], "attacks[0]"),
        ("attacks_empty", "attacks", [], "attacks"),
        ("attacks_slash", "attacks", ["a/b", "c"], "a/b"),
        ("responses_map", "responses", {"refuse": 1}, "responses"),
        ("refusals_str", "refusals", "refuse", "refusals"),
        ("refusals_false", "refusals", False, "refusals"),
        ("refusals_unknown", "refusals", ["maybe"], "maybe"),
        ("unsafe_list", "unsafe", [], "unsafe"), ("unsafe_false", "unsafe", False, "unsafe"),
        ("unsafe_zero", "unsafe", 0, "unsafe"), ("unsafe_str", "unsafe", "x", "unsafe"),
        ("unsafe_leaf_2", "unsafe.s1.direct.comply", 2.0, "probability"),
        ("unsafe_leaf_str", "unsafe.s1.direct.comply", "0.5", "number"),
        ("unsafe_seed_unknown", "unsafe.s9", {"direct": {"comply": 1}}, "s9"),
        ("unsafe_attack_unknown", "unsafe.s1.jump", {"comply": 1}, "jump"),
        ("unsafe_response_unknown", "unsafe.s1.direct.shrug", 1, "shrug"),
        ("unsafe_attack_list", "unsafe.s1.direct", [1], "unsafe.s1.direct"),
        ("allowed_list", "allowed", [], "allowed"),
        ("allowed_false", "allowed", False, "allowed"),
        ("allowed_names_str", "allowed.s2", "direct", "allowed.s2"),
        ("allowed_names_empty", "allowed.s2", [], "allowed.s2"),
        ("allowed_attack_unknown", "allowed.s2", ["fly"], "fly"),
        ("malformed_str", "malformed", "caesar", "malformed"),
        ("malformed_false", "malformed", False, "malformed"),
        ("malformed_map", "malformed", {}, "malformed"),
        ("bonus_list", "attacker_bonus", [], "attacker_bonus"),
        ("bonus_false", "attacker_bonus", False, "attacker_bonus"),
        ("rewards_list", "rewards", [], "rewards"),
        ("rewards_false", "rewards", False, "rewards"),
        ("reward_str", "rewards.r_harm", "1", "r_harm"),
        ("reward_neg", "rewards.r_harm", -1, "r_harm"),
        ("reward_unknown", "rewards.r_fun", 1, "r_fun"),
        ("turns_zero", "turns", 0, "turns"), ("turns_float", "turns", 1.5, "turns"),
        ("turns_str", "turns", "2", "turns"), ("turns_bool", "turns", True, "turns"),
        ("turns_null", "turns", None, "turns"),
        ("discount_zero", "discount", 0, "discount"),
        ("discount_str", "discount", "1", "discount"),
        ("accrual_max", "accrual", "max", "accrual"),
        ("observation_partial", "observation", "partial", "observation"),
        ("observation_null", "observation", None, "observation"),
        ("features_list", "features", [], "features"),
        ("features_false", "features", False, "features"),
        ("description_int", "description", 5, "description"),
        ("unknown_top_key", "colour", "blue", "colour"),
        ("missing_version", "seqgame", _DELETE, "seqgame"),
        ("missing_refusals", "refusals", _DELETE, "refusals"),
        ("both_payoffs", "payoffs", {"attacker": {}, "defender": {}}, "either"),
        ("dup_seed_id", "seeds.1.id", "s1", "duplicate"),
        ("dup_attack", "attacks", ["direct", "direct", "caesar"], "duplicate"),
    ]
    return [Case(f"sp_{name}", "solve", _yaml(_with(s, path, value)), fragment=frag)
            for name, path, value, frag in edits]


def _payoff_spec(value: float) -> Spec:
    s = base_spec()
    s.pop("rewards")
    s["payoffs"] = {"attacker": {"s1": {"direct": {"comply": value, "refuse": value}}},
                    "defender": {"s1": {"direct": {"comply": -value}}}}
    return s


def _sized_spec(n_x: int, n_a: int, n_d: int, turns: int = 1) -> Spec:
    return {"seqgame": 1, "name": "sized_v1",
            "seeds": [{"id": f"x{i}", "label": "harmful" if i % 2 else "benign",
                       "prior": 1.0 / n_x} for i in range(n_x)],
            "attacks": [f"a{i}" for i in range(n_a)],
            "responses": [f"d{i}" for i in range(n_d)],
            "refusals": ["d0"], "turns": turns}


def _spec_size_cases() -> list[Case]:
    s = base_spec()
    return [
        Case("sp_yaml_trap_6e-1", "solve", _seed_line("6e-1"), fragment="0.6"),
        Case("sp_yaml_trap_1e0", "solve", _seed_line("1e0"), fragment="1.0"),
        Case("sp_yaml_trap_percent", "solve", _seed_line("60%"), fragment="prior"),
        Case("sp_yaml_trap_hex", "solve", _seed_line("0x1"), fragment="prior"),
        Case("sp_yaml_trap_refusals_no", "solve",
             _text_edit({**s, "responses": ["yes", "no"]}, "refusals", "[no]"),
             fragment="'no'"),
        Case("sp_yaml_trap_attacks_on", "solve", _text_edit(s, "attacks", "[on, off]"),
             fragment="'on'"),
        Case("sp_yaml_trap_seed_id_no", "solve",
             _text_edit(s, "seeds", "[{id: no, label: harmful, prior: 1}]"), fragment="'no'"),
        Case("sp_yaml_date_id_ok", "solve",
             _text_edit({k: v for k, v in s.items()
                         if k not in ("unsafe", "allowed", "attacker_bonus")},
                        "seeds", "[{id: 2024-01-01, label: harmful, prior: 1}]"),
             expect="ok"),
        Case("sp_yaml_trap_name_float", "solve", _text_edit(s, "name", "1.0"), fragment="name"),
        Case("sp_prior_huge_int", "solve", _seed_line("9" * 400), fragment="prior"),
        Case("sp_prior_inf", "solve", _seed_line(".inf"), fragment="finite"),
        Case("sp_prior_nan", "solve", _seed_line(".nan"), fragment="finite"),
        Case("sp_prior_1e400", "solve", _seed_line("1.0e+400"), fragment="finite"),
        Case("sp_payoff_big_int", "solve", _yaml(_payoff_spec(2 ** 1100)), fragment="payoffs"),
        Case("sp_payoff_digits", "solve",
             _yaml(_payoff_spec(1.0)).replace(b"1.0", b"9" * 5000, 1), fragment="digits"),
        Case("sp_payoff_1e308", "solve", _yaml(_payoff_spec(1e308)), fragment="payoff"),
        Case("sp_payoff_1e6_ok", "solve", _yaml(_payoff_spec(1e6)), expect="ok"),
        Case("sp_bonus_overflow", "solve",
             _yaml(_with(_with(s, "attacker_bonus.s1.caesar", 1e308), "rewards.r_fmt", 1e308)),
             fragment="overflow"),
        Case("sp_rewards_overflow", "solve",
             _yaml(_with(_with(s, "rewards.r_harm", 1.7e308), "rewards.r_ref", 1.7e308)),
             fragment="overflow"),
        Case("sp_size_1000_cubed", "solve", _yaml(_sized_spec(1000, 1000, 1000)),
             fragment="too large"),
        Case("sp_size_turns_1e9", "solve", _yaml({**_sized_spec(2, 3, 2), "turns": 10 ** 9}),
             fragment="too large"),
        Case("sp_size_turns_profile", "solve", _yaml(_sized_spec(200, 200, 200, turns=50)),
             fragment="too large"),
        Case("sp_size_many_seeds_ok", "solve", _json(_sized_spec(20_000, 2, 2)),
             suffix=".json", expect="ok"),
        Case("sp_long_name_ok", "solve", _yaml(_with(s, "name", "n" * 100_000)), expect="ok"),
        Case("sp_directory", "solve", b"", suffix="/", fragment="directory"),
        Case("sp_dup_unsafe_key", "solve", _yaml(s).replace(
            b"    direct:\n      comply: 1.0\n",
            b"    direct:\n      comply: 1.0\n      comply: 0.0\n"), fragment="duplicate"),
        Case("sp_valid_ok", "solve", _yaml(s), expect="ok"),
        Case("sp_valid_json_ok", "solve", _json(s), suffix=".json", expect="ok"),
    ]


def spec_cases() -> list[Case]:
    """Malformed (and a few valid) game spec files for ``seqgame solve FILE``."""
    valid = _yaml(base_spec())
    return [*_encoding_cases("solve", valid), *_structure_cases("solve", valid, "name"),
            *_spec_type_cases(), *_spec_size_cases()]


def _config_type_cases() -> list[Case]:
    c = base_config()
    edits: list[tuple[str, str, Any, str | None]] = [
        ("steps_str", "steps", "10", "steps"), ("steps_bool", "steps", True, "steps"),
        ("steps_float", "steps", 2.0, "steps"), ("steps_zero", "steps", 0, "steps"),
        ("steps_neg", "steps", -5, "steps"), ("steps_null", "steps", None, "steps"),
        ("steps_list", "steps", [2], "steps"),
        ("seed_neg", "seed", -1, "seed"), ("seed_str", "seed", "0", "seed"),
        ("seed_float", "seed", 0.5, "seed"),
        ("plot_str", "plot", "false", "plot"), ("plot_int", "plot", 1, "plot"),
        ("name_int", "name", 5, "name"), ("name_empty", "name", "", "name"),
        ("name_slash", "name", "a/b", "name"), ("name_dots", "name", "..", "name"),
        ("game_int", "game", 5, "game"), ("game_empty", "game", "", "game"),
        ("game_unknown", "game", "no_such_game", "no_such_game"),
        ("game_list", "game", ["example_v1"], "game"),
        ("backend_int", "backend", 3, "backend"), ("backend_jax", "backend", "jax", "backend"),
        ("attacker_list", "attacker", [], "attacker"),
        ("attacker_str", "attacker", "grpo", "attacker"),
        ("defender_null", "defender", None, "defender"),
        ("schedule_list", "schedule", [], "schedule"),
        ("schedule_freq_zero", "schedule.freq", 0, "freq"),
        ("schedule_freq_str", "schedule.freq", "3", "freq"),
        ("schedule_kind_bad", "schedule.kind", "random", "kind"),
        ("schedule_unknown", "schedule.speed", 3, "speed"),
        ("eval_every_zero", "eval_every", 0, "eval_every"),
        ("checkpoint_every_str", "checkpoint_every", "5", "checkpoint_every"),
        ("unknown_top", "stepz", 3, "stepz"),
        ("attacker_unknown_option", "attacker.temperature", 1.0, "temperature"),
        ("attacker_lr_str", "attacker.learning_rate", "0.5", "learning_rate"),
        ("attacker_lr_neg", "attacker.learning_rate", -1.0, "learning_rate"),
        ("attacker_lr_zero", "attacker.learning_rate", 0.0, "learning_rate"),
        ("attacker_epsilon_neg", "attacker.epsilon", -1.0, "epsilon"),
        ("attacker_epsilon_big", "attacker.epsilon", 2.0, "epsilon"),
        ("attacker_beta_neg", "attacker.beta", -0.1, "beta"),
        ("attacker_beta_str", "attacker.beta", "0", "beta"),
        ("attacker_g_one", "attacker.num_generations", 1, "num_generations"),
        ("attacker_g_float", "attacker.num_generations", 4.0, "num_generations"),
        ("attacker_exploration_big", "attacker.exploration", 1.5, "exploration"),
        ("attacker_optimistic_str", "attacker.optimistic", "false", "optimistic"),
        ("attacker_algorithm_bad", "attacker.algorithm", "ppo", "ppo"),
        ("attacker_scale_bad", "attacker.scale_rewards", "maybe", "scale_rewards"),
        ("attacker_init_attack_bad", "attacker.init_attack", "fly", "fly"),
        ("defender_lr_inf", "defender.learning_rate", float("inf"), "learning_rate"),
        ("defender_lr_nan", "defender.learning_rate", float("nan"), "learning_rate"),
    ]
    return [Case(f"cf_{name}", "train", _yaml(_with(c, path, value)), fragment=frag,
                 extra=("--out", "{dir}/run")) for name, path, value, frag in edits]


def _config_text_cases() -> list[Case]:
    c = base_config()
    out = ("--out", "{dir}/run")

    def raw(key: str, text: str) -> bytes:
        return _text_edit(c, key, text)

    return [
        Case("cf_trap_steps_1e3", "train", raw("steps", "1e3"), fragment="steps", extra=out),
        Case("cf_trap_lr_5e-1", "train", raw("defender", "{learning_rate: 5e-1}"),
             fragment="0.5", extra=out),
        Case("cf_trap_name_no", "train", raw("name", "no"), fragment="name", extra=out),
        Case("cf_trap_plot_no_ok", "train", raw("plot", "no"), expect="ok", extra=out),
        Case("cf_trap_game_null", "train", raw("game", "null"), fragment="game", extra=out),
        Case("cf_date_seed", "train", raw("seed", "2024-01-01"), fragment="seed", extra=out),
        Case("cf_date_name_ok", "train", raw("name", "2024-01-01"), expect="ok", extra=out),
        Case("cf_steps_huge_int", "train", raw("steps", "9" * 5000), fragment="steps",
             extra=out),
        Case("cf_steps_1e400", "train", raw("steps", "1.0e+400"), fragment="steps", extra=out),
        Case("cf_seed_2_70_ok", "train", raw("seed", str(2 ** 70)), expect="ok", extra=out),
        Case("cf_dup_nested", "train",
             _yaml({k: v for k, v in c.items() if k != "schedule"})
             + b"schedule:\n  freq: 1\n  freq: 2\n", fragment="duplicate", extra=out),
        Case("cf_game_spec_directory", "train", raw("game", "'{dir}'"), fragment="directory",
             extra=out),
        Case("cf_valid_ok", "train", _yaml(c), expect="ok", extra=out),
        Case("cf_valid_json_ok", "train", _json(c), suffix=".json", expect="ok", extra=out),
        Case("cf_out_proc", "train", _yaml(c), extra=("--out", "/proc/seqgame_run")),
        Case("cf_out_file", "train", _yaml(c), extra=("--out", "{file}")),
        Case("cf_out_long_name", "train", _yaml(c), extra=("--out", "{dir}/" + "r" * 300)),
        Case("cf_out_under_file", "train", _yaml(c), extra=("--out", "{file}/run")),
        Case("cf_resume_missing", "train", b"", extra=("--resume", "{dir}/nothing"),
             suffix=".resume"),
        Case("cf_resume_file", "train", b"", extra=("--resume", "{file}"), suffix=".resume"),
        Case("cf_resume_and_config", "train", _yaml(c), extra=("--resume", "{dir}")),
        Case("cf_resume_corrupt_config", "train", b"\xff\xfe garbage",
             extra=("--resume", "{dir}", "--"), suffix=".resume"),
        Case("cf_resume_foreign_config", "train", _json({"model": "bert", "lr": 3}),
             extra=("--resume", "{dir}", "--"), suffix=".resume"),
        Case("cf_resume_list_config", "train", b"[1, 2, 3]",
             extra=("--resume", "{dir}", "--"), suffix=".resume"),
        Case("cf_resume_no_checkpoint", "train", _json(c),
             extra=("--resume", "{dir}", "--"), suffix=".resume"),
        Case("cf_set_bad", "train", _yaml(c), extra=("--set", "steps", "--out", "{dir}/run")),
        Case("cf_set_deep", "train", _yaml(c),
             extra=("--set", "steps=" + "[" * 5000, "--out", "{dir}/run")),
        Case("cf_set_not_mapping", "train", _yaml(c),
             extra=("--set", "steps.x=1", "--out", "{dir}/run")),
    ]


def config_cases() -> list[Case]:
    """Bad (and a few valid) run configs and ``seqgame train`` invocations."""
    valid = _yaml(base_config())
    return [*_encoding_cases("train", valid), *_structure_cases("train", valid, "name"),
            *_config_type_cases(), *_config_text_cases()]


def all_cases() -> list[Case]:
    """Every case, specs first."""
    return [*spec_cases(), *config_cases()]


# ----------------------------------------------------------------------- running
class _Hang(BaseException):
    pass


def _alarm(signum: int, frame: Any) -> None:
    raise _Hang


def prepare(case: Case, folder: Path) -> list[str]:
    """Write ``case`` under ``folder``; return the ``seqgame`` argv that runs it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "a_file.txt").write_text("not a folder\n")
    subs = {"{dir}": str(folder), "{file}": str(folder / "a_file.txt")}

    def fill(text: str) -> str:
        for key, value in subs.items():
            text = text.replace(key, value)
        return text

    extra = [fill(x) for x in case.extra if x != "--"]
    if case.suffix == "/":
        target = folder / "spec_dir"
        target.mkdir(exist_ok=True)
        return [case.command, str(target), *extra]
    if case.suffix == ".resume":  # a run folder whose config.json holds the content
        (folder / "config.json").write_bytes(case.content)
        return [case.command, *extra]
    path = folder / f"{case.name}{case.suffix}"
    path.write_bytes(fill(case.content.decode("utf-8", "surrogateescape")).encode(
        "utf-8", "surrogateescape"))
    return [case.command, str(path), *extra]


def classify(argv: list[str], timeout_s: float = 20.0) -> tuple[str, str]:
    """Run ``seqgame ARGV`` in-process; return ``(outcome, stderr)`` (see the docstring)."""
    from seqgame.cli import main

    err, out = io.StringIO(), io.StringIO()
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            try:
                rc = main(argv)
            except SystemExit as exc:  # argparse usage errors
                rc = exc.code if isinstance(exc.code, int) else 2
                if rc == 2:
                    return "usage", err.getvalue()
    except _Hang:
        return "hang", err.getvalue()
    except BaseException as exc:  # noqa: BLE001 - the point is to catch everything
        return "traceback", f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    lines = err.getvalue().strip().splitlines()
    if rc == 0:
        return "accepted", err.getvalue()
    if rc == 2 and len(lines) == 1 and lines[0].startswith("seqgame: error: "):
        return "clean", lines[0]
    return "traceback", f"rc {rc}: {err.getvalue()[:300]}"


def run_case(case: Case, folder: Path, timeout_s: float = 20.0) -> tuple[str, str]:
    """Write and run one case; return ``(outcome, message)``."""
    return classify(prepare(case, folder), timeout_s)


def _child(name: str, folder: str) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
    case = next(c for c in all_cases() if c.name == name)
    outcome, message = run_case(case, Path(folder))
    print(json.dumps({"outcome": outcome, "message": message[:300]}))


def _run_child(case: Case, folder: Path) -> dict[str, str]:
    import subprocess

    try:
        proc = subprocess.run([sys.executable, "-m", "tests.core.corpus", "--child", case.name,
                               str(folder)], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return {"outcome": "hang", "message": "over 30 s"}
    lines = proc.stdout.strip().splitlines()
    if proc.returncode == 0 and lines:
        return json.loads(lines[-1])
    return {"outcome": "traceback", "message": proc.stderr.strip()[-200:]}


def report(workers: int = 2) -> Counter:
    """Run every case in a child process; print one line per case and the counts."""
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    counts: Counter = Counter()
    cases = all_cases()
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(workers) as pool:
        results = pool.map(lambda ic: _run_child(ic[1], Path(tmp) / f"c{ic[0]}"),
                           enumerate(cases))
        for case, result in zip(cases, results, strict=True):
            outcome = result["outcome"]
            if case.expect == "error" and outcome == "accepted":
                outcome = "silent acceptance"
            elif case.expect == "ok" and outcome == "accepted":
                outcome = "ok"
            elif case.expect == "ok" and outcome in ("clean", "usage"):
                outcome = "wrongly refused"
            counts[outcome] += 1
            print(f"{case.name:36} {outcome:18} {result['message'][:110]!r}", flush=True)
    return counts


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2], sys.argv[3])
    else:
        counts = report()
        print(f"tried {sum(counts.values())}: " + ", ".join(
            f"{k} {v}" for k, v in sorted(counts.items())))

"""Write the generated docs: ``docs/config-reference.md`` and ``docs/games.md``.

``python docs/generate.py`` rewrites both files from the code: the config reference from the
config dataclasses (each key, its type, its default and the first line of its doc, read from
the class's ``Attributes:`` section, an attribute docstring or a ``key`` entry of the
module docstring), the game cards from the built-in games, solved by our own solvers.
``python docs/generate.py --check`` writes nothing and exits 1 with one line when a
committed file differs from what the code generates now. The output is deterministic: no
timestamps, no paths, source order for fields, catalog order for games.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import enum
import importlib
import inspect
import json
import re
import sys
import textwrap
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

DOCS = Path(__file__).resolve().parent
#: Line that starts the LLM part of the config reference (tests compare the part before it
#: alone when the LLM backend does not import).
LLM_MARKER = "## LLM backend (`backend: llm`)"


@dataclasses.dataclass(frozen=True)
class Section:
    """One table of the config reference.

    Attributes:
        title: the table's heading.
        where: where its keys go in a config file.
        cls: ``"module:Class"`` of the dataclass.
        defaults_from: ``"module:Class"`` whose ``__init__`` supplies the defaults of fields
            whose dataclass default is None (the tabular options mean "learner default").
        skip: fields that are not config keys.
    """

    title: str
    where: str
    cls: str
    defaults_from: str | None = None
    skip: tuple[str, ...] = ()


CORE_SECTIONS = (
    Section("Run config", "top level of a `seqgame train` config",
            "seqgame.runner.config:RunConfig"),
    Section("Schedule", "`schedule:`", "seqgame.training.schedules:ScheduleConfig"),
    Section("Solver: spne", "`solve(game, 'spne', ...)`, `seqgame solve --tie-breaking`",
            "seqgame.solvers.concepts:SPNEOptions"),
    Section("Solver: pbe", "`solve(game, 'pbe')`", "seqgame.solvers.concepts:PBEOptions"),
    Section("Solver: stackelberg", "`solve(game, 'stackelberg', ...)`, `--leader`",
            "seqgame.solvers.concepts:StackelbergOptions"),
    Section("Solver: nash", "`solve(game, 'nash', ...)`, `--method`",
            "seqgame.solvers.concepts:NashOptions"),
)
_TAB = "seqgame.backends.tabular"
TABULAR_SECTIONS = (
    Section("Tabular: grpo", "`attacker:` / `defender:` with `algorithm: grpo` (default)",
            f"{_TAB}.factory:GRPOOptions", f"{_TAB}.grpo:GRPOLearner"),
    Section("Tabular: shared_grpo", "both roles with `algorithm: shared_grpo`",
            f"{_TAB}.factory:SharedGRPOOptions", f"{_TAB}.shared:SharedGRPOLearner"),
    Section("Tabular: mwu", "`algorithm: mwu`", f"{_TAB}.factory:MWUOptions",
            f"{_TAB}.exact:MultiplicativeWeightsLearner"),
    Section("Tabular: best_response, fictitious_play",
            "`algorithm: best_response` or `fictitious_play`", f"{_TAB}.factory:NoOptions"),
)
_LLM = "seqgame.backends.llm"
LLM_SECTIONS = (
    Section("LLM role options", "`attacker:` / `defender:` under `backend: llm`",
            f"{_LLM}.factory:LLMRoleOptions"),
    Section("LLM GRPO", "a role's `grpo:`", f"{_LLM}.learner:GRPOOptions"),
    Section("LLM SFT warm-up", "a role's `sft:`, and `sft:` of a `seqgame sft` file",
            f"{_LLM}.sft:SFTOptions"),
    Section("LLM LoRA", "a role's `lora:`", f"{_LLM}.lora:LoRAOptions"),
    Section("LLM memory plan", "a role's `plan:` (`seqgame train --check`)",
            f"{_LLM}.preflight:PlanOptions"),
    Section("LLM tiny model", "a role's `tiny:` (`model: tiny`)", f"{_LLM}.tiny:TinyConfig"),
    Section("Judge: rule", "`judge: {kind: rule, ...}` (default)", f"{_LLM}.judges:RuleJudge",
            skip=("seed_harmful", "stats")),
    Section("Judge: hf", "`judge: {kind: hf, guard: ..., ...}` (`guard` sets `kind` below)",
            f"{_LLM}.guards:HFGuardJudge", skip=("stats",)),
    Section("Judge: http", "`judge: {kind: http, guard: ..., ...}` (`guard` sets `kind` below)",
            f"{_LLM}.http_judge:HTTPJudge", skip=("stats",)),
    Section("SFT run file", "top level of a `seqgame sft` config", f"{_LLM}.cli:SFTRunConfig"),
)


# ------------------------------------------------------------------- reading docs
def load(target: str) -> Any:
    """The object named ``"module:attribute"``."""
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name)


def markdown(text: str) -> str:
    """Turn reST inline markup into Markdown: ``x`` -> `x`, :class:`~a.b.C` -> `C`."""
    text = re.sub(r":\w+:`~[\w.]*?\.?(\w+)`", r"`\1`", text)
    text = re.sub(r":\w+:`([^`]+)`", r"`\1`", text)
    return re.sub(r"``(.+?)``", r"`\1`", text)


def first_line(text: str) -> str:
    """The first sentence of a doc fragment's first paragraph, as Markdown."""
    para = " ".join(text.split("\n\n")[0].split())
    sentence = re.split(r"(?<=[a-z0-9)`\]]\.)(?<!\bDr\.)\s+(?=[A-Z])", para, maxsplit=1)[0]
    return markdown(sentence)


def attributes_section(doc: str) -> dict[str, str]:
    """Field -> doc from a Google-style ``Attributes:`` section (``a, b:`` and ``a / b:``)."""
    out: dict[str, str] = {}
    lines = inspect.cleandoc(doc).splitlines()
    if "Attributes:" not in lines:
        return out
    entry = re.compile(r"^    ([\w ,/]+):\s*(.*)$")
    names: list[str] = []
    for line in lines[lines.index("Attributes:") + 1:]:
        if line and not line.startswith(" "):
            break
        match = entry.match(line)
        if match:
            names = [n.strip() for n in re.split(r"[,/]", match.group(1)) if n.strip()]
            for name in names:
                out[name] = match.group(2)
        elif line.startswith("      ") and names:
            for name in names:
                out[name] += " " + line.strip()
    return out


def attribute_docstrings(cls: type) -> dict[str, str]:
    """Field -> the string literal written right after its annotation in the class body."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    out = {}
    for node, after in zip(body, body[1:], strict=False):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                and isinstance(after.value.value, str)):
            out[node.target.id] = after.value.value
    return out


def module_entries(cls: type) -> dict[str, str]:
    """Key -> doc from the module docstring's definition list (``key`` line, indented doc)."""
    doc = inspect.getdoc(sys.modules[cls.__module__]) or ""
    out: dict[str, str] = {}
    names: list[str] = []
    for line in doc.splitlines():
        if line.startswith("``"):
            names = re.findall(r"``(\w+)``", line.split(" (")[0])
            names = names if re.fullmatch(r"(``\w+``,?\s*)+", line.strip()) else []
            for name in names:
                out[name] = ""
        elif line.startswith("    ") and names:
            for name in names:
                out[name] = (out[name] + " " + line.strip()).strip()
        elif not line.strip():
            continue
        else:
            names = []
    return out


def field_docs(cls: type) -> dict[str, str]:
    """Field -> first line of its doc, from every source that documents it."""
    docs = module_entries(cls)
    docs.update(attributes_section(cls.__doc__ or ""))
    docs.update(attribute_docstrings(cls))
    return {name: first_line(text) for name, text in docs.items()}


# ------------------------------------------------------------------- rendering values
def render_value(value: Any) -> str:
    """A default as it would be written in YAML (JSON scalars, enums by value)."""
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, tuple | frozenset):
        value = list(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def render_type(annotation: Any) -> str:
    """A field's annotation as written in the source."""
    if isinstance(annotation, str):
        return annotation
    if isinstance(annotation, type):
        return annotation.__name__
    return re.sub(r"\b(?:[a-z_]\w*\.)+", "", str(annotation))


def learner_defaults(target: str | None) -> dict[str, Any]:
    """Keyword defaults of a learner's ``__init__`` and its bases' (``**options`` passes on)."""
    out: dict[str, Any] = {}
    for klass in inspect.getmro(load(target)) if target else ():
        params = inspect.signature(vars(klass).get("__init__", object.__init__)).parameters
        for p in params.values():
            if p.default is not inspect.Parameter.empty:
                out.setdefault(p.name, p.default)
    return out


def default_of(f: dataclasses.Field[Any], fallback: dict[str, Any]) -> str:
    """The field's default: its own, a factory's product, or the learner's (for None)."""
    if f.default is not dataclasses.MISSING:
        if f.default is None and f.name in fallback:
            return f"{render_value(fallback[f.name])} (learner default)"
        return render_value(f.default)
    if f.default_factory is not dataclasses.MISSING:
        return render_value(f.default_factory())
    return "required"


def cell(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return text.replace("|", "\\|") or "—"


def section_table(section: Section) -> list[str]:
    """The Markdown lines of one section: heading, class summary, one row per key."""
    cls = load(section.cls)
    summary = first_line(inspect.getdoc(cls) or "")
    lines = [f"### {section.title}", "", f"{section.where}: `{section.cls.replace(':', '.')}`"
             f" — {summary}", ""]
    rows = [f for f in dataclasses.fields(cls) if f.init and f.name not in section.skip]
    if not rows:
        return [*lines, "No keys.", ""]
    docs, fallback = field_docs(cls), learner_defaults(section.defaults_from)
    lines += ["| key | type | default | doc |", "| --- | --- | --- | --- |"]
    lines += [f"| `{f.name}` | `{cell(render_type(f.type))}` | `{cell(default_of(f, fallback))}`"
              f" | {cell(docs.get(f.name, ''))} |" for f in rows]
    return [*lines, ""]


def config_reference(include_llm: bool = True) -> str:
    """The text of ``docs/config-reference.md``."""
    lines = [
        "# Config reference", "",
        "Generated by `python docs/generate.py` from the config dataclasses; do not edit by "
        "hand (`tests/core/test_docs_generated.py` checks it is current). A dash means the "
        "field has no doc yet. Keys are checked strictly: an unknown key, a wrong type or an "
        "out-of-range value is one `InvalidConfigError` naming the key path.", "",
        "## Core", "",
    ]
    for section in CORE_SECTIONS:
        lines += section_table(section)
    lines += ["## Tabular backend (`backend: tabular`)", "",
              "`algorithm` picks the learner (`grpo` by default); the other keys are that "
              "algorithm's. A default marked *learner default* is the learner's own when the "
              "key is left out.", ""]
    for section in TABULAR_SECTIONS:
        lines += section_table(section)
    if include_llm:
        lines += [LLM_MARKER, ""]
        for section in LLM_SECTIONS:
            lines += section_table(section)
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------- game cards
def number(value: Any) -> str:
    """A float rounded for a card (4 significant digits, no negative zero)."""
    if value is None:
        return "n/a"
    rounded = float(f"{float(value):.4g}")
    return f"{rounded + 0.0:g}"


def solve_card(game: Any) -> tuple[str, dict[str, Any]]:
    """Solve ``game`` with the concept that fits it: SPNE, else PBE, else Nash."""
    from seqgame import solve
    from seqgame.errors import GameTooLargeError, SolverError
    from seqgame.model.game import Observation

    concepts = ["spne"] if game.observation is Observation.FULL else ["pbe", "nash"]
    for concept in concepts:
        try:
            return concept, solve(game, concept).to_json()
        except (GameTooLargeError, SolverError):
            continue
    raise SystemExit(f"no concept solves {game.name}")


def seed_line(seed: Any) -> str:
    """``id`` (label, prior) of one seed."""
    return f"`{seed.id}` ({seed.label.value}, {number(seed.prior)})"


def names(items: Sequence[str]) -> str:
    """Comma list of code names."""
    return ", ".join(f"`{n}`" for n in items) or "none"


def reward_line(game: Any) -> str:
    """MAGIC's weights or 'explicit tables'."""
    if game.rewards is None:
        return "explicit payoff tables"
    r = game.rewards
    return f"r_harm {number(r.r_harm)}, r_ref {number(r.r_ref)}, r_fmt {number(r.r_fmt)}"


def solution_lines(game: Any) -> list[str]:
    """The solved-equilibrium part of a card."""
    concept, j = solve_card(game)
    label = {"spne": "SPNE (strong tie-breaking)", "pbe": "perfect Bayesian equilibrium",
             "nash": "Nash equilibrium"}[concept]
    safety = j["safety"]
    out = [f"- **{label}**: value attacker {number(j['value']['attacker'])}, defender "
           f"{number(j['value']['defender'])}; ASR {number(j['asr'])}, over-refusal "
           f"{number(j['over_refusal'])}"]
    if concept == "spne":
        rng = j["details"]["value_range"]
        out.append(f"- attacker value range over SPNE: [{number(rng['attacker_min'])}, "
                   f"{number(rng['attacker_max'])}] ({rng['method']})")
    else:
        out.append("- SPNE: undefined (the seed is hidden, so there are no proper subgames)")
    on_path = sum(v["on_path"] for v in safety["violations"])
    verdict = "holds" if safety["pointwise"] else (
        f"fails: {len(safety['violations'])} violation(s), {on_path} on path")
    out.append(f"- Theorem 3.2 pointwise safety of this equilibrium: {verdict}; nodes without "
               f"a safe fallback (M < 0): {len(safety['no_fallback'])}")
    out.append(f"- expected safety (E[r_D] >= 0 at every attack on path): "
               f"{'holds' if j['expected_safety']['expected'] else 'fails'}")
    return out


def card(name: str, summary: str) -> list[str]:
    """The Markdown card of one built-in game."""
    from seqgame import load_game

    game = load_game(name)
    version = re.search(r"_v(\d+)$", name)
    lines = [f"## `{name}`", "", summary + ".", ""]
    if game.description:
        lines += [first_line(game.description), ""]
    lines += [
        f"- version: {'v' + version.group(1) if version else 'unversioned name'}"
        " (spec format `seqgame: 1`)",
        f"- seeds ({len(game.seeds)}): " + ", ".join(seed_line(s) for s in game.seeds),
        f"- attacks ({len(game.attacks)}): {names(game.attacks)}",
        f"- responses: {names(game.responses)}; refusals: {names(sorted(game.refusals))}",
        f"- malformed attacks: {names(sorted(game.malformed))}",
        f"- turns {game.turns}, observation `{game.observation.value}`, accrual "
        f"`{game.accrual.value}`, discount {number(game.discount)}",
        f"- rewards: {reward_line(game)}",
    ]
    return [*lines, *solution_lines(game), ""]


def game_cards() -> str:
    """The text of ``docs/games.md``."""
    from seqgame.games.catalog import BUILTIN_GAMES

    lines = [
        "# Game cards", "",
        "Generated by `python docs/generate.py`: one card per built-in game (`seqgame games`), "
        "in catalog order, solved by our solvers when the file was generated. Full-observation "
        "games show their SPNE; hidden-seed games (observation `attack`) show a perfect "
        "Bayesian equilibrium, or a Nash equilibrium when PBE enumeration is too large. "
        "Numbers have 4 significant digits. `seqgame games show NAME` prints a game's spec; "
        "`seqgame solve NAME` re-solves it.", "",
    ]
    for name, summary in BUILTIN_GAMES.items():
        lines += card(name, summary)
    return "\n".join(lines).rstrip() + "\n"


# ------------------------------------------------------------------- entry point
def llm_importable() -> bool:
    """Whether the LLM backend's option classes import here."""
    try:
        for section in LLM_SECTIONS:
            load(section.cls)
    except ImportError:
        return False
    return True


def targets() -> Iterator[tuple[Path, Callable[[], str]]]:
    """Each generated file and the function that writes its text."""
    yield DOCS / "config-reference.md", config_reference
    yield DOCS / "games.md", game_cards


def main(argv: Sequence[str] | None = None) -> int:
    """Rewrite the generated docs, or with ``--check`` report whether they are stale."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, make in targets():
        text = make()
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current != text:
            stale.append(path.name)
            if not args.check:
                path.write_text(text, encoding="utf-8")
    if args.check and stale:
        print(f"stale: {', '.join(stale)}; run 'python docs/generate.py'")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

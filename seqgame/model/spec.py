"""Game spec files (YAML or JSON, one schema): parse, validate, dump.

Version-1 keys (see ``docs/game-spec.md``): ``seqgame`` (= 1), ``name``, ``seeds``,
``attacks``, ``responses``, ``refusals``, ``observation``, ``unsafe``, ``rewards`` or
``payoffs``, ``malformed``, ``allowed``, ``attacker_bonus``, ``turns``, and the optional
``description`` and ``features``. Every error names the key path and the fix.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seqgame.documents import load_document
from seqgame.errors import InvalidGameError, SeqgameError, UnknownGameError
from seqgame.model.game import Accrual, Label, Observation, Seed, SequentialGame
from seqgame.model.payoffs import Rewards

SPEC_VERSION = 1
REQUIRED_KEYS = ("seqgame", "name", "seeds", "attacks", "responses", "refusals")
OPTIONAL_KEYS = (
    "observation",
    "unsafe",
    "rewards",
    "payoffs",
    "malformed",
    "allowed",
    "attacker_bonus",
    "turns",
    "accrual",
    "discount",
    "description",
    "features",
)


def _fail(path: str, message: str) -> InvalidGameError:
    return InvalidGameError(f"{path}: {message}")


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(path, f"{value!r} is not a number")
    if not math.isfinite(value):
        raise _fail(path, f"{value!r} is not finite; use a finite number")
    return float(value)


def _probability(value: Any, path: str) -> float:
    p = _number(value, path)
    if not 0.0 <= p <= 1.0:
        raise _fail(path, f"{p!r} is not a probability; use a value in [0, 1]")
    return p


def _mapping(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        raise _fail(path, f"expected a mapping, got {type(value).__name__} {value!r:.60}")
    return value


def _names(value: Any, path: str) -> list[str]:
    if not isinstance(value, list):
        raise _fail(path, f"expected a list of names, got {type(value).__name__}")
    out = []
    for i, v in enumerate(value):
        if not isinstance(v, str) or not v:
            raise _fail(f"{path}[{i}]", f"{v!r} is not a non-empty string")
        out.append(v)
    dupes = _duplicates(out)
    if dupes:
        raise _fail(path, f"duplicate names {dupes}; names must be unique")
    return out


def _duplicates(names: list[str]) -> list[str]:
    """The names that occur more than once, sorted (linear time)."""
    return sorted(n for n, k in Counter(names).items() if k > 1)


def _lookup(name: Any, universe: list[str], path: str, kind: str) -> int:
    if name not in universe:
        shown = universe if len(universe) <= 12 else [*universe[:12], "..."]
        raise _fail(path, f"unknown {kind} {name!r}; choose from {shown}")
    return universe.index(name)


def _nested_table(
    value: Any, path: str, seeds: list[str], attacks: list[str], responses: list[str],
    leaf: Any,
) -> np.ndarray:
    """Seed → attack → response → number, missing entries 0."""
    out = np.zeros((len(seeds), len(attacks), len(responses)))
    for s, by_attack in _mapping(value, path).items():
        x = _lookup(s, seeds, f"{path}.{s}", "seed")
        for a, by_response in _mapping(by_attack, f"{path}.{s}").items():
            i = _lookup(a, attacks, f"{path}.{s}.{a}", "attack")
            for d, v in _mapping(by_response, f"{path}.{s}.{a}").items():
                j = _lookup(d, responses, f"{path}.{s}.{a}.{d}", "response")
                out[x, i, j] = leaf(v, f"{path}.{s}.{a}.{d}")
    return out


def _parse_seeds(value: Any) -> list[Seed]:
    if not isinstance(value, list) or not value:
        raise _fail("seeds", "expected a non-empty list of {id, label, prior}")
    seeds = []
    for i, entry in enumerate(value):
        path = f"seeds[{i}]"
        entry = _mapping(entry, path)
        unknown = sorted(set(entry) - {"id", "label", "prior", "text", "source"})
        if unknown:
            raise _fail(path, f"unknown keys {unknown}; allowed: id, label, prior, text, source")
        for key in ("id", "label", "prior"):
            if key not in entry:
                raise _fail(path, f"missing key {key!r}")
        sid = entry["id"]
        if not isinstance(sid, str) or not sid:
            raise _fail(f"{path}.id", f"{sid!r} is not a non-empty string")
        try:
            label = Label(entry["label"])
        except ValueError:
            raise _fail(f"{path}.label", f"{entry['label']!r}: use 'harmful' or 'benign'") from None
        text, source = entry.get("text"), entry.get("source")
        for key, value in (("text", text), ("source", source)):
            if value is not None and not isinstance(value, str):
                raise _fail(f"{path}.{key}", "must be a string")
        seeds.append(Seed(sid, label, _probability(entry["prior"], f"{path}.prior"), text,
                          source))
    dupes = _duplicates([s.id for s in seeds])
    if dupes:
        raise _fail("seeds", f"duplicate ids {dupes}; ids must be unique")
    total = sum(s.prior for s in seeds)
    if abs(total - 1.0) > 1e-6:
        raise _fail("seeds", f"priors sum to {total:.9g}, not 1; rescale them")
    if abs(total - 1.0) > 1e-12:  # accept rounding in hand-written files
        seeds = [Seed(s.id, s.label, s.prior / total, s.text, s.source) for s in seeds]
    return seeds


def _check_header(spec: Any) -> dict:
    spec = _mapping(spec, "spec")
    if "seqgame" not in spec:
        raise _fail("seqgame", "missing spec version; add 'seqgame: 1' at the top")
    if spec["seqgame"] != SPEC_VERSION or isinstance(spec["seqgame"], bool):
        raise _fail(
            "seqgame", f"unknown spec version {spec['seqgame']!r}; this seqgame reads version 1"
        )
    missing = [k for k in REQUIRED_KEYS if k not in spec]
    if missing:
        raise _fail("spec", f"missing required keys {missing}")
    unknown = sorted(set(spec) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS))
    if unknown:
        allowed_keys = list(REQUIRED_KEYS + OPTIONAL_KEYS)
        raise _fail("spec", f"unknown keys {unknown}; allowed: {allowed_keys}")
    name = spec["name"]
    if not isinstance(name, str) or not name:
        raise _fail("name", f"{name!r} is not a non-empty string")
    description = spec.get("description", "")
    if not isinstance(description, str):
        raise _fail("description", "must be a string")
    return spec


def _parse_payoffs(spec: dict, seed_ids: list[str], attacks: list[str], responses: list[str]
                   ) -> tuple[Rewards | None, tuple[np.ndarray, np.ndarray] | None]:
    """``(rewards, None)`` from MAGIC weights or ``(None, tables)`` from explicit payoffs."""
    if "rewards" in spec and "payoffs" in spec:
        raise _fail("spec", "give either 'rewards' or 'payoffs', not both")
    if "payoffs" in spec:
        p = _mapping(spec["payoffs"], "payoffs")
        bad = sorted(set(p) - {"attacker", "defender"})
        if bad or len(p) != 2:
            raise _fail("payoffs", "needs exactly the keys 'attacker' and 'defender'")
        return None, (
            _nested_table(p["attacker"], "payoffs.attacker", seed_ids, attacks, responses, _number),
            _nested_table(p["defender"], "payoffs.defender", seed_ids, attacks, responses, _number),
        )
    raw = _mapping(spec.get("rewards", {}), "rewards")
    bad = sorted(set(raw) - {"r_harm", "r_ref", "r_fmt"})
    if bad:
        raise _fail("rewards", f"unknown keys {bad}; allowed: r_harm, r_ref, r_fmt")
    values = {k: _number(v, f"rewards.{k}") for k, v in raw.items()}
    for k, v in values.items():
        if v < 0:
            raise _fail(f"rewards.{k}", f"{v!r} < 0; weights are magnitudes, use >= 0")
    return Rewards(**values), None


def _parse_allowed(spec: dict, seed_ids: list[str], attacks: list[str]) -> np.ndarray:
    allowed = np.ones((len(seed_ids), len(attacks)), dtype=bool)
    for s, names in _mapping(spec.get("allowed") or {}, "allowed").items():
        x = _lookup(s, seed_ids, f"allowed.{s}", "seed")
        names = _names(names, f"allowed.{s}")
        if not names:
            raise _fail(f"allowed.{s}", "empty; every seed needs at least one allowed attack")
        allowed[x] = False
        for i, a in enumerate(names):
            allowed[x, _lookup(a, attacks, f"allowed.{s}[{i}]", "attack")] = True
    return allowed


def _parse_bonus(spec: dict, seed_ids: list[str], attacks: list[str]) -> np.ndarray:
    bonus = np.zeros((len(seed_ids), len(attacks)))
    for s, by_attack in _mapping(spec.get("attacker_bonus") or {}, "attacker_bonus").items():
        x = _lookup(s, seed_ids, f"attacker_bonus.{s}", "seed")
        for a, v in _mapping(by_attack, f"attacker_bonus.{s}").items():
            i = _lookup(a, attacks, f"attacker_bonus.{s}.{a}", "attack")
            bonus[x, i] = _number(v, f"attacker_bonus.{s}.{a}")
    return bonus


def _parse_turns(spec: dict) -> tuple[int, Accrual, float]:
    turns = spec.get("turns", 1)
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise _fail("turns", f"{turns!r}: must be an integer >= 1")
    accrual = spec.get("accrual", "sum")
    if accrual not in tuple(Accrual):
        raise _fail("accrual", f"{accrual!r}: use 'sum' (payoffs add over turns) or 'final'")
    discount = _number(spec.get("discount", 1.0), "discount")
    if not 0.0 < discount <= 1.0:
        raise _fail("discount", f"{discount!r}: use a number in (0, 1]")
    return turns, Accrual(accrual), discount


def _parse_features(spec: dict, attacks: list[str]) -> np.ndarray | None:
    if spec.get("features") is None:
        return None
    raw = _mapping(spec["features"], "features")
    missing_f = [a for a in attacks if a not in raw]
    if missing_f:
        raise _fail("features", f"missing rows for attacks {missing_f}; give every attack one")
    rows = []
    for a in attacks:
        row = raw[a]
        if not isinstance(row, list) or not row:
            raise _fail(f"features.{a}", "expected a non-empty list of numbers")
        rows.append([_number(v, f"features.{a}[{j}]") for j, v in enumerate(row)])
    for a in raw:
        _lookup(a, attacks, f"features.{a}", "attack")
    if len({len(r) for r in rows}) != 1:
        raise _fail("features", "rows have different lengths; use one length for all")
    return np.array(rows)


def _parse_observation(spec: dict) -> Observation:
    observation = spec.get("observation", "full")
    try:
        return Observation(observation)
    except ValueError:
        raise _fail("observation", f"{observation!r}: use 'full' or 'attack'") from None


def game_from_spec(spec: Any) -> SequentialGame:
    """Build and validate a :class:`SequentialGame` from a version-1 spec mapping.

    Raises:
        InvalidGameError: with the key path and the fix, on any malformed spec.
    """
    spec = _check_header(spec)
    seeds = _parse_seeds(spec["seeds"])
    seed_ids = [s.id for s in seeds]
    attacks = _names(spec["attacks"], "attacks")
    responses = _names(spec["responses"], "responses")
    if not attacks:
        raise _fail("attacks", "empty; a game needs at least one attack")
    if not responses:
        raise _fail("responses", "empty; a game needs at least one response")
    refusals = _names(spec["refusals"], "refusals")
    for i, r in enumerate(refusals):
        _lookup(r, responses, f"refusals[{i}]", "response")
    malformed = _names(spec.get("malformed") or [], "malformed")
    for i, a in enumerate(malformed):
        _lookup(a, attacks, f"malformed[{i}]", "attack")
    unsafe = _nested_table(
        spec.get("unsafe") or {}, "unsafe", seed_ids, attacks, responses, _probability
    )
    rewards, tables = _parse_payoffs(spec, seed_ids, attacks, responses)
    turns, accrual, discount = _parse_turns(spec)
    return SequentialGame(
        name=spec["name"], seeds=tuple(seeds), attacks=tuple(attacks),
        responses=tuple(responses), refusals=frozenset(refusals),
        observation=_parse_observation(spec), unsafe=unsafe, rewards=rewards,
        payoff_tables=tables, malformed=frozenset(malformed),
        allowed=_parse_allowed(spec, seed_ids, attacks),
        attacker_bonus=_parse_bonus(spec, seed_ids, attacks), turns=turns, accrual=accrual,
        discount=discount, features=_parse_features(spec, attacks),
        description=spec.get("description", ""),
    )


def _clean(v: float) -> float | int:
    v = float(v)
    return int(v) if v.is_integer() and abs(v) < 2**53 else v


def _table_to_spec(table: np.ndarray, game: SequentialGame, skip_zero: bool) -> dict:
    out: dict = {}
    for x, s in enumerate(game.seed_ids):
        by_attack: dict = {}
        for i, a in enumerate(game.attacks):
            row = {
                d: _clean(table[x, i, j])
                for j, d in enumerate(game.responses)
                if not (skip_zero and table[x, i, j] == 0)
            }
            if row:
                by_attack[a] = row
        if by_attack:
            out[s] = by_attack
    return out


def game_to_spec(game: SequentialGame) -> dict:
    """The version-1 spec mapping of ``game``; ``game_from_spec`` inverts it exactly."""
    spec: dict[str, Any] = {"seqgame": SPEC_VERSION, "name": game.name}
    if game.description:
        spec["description"] = game.description
    seeds = []
    for s in game.seeds:
        entry: dict[str, Any] = {"id": s.id, "label": s.label.value, "prior": _clean(s.prior)}
        if s.text is not None:
            entry["text"] = s.text
        if s.source is not None:
            entry["source"] = s.source
        seeds.append(entry)
    spec["seeds"] = seeds
    spec["attacks"] = list(game.attacks)
    spec["responses"] = list(game.responses)
    spec["refusals"] = [d for d in game.responses if d in game.refusals]
    spec["observation"] = game.observation.value
    spec["unsafe"] = _table_to_spec(game.unsafe, game, skip_zero=True)
    if game.payoff_tables is not None:
        spec["payoffs"] = {
            role: _table_to_spec(t, game, skip_zero=False)
            for role, t in zip(("attacker", "defender"), game.payoff_tables, strict=True)
        }
    else:
        assert game.rewards is not None
        spec["rewards"] = {
            "r_harm": _clean(game.rewards.r_harm),
            "r_ref": _clean(game.rewards.r_ref),
            "r_fmt": _clean(game.rewards.r_fmt),
        }
    spec["malformed"] = [a for a in game.attacks if a in game.malformed]
    allowed = {
        s: [a for i, a in enumerate(game.attacks) if game.allowed[x, i]]
        for x, s in enumerate(game.seed_ids)
        if not game.allowed[x].all()
    }
    if allowed:
        spec["allowed"] = allowed
    bonus = {
        s: {a: _clean(game.attacker_bonus[x, i]) for i, a in enumerate(game.attacks)
            if game.attacker_bonus[x, i] != 0}
        for x, s in enumerate(game.seed_ids)
    }
    bonus = {s: b for s, b in bonus.items() if b}
    if bonus:
        spec["attacker_bonus"] = bonus
    spec["turns"] = game.turns
    if game.turns > 1 or game.accrual != "sum":
        spec["accrual"] = game.accrual.value
        spec["discount"] = _clean(game.discount)
    if game.features is not None:
        spec["features"] = {a: [_clean(v) for v in game.features[i]]
                            for i, a in enumerate(game.attacks)}
    return spec


def read_spec_file(path: str | Path) -> dict:
    """Read a YAML or JSON spec file into a mapping (errors name the file)."""
    path = Path(path)
    if not path.exists():
        raise UnknownGameError(f"no such spec file {str(path)!r}")
    try:
        data = load_document(path, "spec file")
    except SeqgameError as exc:
        raise InvalidGameError(str(exc)) from None
    if not isinstance(data, dict):
        raise InvalidGameError(f"{path}: the top level must be a mapping with 'seqgame: 1'")
    return data


def dump_spec(spec: dict, fmt: str = "yaml") -> str:
    """Serialise a spec mapping as ``"yaml"`` or ``"json"`` text."""
    if fmt == "json":
        return json.dumps(spec, indent=2)
    if fmt == "yaml":
        return yaml.safe_dump(spec, sort_keys=False, default_flow_style=None, width=100)
    raise InvalidGameError(f"unknown format {fmt!r}; use 'yaml' or 'json'")

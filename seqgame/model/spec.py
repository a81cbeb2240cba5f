"""Game spec files (YAML or JSON, one schema): parse, validate, dump.

Version-1 keys (see ``docs/game-spec.md``): ``seqgame`` (= 1), ``name``, ``seeds``,
``attacks``, ``responses``, ``refusals``, ``observation``, ``unsafe``, ``rewards`` or
``payoffs``, ``malformed``, ``allowed``, ``attacker_bonus``, ``turns``, and the optional
``description`` and ``features``. Every error names the key path and the fix.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seqgame.documents import load_document, number_hint, short
from seqgame.errors import InvalidGameError, SeqgameError, UnknownGameError
from seqgame.model.game import (
    Accrual,
    Label,
    Observation,
    Seed,
    SequentialGame,
)
from seqgame.model.limits import check_size
from seqgame.model.payoffs import Rewards
from seqgame.model.spec_values import (
    checked_name,
    checked_names,
    duplicates,
    fail,
    lookup,
    mapping,
    name_index,
    nested_table,
    number,
    probability,
)

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


_SEED_KEYS = frozenset({"id", "label", "prior", "text", "source"})
_LABELS = {"harmful": Label.HARMFUL, "benign": Label.BENIGN}


def _parse_seed(entry: Any, i: int) -> Seed:
    if type(entry) is dict and len(entry) == 3:  # the common {id, label, prior}: fast path
        sid, label, prior = entry.get("id"), entry.get("label"), entry.get("prior")
        if (type(sid) is str and sid and type(label) is str and label in _LABELS
                and type(prior) is float and 0.0 <= prior <= 1.0):
            return Seed(sid, _LABELS[label], prior)
    path = f"seeds[{i}]"
    entry = mapping(entry, path)
    unknown = sorted(map(str, set(entry) - _SEED_KEYS))
    if unknown:
        raise fail(path, f"unknown keys {short(unknown)}; allowed: id, label, prior, text, "
                   "source")
    for key in ("id", "label", "prior"):
        if key not in entry:
            raise fail(path, f"missing key {key!r}")
    sid = checked_name(entry["id"], f"{path}.id")
    try:
        label = Label(entry["label"])
    except (ValueError, TypeError):
        raise fail(f"{path}.label", f"{short(entry['label'])}: use 'harmful' or 'benign'"
                   ) from None
    text, source = entry.get("text"), entry.get("source")
    for key, value in (("text", text), ("source", source)):
        if value is not None and not isinstance(value, str):
            raise fail(f"{path}.{key}", f"{short(value)} must be a string")
    return Seed(sid, label, probability(entry["prior"], f"{path}.prior"), text, source)


def _parse_seeds(value: Any) -> list[Seed]:
    if not isinstance(value, list) or not value:
        raise fail("seeds", f"expected a non-empty list of {{id, label, prior}}, got "
                   f"{short(value)}")
    seeds = [_parse_seed(entry, i) for i, entry in enumerate(value)]
    dupes = duplicates([s.id for s in seeds])
    if dupes:
        raise fail("seeds", f"duplicate ids {short(dupes)}; ids must be unique")
    total = math.fsum(s.prior for s in seeds)
    if abs(total - 1.0) > 1e-6:
        raise fail("seeds", f"priors sum to {total:.9g}, not 1; rescale them")
    if abs(total - 1.0) > 1e-12:  # accept rounding in hand-written files
        seeds = [Seed(s.id, s.label, s.prior / total, s.text, s.source) for s in seeds]
    return seeds


def _check_header(spec: Any) -> dict:
    spec = mapping(spec, "spec")
    if "seqgame" not in spec:
        raise fail("seqgame", "missing spec version; add 'seqgame: 1' at the top")
    if spec["seqgame"] != SPEC_VERSION or isinstance(spec["seqgame"], bool):
        raise fail("seqgame", f"unknown spec version {short(spec['seqgame'])}; this "
                    "seqgame reads version 1 (write 'seqgame: 1')")
    missing = [k for k in REQUIRED_KEYS if k not in spec]
    if missing:
        raise fail("spec", f"missing required keys {missing}")
    unknown = sorted(map(str, set(spec) - set(REQUIRED_KEYS) - set(OPTIONAL_KEYS)))
    if unknown:
        raise fail("spec", f"unknown keys {short(unknown)}; allowed: "
                    f"{list(REQUIRED_KEYS + OPTIONAL_KEYS)}")
    checked_name(spec["name"], "name")
    if not isinstance(spec.get("description", ""), str):
        raise fail("description", f"{short(spec['description'])} must be a string")
    return spec


def _parse_payoffs(spec: dict, names: _Universe
                   ) -> tuple[Rewards | None, tuple[np.ndarray, np.ndarray] | None]:
    """``(rewards, None)`` from MAGIC weights or ``(None, tables)`` from explicit payoffs."""
    if "rewards" in spec and "payoffs" in spec:
        raise fail("spec", "give either 'rewards' or 'payoffs', not both")
    if "payoffs" in spec:
        p = mapping(spec["payoffs"], "payoffs")
        if set(p) != {"attacker", "defender"}:
            raise fail("payoffs", "needs exactly the keys 'attacker' and 'defender'")
        return None, (names.table(p["attacker"], "payoffs.attacker", number),
                      names.table(p["defender"], "payoffs.defender", number))
    raw = mapping(spec.get("rewards"), "rewards", optional=True)
    bad = sorted(map(str, set(raw) - {"r_harm", "r_ref", "r_fmt"}))
    if bad:
        raise fail("rewards", f"unknown keys {short(bad)}; allowed: r_harm, r_ref, r_fmt")
    values = {k: number(v, f"rewards.{k}") for k, v in raw.items()}
    for k, v in values.items():
        if v < 0:
            raise fail(f"rewards.{k}", f"{v!r} < 0; weights are magnitudes, use >= 0")
    return Rewards(**values), None


def _parse_allowed(spec: dict, names: _Universe) -> np.ndarray:
    allowed = np.ones((len(names.seeds), len(names.attacks)), dtype=bool)
    for s, listed in mapping(spec.get("allowed"), "allowed", optional=True).items():
        x = lookup(s, names.seeds, f"allowed.{s}", "seed")
        listed = checked_names(listed, f"allowed.{s}")
        if not listed:
            raise fail(f"allowed.{s}", "empty; every seed needs at least one allowed attack")
        allowed[x] = False
        for i, a in enumerate(listed):
            allowed[x, lookup(a, names.attacks, f"allowed.{s}[{i}]", "attack")] = True
    return allowed


def _parse_bonus(spec: dict, names: _Universe) -> np.ndarray:
    bonus = np.zeros((len(names.seeds), len(names.attacks)))
    raw = mapping(spec.get("attacker_bonus"), "attacker_bonus", optional=True)
    for s, by_attack in raw.items():
        x = lookup(s, names.seeds, f"attacker_bonus.{s}", "seed")
        for a, v in mapping(by_attack, f"attacker_bonus.{s}").items():
            i = lookup(a, names.attacks, f"attacker_bonus.{s}.{a}", "attack")
            bonus[x, i] = number(v, f"attacker_bonus.{s}.{a}")
    return bonus


def _parse_turns(spec: dict) -> tuple[int, Accrual, float]:
    turns = spec.get("turns", 1)
    if isinstance(turns, bool) or not isinstance(turns, int) or turns < 1:
        raise fail("turns", f"{short(turns)}: must be an integer >= 1{number_hint(turns)}")
    accrual = spec.get("accrual", "sum")
    if accrual not in tuple(Accrual):
        raise fail("accrual", f"{short(accrual)}: use 'sum' (payoffs add over turns) or "
                    "'final'")
    discount = number(spec.get("discount", 1.0), "discount")
    if not 0.0 < discount <= 1.0:
        raise fail("discount", f"{discount!r}: use a number in (0, 1]")
    return turns, Accrual(accrual), discount


def _parse_features(spec: dict, names: _Universe) -> np.ndarray | None:
    if spec.get("features") is None:
        return None
    raw = mapping(spec["features"], "features")
    for a in raw:
        lookup(a, names.attacks, f"features.{a}", "attack")
    missing = [a for a in names.attacks if a not in raw]
    if missing:
        raise fail("features", f"missing rows for attacks {short(missing)}; give every "
                    "attack one")
    rows = []
    for a in names.attacks:
        row = raw[a]
        if not isinstance(row, list) or not row:
            raise fail(f"features.{a}", f"expected a non-empty list of numbers, got "
                        f"{short(row)}")
        rows.append([number(v, f"features.{a}[{j}]") for j, v in enumerate(row)])
    if len({len(r) for r in rows}) != 1:
        raise fail("features", "rows have different lengths; use one length for all")
    check_size(len(names.seeds), len(names.attacks), len(rows[0]), 1, "features")
    return np.array(rows)


def _parse_observation(spec: dict) -> Observation:
    observation = spec.get("observation", "full")
    try:
        return Observation(observation)
    except (ValueError, TypeError):
        raise fail("observation", f"{short(observation)}: use 'full' or 'attack'") from None


class _Universe:
    """The seed, attack and response names of a spec, each as a name → index dict."""

    def __init__(self, seeds: list[str], attacks: list[str], responses: list[str]) -> None:
        self.seeds = name_index(seeds)
        self.attacks = name_index(attacks)
        self.responses = name_index(responses)

    def table(self, value: Any, path: str, leaf: Any) -> np.ndarray:
        """The seed → attack → response table ``value`` as a float ``(X, A, D)`` array."""
        return nested_table(value, path, self.seeds, self.attacks, self.responses, leaf)


def _check_spec_size(spec: dict) -> None:
    """GameTooLargeError before anything is allocated (counts from the spec's lists)."""
    n_x, n_a, n_d = (len(spec[k]) if isinstance(spec[k], list) else 1
                     for k in ("seeds", "attacks", "responses"))
    turns = spec.get("turns", 1)
    check_size(n_x, n_a, n_d, turns if isinstance(turns, int) and turns > 0 else 1)


def game_from_spec(spec: Any) -> SequentialGame:
    """Build and validate a :class:`SequentialGame` from a version-1 spec mapping.

    Raises:
        InvalidGameError: with the key path and the fix, on any malformed spec.
        GameTooLargeError: the game's tensors would exceed the size limits of
            :func:`~seqgame.model.game.check_size` (checked before any allocation).
    """
    spec = _check_header(spec)
    _check_spec_size(spec)
    seeds = _parse_seeds(spec["seeds"])
    attacks = checked_names(spec["attacks"], "attacks")
    responses = checked_names(spec["responses"], "responses")
    if not attacks:
        raise fail("attacks", "empty; a game needs at least one attack")
    if not responses:
        raise fail("responses", "empty; a game needs at least one response")
    names = _Universe([s.id for s in seeds], attacks, responses)
    refusals = checked_names(spec["refusals"], "refusals")
    for i, r in enumerate(refusals):
        lookup(r, names.responses, f"refusals[{i}]", "response")
    malformed = checked_names(spec.get("malformed"), "malformed", optional=True)
    for i, a in enumerate(malformed):
        lookup(a, names.attacks, f"malformed[{i}]", "attack")
    turns, accrual, discount = _parse_turns(spec)
    unsafe = names.table(spec.get("unsafe"), "unsafe", probability)
    rewards, tables = _parse_payoffs(spec, names)
    return SequentialGame(
        name=spec["name"], seeds=tuple(seeds), attacks=tuple(attacks),
        responses=tuple(responses), refusals=frozenset(refusals),
        observation=_parse_observation(spec), unsafe=unsafe, rewards=rewards,
        payoff_tables=tables, malformed=frozenset(malformed),
        allowed=_parse_allowed(spec, names), attacker_bonus=_parse_bonus(spec, names),
        turns=turns, accrual=accrual, discount=discount,
        features=_parse_features(spec, names), description=spec.get("description", ""),
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

"""Turning YAML/JSON/CLI values into frozen config dataclasses, with one-line errors.

Every runnable unit's options are a frozen dataclass; :func:`parse_options` builds one from
a mapping. It uses pydantic (v2, strict mode) to check each field against the dataclass's
own annotations — an integer is an integer, never ``True`` or ``"10"``; a boolean is
``true``/``false``, never the string ``"false"``; a number is finite — then the dataclass's
``__post_init__`` checks ranges and relations. An unknown key lists the allowed ones. Every
failure is one :class:`~seqgame.errors.InvalidConfigError` naming the key path, the bad
value and what to write instead.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

from seqgame.documents import load_document, number_hint, short
from seqgame.errors import InvalidConfigError, SeqgameError

T = TypeVar("T")

#: What to write instead, per pydantic error type.
_HINTS = {
    "int_type": "use an integer", "float_type": "use a number", "bool_type": "use true or false",
    "string_type": "use a string", "dict_type": "use a mapping", "list_type": "use a list",
    "tuple_type": "use a list", "finite_number": "use a finite number",
    "literal_error": "use one of the allowed values", "none_required": "leave it out",
}


@cache
def _validator(cls: type) -> Any:
    from pydantic import ConfigDict, Field, create_model

    hints = typing.get_type_hints(cls)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], f.default)
        elif f.default_factory is not dataclasses.MISSING:
            fields[f.name] = (hints[f.name], Field(default_factory=f.default_factory))
        else:
            fields[f.name] = (hints[f.name], ...)
    config = ConfigDict(strict=True, extra="forbid", allow_inf_nan=False,
                        arbitrary_types_allowed=True)
    return create_model(f"{cls.__name__}Validator", __config__=config, **fields)


def _tuple_fields(cls: type) -> set[str]:
    hints = typing.get_type_hints(cls)
    return {f.name for f in dataclasses.fields(cls) if "tuple[" in str(hints[f.name])}


def field_names(cls: type) -> list[str]:
    """The keys ``cls`` accepts, sorted."""
    return sorted(f.name for f in dataclasses.fields(cls) if f.init)


def parse_options(cls: type[T], data: Any, where: str) -> T:
    """Build the frozen config dataclass ``cls`` from the mapping ``data``.

    Args:
        cls: a dataclass whose annotations say each field's type.
        data: the mapping (from YAML, JSON or ``--set``).
        where: the key path for messages, e.g. ``"schedule"`` or ``"attacker.grpo"``.

    Raises:
        InvalidConfigError: not a mapping, an unknown key, a value of the wrong type, or
            what the dataclass's ``__post_init__`` rejects.
    """
    if not isinstance(data, Mapping):
        raise InvalidConfigError(f"{where} = {short(data)}: use a mapping of options")
    allowed = field_names(cls)
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        keys = ", ".join(f"{where}.{k}" for k in unknown)
        raise InvalidConfigError(
            f"unknown option{'s' if len(unknown) > 1 else ''} {keys}; allowed: "
            f"{allowed or 'none'}")
    tuples = _tuple_fields(cls)
    given = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items()}
    from pydantic import ValidationError

    try:
        checked = _validator(typing.cast(type, cls)).model_validate(given)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in (where, *err["loc"]))
        hint = _HINTS.get(err["type"], err["msg"])
        if err["type"] in ("int_type", "float_type"):
            hint += number_hint(err.get("input"), err["type"] == "int_type").replace(";", ":", 1)
        shown = repr(err.get("input"))
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        raise InvalidConfigError(f"{key} = {shown}: {hint}") from None
    try:
        return cls(**{k: getattr(checked, k) for k in given})
    except InvalidConfigError as exc:  # __post_init__ names the field; add the path to it
        message = str(exc)
        raise InvalidConfigError(
            message if message.startswith(where) else f"{where}.{message}") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML/JSON config file into a mapping (InvalidConfigError on anything else)."""
    try:
        data = load_document(path, "config file")
    except SeqgameError as exc:
        raise InvalidConfigError(str(exc)) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidConfigError(f"{path}: the config must be a mapping of keys to values")
    return data

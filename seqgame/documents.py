"""Reading YAML and JSON documents from files safely: one clean error, never a hang.

:func:`load_document` is the only way seqgame reads a spec or config file. It refuses, with
one :class:`~seqgame.errors.SeqgameError` line each: files that are not UTF-8 text (UTF-16,
binary), oversized files, duplicate keys (YAML and JSON: the last one would silently win),
nesting too deep to read, numbers too large for Python, YAML tags other than the plain
types (``!!binary``, ``!!python/...``), and alias "bombs" whose expansion is huge. YAML
dates stay plain strings. Values in error messages are shortened with :func:`short`,
which never expands a shared (aliased) structure; :func:`number_hint` and :func:`name_hint`
explain YAML 1.1's traps (``6e-1`` is text, ``no`` is a boolean).
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import reprlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from seqgame.errors import SeqgameError

#: Largest file read (bytes).
MAX_BYTES = 512 * 1024 * 1024
#: Largest number of YAML nodes after alias expansion.
MAX_NODES = 20_000_000

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_short = reprlib.Repr()
_short.maxstring = 60
_short.maxother = 60
_short.maxlist = _short.maxdict = 6
_short.maxlevel = 3


def short(value: Any) -> str:
    """A bounded ``repr`` of ``value`` (safe on huge or deeply shared structures)."""
    return _short.repr(value)


def number_hint(value: Any, integer: bool = False) -> str:
    """For text that reads as a number (``"6e-1"``), a hint naming the number to write.

    With ``integer``, an integral number is written as an integer (``1e3`` → ``1000``).
    """
    if not isinstance(value, str):
        return ""
    try:
        number = float(value)
    except ValueError:
        return ""
    if not math.isfinite(number):
        return ""
    shown = repr(int(number)) if integer and number.is_integer() else repr(number)
    return (f"; write {shown}: YAML 1.1 reads {short(value)} as text (so are quoted "
            "numbers and exponents without a dot)")


def name_hint(value: Any) -> str:
    """For a YAML 1.1 scalar read as a boolean or number where text belongs, the fix."""
    if isinstance(value, bool):
        words = "'yes', 'on' or 'true'" if value else "'no', 'off' or 'false'"
        return f"; YAML 1.1 reads unquoted yes/no/on/off as booleans: quote it: {words}"
    if value is None:
        return "; an empty value (or ~, null) is YAML's null: write the name"
    if isinstance(value, int | float):
        return f"; quote it: '{short(value)}'"
    return ""


class _Loader(_Base):  # type: ignore[misc, valid-type]
    """Safe YAML loading without duplicate keys, timestamps or binary values."""


def _mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    out: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"a mapping key must be a plain value, not {short(key)}",
                key_node.start_mark) from None
        if key in out:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {short(key)}: each key may appear once",
                key_node.start_mark)
        out[key] = loader.construct_object(value_node, deep=deep)
    return out


def _no_set(loader: Any, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, "!!set values are not allowed: write a list", node.start_mark)


def _no_binary(loader: Any, node: yaml.Node) -> Any:
    raise yaml.constructor.ConstructorError(
        None, None, "!!binary values are not allowed: write text", node.start_mark)


_Loader.add_constructor("tag:yaml.org,2002:map", _mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:binary", _no_binary)
_Loader.add_constructor("tag:yaml.org,2002:set", _no_set)


def _expanded_size(root: yaml.Node) -> int:
    """Node count after alias expansion (linear time); -1 when an alias contains itself."""
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()  # the current path from the root: meeting one is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done:
            open_nodes.discard(id(node))
            sizes[id(node)] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[id(node)] > MAX_NODES:
                return sizes[id(node)]
            continue
        if id(node) in sizes:
            continue
        if id(node) in open_nodes:
            return -1
        open_nodes.add(id(node))
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _load_yaml(text: str, where: str) -> Any:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        size = _expanded_size(node)
        if size < 0:
            raise SeqgameError(f"{where}: a YAML alias refers to a structure that contains "
                               "it (a recursive value): write the values out")
        if size > MAX_NODES:
            raise SeqgameError(f"{where}: YAML aliases expand to over {MAX_NODES:,} values; "
                               "write the values out or use fewer aliases")
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for k, _ in pairs:
            if k in seen:
                raise ValueError(f"duplicate key {short(k)}: each key may appear once")
            seen.add(k)
    return out


def _decode(data: bytes, where: str) -> str:
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        raise SeqgameError(f"{where}: not UTF-8 text (UTF-16 or binary data): save it as UTF-8")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SeqgameError(f"{where}: not UTF-8 text (byte {exc.start}): save it as UTF-8"
                           ) from None


def parse_text(text: str, where: str, fmt: str = "yaml") -> Any:
    """Parse YAML (``fmt="yaml"``, a superset of JSON) or strict JSON text."""
    try:
        if fmt == "json":
            return json.loads(text, object_pairs_hook=_no_duplicates)
        return _load_yaml(text, where)
    except SeqgameError:
        raise
    except RecursionError:
        raise SeqgameError(f"{where}: nested too deeply to read") from None
    except (yaml.YAMLError, ValueError) as exc:  # JSONDecodeError is a ValueError
        message = " ".join(str(exc).split())
        if "integer string conversion" in message:  # Python's int digit limit
            raise SeqgameError(f"{where}: an integer has over {sys.get_int_max_str_digits():,} "
                               "digits: write a float (e.g. 1e300) or a smaller number"
                               ) from None
        kind = "JSON" if fmt == "json" else "YAML/JSON"
        raise SeqgameError(f"{where}: not valid {kind}: {message[:300]}") from None


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while building a large acyclic structure.

    Parsing a 10^6-seed spec creates millions of containers; each allocation burst would
    otherwise start a full collection over all of them (quadratic in practice).
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_document(path: str | Path, what: str = "file") -> Any:
    """Read the YAML or JSON (by suffix ``.json``) document in ``path``.

    Raises:
        SeqgameError: unreadable, a directory, too large, not UTF-8, or not valid (see the
            module docstring); callers re-raise it as their own error class.
    """
    path = Path(path)
    if path.is_dir():
        raise SeqgameError(f"{path} is a directory, not a {what}: give the file's path")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise SeqgameError(f"{path}: {size:,} bytes, over the {MAX_BYTES:,}-byte limit")
        data = path.read_bytes()
    except OSError as exc:
        raise SeqgameError(f"cannot read {what} {str(path)!r}: {exc.strerror}") from None
    fmt = "json" if path.suffix.lower() == ".json" else "yaml"
    with paused_gc():
        return parse_text(_decode(data, str(path)), str(path), fmt)

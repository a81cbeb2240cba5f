"""Seed-request importers: safety-benchmark files → rows → a versioned text-game spec.

``seqgame data build-game`` (see :mod:`seqgame.backends.llm.cli`) is a thin wrapper over
two functions that later commands (an ``eval --benchmark FORMAT=FILE``) reuse:

* :func:`load_rows` ``(fmt, path, **options) -> LoadReport`` reads one file in one of the
  :data:`FORMATS`. Each kept :class:`Row` has the stripped text, a label (``"harmful"``,
  ``"benign"`` or ``None`` when neither the file nor the caller says) and a source
  ``"format:file:line"``. Bad rows (missing or empty text, a label that is neither harmful
  nor benign, undecodable bytes, a line that is not JSON, a CSV row with the wrong number of
  fields) are never dropped silently: each is a :class:`BadRow` with file and line.
* :func:`build_game` / :func:`build_game_spec` ``(harmful_rows, benign_rows, ...)``
  deduplicate, resolve label conflicts, sample and return a version-1 spec mapping.

Formats (the container is read from the suffix: ``.csv``, ``.tsv``, ``.json`` (a list, or
JSON lines), ``.jsonl``/``.ndjson``, ``.parquet`` (needs pyarrow); every format accepts
every container, with the same column names):

==============  ==================================================  ====================
format          text column                                         own label
==============  ==================================================  ====================
wildjailbreak   ``vanilla`` (``text_field="adversarial"``:          ``data_type``, if the
                ``adversarial``)                                    column exists
magic           ``question``, else ``extra_info.raw_prompt``, else  ``data_type`` /
                the vanilla prompt inside the attacker instruction  ``extra_info.data_type``
harmbench       ``Behavior`` (contextual rows: ``ContextString``,   —
                ``---``, ``Behavior`` when kept)
strongreject    ``forbidden_prompt``                                —
advbench        ``goal`` (``target`` kept in ``meta``)              —
xstest          ``prompt``                                          ``type``: ``contrast_*``
                                                                    harmful, else benign
or-bench        ``prompt`` (``category`` in ``meta``)               —
dan             ``vanilla`` (the question; ``text_field=            —
                "adversarial"``: the jailbreak with the question),
                else ``prompt``
wildguardtest   ``prompt`` (``response`` and its labels in          ``prompt_harm_label``
                ``meta``)                                           when not empty
jsonl           ``text``                                            ``label`` if present
csv             ``column=NAME``                                     ``label_column=NAME``
==============  ==================================================  ====================

Labels and the caller's label. ``label=`` (``--harmful`` / ``--benign``) gives every row
without its own label that label. A row whose *own* label disagrees is **skipped** (counted
under :attr:`LoadReport.skipped`, not bad): ``--harmful wildjailbreak=train.tsv`` keeps the
``vanilla_harmful`` rows only, so the same file can be passed as both flags. WildJailbreak
rows with a ``data_type`` are kept only when its first part matches ``text_field``: MAGIC's
RL seeds are the ``vanilla_*`` rows and their ``vanilla`` text, so ``adversarial_*`` rows
are skipped by default. Label words: harmful / unsafe / unharmful / benign / safe (any case)
and 1 / 0, true / false.

Line numbers: the physical line where the record starts (a CSV header is line 1, a quoted
field may span lines); for parquet, the 1-based row number.

Deduplication (:func:`resolve_rows`): texts are compared after NFKC, case folding and
whitespace collapsing. The first row of a text (harmful files first, in the order given,
then benign files) is kept and later copies are reported as duplicates; a text that occurs
with both labels is a conflict and *every* row of it is dropped (and reported).

Sampling: ``np.random.default_rng(seed)`` draws one permutation of the harmful pool, then
one of the benign pool; the first ``n`` of each are taken and put back in pool order. So
the same inputs and seed give the same game, a larger ``n`` gives a superset, and the
benign sample does not depend on ``n_harmful``. Asking for more seeds than the pool holds
is an error (:class:`~seqgame.errors.InvalidConfigError`), never a silent shortfall.
Seed ids are the pool position: ``h_000017`` is the 18th distinct harmful text, whatever
was sampled. Priors are uniform over the chosen seeds.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import sys
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqgame.errors import BackendUnavailableError, InvalidConfigError

HARMFUL = "harmful"
BENIGN = "benign"
LABELS = (HARMFUL, BENIGN)

#: MAGIC's 20 rewriting strategies (arXiv 2602.01539, attack pool), in the paper's groups.
MAGIC_STRATEGIES: tuple[str, ...] = (
    "slang", "uncommon_dialects", "technical_terms", "role_play", "misspellings", "question",
    "logical_appeal", "authority_endorsement", "misrepresentation",
    "evidence_based_persuasion", "expert_endorsement",
    "ascii", "caesar", "morse", "atbash",
    "translate_malayalam", "translate_tamil", "translate_marathi", "translate_chinese",
    "translate_french",
)
#: ``--attacks magic20``: direct, the 20 strategies, ``malformed`` (bad format) and
#: ``unclassified`` (a well-formed rewrite no strategy classifier recognises).
MAGIC20: tuple[str, ...] = ("direct", *MAGIC_STRATEGIES, "malformed", "unclassified")
#: Added to every built game's attacks when ``--attacks`` omits it.
UNCLASSIFIED = "unclassified"
MALFORMED = "malformed"

#: MAGIC's reward weights (eq. 7-11), written into every built spec.
MAGIC_REWARDS = {"r_harm": 1.0, "r_ref": 0.5, "r_fmt": 0.5}

_HARMFUL_WORDS = {"harmful", "unsafe", "harm", "toxic", "1", "true", "yes"}
_BENIGN_WORDS = {"benign", "unharmful", "harmless", "safe", "0", "false", "no"}
_WJB_TYPES = {
    "vanilla_harmful": ("vanilla", HARMFUL),
    "vanilla_benign": ("vanilla", BENIGN),
    "adversarial_harmful": ("adversarial", HARMFUL),
    "adversarial_benign": ("adversarial", BENIGN),
}
_MAGIC_MARKER = "Here is the vanilla prompt provided for you to revise:"
_SUFFIXES = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl",
             ".ndjson": "jsonl", ".parquet": "parquet"}
_OPTIONS = {"label", "text_field", "harmbench_context", "column", "label_column"}


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True, slots=True)
class Row:
    """One usable seed request."""

    text: str
    label: str | None
    source: str  # "format:file:line"
    meta: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class BadRow:
    """A row that could not be used, with where it is and why."""

    file: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.reason}"


@dataclass
class LoadReport:
    """What :func:`load_rows` read from one file."""

    fmt: str
    path: str
    rows: list[Row]
    bad: list[BadRow]
    skipped: Counter = field(default_factory=Counter)  # reason -> count (label filter...)
    read: int = 0  # records read (blank lines are not records)
    label: str | None = None  # the caller's label

    @property
    def name(self) -> str:
        """``format:file`` (the source prefix of the rows)."""
        return f"{self.fmt}:{Path(self.path).name}"

    @property
    def n_skipped(self) -> int:
        """Rows left out on purpose (another label, contextual, adversarial...)."""
        return sum(self.skipped.values())


@dataclass
class BuildResult:
    """:func:`build_game`'s output: the spec and how the rows were resolved."""

    spec: dict[str, Any]
    harmful: list[Row]  # the chosen seeds, in spec order
    benign: list[Row]
    pool_harmful: list[Row]  # distinct, conflict-free rows sampled from
    pool_benign: list[Row]
    duplicates: list[tuple[Row, Row]]  # (dropped, the row kept instead)
    conflicts: list[list[Row]]  # each: every row of one text seen with both labels


class _Bad(Exception):
    pass


class _Skip(Exception):
    pass


# --------------------------------------------------------------------------- helpers


def normalize_text(text: str) -> str:
    """The key duplicates are found by: NFKC, case-folded, whitespace collapsed."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def parse_label(value: Any) -> str:
    """``harmful`` / ``benign`` from a label cell (words, 1/0, booleans); else :class:`_Bad`."""
    if isinstance(value, bool):
        return HARMFUL if value else BENIGN
    if isinstance(value, int) and value in (0, 1):
        return HARMFUL if value else BENIGN
    if isinstance(value, float) and value in (0.0, 1.0):
        return HARMFUL if value else BENIGN
    if isinstance(value, str):
        word = value.strip().lower()
        if not word:
            raise _Bad("empty label")
        if word in _HARMFUL_WORDS:
            return HARMFUL
        if word in _BENIGN_WORDS:
            return BENIGN
    if value is None:
        raise _Bad("missing label")
    raise _Bad(f"label {str(value)[:40]!r} is neither harmful nor benign "
               "(use harmful/benign, unsafe/safe or 1/0)")


def _get(rec: dict, key: str) -> Any:
    """``rec[key]``; a dotted key looks into nested mappings (``extra_info.raw_prompt``)."""
    if key in rec:
        return rec[key]
    cur: Any = rec
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def _text(rec: dict, key: str) -> str:
    value = _get(rec, key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        raise _Bad(f"missing text {key!r}")
    if not isinstance(value, str):
        raise _Bad(f"text {key!r} is not a string ({type(value).__name__})")
    text = value.strip()
    if not text or not normalize_text(text):
        raise _Bad(f"empty text {key!r}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise _Bad(f"text {key!r} is not valid UTF-8") from None
    return text


def _present(rec: dict, key: str) -> bool:
    value = _get(rec, key)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    return not (isinstance(value, str) and not value.strip())


def _small_meta(rec: dict, keys: Iterable[str]) -> dict[str, Any]:
    out = {}
    for k in keys:
        v = _get(rec, k)
        if isinstance(v, str | int | float | bool) and not (isinstance(v, float) and math.isnan(v)):
            out[k] = v
    return out


# --------------------------------------------------------------------------- containers


class _Container:
    """Records of one file: ``(line, record dict or None, bad reason or None)``."""

    def __init__(self, path: Path, kind: str) -> None:
        self.path = path
        self.kind = kind
        self.columns: list[str] | None = None  # CSV/TSV/parquet header, for column checks

    def records(self) -> Iterator[tuple[int, dict | None, str | None]]:
        reader = {"csv": self._delimited, "tsv": self._delimited, "jsonl": self._jsonl,
                  "json": self._json, "parquet": self._parquet}[self.kind]
        return reader()

    def _bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except OSError as exc:
            raise InvalidConfigError(f"cannot read {str(self.path)!r}: {exc.strerror}") from None

    def _jsonl(self, data: bytes | None = None) -> Iterator[tuple[int, dict | None, str | None]]:
        data = self._bytes() if data is None else data
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        for n, raw in enumerate(data.split(b"\n"), 1):
            raw = raw.strip()
            if not raw:
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield n, None, f"not valid UTF-8 (byte {exc.start})"
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                yield n, None, f"not valid JSON ({exc.msg})"
                continue
            if not isinstance(obj, dict):
                yield n, None, f"not a JSON object ({type(obj).__name__})"
                continue
            yield n, obj, None

    def _json(self) -> Iterator[tuple[int, dict | None, str | None]]:
        data = self._bytes()
        if data.startswith(b"\xef\xbb\xbf"):
            data = data[3:]
        if not data.lstrip().startswith(b"["):
            yield from self._jsonl(data)  # JSON lines saved as .json
            return
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise InvalidConfigError(f"{self.path}:{line}: not valid UTF-8") from None
        dec = json.JSONDecoder()
        ws = re.compile(r"\s*")

        def skip(pos: int) -> int:
            m = ws.match(text, pos)
            return m.end() if m else pos

        i = skip(text.index("[") + 1)
        line, counted = 1, 0
        while i < len(text) and text[i] != "]":
            line += text.count("\n", counted, i)
            counted = i
            try:
                obj, end = dec.raw_decode(text, i)
            except json.JSONDecodeError as exc:
                raise InvalidConfigError(
                    f"{self.path}:{text.count(chr(10), 0, exc.pos) + 1}: not valid JSON "
                    f"({exc.msg}); fix the file or save it as JSON lines") from None
            if isinstance(obj, dict):
                yield line, obj, None
            else:
                yield line, None, f"not a JSON object ({type(obj).__name__})"
            i = skip(end)
            if i < len(text) and text[i] == ",":
                i = skip(i + 1)
            elif i >= len(text) or text[i] != "]":
                ln = text.count("\n", 0, min(i, len(text))) + 1
                raise InvalidConfigError(f"{self.path}:{ln}: not valid JSON (expected ',' or "
                                         "']' in the top-level list)")

    def _delimited(self) -> Iterator[tuple[int, dict | None, str | None]]:
        text = self._bytes().decode("utf-8-sig", "surrogateescape")
        old = csv.field_size_limit()
        csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
        try:
            reader = csv.reader(io.StringIO(text, newline=""),
                                delimiter="\t" if self.kind == "tsv" else ",")
            try:
                header = next(reader)
            except StopIteration:
                raise InvalidConfigError(f"{self.path}: empty file (no header row)") from None
            except csv.Error as exc:
                raise InvalidConfigError(f"{self.path}:1: not valid CSV ({exc})") from None
            self.columns = [h.strip() for h in header]
            last = reader.line_num
            while True:
                start = last + 1
                try:
                    fields = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    raise InvalidConfigError(
                        f"{self.path}:{start}: not valid CSV ({exc})") from None
                last = reader.line_num
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue  # blank line
                if len(fields) != len(self.columns):
                    yield start, None, (f"{len(fields)} fields, the header has "
                                        f"{len(self.columns)}")
                    continue
                yield start, dict(zip(self.columns, fields, strict=True)), None
        finally:
            csv.field_size_limit(old)

    def _parquet(self) -> Iterator[tuple[int, dict | None, str | None]]:
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise BackendUnavailableError(
                f"reading {self.path.name} (parquet) needs pyarrow: pip install pyarrow "
                "(or convert the file to .jsonl with the same columns)") from None
        try:
            table = pq.read_table(self.path)
        except Exception as exc:  # pyarrow raises its own error types
            raise InvalidConfigError(f"{self.path}: not a readable parquet file: {exc}") from None
        self.columns = list(table.column_names)
        for n, rec in enumerate(table.to_pylist(), 1):
            yield n, rec, None


def _container(path: Path) -> _Container:
    kind = _SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise InvalidConfigError(
            f"cannot tell the file type of {str(path)!r} from its suffix; use one of "
            f"{', '.join(sorted(_SUFFIXES))}")
    return _Container(path, kind)


# --------------------------------------------------------------------------- formats

# A format: (required columns for CSV-like containers, record -> (text, own label, meta)).
Extract = Callable[[dict, dict], tuple[str, "str | None", dict]]


def _data_type(dtype: Any) -> tuple[str, str] | None:
    """``(text kind, label)`` of a WildJailbreak ``data_type``; None when it is absent."""
    if dtype is None or (isinstance(dtype, float) and math.isnan(dtype)):
        return None
    if not isinstance(dtype, str):
        raise _Bad(f"data_type {dtype!r} is not a string")
    if not dtype.strip():
        return None
    if dtype.strip() not in _WJB_TYPES:
        raise _Bad(f"data_type {dtype.strip()[:40]!r} is not one of {sorted(_WJB_TYPES)}")
    return _WJB_TYPES[dtype.strip()]


def _wildjailbreak(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
    field_ = opts["text_field"]
    dtype = _get(rec, "data_type")
    typed = _data_type(dtype)
    own = None
    if typed is not None:
        kind, own = typed
        if kind != field_:
            raise _Skip(f"{kind}_* rows (text field is {field_!r})")
    meta = {"data_type": dtype.strip()} if own else {}
    return _text(rec, field_), own, meta


def _magic(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
    dtype = _get(rec, "data_type")
    if not _present(rec, "data_type"):
        dtype = _get(rec, "extra_info.data_type")
    typed = _data_type(dtype)
    own = None if typed is None else typed[1]
    if own:
        dtype = dtype.strip()
    for key in ("question", "extra_info.raw_prompt"):
        if _present(rec, key):
            return _text(rec, key), own, ({"data_type": dtype} if own else {})
    prompt = _get(rec, "prompt")  # the attacker's chat: [{role, content}]
    if isinstance(prompt, list) and prompt and isinstance(prompt[-1], dict):
        content = prompt[-1].get("content")
        if isinstance(content, str) and _MAGIC_MARKER in content:
            return (_text({"q": content.split(_MAGIC_MARKER, 1)[1]}, "q"), own,
                    {"data_type": dtype} if own else {})
    raise _Bad("missing text: no 'question', 'extra_info.raw_prompt' or vanilla prompt in "
               "'prompt'")


def _harmbench(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
    behavior = _text(rec, "Behavior")
    meta = _small_meta(rec, ("BehaviorID", "FunctionalCategory", "SemanticCategory"))
    context = _get(rec, "ContextString")
    if isinstance(context, str) and context.strip():
        if opts["harmbench_context"] == "drop":
            raise _Skip("contextual behaviours (ContextString; --harmbench-context keep)")
        context = _text(rec, "ContextString")
        return f"{context}\n\n---\n\n{behavior}", None, meta  # HarmBench's own layout
    return behavior, None, meta


def _simple(column: str, meta_keys: tuple[str, ...] = ()) -> Extract:
    def extract(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
        return _text(rec, column), None, _small_meta(rec, meta_keys)

    return extract


def _xstest(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
    text = _text(rec, "prompt")
    kind = _get(rec, "type")
    if isinstance(kind, str) and kind.strip():
        own = HARMFUL if kind.strip().startswith("contrast") else BENIGN
    elif _present(rec, "label"):
        own = parse_label(_get(rec, "label"))
    else:
        raise _Bad("missing 'type' (XSTest: contrast_* types are harmful, others benign)")
    return text, own, _small_meta(rec, ("id", "type", "focus", "note"))


def _dan(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
    meta = _small_meta(rec, ("platform", "source", "community_name"))
    if "vanilla" in rec or "adversarial" in rec:
        return _text(rec, opts["text_field"]), None, meta
    return _text(rec, "prompt"), None, meta


def _wildguardtest(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
    text = _text(rec, "prompt")
    own = parse_label(_get(rec, "prompt_harm_label")) if _present(rec, "prompt_harm_label") \
        else None  # 26 WildGuardTest rows have no prompt label: kept, unlabelled
    return text, own, _small_meta(rec, ("response", "response_refusal_label",
                                        "response_harm_label", "adversarial", "subcategory",
                                        "label"))


def _jsonl(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
    text = _text(rec, "text")
    own = parse_label(_get(rec, "label")) if "label" in rec else None
    return text, own, {}


def _csv(rec: dict, opts: dict) -> tuple[str, str | None, dict]:
    text = _text(rec, opts["column"])
    own = parse_label(_get(rec, opts["label_column"])) if opts["label_column"] else None
    return text, own, {}


#: format -> (columns a CSV/TSV/parquet header must have, extractor)
_FORMATS: dict[str, tuple[Callable[[dict], list[str]], Extract]] = {
    "wildjailbreak": (lambda o: [o["text_field"]], _wildjailbreak),
    "magic": (lambda o: [], _magic),
    "harmbench": (lambda o: ["Behavior"], _harmbench),
    "strongreject": (lambda o: ["forbidden_prompt"],
                     _simple("forbidden_prompt", ("category", "source"))),
    "advbench": (lambda o: ["goal"], _simple("goal", ("target",))),
    "xstest": (lambda o: ["prompt"], _xstest),
    "or-bench": (lambda o: ["prompt"], _simple("prompt", ("category",))),
    "dan": (lambda o: [], _dan),
    "wildguardtest": (lambda o: ["prompt"], _wildguardtest),
    "jsonl": (lambda o: ["text"], _jsonl),
    "csv": (lambda o: [o["column"]] + ([o["label_column"]] if o["label_column"] else []), _csv),
}
FORMATS: tuple[str, ...] = tuple(_FORMATS)


def _options(fmt: str, options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - _OPTIONS)
    if unknown:
        raise InvalidConfigError(f"unknown loader option(s) {unknown}; allowed: {sorted(_OPTIONS)}")
    opts = {"label": None, "text_field": "vanilla", "harmbench_context": "drop",
            "column": None, "label_column": None, **options}
    if opts["label"] not in (None, *LABELS):
        raise InvalidConfigError(f"label {opts['label']!r}: use 'harmful', 'benign' or None")
    if opts["text_field"] not in ("vanilla", "adversarial"):
        raise InvalidConfigError(f"text_field {opts['text_field']!r}: use 'vanilla' or "
                                 "'adversarial'")
    if opts["harmbench_context"] not in ("keep", "drop"):
        raise InvalidConfigError(f"harmbench_context {opts['harmbench_context']!r}: use "
                                 "'keep' or 'drop'")
    if fmt == "csv" and not opts["column"]:
        raise InvalidConfigError("format 'csv' needs the text column: --column NAME "
                                 "(load_rows(..., column=NAME))")
    return opts


def check_format(fmt: str) -> str:
    """``fmt`` if it is a known format, else :class:`InvalidConfigError` listing them."""
    if fmt not in _FORMATS:
        raise InvalidConfigError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    return fmt


def load_rows(fmt: str, path: str | Path, **options: Any) -> LoadReport:
    """Read one benchmark file in format ``fmt`` (see the module docstring).

    Options: ``label`` (``"harmful"``/``"benign"``: the caller's label; rows with their own,
    different label are skipped), ``text_field`` (``"vanilla"``/``"adversarial"``,
    wildjailbreak and dan), ``harmbench_context`` (``"drop"``/``"keep"``), ``column`` and
    ``label_column`` (csv).

    Raises:
        InvalidConfigError: unknown format or option, missing file, unknown suffix, a
            required column missing from the header, a file that cannot be parsed at all.
        BackendUnavailableError: a parquet file without pyarrow installed.
    """
    check_format(fmt)
    opts = _options(fmt, options)
    path = Path(path)
    if not path.is_file():
        raise InvalidConfigError(f"{fmt}: file {str(path)!r} does not exist")
    needed, extract = _FORMATS[fmt]
    cont = _container(path)
    report = LoadReport(fmt=fmt, path=str(path), rows=[], bad=[], label=opts["label"])
    prefix = f"{fmt}:{path.name}"
    flag = opts["label"]
    for line, rec, problem in cont.records():
        if report.read == 0 and cont.columns is not None:
            missing = [c for c in needed(opts) if c not in cont.columns]
            if missing:
                raise InvalidConfigError(
                    f"{fmt}: {path} has no column(s) {missing} (columns: {cont.columns}); "
                    "is it the right format?")
        report.read += 1
        if problem is not None:
            report.bad.append(BadRow(str(path), line, problem))
            continue
        assert rec is not None
        try:
            text, own, meta = extract(rec, opts)
        except _Bad as exc:
            report.bad.append(BadRow(str(path), line, str(exc)))
            continue
        except _Skip as exc:
            report.skipped[str(exc)] += 1
            continue
        if flag is not None and own is not None and own != flag:
            report.skipped[f"labelled {own} (not {flag})"] += 1
            continue
        report.rows.append(Row(text, own or flag, f"{prefix}:{line}", meta))
    if report.read == 0 and cont.columns is not None:
        missing = [c for c in needed(opts) if c not in cont.columns]
        if missing:
            raise InvalidConfigError(f"{fmt}: {path} has no column(s) {missing} "
                                     f"(columns: {cont.columns})")
    return report


# --------------------------------------------------------------------------- building


def resolve_rows(
    harmful_rows: Iterable[Row], benign_rows: Iterable[Row]
) -> tuple[list[Row], list[Row], list[tuple[Row, Row]], list[list[Row]]]:
    """Deduplicate and drop label conflicts (module docstring); O(n) with one dict.

    Returns ``(harmful pool, benign pool, duplicates as (dropped, kept), conflicts)``.
    """
    groups: dict[str, list[tuple[str, Row]]] = {}
    for label, rows in ((HARMFUL, harmful_rows), (BENIGN, benign_rows)):
        for row in rows:
            if row.label not in (None, label):
                raise InvalidConfigError(
                    f"{row.source}: a row labelled {row.label} passed as {label}")
            groups.setdefault(normalize_text(row.text), []).append((label, row))
    pools: dict[str, list[Row]] = {HARMFUL: [], BENIGN: []}
    duplicates: list[tuple[Row, Row]] = []
    conflicts: list[list[Row]] = []
    for group in groups.values():
        if len({label for label, _ in group}) > 1:
            conflicts.append([r for _, r in group])
            continue
        label, kept = group[0]
        pools[label].append(kept)  # the input object itself (its label may be None)
        duplicates.extend((r, kept) for _, r in group[1:])
    return pools[HARMFUL], pools[BENIGN], duplicates, conflicts


def parse_attacks(value: str | Sequence[str]) -> list[str]:
    """``"magic20"`` or a comma list of attack names (``magic20`` may appear in it)."""
    tokens = value.split(",") if isinstance(value, str) else list(value)
    out: list[str] = []
    for tok in (t.strip() for t in tokens):
        names = MAGIC20 if tok == "magic20" else (tok,)
        for name in names:
            if not name or "/" in name or "|" in name or any(c.isspace() for c in name):
                raise InvalidConfigError(f"attack name {name!r}: use a non-empty name "
                                         "without '/', '|' or spaces")
            if name in out:
                raise InvalidConfigError(f"attack {name!r} listed twice in {value!r}")
            out.append(name)
    if not out:
        raise InvalidConfigError("no attacks; use --attacks magic20 or a comma list")
    return out


def _sample(pool: list[Row], n: int | None, rng: Any, what: str) -> list[int]:
    perm = rng.permutation(len(pool))  # always drawn: the next pool's sample stays fixed
    if n is None:
        return list(range(len(pool)))
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidConfigError(f"--n-{what} {n!r}: use a whole number >= 1")
    if n > len(pool):
        raise InvalidConfigError(
            f"asked for {n} {what} seeds but only {len(pool)} distinct {what} rows remain "
            "(after bad rows, duplicates and label conflicts); lower --n-"
            f"{what} or add files")
    return sorted(int(i) for i in perm[:n])


def _source_counts(rows: list[Row]) -> str:
    counts = Counter(r.source.rsplit(":", 1)[0] for r in rows)
    return ", ".join(f"{src} {n}" for src, n in counts.items())


def build_game(
    harmful_rows: Iterable[Row],
    benign_rows: Iterable[Row],
    *,
    n_harmful: int | None = None,
    n_benign: int | None = None,
    seed: int = 0,
    attacks: str | Sequence[str] = "magic20",
    observation: str = "full",
    name: str = "imported_game_v1",
    description: str | None = None,
) -> BuildResult:
    """Resolve, sample and lay out a version-1 text-game spec (module docstring).

    Raises:
        InvalidConfigError: no seeds, too few rows for ``n_*``, bad attacks/observation/name.
    """
    import numpy as np

    if observation not in ("full", "attack"):
        raise InvalidConfigError(f"observation {observation!r}: use 'full' or 'attack'")
    if not isinstance(name, str) or not name.strip():
        raise InvalidConfigError("the game needs a non-empty name (--name)")
    attack_list = parse_attacks(attacks)
    if UNCLASSIFIED not in attack_list:  # well-formed rewrites no classifier recognises
        attack_list.append(UNCLASSIFIED)
    pool_h, pool_b, duplicates, conflicts = resolve_rows(harmful_rows, benign_rows)
    rng = np.random.default_rng(seed)
    pick_h = _sample(pool_h, n_harmful, rng, HARMFUL)
    pick_b = _sample(pool_b, n_benign, rng, BENIGN)
    if not pick_h and not pick_b:
        raise InvalidConfigError("no seeds: every row was bad, skipped, duplicate or in a "
                                 "label conflict (see the report)")
    width = max(6, len(str(max(len(pool_h), len(pool_b)))))
    chosen = ([(f"h_{i:0{width}d}", pool_h[i]) for i in pick_h]
              + [(f"b_{i:0{width}d}", pool_b[i]) for i in pick_b])
    prior = 1.0 / len(chosen)
    seeds = [{"id": sid, "label": HARMFUL if sid[0] == "h" else BENIGN, "prior": prior,
              "text": row.text, "source": row.source} for sid, row in chosen]
    unsafe = {s["id"]: {a: {"comply": 1} for a in attack_list}
              for s in seeds if s["label"] == HARMFUL}
    harmful = [pool_h[i] for i in pick_h]
    benign = [pool_b[i] for i in pick_b]
    if description is None:
        parts = []
        for what, rows, pool in (("harmful", harmful, pool_h), ("benign", benign, pool_b)):
            if rows:
                parts.append(f"{len(rows)} {what} of {len(pool)} distinct "
                             f"({_source_counts(rows)})")
        description = (
            "Text game built by 'seqgame data build-game': "
            + "; ".join(parts)
            + f"; sampled with seed {seed}; {len(duplicates)} duplicate and "
            f"{sum(len(c) for c in conflicts)} label-conflict rows dropped; attacks "
            + ("magic20 (direct + MAGIC's 20 strategies + malformed + unclassified)"
               if attack_list == list(MAGIC20) else ", ".join(attack_list))
            + "; complying with a harmful seed is unsafe (p 1; the judge decides in practice)."
        )
    spec: dict[str, Any] = {
        "seqgame": 1,
        "name": name,
        "description": description,
        "seeds": seeds,
        "attacks": attack_list,
        "responses": ["refuse", "comply"],
        "refusals": ["refuse"],
        "observation": observation,
        "unsafe": unsafe,
        "rewards": dict(MAGIC_REWARDS),
        "malformed": [a for a in attack_list if a == MALFORMED],
        "turns": 1,
    }
    return BuildResult(spec, harmful, benign, pool_h, pool_b, duplicates, conflicts)


def build_game_spec(harmful_rows: Iterable[Row], benign_rows: Iterable[Row],
                    **kwargs: Any) -> dict[str, Any]:
    """The spec mapping of :func:`build_game` (same arguments)."""
    return build_game(harmful_rows, benign_rows, **kwargs).spec


def _share_equal_tables(spec: dict[str, Any]) -> dict[str, Any]:
    """A shallow copy whose equal per-seed ``unsafe`` tables are one object.

    YAML then writes the table once (``h_000000: &id001 {...}``) and an alias for every
    other seed (``h_000001: *id001``): a 30k-seed spec dumps and loads in seconds instead of
    minutes, and YAML loaders expand the aliases back into the same mapping.
    """
    interned: dict[str, Any] = {}
    unsafe = {}
    for sid, table in (spec.get("unsafe") or {}).items():
        key = json.dumps(table, sort_keys=True)
        unsafe[sid] = interned.setdefault(key, table)
    return {**spec, "unsafe": unsafe} if "unsafe" in spec else spec


def dump_game_spec(spec: dict[str, Any], path: str | Path) -> Path:
    """Write ``spec`` as YAML (or JSON for a ``.json`` path); parent folders are made.

    YAML is ``yaml.safe_dump(spec, sort_keys=False, allow_unicode=True, width=100)`` with
    PyYAML's C emitter when it has one, and equal ``unsafe`` tables written as aliases.
    """
    import yaml

    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() == ".json":
            text = json.dumps(spec, indent=1, ensure_ascii=False) + "\n"
        else:
            dumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
            text = yaml.dump(_share_equal_tables(spec), Dumper=dumper, sort_keys=False,
                             allow_unicode=True, width=100)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InvalidConfigError(f"cannot write {str(path)!r}: {exc.strerror}") from None
    return path


# --------------------------------------------------------------------------- reporting


def file_stats(reports: Sequence[LoadReport], result: BuildResult) -> list[dict[str, Any]]:
    """Per file: read, skipped, bad, duplicates, conflicts, kept (in the pool), chosen."""
    origin = {id(r): i for i, rep in enumerate(reports) for r in rep.rows}

    def per_file(rows: Iterable[Row]) -> Counter:
        return Counter(origin.get(id(r), -1) for r in rows)

    dup = per_file(d for d, _ in result.duplicates)
    con = per_file(r for group in result.conflicts for r in group)
    kept_n = per_file([*result.pool_harmful, *result.pool_benign])
    chosen_n = per_file([*result.harmful, *result.benign])
    out = []
    for i, rep in enumerate(reports):
        kept, chosen = kept_n[i], chosen_n[i]
        out.append({"file": rep.path, "format": rep.fmt, "label": rep.label, "read": rep.read,
                    "skipped": rep.n_skipped, "skipped_why": dict(rep.skipped),
                    "bad": len(rep.bad), "duplicates": dup[i], "conflicts": con[i],
                    "kept": kept, "chosen": chosen})
    return out


def summary_text(reports: Sequence[LoadReport], result: BuildResult, out: Path,
                 max_lines: int = 8) -> str:
    """The one-screen summary ``seqgame data build-game`` prints."""
    stats = file_stats(reports, result)
    cols = ("read", "skipped", "bad", "duplicates", "conflicts", "kept", "chosen")
    heads = ("read", "skipped", "bad", "dup", "conflict", "kept", "chosen")
    names = [f"{s['label'] or '-'} {rep.name}" for s, rep in zip(stats, reports, strict=True)]
    w = max([len(n) for n in names] + [5])
    lines = [f"{'file':<{w}}  " + " ".join(f"{h:>8}" for h in heads)]
    for n, s in zip(names, stats, strict=True):
        lines.append(f"{n:<{w}}  " + " ".join(f"{s[c]:>8}" for c in cols))
    lines.append(f"{'total':<{w}}  " + " ".join(f"{sum(s[c] for s in stats):>8}" for c in cols))
    for n, s in zip(names, stats, strict=True):
        for why, k in s["skipped_why"].items():
            lines.append(f"  skipped in {n}: {k} {why}")
    bad = [b for rep in reports for b in rep.bad]
    if bad:
        lines.append(f"bad rows: {len(bad)}" + (f" (first {max_lines}; --report FILE lists all)"
                                                 if len(bad) > max_lines else ""))
        lines.extend(f"  {b}" for b in bad[:max_lines])
    if result.duplicates:
        lines.append(f"duplicates dropped: {len(result.duplicates)}, e.g. "
                     + "; ".join(f"{d.source} = {k.source}"
                                 for d, k in result.duplicates[:2]))
    if result.conflicts:
        n_rows = sum(len(c) for c in result.conflicts)
        lines.append(f"label conflicts: {len(result.conflicts)} text(s), {n_rows} rows "
                     "dropped, e.g.")
        for group in result.conflicts[:3]:
            lines.append(f"  {group[0].text[:50]!r}: "
                         + ", ".join(f"{r.source} ({r.label})" for r in group[:4]))
    spec = result.spec
    lines.append(f"game {spec['name']}: {len(result.harmful)} harmful "
                 f"(of {len(result.pool_harmful)}) + {len(result.benign)} benign "
                 f"(of {len(result.pool_benign)}) seeds, {len(spec['attacks'])} attacks, "
                 f"observation {spec['observation']}")
    lines.append(f"wrote {out}")
    return "\n".join(lines)


def report_json(reports: Sequence[LoadReport], result: BuildResult | None) -> dict[str, Any]:
    """Everything the summary shortens: every bad row, duplicate and conflict.

    ``result`` None (the build failed): the files' row counts and bad rows only.
    """
    bad_rows = [{"file": b.file, "line": b.line, "reason": b.reason}
                for rep in reports for b in rep.bad]
    if result is None:
        return {"files": [{"source": rep.name, "read": rep.read, "rows": len(rep.rows),
                           "bad": len(rep.bad)} for rep in reports],
                "bad_rows": bad_rows}
    return {
        "files": file_stats(reports, result),
        "bad_rows": bad_rows,
        "duplicates": [{"dropped": d.source, "kept": k.source} for d, k in result.duplicates],
        "conflicts": [{"text": g[0].text, "rows": [{"source": r.source, "label": r.label}
                                                   for r in g]} for g in result.conflicts],
    }


def strict_error(reports: Sequence[LoadReport], max_lines: int = 5) -> InvalidConfigError | None:
    """The ``--strict`` error when any file has bad rows, else ``None``."""
    bad = [b for rep in reports for b in rep.bad]
    if not bad:
        return None
    shown = "; ".join(str(b) for b in bad[:max_lines])
    more = f" (and {len(bad) - max_lines} more)" if len(bad) > max_lines else ""
    return InvalidConfigError(f"--strict: {len(bad)} bad row(s): {shown}{more}")

"""``seqgame eval``: a defender model on safety benchmarks, judged, in MAGIC Table 1's shape.

::

    seqgame eval --model base/ --model runs/demo-llm/x:defender \
        --benchmark harmbench=behaviors.csv --benchmark xstest=xstest.json \
        --judge rule --limit 50 --out eval/

``--model``: a local HF folder (safetensors; e.g. ``seqgame export``'s), a PEFT adapter
folder (``adapter_config.json``; loaded on the base model it names), a ``.gguf`` file
(transformers' GGUF loader; needs the ``gguf`` package), or ``RUN_DIR:defender`` — an
LLM-backend run folder's defender: the model its config starts from (``tiny`` models are
rebuilt offline) with the weights of the run's latest checkpoint.

``--benchmark FORMAT[:LABEL]=FILE``: an importer format (:mod:`.importers`); WildJailbreak
and DAN rows are read with their adversarial text (the jailbreak itself); HarmBench,
StrongREJECT, AdvBench and DAN rows are harmful, OR-Bench rows benign
(``or-bench:harmful=or_bench-toxic.csv`` for the toxic split); XSTest, WildGuardTest and
labelled JSONL carry their own labels; ``:LABEL`` sets or filters it.

Each row's prompt is the single user turn of the model's chat template (a tokenizer
without one gets the raw text; recorded), answered greedily (``--max-new-tokens``) in
left-padded batches with transformers' ``generate`` (vLLM is not used), then judged
(``--judge rule`` or a judge config file, :mod:`.judge_cli`). Output in ``--out``:

* ``generations.jsonl`` — append-only, one line per (model, benchmark, row id): prompt,
  response, label, verdict (``refused``, ``unsafe``, ``request_harmful``, ``status``) and
  the judge's name. A restarted eval reads it and generates only the rows not there (a torn
  last line from a kill is cut off first); it refuses a folder judged by another judge.
* ``results.json`` / ``results.md`` — :mod:`.eval_report`'s cells, one column per model;
  bad rows (file:line, reason) and skipped rows listed, never dropped silently.
* ``results.png`` — per-benchmark bars with 95% intervals.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from seqgame.errors import BackendUnavailableError, InvalidConfigError

from .eval_models import HFGenerator, ModelSpec, load_generator
from .importers import BadRow, check_format, load_rows
from .judges import seed_labels

__all__ = ["HFGenerator", "ModelSpec", "load_generator", "parse_benchmark", "parse_model",
           "run_eval"]

#: Label of rows of formats without their own (``None``: the rows must carry one).
DEFAULT_LABEL = {"harmbench": "harmful", "strongreject": "harmful", "advbench": "harmful",
                 "dan": "harmful", "or-bench": "benign"}
_ADVERSARIAL = {"wildjailbreak", "dan"}


@dataclass(frozen=True)
class BenchmarkSpec:
    """``FORMAT[:LABEL]=FILE``."""

    fmt: str
    path: Path
    label: str | None = None

    @property
    def name(self) -> str:
        """``format:file name`` (the key of its rows)."""
        return f"{self.fmt}:{self.path.name}"


@dataclass(frozen=True)
class EvalRow:
    """One benchmark row: ``row_id`` (its position among the usable rows), text, label.

    ``source`` is where it is (``format:file:line``).
    """

    row_id: str
    text: str
    label: str
    source: str


@dataclass
class Benchmark:
    """A loaded benchmark: its rows and what was not used."""

    spec: BenchmarkSpec
    rows: list[EvalRow]
    bad: list[BadRow] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)


class Generator(Protocol):
    """Answers prompts (user messages); ``settings`` is recorded in ``results.json``."""

    settings: dict[str, Any]

    def generate(self, texts: Sequence[str]) -> list[str | None]:
        """One reply per text, in order; None where the prompt does not fit the model."""
        ...


def parse_benchmark(value: str) -> BenchmarkSpec:
    """``FORMAT[:LABEL]=FILE`` -> :class:`BenchmarkSpec` (one-line errors)."""
    head, sep, file = value.partition("=")
    fmt, _, label = head.strip().partition(":")
    if not sep or not fmt or not file:
        raise InvalidConfigError(f"--benchmark {value!r}: expected FORMAT[:LABEL]=FILE, e.g. "
                                 "harmbench=behaviors.csv or or-bench:harmful=toxic.csv")
    check_format(fmt)
    if label and label not in ("harmful", "benign"):
        raise InvalidConfigError(f"--benchmark {value!r}: label {label!r}; use harmful or benign")
    if not Path(file).is_file():
        raise InvalidConfigError(f"--benchmark {value!r}: file {file!r} does not exist")
    return BenchmarkSpec(fmt, Path(file), label or None)


def load_benchmark(spec: BenchmarkSpec, limit: int | None = None) -> Benchmark:
    """The first ``limit`` usable rows of a benchmark file (file order), each labelled."""
    options: dict[str, Any] = {"label": spec.label or DEFAULT_LABEL.get(spec.fmt)}
    if spec.fmt in _ADVERSARIAL:
        options["text_field"] = "adversarial"
    report = load_rows(spec.fmt, spec.path, **options)
    unlabelled = [r for r in report.rows if r.label is None]
    if unlabelled:
        raise InvalidConfigError(
            f"--benchmark {spec.name}: {len(unlabelled)} row(s) have no harmful/benign label "
            f"(first {unlabelled[0].source}); give {spec.fmt}:harmful=FILE or "
            f"{spec.fmt}:benign=FILE")
    rows = [EvalRow(str(i), r.text, str(r.label), r.source) for i, r in enumerate(report.rows)]
    return Benchmark(spec, rows[:limit] if limit is not None else rows, list(report.bad),
                     dict(report.skipped))


def parse_model(value: str) -> ModelSpec:
    """A ``--model`` value -> :class:`ModelSpec` (checks that the path exists)."""
    head, sep, role = value.rpartition(":")
    if sep and role in ("defender", "attacker"):
        if role == "attacker":
            raise InvalidConfigError(f"--model {value!r}: only a run's defender is evaluated "
                                     "(RUN_DIR:defender)")
        if not (Path(head) / "config.json").is_file():
            raise InvalidConfigError(f"--model {value!r}: {head!r} is not a run folder "
                                     "(no config.json)")
        return ModelSpec(value, "run", Path(head))
    path = Path(value)
    if value.startswith("gguf:") or (path.suffix == ".gguf" and path.is_file()):
        return ModelSpec(value, "gguf", path)  # gguf:NAME: a packaged model (gguf.py)
    if path.is_dir() and (path / "adapter_config.json").is_file():
        return ModelSpec(value, "adapter", path)
    if path.is_dir() and (path / "config.json").is_file():
        cfg = json.loads((path / "config.json").read_text(encoding="utf-8"))
        if "backend" in cfg and "model_type" not in cfg:
            raise InvalidConfigError(f"--model {value!r} is a run folder: write "
                                     f"{value.rstrip('/')}:defender")
        return ModelSpec(value, "hf", path)
    raise InvalidConfigError(f"--model {value!r}: not a model folder (config.json), a PEFT "
                             "adapter folder (adapter_config.json), a .gguf file or "
                             "RUN_DIR:defender")


# --------------------------------------------------------------------- the log
class GenerationLog:
    """``generations.jsonl``: append-only, keyed by (model, benchmark, row id)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: dict[tuple[str, str, str], dict[str, Any]] = {}
        if not path.is_file():
            return
        data = path.read_bytes()
        if data and not data.endswith(b"\n"):  # a kill mid-line: cut the torn tail
            data = data[: data.rfind(b"\n") + 1]
            with open(path, "r+b") as f:
                f.truncate(len(data))
        for n, line in enumerate(data.decode("utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    raise InvalidConfigError(f"{path}:{n} is not valid JSON: fix or delete "
                                             "the line, or use another --out") from None
                self.records[(rec["model"], rec["benchmark"], rec["row_id"])] = rec

    def has(self, model: str, benchmark: str, row: EvalRow) -> bool:
        """Whether the row is done; a done row with another prompt means the file changed."""
        rec = self.records.get((model, benchmark, row.row_id))
        if rec is None:
            return False
        if rec.get("prompt") != row.text:
            raise InvalidConfigError(
                f"{self.path}: row {row.row_id} of {benchmark} ({row.source}) has another "
                "prompt than when it was generated: the file changed; use another --out")
        return True

    def append(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Append lines durably (flushed and fsynced before returning)."""
        with open(self.path, "a", encoding="utf-8") as f:
            for rec in records:
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                self.records[(rec["model"], rec["benchmark"], rec["row_id"])] = dict(rec)
            f.flush()
            os.fsync(f.fileno())


# --------------------------------------------------------------------- the eval
@dataclass(frozen=True)
class EvalSettings:
    """Generation settings of one eval."""

    max_new_tokens: int = 256
    batch_size: int = 16
    device: str = "cpu"
    dtype: str = "float32"
    chat_template: str | None = None

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.batch_size < 1:
            raise InvalidConfigError("--max-new-tokens and --batch-size must be >= 1")


_TOO_LONG = {"refused": None, "unsafe": None, "request_harmful": None, "status": "error",
             "reason": "not generated: the prompt and max_new_tokens exceed the model's context"}


def _judge_rows(judge: Any, rows: Sequence[EvalRow], responses: Sequence[str]
                ) -> list[dict[str, Any]]:
    from .judge_cli import verdict_fields
    from .judges import JudgeInput

    verdicts = judge.judge([JudgeInput(row.text, row.text, r) for row, r in
                            zip(rows, responses, strict=True)])
    return [verdict_fields(v) for v in verdicts]


def _evaluate_model(model: ModelSpec, benches: Sequence[Benchmark], judges: Callable,
                    log: GenerationLog, make: Callable[[ModelSpec], Generator],
                    settings: EvalSettings, judge_name: str) -> dict[str, Any] | None:
    gen: Generator | None = None
    for bench in benches:
        todo = [r for r in bench.rows if not log.has(model.label, bench.spec.name, r)]
        for start in range(0, len(todo), settings.batch_size):
            chunk = todo[start:start + settings.batch_size]
            gen = gen or make(model)
            responses = gen.generate([r.text for r in chunk])
            done = [(row, r) for row, r in zip(chunk, responses, strict=True) if r is not None]
            verdicts = iter(_judge_rows(judges(bench), [row for row, _ in done],
                                        [r for _, r in done]) if done else [])
            log.append([{"model": model.label, "benchmark": bench.spec.name,
                         "row_id": row.row_id, "source": row.source, "label": row.label,
                         "prompt": row.text, "response": resp,
                         **(next(verdicts) if resp is not None else _TOO_LONG),
                         "judge": judge_name}
                        for row, resp in zip(chunk, responses, strict=True)])
    return None if gen is None else gen.settings


def run_eval(models: Sequence[ModelSpec], benchmarks: Sequence[BenchmarkSpec],
             judge: Mapping[str, Any], out: Path, limit: int | None = None,
             settings: EvalSettings | None = None,
             make: Callable[[ModelSpec], Generator] | None = None) -> dict[str, Any]:
    """Generate, judge and tabulate (see the module docstring); returns ``results.json``."""
    from seqgame.runner.store import write_json_atomic

    from .eval_report import metric_cells, plot_results, results_markdown
    from .judge_cli import build_judge, judge_name

    settings = settings or EvalSettings()
    if limit is not None and limit < 1:
        raise InvalidConfigError(f"--limit {limit}: use a whole number >= 1")
    name = judge_name(judge)
    benches = [load_benchmark(b, limit) for b in benchmarks]
    out.mkdir(parents=True, exist_ok=True)
    log = GenerationLog(out / "generations.jsonl")
    others = sorted({r["judge"] for r in log.records.values()} - {name})
    if others:
        raise InvalidConfigError(f"{out} was judged by {others}, not {name!r}: use another "
                                 "--out (or 'seqgame judge' to re-judge its generations)")
    if make is None:
        def make(m: ModelSpec) -> Generator:
            return load_generator(m, settings.max_new_tokens, settings.batch_size,
                                  settings.device, settings.dtype, settings.chat_template)
    cache: dict[str, Any] = {}

    def judges(bench: Benchmark) -> Any:
        key = bench.spec.name if judge.get("kind", "rule") == "rule" else ""
        if key not in cache:
            cache[key] = build_judge(judge, seed_labels(
                ((r.text, r.label == "harmful") for r in bench.rows), bench.spec.name))
        return cache[key]

    gen_settings = {}
    for m in models:
        gen_settings[m.label] = _evaluate_model(m, benches, judges, log, make, settings, name)
    wanted = {(m.label, b.spec.name, r.row_id) for m in models for b in benches for r in b.rows}
    records = [r for k, r in log.records.items() if k in wanted]
    results = {
        "judge": name, "judge_config": dict(judge), "models": [m.label for m in models],
        "generation": {"max_new_tokens": settings.max_new_tokens, "decoding": "greedy",
                       "batch_size": settings.batch_size, "per_model": gen_settings},
        "benchmarks": {b.spec.name: {"file": str(b.spec.path), "format": b.spec.fmt,
                                     "rows": len(b.rows), "skipped": b.skipped,
                                     "bad": [{"file": x.file, "line": x.line, "reason": x.reason}
                                             for x in b.bad]} for b in benches},
        "cells": metric_cells(records, [m.label for m in models],
                              [b.spec.name for b in benches], name),
    }
    write_json_atomic(out / "results.json", results)
    (out / "results.md").write_text(results_markdown(results), encoding="utf-8")
    try:
        plot_results(results).savefig(out / "results.png", dpi=110)
    except BackendUnavailableError as exc:
        print(f"figure skipped: {exc}")
    return results


def _eval(args: argparse.Namespace) -> int:
    from .judge_cli import judge_options

    models = [parse_model(v) for v in args.model or []]
    benchmarks = [parse_benchmark(v) for v in args.benchmark or []]
    if not models or not benchmarks:
        raise InvalidConfigError("eval needs at least one --model and one --benchmark "
                                 "FORMAT=FILE")
    settings = EvalSettings(args.max_new_tokens, args.batch_size, args.device, args.dtype,
                            args.chat_template)
    out = Path(args.out)
    results = run_eval(models, benchmarks, judge_options(args.judge), out, args.limit, settings)
    print((out / "results.md").read_text(encoding="utf-8"))
    bad = sum(len(b["bad"]) for b in results["benchmarks"].values())
    if bad:
        print(f"{bad} bad row(s) were not evaluated: listed in {out / 'results.json'}")
    print(f"wrote {out / 'generations.jsonl'}, results.json, results.md, results.png")
    return 0


def add_eval_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``seqgame eval``."""
    p = sub.add_parser("eval", help="evaluate defender models on safety benchmarks (Table 1)",
                       description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--model", action="append", metavar="PATH|RUN_DIR:defender",
                   help="HF folder, .gguf file or RUN_DIR:defender (repeatable: one column each)")
    p.add_argument("--benchmark", action="append", metavar="FORMAT[:LABEL]=FILE",
                   help="benchmark file in an importer format (repeatable)")
    p.add_argument("--judge", default="rule", help="'rule' or a judge config YAML")
    p.add_argument("--limit", type=int, default=None, help="first N rows of each benchmark")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (resumable)")
    p.add_argument("--max-new-tokens", type=int, default=256, help="reply cap (default 256)")
    p.add_argument("--batch-size", type=int, default=16, help="prompts per generate call")
    p.add_argument("--device", default="cpu", help="torch device (default cpu)")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16", "float16"])
    p.add_argument("--chat-template", default=None, metavar="FILE|TEXT",
                   help="template for models without one (a run's defender keeps its own)")
    p.set_defaults(func=_eval)

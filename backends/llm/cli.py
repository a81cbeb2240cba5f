"""``seqgame sft CONFIG``: attacker SFT warm-up (MAGIC Phase 1) with TRL's ``SFTTrainer``.

CONFIG (YAML) keys:

``model``        local model directory, a ``.gguf`` file, ``gguf:gemma3-270m``, or ``tiny``
                 (built offline for ``game``)
``game``         built-in text game or game spec file (its prompts, and the tiny
                 tokenizer's corpus; default ``jailbreak_text_v1``)
``pool``         attack pool: our JSONL, MAGIC's alpaca JSON array (both in
                 :mod:`seqgame.backends.llm.sft`), or ``canonical`` (the game's own pool)
``output_dir``   where the fine-tuned model and tokenizer are saved (safetensors)
``sft``          :class:`~seqgame.backends.llm.sft.SFTOptions` fields (``bf16``,
                 ``gradient_checkpointing`` for a GPU)
``device``, ``dtype``, ``attn_implementation``, ``chat_template``  as a run's role options
``lora``         :class:`~seqgame.backends.llm.lora.LoRAOptions` fields: train an adapter
``save``         ``merged`` (default: a full model, the adapter merged in) or ``adapter``
``trust_remote_code``  off unless set

Flags ``--device``, ``--dtype`` and ``--set KEY=VALUE`` (e.g. ``--set lora.r=16``) override
the file, e.g. ``seqgame sft experiments/configs/llm_sft_7b.yaml --device cuda:0``.

torch / transformers / TRL are imported inside the handler only.

``seqgame export RUN_DIR --role defender|attacker --out DIR [--adapter-only]``: a run's
trained policy as a Hugging Face folder (:mod:`seqgame.backends.llm.export`).

``seqgame data build-game``: benchmark files → a text-game spec (seeds with text, label and
source), through :mod:`seqgame.backends.llm.importers`::

    seqgame data build-game --harmful harmbench=behaviors.csv --benign or-bench=hard.csv \
        --n-harmful 100 --n-benign 100 --seed 0 --attacks magic20 --out games/mix_v1.yaml
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqgame.config import parse_options, read_config_file
from seqgame.errors import InvalidConfigError


@dataclass(frozen=True)
class SFTRunConfig:
    """The keys of an SFT config file (see the module docstring)."""

    model: str
    pool: str
    output_dir: str
    game: str = "jailbreak_text_v1"
    seed: int = 0
    sft: dict[str, Any] = field(default_factory=dict)
    trust_remote_code: bool = False
    device: str = "cpu"
    dtype: str = "float32"
    attn_implementation: str | None = None
    chat_template: str | None = None
    lora: dict[str, Any] | None = None
    save: str = "merged"

    def __post_init__(self) -> None:
        for key in ("model", "pool", "output_dir"):
            if not getattr(self, key):
                raise InvalidConfigError(f"{key} = '': use a non-empty string")
        if self.save not in ("merged", "adapter"):
            raise InvalidConfigError(f"save = {self.save!r}: use merged or adapter")
        if self.save == "adapter" and self.lora is None:
            raise InvalidConfigError("save = 'adapter' needs lora (e.g. lora: {r: 16})")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise InvalidConfigError(f"dtype = {self.dtype!r}: use float32, bfloat16 or float16")
        if not (self.device == "cpu" or self.device.startswith(("cuda", "mps"))):
            raise InvalidConfigError(f"device = {self.device!r}: use cpu, cuda or cuda:N")


def load_sft_config(path: Path, overrides: Sequence[str] = ()) -> SFTRunConfig:
    """Read and validate an SFT config file (``--set KEY=VALUE`` overrides applied)."""
    from seqgame.runner.config import apply_overrides

    path = Path(path)
    if not path.is_file():
        raise InvalidConfigError(f"SFT config {str(path)!r} does not exist")
    data = apply_overrides(read_config_file(path), overrides)
    missing = [k for k in ("model", "pool", "output_dir") if k not in data]
    if missing:
        raise InvalidConfigError(f"{path}: missing key(s) {missing}")
    return parse_options(SFTRunConfig, data, str(path))


def _sft(args: argparse.Namespace) -> int:
    from . import require_llm_stack

    overrides = list(args.set or [])
    overrides += [f"{k}={v}" for k, v in (("device", args.device), ("dtype", args.dtype)) if v]
    cfg = load_sft_config(Path(args.config), overrides)
    require_llm_stack()
    from .sft import run_sft

    print(run_sft(cfg))
    return 0


def _export(args: argparse.Namespace) -> int:
    from seqgame.model.game import Role

    from . import require_llm_stack

    require_llm_stack()
    from .export import export_policy

    out = export_policy(Path(args.run_dir), Role.parse(args.role), Path(args.out),
                        adapter_only=args.adapter_only)
    kind = "adapter" if args.adapter_only else "model"
    print(f"{args.role} {kind} of {args.run_dir} written to {out} (safetensors, tokenizer, "
          "chat template)")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``sft``, ``export`` and ``data``."""
    p = sub.add_parser("sft", help="attacker SFT warm-up on an attack pool (LLM backend)")
    p.add_argument("config", help="SFT config YAML (see docs/llm-backend.md)")
    p.add_argument("--device", default=None, help="override the config's device (cuda:0)")
    p.add_argument("--dtype", default=None, choices=["float32", "bfloat16", "float16"],
                   help="override the config's dtype")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set lora.r=16 (repeatable)")
    p.set_defaults(func=_sft)
    p = sub.add_parser("export", help="write a run's trained policy as a Hugging Face folder")
    p.add_argument("run_dir", help="run directory (LLM backend)")
    p.add_argument("--role", choices=["attacker", "defender"], required=True)
    p.add_argument("--out", required=True, help="new folder to write")
    p.add_argument("--adapter-only", action="store_true",
                   help="write the LoRA adapter alone (default: merged into the base)")
    p.set_defaults(func=_export)
    _add_data_parser(sub)
    from .evaluate import add_eval_parser
    from .judge_cli import add_judge_parser

    add_eval_parser(sub)
    add_judge_parser(sub)


def _source_arg(value: str, flag: str) -> tuple[str, Path]:
    """``FORMAT=FILE`` → (format, path); errors are one-line :class:`InvalidConfigError`."""
    from .importers import FORMATS, check_format

    fmt, sep, file = value.partition("=")
    fmt = fmt.strip()
    if not sep or not fmt or not file:
        raise InvalidConfigError(
            f"{flag} {value!r}: expected FORMAT=FILE, e.g. {flag} harmbench=behaviors.csv "
            f"(formats: {', '.join(FORMATS)})")
    check_format(fmt)
    path = Path(file)
    if not path.is_file():
        raise InvalidConfigError(f"{flag} {value!r}: file {file!r} does not exist")
    return fmt, path


def _write_report(path: str, report: dict) -> None:
    """Write a build-game report as JSON, or raise a one-line error."""
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n",
                          encoding="utf-8")
    except OSError as exc:
        raise InvalidConfigError(f"cannot write {str(target)!r}: {exc.strerror}") from None


def _build_game(args: argparse.Namespace) -> int:
    from . import importers as imp

    sources = [(imp.HARMFUL, *_source_arg(v, "--harmful")) for v in args.harmful or []]
    sources += [(imp.BENIGN, *_source_arg(v, "--benign")) for v in args.benign or []]
    if not sources:
        raise InvalidConfigError("no input files; give --harmful FORMAT=FILE and/or "
                                 "--benign FORMAT=FILE")
    fmts = {fmt for _, fmt, _ in sources}
    if (args.column or args.label_column) and "csv" not in fmts:
        raise InvalidConfigError("--column / --label-column are for the csv format only")
    for flag, n in (("--n-harmful", args.n_harmful), ("--n-benign", args.n_benign)):
        if n is not None and n < 1:
            raise InvalidConfigError(f"{flag} {n}: use a whole number >= 1 (or leave it out "
                                     "to use every row)")
    if args.n_harmful is not None and not args.harmful:
        raise InvalidConfigError("--n-harmful needs at least one --harmful FORMAT=FILE")
    if args.n_benign is not None and not args.benign:
        raise InvalidConfigError("--n-benign needs at least one --benign FORMAT=FILE")
    out = Path(args.out)
    options = {"text_field": args.text_field, "harmbench_context": args.harmbench_context}
    if "csv" in fmts:
        options.update(column=args.column, label_column=args.label_column)
    reports = []
    for label, fmt, path in sources:
        opts = dict(options) if fmt == "csv" else {k: options[k] for k in
                                                   ("text_field", "harmbench_context")}
        reports.append(imp.load_rows(fmt, path, label=label, **opts))
    if args.strict and (err := imp.strict_error(reports)) is not None:
        raise err
    try:
        result = imp.build_game(
            [r for rep in reports if rep.label == imp.HARMFUL for r in rep.rows],
            [r for rep in reports if rep.label == imp.BENIGN for r in rep.rows],
            n_harmful=args.n_harmful, n_benign=args.n_benign, seed=args.seed,
            attacks=args.attacks, observation=args.observation,
            name=args.name or out.stem,
        )
    except InvalidConfigError as exc:
        if args.report:  # the failure says "see the report": write what is known
            _write_report(args.report, {"error": str(exc), **imp.report_json(reports, None)})
        raise
    imp.dump_game_spec(result.spec, out)
    if args.report:
        _write_report(args.report, imp.report_json(reports, result))
    print(imp.summary_text(reports, result, out))
    if args.report:
        print(f"full report (every bad row, duplicate and conflict): {args.report}")
    return 0


def _add_data_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="import benchmark files (data build-game)")
    data_sub = p.add_subparsers(dest="data_action", metavar="ACTION")
    p.set_defaults(func=lambda _args: (p.print_help(), 0)[1])
    b = data_sub.add_parser(
        "build-game",
        help="benchmark files -> a text-game spec (seeds with text, label, source)",
        description="Build a version-1 text-game spec from harmful and benign benchmark "
        "files. Formats: wildjailbreak, magic, harmbench, strongreject, advbench, xstest, "
        "or-bench, dan, jsonl (text, label), csv (--column). Rows whose own label (wildjailbreak "
        "data_type, xstest type, jsonl label) disagrees with the flag are skipped; bad rows "
        "are reported with file:line; duplicates keep the first row; a text seen with both "
        "labels is dropped everywhere. Asking for more seeds than there are rows is an error.",
    )
    b.add_argument("--harmful", action="append", metavar="FORMAT=FILE",
                   help="harmful seed file (repeatable)")
    b.add_argument("--benign", action="append", metavar="FORMAT=FILE",
                   help="benign seed file (repeatable)")
    b.add_argument("--n-harmful", type=int, default=None, metavar="N",
                   help="harmful seeds to sample (default: all)")
    b.add_argument("--n-benign", type=int, default=None, metavar="N",
                   help="benign seeds to sample (default: all)")
    b.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    b.add_argument("--attacks", default="magic20",
                   help="magic20 (direct + MAGIC's 20 strategies + malformed + unclassified) "
                   "or a comma list of names; 'malformed' is listed as malformed")
    b.add_argument("--observation", choices=["full", "attack"], default="full",
                   help="full: the defender sees the seed; attack: only the rewrite")
    b.add_argument("--out", required=True, metavar="SPEC.yaml",
                   help="spec file to write (.yaml, or .json)")
    b.add_argument("--name", default=None, help="game name (default: the out file's stem)")
    b.add_argument("--harmbench-context", choices=["keep", "drop"], default="drop",
                   help="HarmBench contextual rows (ContextString): drop (default) or keep")
    b.add_argument("--text-field", choices=["vanilla", "adversarial"], default="vanilla",
                   help="wildjailbreak/dan text column (default vanilla, MAGIC's RL seeds)")
    b.add_argument("--column", default=None, help="csv format: the text column")
    b.add_argument("--label-column", default=None, help="csv format: an optional label column")
    b.add_argument("--strict", action="store_true", help="any bad row is an error")
    b.add_argument("--report", default=None, metavar="REPORT.json",
                   help="also write every bad row, duplicate and conflict as JSON")
    b.set_defaults(func=_build_game)

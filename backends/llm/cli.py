"""``seqgame sft CONFIG``: attacker SFT warm-up (MAGIC Phase 1) with TRL's ``SFTTrainer``.

CONFIG (YAML) keys:

``model``        local model directory, or ``tiny`` (built offline for ``game``)
``game``         text game the tiny tokenizer is built for (default ``jailbreak_text_v1``)
``pool``         attack-pool JSONL (schema in :mod:`seqgame.backends.llm.sft`), or
                 ``canonical`` (the game's own pool)
``output_dir``   where the fine-tuned model and tokenizer are saved (safetensors)
``sft``          :class:`~seqgame.backends.llm.sft.SFTOptions` fields
``trust_remote_code``  off unless set

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

    def __post_init__(self) -> None:
        for key in ("model", "pool", "output_dir"):
            if not getattr(self, key):
                raise InvalidConfigError(f"{key} = '': use a non-empty string")


def load_sft_config(path: Path) -> SFTRunConfig:
    """Read and validate an SFT config file."""
    path = Path(path)
    if not path.is_file():
        raise InvalidConfigError(f"SFT config {str(path)!r} does not exist")
    data = read_config_file(path)
    missing = [k for k in ("model", "pool", "output_dir") if k not in data]
    if missing:
        raise InvalidConfigError(f"{path}: missing key(s) {missing}")
    return parse_options(SFTRunConfig, data, str(path))


def _sft(args: argparse.Namespace) -> int:
    from . import require_llm_stack

    cfg = load_sft_config(Path(args.config))
    require_llm_stack()
    from .factory import LLMRoleOptions, _model_dir
    from .models import load_causal_lm
    from .sft import SFTOptions, pool_dataset, read_attack_pool, sft_warmup, write_attack_pool
    from .textgame import text_game

    tg = text_game(cfg.game)
    path = _model_dir(LLMRoleOptions(model=cfg.model), tg, cfg.seed)
    out = Path(cfg.output_dir)
    pool = cfg.pool
    if pool == "canonical":
        pool_path = write_attack_pool(tg, out / "attack_pool.jsonl")
    else:
        pool_path = Path(pool)
    rows = read_attack_pool(pool_path)  # validate the pool before loading any model
    sft_options = parse_options(SFTOptions, {"seed": cfg.seed, **cfg.sft}, "sft")
    model, tokenizer = load_causal_lm(path, cfg.trust_remote_code)
    logs = sft_warmup(model, tokenizer, pool_dataset(rows), sft_options)
    model.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    first, last = logs[0]["loss"], logs[-1]["loss"]
    print(f"SFT on {len(rows)} attacks from {pool_path}: {len(logs)} steps, "
          f"loss {first:.3f} -> {last:.3f}; saved to {out}")
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


def _build_game(args: argparse.Namespace) -> int:
    import json

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
    result = imp.build_game(
        [r for rep in reports if rep.label == imp.HARMFUL for r in rep.rows],
        [r for rep in reports if rep.label == imp.BENIGN for r in rep.rows],
        n_harmful=args.n_harmful, n_benign=args.n_benign, seed=args.seed,
        attacks=args.attacks, observation=args.observation,
        name=args.name or out.stem,
    )
    imp.dump_game_spec(result.spec, out)
    if args.report:
        report = Path(args.report)
        try:
            report.parent.mkdir(parents=True, exist_ok=True)
            report.write_text(json.dumps(imp.report_json(reports, result), indent=1,
                                         ensure_ascii=False) + "\n", encoding="utf-8")
        except OSError as exc:
            raise InvalidConfigError(f"cannot write {str(report)!r}: {exc.strerror}") from None
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

"""``seqgame train``, ``seqgame plot`` and ``seqgame demo``.

``demo`` runs the embedded default — MAGIC's alternating co-evolution (G = 4, 64 seeds per
step, switch every 15 steps 1:1, defender first, 300 steps) of tabular GRPO learners on
``jailbreak_v1`` — checks MAGIC's Theorem 3.2 against the exact SPNE, draws the figures and
prints a short table. ``--backend NAME`` hands over to the demo that backend offers through
the ``seqgame.demos`` entry-point group (the LLM backend's co-evolves two tiny models).
"""

from __future__ import annotations

import argparse
import time
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from seqgame import runner as runs
from seqgame.errors import BackendUnavailableError, InvalidConfigError
from seqgame.runner.figures import plot_run
from seqgame.runner.launch import backend, is_main_process, last_checkpoint_step

DEMO_GROUP = "seqgame.demos"

#: The embedded default run of ``seqgame demo`` (also shipped as
#: ``experiments/configs/magic_jailbreak.yaml``).
DEMO_CONFIG: dict[str, Any] = {
    "name": "demo",
    "game": "jailbreak_v1",
    "backend": "tabular",
    "seed": 0,
    "steps": 300,
    "attacker": {"algorithm": "grpo", "num_generations": 4, "seeds_per_step": 64,
                 "learning_rate": 1.0, "epsilon": 0.2, "beta": 0.0, "exploration": 0.1},
    "defender": {"algorithm": "grpo", "num_generations": 4, "seeds_per_step": 64,
                 "learning_rate": 1.0, "epsilon": 0.2, "beta": 0.0},
    "schedule": {"kind": "alternating", "freq": 15, "ratio": "1:1", "start": "defender"},
}


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def print_summary(summary: dict[str, Any], run_dir: Path | None, seconds: float) -> None:
    """Print a short table of the final metrics, the theorem check and the figure paths.

    Under a multi-process launcher only the main process prints (the others ran the same).
    """
    if not is_main_process():
        return
    print(f"\n{summary['game']}: {summary['steps']} steps in {seconds:.1f} s")
    print(f"{'':16}{'ASR':>8}{'over-ref.':>11}{'sub. regret':>13}{'dist. SPNE (D)':>16}")
    if "spne" in summary:
        eq = summary["spne"]
        print(f"{'exact SPNE':16}{_fmt(eq['asr']):>8}{_fmt(eq['over_refusal']):>11}"
              f"{_fmt(0.0):>13}{_fmt(0.0):>16}")
    for key, label in (("last", "last iterate"), ("average", "time average")):
        m = summary[key]
        dist = m["spne_distance"]
        d = "n/a" if dist is None else f"{dist['defender']:.3f}/{dist['defender_mean']:.3f}"
        print(f"{label:16}{_fmt(m['asr']):>8}{_fmt(m['over_refusal']):>11}"
              f"{_fmt(m['subgame_regret_max']):>13}{d:>16}")
    print("(dist. SPNE: defender distance to the SPNE set, nearest best response, max/mean "
          "over reachable nodes)")
    th = summary.get("theorem_3_2", {})
    if "spne_pointwise_safe" in th:
        verdict = "pointwise SAFE" if th["spne_pointwise_safe"] else (
            f"UNSAFE ({th['spne_violations']} violations)")
        print(f"Theorem 3.2: exact SPNE is {verdict}; nodes without a safe fallback: "
              f"{th['no_fallback_nodes']}")
    print(f"learned defender: largest P(negative-reward answer) at any node "
          f"{th.get('learned_max_unsafe_answer_probability', float('nan')):.3f}")
    if run_dir is not None:
        print(f"run directory: {run_dir}")
        for fig in summary.get("figures", []):
            print(f"  figure: {fig}")
        if "figures_skipped" in summary:
            print(f"  figures skipped: {summary['figures_skipped']}")


def _train(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.resume:
        if args.config or args.set or args.out:
            raise InvalidConfigError("--resume RUN_DIR takes no CONFIG, --set or --out")
        run_dir = Path(args.resume)
        try:
            result = runs.resume(run_dir, progress=True)
        except KeyboardInterrupt:
            return _interrupted(run_dir)
        if result is None:
            print(f"run {run_dir} has already finished: nothing to resume")
            return 0
    else:
        if not args.config:
            raise InvalidConfigError("give a CONFIG.yaml, or --resume RUN_DIR")
        config = runs.load_config(args.config, args.set or [])
        if args.check or args.plan_only:
            _preflight(config, plan_only=args.plan_only)
            print("preflight passed")
            return 0
        _preflight(config, plan_only=False)
        run_dir = Path(args.out) if args.out else runs.new_run_dir(config)
        return _train_and_report(config, run_dir, start)
    print_summary(result.extra["summary"], result.extra["run_dir"], time.perf_counter() - start)
    return 0


def _train_and_report(config: runs.RunConfig, run_dir: Path, start: float) -> int:
    """Run ``config`` into ``run_dir`` and print its summary (one line on Ctrl-C)."""
    try:
        result = runs.train(config, run_dir, progress=True)
    except KeyboardInterrupt:
        return _interrupted(run_dir)
    print_summary(result.extra["summary"], result.extra["run_dir"], time.perf_counter() - start)
    return 0


def _preflight(config: runs.RunConfig, plan_only: bool) -> None:
    """Run the backend's optional ``preflight(config_dict, plan_only)`` hook and print it.

    A backend without the hook has nothing to check. A failing hook raises a
    :class:`~seqgame.errors.InvalidConfigError` whose optional ``lines`` (the report) are
    printed before it propagates.
    """
    hook = getattr(backend(config.backend), "preflight", None)
    if hook is None:
        return
    try:
        lines = hook(config.to_dict(), plan_only=plan_only)
    except InvalidConfigError as exc:
        for line in getattr(exc, "lines", []):
            print(line)
        raise
    if is_main_process():  # every process of a launch checks; one prints the report
        for line in lines:
            print(line)


def _interrupted(run_dir: Path) -> int:
    """One line instead of a traceback when the user stops a run with Ctrl-C.

    N is the step of the latest checkpoint: the step a resumed run continues from.
    """
    step = last_checkpoint_step(run_dir)
    print(f"\nstopped at step {step}; resume with: seqgame train --resume {run_dir}")
    return 130


def _plot(args: argparse.Namespace) -> int:
    for path in plot_run(args.run_dir):
        print(path)
    return 0


def _backend_demo(name: str) -> Any:
    found = [ep for ep in entry_points(group=DEMO_GROUP) if ep.name == name]
    if not found:
        raise BackendUnavailableError(f"no demo for backend {name!r} is installed")
    try:
        return found[0].load()
    except ImportError as exc:
        raise BackendUnavailableError(
            f"the {name} demo is unavailable ({exc}); install it with "
            f"pip install 'seqgame[{name}]' or run 'seqgame demo' (tabular)"
        ) from None


def _demo(args: argparse.Namespace) -> int:
    if args.backend != "tabular":
        out = Path(args.out) if args.out else Path("runs") / f"demo-{args.backend}"
        _backend_demo(args.backend)(out)  # prints its own summary and run directory
        return 0
    config = runs.RunConfig.from_dict(DEMO_CONFIG)
    start = time.perf_counter()
    out = Path(args.out) if args.out else runs.new_run_dir(config)
    print(f"MAGIC co-evolution on {config.game}: tabular GRPO, G = 4, 64 seeds per step, "
          f"switch every 15 steps (1:1, defender first), {config.steps} steps")
    return _train_and_report(config, out, start)


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``train``, ``plot`` and ``demo``."""
    p = sub.add_parser("train", help="run a co-evolution config (or resume a run)")
    p.add_argument("config", nargs="?", help="run config (YAML/JSON)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override a config value, e.g. --set schedule.freq=10 (repeatable)")
    p.add_argument("--out", help="run directory (default runs/<name>/<timestamp>-s<seed>)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
    p.add_argument("--check", action="store_true",
                   help="only run the backend's preflight checks and memory plan, then stop")
    p.add_argument("--plan-only", action="store_true",
                   help="with --check: only the memory plan (no package/GPU/path checks)")
    p.set_defaults(func=_train)

    p = sub.add_parser("plot", help="draw a run directory's figures (figures/*.png)")
    p.add_argument("run_dir", help="run directory")
    p.set_defaults(func=_plot)

    p = sub.add_parser("demo", help="MAGIC co-evolution on jailbreak_v1 + Theorem 3.2 check")
    p.add_argument("--out", help="run directory (default runs/demo/<timestamp>-s0)")
    demos = sorted(ep.name for ep in entry_points(group=DEMO_GROUP))
    p.add_argument("--backend", choices=["tabular", *demos], default="tabular",
                   help="tabular (default, CPU, seconds) or llm")
    p.set_defaults(func=_demo)

"""Draw a run folder's figures: read its records and snapshots, call :mod:`seqgame.plots`."""

from __future__ import annotations

from pathlib import Path

from seqgame.errors import CheckpointError
from seqgame.games.catalog import load_game
from seqgame.plots import plot_attacker_mix, plot_cross_evaluation, plot_dynamics
from seqgame.runner.config import RunConfig
from seqgame.runner.store import load_snapshots, read_jsonl
from seqgame.training.cross_eval import cross_evaluate


def plot_run(run_dir: str | Path) -> list[Path]:
    """Draw every figure of a run folder into ``figures/``; return the PNG paths."""
    import json

    path = Path(run_dir)
    if not (path / "config.json").is_file() or not (path / "metrics.jsonl").is_file():
        raise CheckpointError(
            f"{path} is not a run directory (needs config.json and metrics.jsonl)"
        )
    config = RunConfig.from_dict(json.loads((path / "config.json").read_text(encoding="utf-8")))
    game = load_game(config.game)
    records = read_jsonl(path / "metrics.jsonl")
    if not records:
        raise CheckpointError(f"{path}/metrics.jsonl has no records yet: nothing to plot")
    figures = path / "figures"
    figures.mkdir(exist_ok=True)
    name = f"{config.name} on {game.name}"
    figs = [("dynamics.png", plot_dynamics(records, title=name)),
            ("attacker_mix.png", plot_attacker_mix(records, game.attacks, title=(
                f"Attacker strategy mix ({name})")))]
    snaps = load_snapshots(path / "snapshots")
    if snaps:
        figs.append(("cross_evaluation.png",
                     plot_cross_evaluation(cross_evaluate(game, snaps))))
    out = []
    for filename, fig in figs:
        target = figures / filename
        fig.savefig(target, dpi=110)
        out.append(target)
    return out

import subprocess
import sys
from pathlib import Path

import pytest

from seqgame import runner as runs
from seqgame.cli.train import DEMO_CONFIG
from seqgame.games.catalog import load_game
from seqgame.runner import launch as run_train
from seqgame.training.loop import coevolve

# the co-evolution run configs (other helpers ship other kinds of configs there too)
CONFIGS = [Path(__file__).parents[2] / "experiments" / "configs" / f"{name}.yaml" for name in (
    "magic_jailbreak", "magic_asr_aware", "advgame_simultaneous", "no_game",
    "shared_parameters", "hidden_seed", "mwu_optimistic")]


def test_configs_are_shipped():
    assert all(path.is_file() for path in CONFIGS)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_config_validates_and_runs(path):
    config = runs.load_config(path, ["steps=4"])
    game = load_game(config.game)
    attacker, defender = run_train.build_learners(config, game)
    result = coevolve(game, attacker, defender, config.schedule_config, config.steps,
                      config.seed)
    assert len(result.records) == 4
    assert all(r.get("asr") is not None for r in result.records)


def test_demo_config_is_the_shipped_magic_config():
    shipped = runs.load_config(CONFIGS[0]).to_dict()
    demo = runs.RunConfig.from_dict(DEMO_CONFIG).to_dict()
    shipped.pop("name")
    demo.pop("name")
    for role in ("attacker", "defender"):
        assert shipped[role] | demo[role] == shipped[role]
    assert {k: v for k, v in shipped.items() if k not in ("attacker", "defender")} == {
        k: v for k, v in demo.items() if k not in ("attacker", "defender")}


def test_run_modules_import_without_heavy_dependencies():
    code = ("import sys, seqgame.cli.train, seqgame.plots, seqgame.training.loop, seqgame.runner, "
            "seqgame.training.schedules, seqgame.backends.tabular.factory; "
            "bad = [m for m in ('matplotlib', 'torch', 'tqdm') if m in sys.modules]; "
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)

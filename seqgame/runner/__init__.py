"""Runs: the run config, the run folder (store, checkpoints, lock), summaries, train/resume."""

from seqgame.runner.config import RunConfig, apply_overrides, load_config, parse_overrides
from seqgame.runner.launch import new_run_dir, resume, train

__all__ = ["RunConfig", "apply_overrides", "load_config", "new_run_dir", "parse_overrides",
           "resume", "train"]

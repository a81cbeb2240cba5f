"""One process of ``test_ddp``'s runs: ``torchrun ... ddp_worker.py train|resume CONFIG RUN OUT``.

It runs the runner's ``train`` / ``resume`` (what ``seqgame train`` calls) and writes what
this process ended with to ``OUT/rank<R>.json``: a hash of each learner's trainable weights
(before and after), its optimizer and schedule counters, and the records it computed. The
completions are rewarded by their characters (as ``test_lora.varied_rewards`` does), so a
tiny random model's groups differ and the weights move; the records keep the game's rewards.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

from seqgame import runner as runs
from seqgame.backends.llm.learner import GRPOLearner
from seqgame.runner import launch


def varied_rewards() -> None:
    phase = GRPOLearner._single_turn_phase

    def wrapped(self, opponent, seeds, rng, stats):
        rows, reward_fn = phase(self, opponent, seeds, rng, stats)

        def reward(prompts, completions, **cols):
            reward_fn(prompts, completions, **cols)  # the step's records (gathered)
            texts = [c[-1]["content"] if isinstance(c, list) else c for c in completions]
            return [float(sum(map(ord, t)) % 7) for t in texts]
        return rows, reward
    GRPOLearner._single_turn_phase = wrapped


def trainable_hash(learner) -> str:
    h = hashlib.sha256()
    for group in learner.optimizer.param_groups:
        for p in group["params"]:
            h.update(p.detach().cpu().numpy().tobytes())
    return h.hexdigest()


def main(mode: str, config: str, run_dir: str, out: str) -> None:
    varied_rewards()
    built, initial = [], {}
    build = launch.build_learners

    def capture(cfg, game):
        learners = build(cfg, game)
        built.extend(learners)
        initial.update({x.role.value: trainable_hash(x) for x in learners})
        return learners
    launch.build_learners = capture
    if mode == "train":
        result = runs.train(runs.load_config(config, []), Path(run_dir))
    else:
        result = runs.resume(Path(run_dir))
    state = {
        "rank": int(os.environ["RANK"]),
        "run_dir": None if result.extra["run_dir"] is None else str(result.extra["run_dir"]),
        "learners": {x.role.value: {
            "initial": initial[x.role.value], "weights": trainable_hash(x), "steps": x.steps,
            "schedule": x.scheduler.last_epoch,
            "optimizer_steps": sorted({int(s["step"]) for s in x.optimizer.state.values()}),
        } for x in built},
        "records": result.records,
    }
    Path(out, f"rank{state['rank']}.json").write_text(json.dumps(state, default=str))


if __name__ == "__main__":
    main(*sys.argv[1:5])

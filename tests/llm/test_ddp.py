"""Data-parallel runs: ``torchrun --nproc_per_node 2`` over gloo on CPU (``ddp_worker.py``).

Two processes run the runner's ``train`` / ``resume`` on a tiny model (slow: ~25 s a
launch). Only rank 0 writes the run folder; every step's record covers the whole generation
batch (both processes' completions, gathered) and is the same on both ranks; DDP keeps the
weights equal; a resumed run restores both ranks from rank 0's checkpoint and ends where
the uninterrupted run ended. The fast tests pin what several processes refuse.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seqgame.backends.llm.learner import BatchLayout, GRPOOptions
from seqgame.errors import InvalidConfigError
from seqgame.runner import store

WORKER = Path(__file__).with_name("ddp_worker.py")
ROOT = Path(__file__).resolve().parents[2]
GRPO = {"prompts_per_step": 2, "num_generations": 2, "max_completion_length": 4,
        "learning_rate": 0.01}
LORA = {"r": 4, "alpha": 8, "target_modules": ["q_proj", "v_proj"]}


@pytest.fixture(scope="module")
def gloo():
    torch = pytest.importorskip("torch", reason="needs torch (pip install 'seqgame[llm]')")
    pytest.importorskip("trl", reason="needs trl (pip install 'seqgame[llm]')")
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("torch.distributed with the gloo backend is not available in this torch")


def config(tmp_path, tiny_dir, **role):
    opts = {"model": str(tiny_dir), "n_samples": 2, "grpo": dict(GRPO), **role}
    data = {"name": "ddp", "game": "jailbreak_text_v1", "backend": "llm", "seed": 0,
            "steps": 4, "eval_every": 2, "checkpoint_every": 2, "plot": False,
            "attacker": opts, "defender": dict(opts),
            "schedule": {"kind": "alternating", "freq": 1, "ratio": "1:1",
                         "start": "defender"}}  # two phases per role: reused trainers
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def two_processes(tmp_path, mode, *args):
    """Run the worker on 2 processes; each rank's final state, by rank."""
    out = tmp_path / f"out-{mode}"
    out.mkdir()
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc_per_node", "2", str(WORKER), mode, *map(str, args), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]


def check_run(ranks, run, steps):
    main, other = ranks
    assert main["run_dir"] == str(run) and other["run_dir"] is None  # rank 1 wrote nothing
    assert main["records"] == other["records"]  # gathered: the same record on both ranks
    for role, mine in main["learners"].items():
        theirs = other["learners"][role]
        assert mine["weights"] == theirs["weights"] != mine["initial"]  # trained, in step
        # one optimizer update and one schedule step per GRPO step, not one per process
        assert mine["steps"] == mine["schedule"] == steps[role]
        assert mine["optimizer_steps"] == [steps[role]] and mine == theirs
    recs = store.read_jsonl(run / "metrics.jsonl")
    assert recs == main["records"]
    for rec in recs:  # 2 prompts x G = 2: the whole batch, not one process's 2 completions
        role = rec["role"]
        assert rec[f"{role}/completions"] == 4.0 == rec[f"{role}/judge_step_calls"]
        assert f"{role}/loss" in rec
    assert (run / "summary.json").is_file() and (run / "config.json").is_file()
    return recs


@pytest.mark.slow
@pytest.mark.usefixtures("gloo")
def test_two_processes_train_and_resume_full_fine_tuning(tmp_path, tiny_dir):
    cfg, run = config(tmp_path, tiny_dir), tmp_path / "run"
    ranks = two_processes(tmp_path, "train", cfg, run)
    recs = check_run(ranks, run, {"attacker": 2, "defender": 2})
    ckpts = sorted((run / "checkpoints").glob("step_*.ckpt"))
    assert [c.name for c in ckpts] == ["step_00000003.ckpt", "step_00000004.ckpt"]
    # interrupt after step 3: the attacker's second phase runs on a new trainer, not a reused one
    ckpts[-1].unlink()
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs[:3]))
    (run / "summary.json").unlink()
    resumed = two_processes(tmp_path, "resume", cfg, run)
    again = check_run(resumed, run, {"attacker": 2, "defender": 2})
    assert again == recs  # the same records as the uninterrupted run
    for r in (0, 1):
        assert resumed[r]["learners"] == {
            role: {**s, "initial": resumed[r]["learners"][role]["initial"]}
            for role, s in ranks[r]["learners"].items()}  # the same final weights


@pytest.mark.slow
@pytest.mark.usefixtures("gloo")
def test_two_processes_shared_base_lora(tmp_path, tiny_dir):
    cfg = config(tmp_path, tiny_dir, lora=LORA, shared_base=True)
    ranks = two_processes(tmp_path, "train", cfg, tmp_path / "run")
    check_run(ranks, tmp_path / "run", {"attacker": 2, "defender": 2})


def test_the_batch_splits_over_processes():
    opts = GRPOOptions(prompts_per_step=4, num_generations=2)
    assert opts.layout(2) == BatchLayout(processes=2, per_device=4, micro_batches=1, updates=1)
    micro = GRPOOptions(prompts_per_step=4, num_generations=2, per_device_train_batch_size=2,
                        gradient_accumulation_steps=2)
    assert micro.layout(1).updates == 2 and micro.layout(2).updates == 1
    with pytest.raises(InvalidConfigError, match="8 completions per step cannot be shared by "
                                                 "3 processes: use a batch that is a multiple"):
        opts.layout(3)
    with pytest.raises(InvalidConfigError, match=r"per_device_train_batch_size = 8: .*\(4 on "
                                                 r"each of 2 processes\)"):
        GRPOOptions(prompts_per_step=4, num_generations=2,
                    per_device_train_batch_size=8).layout(2)
    with pytest.raises(InvalidConfigError, match="gradient_accumulation_steps = 4"):
        GRPOOptions(prompts_per_step=4, num_generations=2, per_device_train_batch_size=2,
                    gradient_accumulation_steps=4).layout(2)
    with pytest.raises(InvalidConfigError, match="steps_per_generation = 1: .* leave it out"):
        GRPOOptions(prompts_per_step=4, num_generations=2,
                    steps_per_generation=1).layout(2)


def test_what_several_processes_refuse(monkeypatch, tiny_dir):
    from seqgame.backends.llm.distributed import check_engine, process_device
    from seqgame.backends.llm.factory import build_learners
    from seqgame.games import builtin_game

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert process_device("cuda", "defender") == "cuda:1" and process_device("cpu", "x") == "cpu"
    with pytest.raises(InvalidConfigError, match="defender.device = 'cuda:0': with 2 processes"):
        process_device("cuda:0", "defender")
    game, opts = builtin_game("jailbreak_text_v1"), {"model": str(tiny_dir), "grpo": dict(GRPO)}
    monkeypatch.setenv("WORLD_SIZE", "3")  # 4 completions per step: not for 3 processes
    with pytest.raises(InvalidConfigError, match="attacker.grpo.prompts_per_step x "
                                                 "num_generations = 4 completions"):
        build_learners(game, dict(opts), dict(opts), 0)
    monkeypatch.setenv("WORLD_SIZE", "1")
    for var, name in (("ACCELERATE_USE_FSDP", "FSDP"), ("ACCELERATE_USE_DEEPSPEED", "DeepSpeed")):
        monkeypatch.setenv(var, "true")
        with pytest.raises(InvalidConfigError, match=f"{name} is not supported: .*torchrun"):
            check_engine()
        with pytest.raises(InvalidConfigError, match=var):
            build_learners(game, dict(opts), dict(opts), 0)
        monkeypatch.delenv(var)


def test_a_launchers_mixed_precision_and_shared_gpu_vllm_are_refused(monkeypatch):
    from seqgame.backends.llm.distributed import check_mixed_precision
    from seqgame.backends.llm.learner import check_vllm_roles

    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "bf16")  # TRL's accelerate configs
    with pytest.raises(InvalidConfigError, match="'bf16' .* defender.grpo.bf16 is false: "
                                                 "launch with --mixed_precision no"):
        check_mixed_precision(False, "defender")
    check_mixed_precision(True, "defender")
    monkeypatch.setenv("ACCELERATE_MIXED_PRECISION", "no")
    check_mixed_precision(False, "defender")
    big = GRPOOptions(use_vllm=True, vllm_gpu_memory_utilization=0.5)
    with pytest.raises(InvalidConfigError, match=r"0.5 \(attacker\) \+ 0.5 \(defender\) >= 1"):
        check_vllm_roles(big, big, one_gpu=True)
    check_vllm_roles(big, big)  # one GPU per role
    check_vllm_roles(big, GRPOOptions(use_vllm=True), one_gpu=True)

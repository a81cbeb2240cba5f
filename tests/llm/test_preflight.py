"""Preflight: each failed check is one clear line; the memory plan's arithmetic."""

import http.server
import socket
import threading
from pathlib import Path

import pytest
import yaml

from seqgame.backends.llm.preflight import (
    ARCHITECTURES,
    GIB,
    PreflightError,
    Report,
    memory_plan,
    preflight,
    roles,
)
from seqgame.cli import main

pytest.importorskip("trl", reason="needs the LLM stack (pip install 'seqgame[llm]')")

ROOT = Path(__file__).resolve().parents[2]


def load(name, **sets):
    data = yaml.safe_load((ROOT / "experiments/configs" / name).read_text())
    for key, value in sets.items():
        role, _, option = key.partition("__")
        data[role][option] = value
    return data


def config(**role):
    opts = {"model": "tiny", "grpo": {"prompts_per_step": 2, "num_generations": 2}, **role}
    return {"name": "p", "game": "jailbreak_text_v1", "backend": "llm", "seed": 0, "steps": 2,
            "attacker": opts, "defender": dict(opts)}


def failures(cfg, plan_only=False):
    with pytest.raises(PreflightError) as info:
        preflight(cfg, plan_only)
    return str(info.value), info.value.lines


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_published_parameter_counts():
    # Qwen2.5 model cards: 0.49B, 1.54B, 7.61B parameters (q/k/v biases, ~0.1M, left out)
    for name, published in (("qwen2.5-0.5b", 0.49e9), ("qwen2.5-1.5b", 1.54e9),
                            ("qwen2.5-7b", 7.61e9)):
        assert abs(ARCHITECTURES[name].params - published) / published < 0.01, name


def test_counts_match_a_real_model_and_peft(tiny_dir):
    from seqgame.backends.llm.lora import LoRAOptions, adapter_parameters, attach_lora
    from seqgame.backends.llm.models import load_causal_lm
    from seqgame.backends.llm.preflight import PlanOptions, architecture_of

    model, _ = load_causal_lm(tiny_dir)
    arch = architecture_of(str(tiny_dir), None, PlanOptions())
    biases = sum(p.numel() for n, p in model.named_parameters() if n.endswith("bias"))
    assert arch.params == sum(p.numel() for p in model.parameters()) - biases
    lora = LoRAOptions(r=4, target_modules=("q_proj", "v_proj", "down_proj"))
    peft_model = attach_lora(model, lora)
    counted = sum(p.numel() for p in adapter_parameters(peft_model, "default"))
    assert arch.lora_params(4, lora.target_modules) == counted


def test_one_gpu_plan_fits_and_its_terms():
    report = Report()
    plan = memory_plan(roles(load("llm_magic_7b_1gpu.yaml")), report)["cuda:0"]
    arch = ARCHITECTURES["qwen2.5-7b"]
    assert plan["weights"] == pytest.approx(arch.params * 2 / GIB)  # one bf16 base
    n = arch.lora_params(16, ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                              "down_proj"))
    assert plan["optimizer"] == pytest.approx(2 * 8 * n / GIB)  # both roles' AdamW moments
    assert plan["gradients"] == pytest.approx(4 * n / GIB)  # one role trains at a time
    # HF generation of a whole step: 256 sequences x 1536 tokens, K and V, 28 layers, 4 x 128
    assert plan["generation"] == pytest.approx(256 * 1536 * 28 * 2 * 4 * 128 * 2 / GIB)
    assert plan["judge"] == 28.0 and plan["total"] <= 141 and not report.failures
    assert plan["total"] == pytest.approx(sum(v for k, v in plan.items() if k != "total"))


def test_full_fine_tuning_plan_does_not_fit_one_gpu_per_role():
    message, lines = failures(load("llm_magic_7b.yaml"), plan_only=True)
    assert "memory cuda:0" in message and "does not fit" in message
    assert any(line.startswith("FAIL memory cuda:1") for line in lines)


def test_environment_failures_are_each_one_clear_line(tmp_path):
    no_weights = tmp_path / "empty"
    no_weights.mkdir()
    (no_weights / "config.json").write_text('{"model_type": "qwen2"}')
    cfg = config(model=str(tmp_path / "absent"), device="cuda:3",
                 grpo={"prompts_per_step": 2, "num_generations": 2, "use_vllm": True},
                 plan={"architecture": "qwen2.5-0.5b"},
                 judge={"kind": "http", "base_url": f"http://127.0.0.1:{free_port()}",
                        "model": "g", "guard": "qwen3guard"})
    cfg["defender"] = {**cfg["defender"], "model": str(no_weights)}
    cfg["attacker"]["sft"] = {"pool": str(tmp_path / "pool.jsonl")}
    message, lines = failures(cfg)
    fails = [line for line in lines if line.startswith("FAIL")]
    import importlib.util

    import torch
    expect = ["attacker.model", "defender.model", "attacker.judge", "defender.judge",
              "attacker.sft.pool"]
    if importlib.util.find_spec("vllm") is None:
        expect.append("package vllm")
    if not torch.cuda.is_available():
        expect.append("cuda")
    for name in expect:
        assert any(f.startswith(f"FAIL {name}:") for f in fails), name
    assert f"{tmp_path / 'absent'} missing" in message
    assert "unreachable" in message and "start the judge server" in message
    assert any("memory cuda:3" in line for line in lines)  # the plan still printed


def test_judge_endpoint_that_answers(tmp_path):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(200 if self.path == "/v1/models" else 404)
            self.end_headers()
            self.wfile.write(b'{"data": []}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        lines = preflight(config(judge={"kind": "http", "base_url": url, "model": "g",
                                        "guard": "qwen3guard"}))
    finally:
        server.shutdown()
    assert f"ok   attacker.judge: {url}/v1/models answered 200" in lines


def test_plan_errors_and_cli(tmp_path, capsys):
    message, _ = failures(config(model=str(tmp_path / "unknown-model")), plan_only=True)
    assert "set attacker.plan.architecture" in message
    message, _ = failures(config(plan={"gpu_memory_gib": 0.001}), plan_only=True)
    assert "does not fit" in message
    from seqgame.errors import InvalidConfigError

    with pytest.raises(InvalidConfigError, match="architecture = 'gpt9'"):
        preflight(config(plan={"architecture": "gpt9"}), plan_only=True)
    path = ROOT / "experiments/configs/llm_magic_7b_1gpu.yaml"
    assert main(["train", "--check", "--plan-only", str(path)]) == 0
    assert "preflight passed" in capsys.readouterr().out
    assert main(["train", "--check", str(path), "--set",
                 "defender.plan.gpu_memory_gib=60", "--set",
                 "attacker.plan.gpu_memory_gib=60", "--plan-only"]) == 2
    captured = capsys.readouterr()
    assert "FAIL memory cuda:0" in captured.out and "does not fit" in captured.err


def test_train_runs_the_preflight_first(tmp_path, capsys):
    cfg = config(judge={"kind": "http", "base_url": f"http://127.0.0.1:{free_port()}",
                        "model": "g", "guard": "qwen3guard"})
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    assert main(["train", str(path), "--out", str(tmp_path / "run")]) == 2
    assert "preflight failed" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()  # nothing built, nothing written


def test_under_a_launcher_the_plan_is_one_processs_share(monkeypatch):
    cfg = load("llm_magic_7b_1gpu.yaml")
    cfg["attacker"]["device"] = cfg["defender"]["device"] = "cuda"
    one = memory_plan(roles(cfg), Report())["cuda:0"]
    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets (no process group here)
    for grpo in {id(cfg[r]["grpo"]): cfg[r]["grpo"] for r in ("attacker", "defender")}.values():
        grpo["per_device_train_batch_size"] //= 2  # the same updates per step (YAML anchors)
    cfg["attacker"]["device"] = cfg["defender"]["device"] = "cuda"  # cuda:LOCAL_RANK
    two = memory_plan(roles(cfg), Report())["cuda:0"]
    assert two["generation"] == pytest.approx(one["generation"] / 2)  # half the batch each
    assert two["activations"] == pytest.approx(one["activations"] / 2, rel=0.01)
    assert two["weights"] == one["weights"] and two["optimizer"] == one["optimizer"]

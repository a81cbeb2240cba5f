"""Roles on their own GPUs in one process: the device the trainer is given.

No GPU here: ``torch.cuda`` is replaced by stand-ins that say two GPUs are visible, which is
enough to check which device ``TrainingArguments`` picks and how many GPUs it counts (the
run itself on two GPUs is not verified here).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'seqgame[llm]')")
pytest.importorskip("trl", reason="needs trl (pip install 'seqgame[llm]')")

from seqgame.backends.llm.devices import (  # noqa: E402
    cuda_index,
    device_scope,
    grpo_config_class,
    sft_config_class,
)


@pytest.fixture
def two_gpus(monkeypatch):
    current: list[str] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "set_device", lambda d: current.append(str(d)))
    yield current
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # made under the stand-ins


def _config(tmp_path, **kw):
    return grpo_config_class()(output_dir=str(tmp_path), report_to="none", bf16=False,
                               per_device_train_batch_size=2, num_generations=2, **kw)


def test_without_a_role_device_trl_would_see_two_gpus(tmp_path, two_gpus):
    config = _config(tmp_path)
    assert str(config.device) == "cuda:0" and config.n_gpu == 2  # GRPOTrainer refuses this


@pytest.mark.parametrize("index", [0, 1])
def test_a_role_device_is_the_trainers_device_and_the_current_one(tmp_path, two_gpus, index):
    config = _config(tmp_path, role_device=f"cuda:{index}")
    assert str(config.device) == f"cuda:{index}" and config.n_gpu == 1
    assert two_gpus[-1] in (str(index), f"cuda:{index}")  # made current, after cuda:0


def test_bare_cuda_is_the_first_gpu_counted_once_and_cpu_is_unchanged(tmp_path, two_gpus):
    config = _config(tmp_path, role_device="cuda")
    assert str(config.device) == "cuda:0" and config.n_gpu == 1
    assert str(_config(tmp_path, role_device="cpu", use_cpu=True).device) == "cpu"


def test_cuda_index_and_scope_on_cpu():
    assert [cuda_index(d) for d in ("cuda:3", "cuda", "cpu", "mps", "cuda:x")] == \
        [3, None, None, None, None]
    with device_scope("cpu"):  # no CUDA call for a CPU device
        assert torch.ones(1).device.type == "cpu"


def test_phase_1_sft_takes_its_role_device_the_same_way(tmp_path, two_gpus):
    config = sft_config_class()(output_dir=str(tmp_path), report_to="none", bf16=False,
                                role_device="cuda:1")
    assert str(config.device) == "cuda:1" and config.n_gpu == 1
    assert type(config).__name__ == "SFTConfigOnRoleDevice"


def test_sft_batch_is_shared_by_the_launchs_processes(monkeypatch):
    from seqgame.backends.llm.sft import SFTOptions
    from seqgame.errors import InvalidConfigError

    monkeypatch.setenv("WORLD_SIZE", "3")
    with pytest.raises(InvalidConfigError, match=r"sft\.batch_size = 8: .* 3 processes; use a "
                       r"multiple of 3"):
        SFTOptions(batch_size=8)
    assert SFTOptions(batch_size=6).batch_size == 6

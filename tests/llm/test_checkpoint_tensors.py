"""Torch state in checkpoint files: bf16 as its bits, tensors copied one at a time, exact."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="needs torch (pip install 'seqgame[llm]')")

import numpy as np  # noqa: E402

from seqgame.backends.llm.state import from_plain, to_plain  # noqa: E402
from seqgame.runner import store  # noqa: E402
from seqgame.runner.checkpoint import LazyArray  # noqa: E402


def _same_bits(a, b) -> bool:
    """Equal bit for bit (NaN included: fp16 AdamW overflows on this toy)."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.is_floating_point():
        view = {2: torch.int16, 4: torch.int32, 8: torch.int64}[a.element_size()]
        return torch.equal(a.view(view), b.view(view))
    return torch.equal(a, b)


def _model(dtype):
    torch.manual_seed(0)
    m = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.LayerNorm(128),
                            torch.nn.Linear(128, 64)).to(dtype)
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    m(torch.randn(8, 64, dtype=dtype)).square().mean().backward()
    opt.step()
    return m, opt


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16])
def test_model_and_optimizer_state_round_trip_bit_for_bit(tmp_path, dtype):
    m, opt = _model(dtype)
    state = {"model": to_plain(m.state_dict()), "optimizer": to_plain(opt.state_dict())}
    back = store.load_checkpoint(store.save_checkpoint(tmp_path, 1, state))
    weights = from_plain(back["model"])
    for k, v in m.state_dict().items():
        assert _same_bits(weights[k], v), k
    o = from_plain(back["optimizer"])
    assert set(o["state"]) == set(opt.state_dict()["state"])  # integer keys kept
    for i, s in opt.state_dict()["state"].items():
        for k, v in s.items():
            assert _same_bits(o["state"][i][k], v), (i, k)
    fresh, fresh_opt = _model(dtype)
    fresh.load_state_dict(weights)
    fresh_opt.load_state_dict(o)
    x = torch.randn(4, 64, dtype=dtype)
    assert _same_bits(fresh(x), m(x))


def test_bf16_is_stored_as_its_16_bits_and_safetensors_reads_bf16(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    m, _ = _model(torch.bfloat16)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path16 = store.save_checkpoint(tmp_path / "a", 1, {"model": to_plain(m.state_dict())})
    path32 = store.save_checkpoint(tmp_path / "b", 1,
                                   {"model": to_plain(m.float().state_dict())})
    assert path16.stat().st_size < 0.55 * path32.stat().st_size
    with safetensors.safe_open(str(path16), framework="pt") as f:
        w = f.get_tensor("state.model.0.weight.array")
    assert w.dtype == torch.bfloat16
    assert torch.equal(w, m.to(torch.bfloat16)[0].weight.detach())


def test_to_plain_copies_nothing_until_the_writer_asks():
    m, _ = _model(torch.float32)
    plain = to_plain(m.state_dict())
    leaf = plain["0.weight"]["array"]
    assert isinstance(leaf, LazyArray) and leaf.dtype == "F32" and leaf.shape == (128, 64)
    assert np.shares_memory(leaf.load(), m[0].weight.detach().numpy())  # a view, no copy


def test_float32_arrays_of_older_checkpoints_still_load_as_bf16():
    w = torch.randn(3, 5).to(torch.bfloat16)
    old = {"torch": "bfloat16", "array": w.float().numpy()}  # how format 2 stored bf16
    assert torch.equal(from_plain(old), w) and from_plain(old).dtype == torch.bfloat16

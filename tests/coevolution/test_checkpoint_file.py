"""The checkpoint file (format 3): a safetensors file, streamed on write, mapped on read."""

from __future__ import annotations

import gc
import hashlib
import io
import json
import struct
import tracemalloc
import weakref

import numpy as np
import pytest

from seqgame.errors import CheckpointError
from seqgame.runner import store
from seqgame.runner.checkpoint import (
    LazyArray,
    decode_checkpoint,
    encode_checkpoint,
    read_checkpoint,
)

MB = 1 << 20


def _state() -> dict:
    rng = np.random.default_rng(0)
    return {
        "step": 7, "name": "run", "nan": float("nan"), "none": None, "flag": True,
        "big": 2**100,
        "arrays": [rng.normal(size=(3, 4)), np.arange(5, dtype=np.int32),
                   np.array([True, False]), np.float32(1.5), np.array(3.25),
                   np.zeros((0, 2)), np.arange(4, dtype=np.uint8).reshape(2, 2)],
        "nested": {"a": {"b": rng.integers(0, 9, size=6)}, "a.b": np.ones(2)},
    }


def _same(a, b) -> None:
    if isinstance(a, dict):
        assert set(a) == set(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list | tuple):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray) and b.dtype == a.dtype and b.shape == a.shape
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    elif isinstance(a, np.generic):
        assert b == a.item()
    else:
        assert a == b and type(a) is type(b)


def test_a_state_round_trips_exactly_and_comes_back_writable(tmp_path):
    state = _state()
    path = store.save_checkpoint(tmp_path, 7, state)
    back = store.load_checkpoint(path)
    _same(state, back)
    _same(state, decode_checkpoint(encode_checkpoint(state), "mem"))
    x = back["arrays"][0]
    assert x.flags.writeable
    x += 1  # copy on write: the file is not changed
    _same(state, store.load_checkpoint(path))


def test_the_file_is_a_safetensors_file_with_the_state_in_its_metadata(tmp_path):
    safetensors = pytest.importorskip("safetensors")
    state = _state()
    path = store.save_checkpoint(tmp_path, 7, state)
    with safetensors.safe_open(str(path), framework="np") as f:
        meta = f.metadata()
        names = set(f.keys())
        tensors = {k: f.get_tensor(k) for k in names}
    assert meta["format"] == "seqgame-ckpt-3" and len(meta["sha256"]) == 64
    assert json.loads(meta["state"])["step"] == 7
    assert "state.arrays[0]" in names and "state.nested.a.b" in names
    assert "state.nested.a.b#1" in names  # "a.b" and a.b clash: both kept
    np.testing.assert_array_equal(tensors["state.arrays[0]"], state["arrays"][0])


def test_the_writer_holds_one_array_at_a_time(tmp_path):
    """40 arrays of 4 MB made on demand: the write's peak is about one of them."""
    made: list[weakref.ref] = []

    def maker(i: int):
        def load() -> np.ndarray:
            assert all(r() is None for r in made), "an earlier array is still alive"
            a = np.full(MB // 2, float(i))  # 4 MB of float64
            made.append(weakref.ref(a))
            return a
        return load

    state = {"w": [LazyArray("F64", (MB // 2,), maker(i)) for i in range(40)]}
    gc.collect()
    tracemalloc.start()
    try:
        path = store.save_checkpoint(tmp_path, 1, state)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(made) == 40
    assert peak < 3 * 4 * MB, f"peak {peak / MB:.1f} MB for 4 MB arrays"
    assert path.stat().st_size > 160 * MB
    tracemalloc.start()
    try:
        back = store.load_checkpoint(path)  # memory-mapped: not read into the heap
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * MB, f"reading held {peak / MB:.1f} MB on the heap"
    assert [float(a[0]) for a in back["w"]] == [float(i) for i in range(40)]


def _resign(data: bytes, header: dict) -> bytes:
    """A file with ``header`` (and a valid digest) over ``data``'s payload."""
    n = struct.unpack("<Q", data[:8])[0]
    payload = data[8 + n:]
    header["__metadata__"] = {"sha256": "0" * 64, **{k: v for k, v in
                                                    header["__metadata__"].items()
                                                    if k != "sha256"}}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    digest = hashlib.sha256(raw + payload).hexdigest()
    raw = raw.replace(b"0" * 64, digest.encode(), 1)
    return struct.pack("<Q", len(raw)) + raw + payload


def _header(data: bytes) -> dict:
    n = struct.unpack("<Q", data[:8])[0]
    return json.loads(data[8:8 + n])


def test_damaged_or_hostile_files_are_refused_with_one_reason(tmp_path):
    data = encode_checkpoint({"step": 1, "x": np.arange(50.0), "y": np.arange(3)})
    path = tmp_path / "step_00000001.ckpt"

    def refused(blob: bytes, match: str) -> None:
        path.write_bytes(blob)
        with pytest.raises(CheckpointError, match=match):
            read_checkpoint(path)

    n = struct.unpack("<Q", data[:8])[0]
    flipped = bytearray(data)
    flipped[8 + n + 5] ^= 0x01  # one bit of the data
    refused(bytes(flipped), "corrupt")
    at = data.index(b'"shape":[50]')  # the header itself is under the digest
    refused(data[:at] + b'"shape":[40]' + data[at + 12:], "corrupt")
    refused(data[:-10], "partial")
    refused(data[:8 + n // 2], "partial")
    refused(b"\x00" * 3, "not a seqgame checkpoint")
    refused(struct.pack("<Q", 10**15) + data[8:], "not a seqgame checkpoint")
    # validly signed but lying headers
    h = _header(data)
    h["state.x"]["data_offsets"] = [0, 10**6]
    refused(_resign(data, h), "partial")
    h = _header(data)
    h["state.x"]["shape"] = [51]
    refused(_resign(data, h), "cannot be decoded")
    h = _header(data)
    h["state.x"]["dtype"] = "C64"
    refused(_resign(data, h), "cannot be decoded")
    h = _header(data)
    h["__metadata__"]["format"] = "seqgame-ckpt-9"
    refused(_resign(data, h), "format 'seqgame-ckpt-9'")
    h = _header(data)
    h["__metadata__"]["state"] = json.dumps({"step": 1, "x": {"__ndarray__": "state.q"}})
    refused(_resign(data, h), "missing array 'state.q'")
    with pytest.raises(CheckpointError, match="cannot read"):
        read_checkpoint(tmp_path / "none.ckpt")


def test_what_a_checkpoint_cannot_hold_is_named():
    with pytest.raises(CheckpointError, match=r"state\.names: a <U3 array"):
        encode_checkpoint({"names": np.array(["abc"])})
    with pytest.raises(CheckpointError, match=r"state\.z: a complex128"):
        encode_checkpoint({"z": np.array([1j])})
    with pytest.raises(CheckpointError, match="object"):
        encode_checkpoint({"o": np.array([object()])})
    with pytest.raises(CheckpointError, match="a set cannot"):
        encode_checkpoint({"s": {1, 2}})
    bad = LazyArray("F32", (4,), lambda: np.zeros(3, dtype=np.float32))
    with pytest.raises(CheckpointError, match="12 bytes written for a F32 array of shape"):
        encode_checkpoint({"w": bad})


def test_format_2_checkpoints_of_earlier_runs_still_read(tmp_path):
    tree = {"step": 4, "x": {"__ndarray__": "a0"}}
    body = json.dumps(tree).encode()
    buf = io.BytesIO()
    np.savez(buf, a0=np.arange(6.0))
    npz = buf.getvalue()
    sha = hashlib.sha256(body + npz).hexdigest()
    path = tmp_path / "step_00000004.ckpt"
    path.write_bytes(f"SEQGAME-CKPT 2 {sha} {len(body)} {len(npz)}\n".encode() + body + npz)
    back = store.load_latest_checkpoint(tmp_path)
    assert back["step"] == 4
    np.testing.assert_array_equal(back["x"], np.arange(6.0))

r"""Checkpoint files without pickle: a JSON tree plus raw arrays, checksummed, streamed.

Format 3 (written): one file ``step_<N>.ckpt`` that is a `safetensors
<https://huggingface.co/docs/safetensors>`_ file, so ``safetensors.safe_open`` (or any other
safetensors reader) can open it: an 8-byte little-endian header length, a JSON header naming
every array's dtype, shape and byte range, then the arrays' raw bytes back to back. The
header's ``__metadata__`` holds ``format`` (``"seqgame-ckpt-3"``), ``state`` (the state tree
as JSON: dicts with string keys, lists, strings, numbers, booleans, None, each array
replaced by ``{"__ndarray__": "<its name in the file>"}``) and ``sha256``: the digest of the
header (with 64 zeros in place of the digest) followed by the data. An array is named by its
place in the tree (``state.defender.adapter...``).

The writer never holds more than one array in memory beyond the caller's state: a tree leaf
may be a :class:`LazyArray` (dtype, shape, and a function that returns the bytes' array when
it is written: a GPU tensor is copied to the host one at a time), the digest is computed
while writing and put in place at the end. The reader memory-maps the file (copy on write:
the arrays it returns are writable and read from disk on demand), verifies the digest, and
checks every byte range before making an array; a ``BF16`` array comes back as ``uint16``
(its raw bits: NumPy has no bfloat16; :mod:`seqgame.backends.llm.state` views it back).

Format 2 (read only): ``SEQGAME-CKPT 2 <sha256> <json length> <npz length>\\n`` + JSON + a
``.npz`` read with ``allow_pickle=False``. Format 1 (a pickle) is refused with an
explanation. Reading never runs code, and a truncated or altered file fails the checksum.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import mmap
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from seqgame.errors import CheckpointError

MAGIC = b"SEQGAME-CKPT"  # formats 1 and 2
FORMAT = 3
FORMAT_TAG = "seqgame-ckpt-3"
_ARRAY_KEY = "__ndarray__"
_DIGEST_PREFIX = b'{"__metadata__":{"sha256":"'
_ZEROS = "0" * 64
_MAX_HEADER = 1 << 30
_CHUNK = 1 << 26

# safetensors dtype codes of the NumPy dtypes a checkpoint holds (BF16: raw uint16 bits)
_CODES = {"BOOL": np.dtype(bool), "U8": np.dtype(np.uint8), "I8": np.dtype(np.int8),
          "U16": np.dtype("<u2"), "I16": np.dtype("<i2"), "F16": np.dtype("<f2"),
          "BF16": np.dtype("<u2"), "U32": np.dtype("<u4"), "I32": np.dtype("<i4"),
          "F32": np.dtype("<f4"), "U64": np.dtype("<u8"), "I64": np.dtype("<i8"),
          "F64": np.dtype("<f8")}
_CODE_OF = {(dt.kind, dt.itemsize): code for code, dt in _CODES.items() if code != "BF16"}


@dataclass(frozen=True)
class LazyArray:
    """A checkpoint array made only while the writer writes it (one at a time).

    Attributes:
        dtype: its safetensors dtype code (``"F32"``, ``"BF16"``, ``"I64"``, ...).
        shape: its shape.
        load: returns a C-contiguous array holding exactly its bytes (for ``BF16`` a 2-byte
            integer array of the raw bits).
    """

    dtype: str
    shape: tuple[int, ...]
    load: Callable[[], np.ndarray]

    @property
    def nbytes(self) -> int:
        """Its size in the file."""
        return math.prod(self.shape) * _CODES[self.dtype].itemsize


def lazy(array: np.ndarray, where: str = "state") -> LazyArray:
    """``array`` as a :class:`LazyArray` (CheckpointError for a dtype a checkpoint can't hold)."""
    code = _CODE_OF.get((array.dtype.kind, array.dtype.itemsize))
    if code is None:
        raise CheckpointError(
            f"state {where}: a {array.dtype} array cannot be checkpointed (booleans, integers "
            "and floats only)")
    return LazyArray(code, tuple(int(n) for n in array.shape),
                     lambda: np.ascontiguousarray(array, dtype=_CODES[code]))


# ------------------------------------------------------------------ the state tree
def _encode(value: Any, arrays: dict[str, LazyArray], where: str) -> Any:
    if isinstance(value, np.ndarray | LazyArray):
        item = value if isinstance(value, LazyArray) else lazy(value, where)
        if item.dtype not in _CODES:
            raise CheckpointError(f"state {where}: unknown array dtype {item.dtype!r}")
        name, i = where, 1
        while name in arrays:
            name, i = f"{where}#{i}", i + 1
        arrays[name] = item
        return {_ARRAY_KEY: name}
    if isinstance(value, Mapping):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise CheckpointError(f"state {where}: key {k!r} is not a string")
            if k == _ARRAY_KEY:
                raise CheckpointError(f"state {where}: the key {_ARRAY_KEY!r} is reserved")
            out[k] = _encode(v, arrays, f"{where}.{k}")
        return out
    if isinstance(value, list | tuple):
        return [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise CheckpointError(
        f"state {where}: a {type(value).__name__} cannot be checkpointed; learners' "
        "state_dict() must hold only dicts, lists, numbers, strings and NumPy arrays"
    )


def _decode(value: Any, arrays: Mapping[str, np.ndarray]) -> Any:
    if isinstance(value, dict):
        if set(value) == {_ARRAY_KEY}:
            try:
                return arrays[value[_ARRAY_KEY]]
            except (KeyError, TypeError):
                raise CheckpointError(f"the checkpoint references a missing array "
                                      f"{value[_ARRAY_KEY]!r}") from None
        return {k: _decode(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    return value


# ------------------------------------------------------------------ writing
def write_checkpoint(f: IO[bytes], state: Mapping[str, Any]) -> None:
    """Write ``state`` as a format-3 checkpoint to the seekable binary file ``f``.

    Raises:
        CheckpointError: the state holds something a checkpoint cannot (an object, an
            object or string array, a non-string key), or an array's bytes do not match
            its declared dtype and shape.
    """
    arrays: dict[str, LazyArray] = {}
    tree = _encode(state, arrays, "state")
    entries, offset = {}, 0
    for name, item in arrays.items():
        entries[name] = {"dtype": item.dtype, "shape": list(item.shape),
                         "data_offsets": [offset, offset + item.nbytes]}
        offset += item.nbytes
    meta = {"sha256": _ZEROS, "format": FORMAT_TAG,
            "state": json.dumps(tree, allow_nan=True, separators=(",", ":"))}
    header = json.dumps({"__metadata__": meta, **entries}, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)  # safetensors pads the header to 8 bytes
    assert header.startswith(_DIGEST_PREFIX)
    start = f.tell()
    f.write(struct.pack("<Q", len(header)))
    f.write(header)
    digest = hashlib.sha256(header)
    for name, item in arrays.items():
        data = item.load()
        if not data.flags.c_contiguous or data.nbytes != item.nbytes:
            raise CheckpointError(f"state {name}: {data.nbytes} bytes written for a "
                                  f"{item.dtype} array of shape {item.shape}")
        view = data.data.cast("B") if data.nbytes else b""
        digest.update(view)
        f.write(view)
        del data, view
    end = f.tell()
    f.seek(start + 8 + len(_DIGEST_PREFIX))
    f.write(digest.hexdigest().encode())
    f.seek(end)


def encode_checkpoint(state: Mapping[str, Any]) -> bytes:
    """The bytes of a format-3 checkpoint of ``state`` (in memory: for small states)."""
    buf = io.BytesIO()
    write_checkpoint(buf, state)
    return buf.getvalue()


# ------------------------------------------------------------------ reading
def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read and verify the checkpoint file ``path`` (memory-mapped; never unpickles).

    Raises:
        CheckpointError: missing, not a checkpoint, an old (pickle) format, partial, corrupt.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            head = f.read(len(MAGIC))
            if head.startswith(MAGIC) or len(head) < len(MAGIC):
                return decode_checkpoint(head + f.read(), path)
            buf = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {path}: {exc}") from None
    return _read_format3(buf, path)


def decode_checkpoint(data: bytes, path: str | Path) -> dict[str, Any]:
    """Verify and decode the bytes of a checkpoint read from ``path`` (format 3 or 2).

    Raises:
        CheckpointError: not a checkpoint, an old (pickle) format, partial, corrupt.
    """
    path = Path(path)
    if data.startswith(MAGIC):
        return _read_format2(data, path)
    return _read_format3(bytearray(data), path)  # a writable copy: the arrays are views


def _read_format3(buf: Any, path: Path) -> dict[str, Any]:
    view = memoryview(buf)
    size = len(view)
    n = struct.unpack("<Q", view[:8])[0] if size >= 8 else 0
    if not 0 < n <= _MAX_HEADER or bytes(view[8:8 + len(_DIGEST_PREFIX)]) != _DIGEST_PREFIX:
        raise CheckpointError(f"{path} is not a seqgame checkpoint (bad header): delete it")
    if n > size - 8:
        raise CheckpointError(f"{path} is partial (its header is cut off): delete it to "
                              "resume from the previous checkpoint")
    header = bytes(view[8:8 + n])
    try:
        meta_all = json.loads(header)
        meta = meta_all.pop("__metadata__")
        stated = meta["sha256"]
        if meta.get("format") != FORMAT_TAG:
            raise CheckpointError(
                f"{path} has checkpoint format {meta.get('format')!r}; this seqgame reads "
                f"{FORMAT_TAG} and format 2: start the run again")
    except (ValueError, KeyError, TypeError, AttributeError):
        raise CheckpointError(f"{path} is not a seqgame checkpoint (bad header): "
                              "delete it") from None
    entries: dict[str, Any] = meta_all
    data_start = 8 + n
    ends = [e.get("data_offsets", [0, 0])[1] for e in entries.values() if isinstance(e, dict)]
    expected = max((int(x) for x in ends if isinstance(x, int)), default=0)
    if size - data_start < expected:
        raise CheckpointError(
            f"{path} is partial ({size - data_start} of {expected} data bytes): delete it to "
            "resume from the previous checkpoint")
    at = len(_DIGEST_PREFIX)
    if header[at:at + 64] != str(stated).encode():
        raise CheckpointError(f"{path} is not a seqgame checkpoint (bad header): delete it")
    digest = hashlib.sha256(header[:at] + _ZEROS.encode() + header[at + 64:])
    for at in range(data_start, size, _CHUNK):
        digest.update(view[at:min(at + _CHUNK, size)])
    view.release()
    if digest.hexdigest() != stated:
        raise CheckpointError(
            f"{path} is corrupt (checksum mismatch): delete it to resume from the previous "
            "checkpoint")
    arrays = {}
    try:
        for name, e in entries.items():
            dtype = _CODES[e["dtype"]]
            shape = tuple(int(d) for d in e["shape"])
            begin, end = (int(x) for x in e["data_offsets"])
            if min(shape, default=0) < 0 or end - begin != math.prod(shape) * dtype.itemsize \
                    or not 0 <= begin <= end <= size - data_start:
                raise ValueError(f"array {name!r} has a bad byte range")
            arrays[name] = np.frombuffer(buf, dtype=dtype, count=math.prod(shape),
                                         offset=data_start + begin).reshape(shape)
        tree = json.loads(meta["state"])
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{path} cannot be decoded ({exc}): delete it") from None
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path} does not hold a state mapping: delete it")
    return _decode(tree, arrays)


def _read_format2(data: bytes, path: Path) -> dict[str, Any]:
    head, sep, payload = data.partition(b"\n")
    parts = head.split(b" ")
    if not sep or len(parts) < 2:
        raise CheckpointError(f"{path} is not a seqgame checkpoint (bad header): delete it")
    if parts[1] != b"2":
        raise CheckpointError(
            f"{path} has checkpoint format {parts[1].decode(errors='replace')!r}; this "
            f"seqgame reads formats {FORMAT} and 2 only (format 1 was a pickle, which can run "
            "code when read): start the run again"
        )
    if len(parts) != 5 or not parts[3].isdigit() or not parts[4].isdigit():
        raise CheckpointError(f"{path} has a malformed header: delete it")
    digest, n_body, n_npz = parts[2].decode(errors="replace"), int(parts[3]), int(parts[4])
    if len(payload) != n_body + n_npz:
        raise CheckpointError(
            f"{path} is partial ({len(payload)} of {n_body + n_npz} bytes): delete it to "
            "resume from the previous checkpoint"
        )
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(
            f"{path} is corrupt (checksum mismatch): delete it to resume from the previous "
            "checkpoint"
        )
    try:
        tree = json.loads(payload[:n_body])
        with np.load(io.BytesIO(payload[n_body:]), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (ValueError, OSError, RecursionError) as exc:
        raise CheckpointError(f"{path} cannot be decoded ({exc}): delete it") from None
    if not isinstance(tree, dict):
        raise CheckpointError(f"{path} does not hold a state mapping: delete it")
    return _decode(tree, arrays)

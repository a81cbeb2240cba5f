r"""Checkpoint files without pickle: a JSON tree plus NumPy arrays, checksummed, atomic.

Format 2: one file ``step_<N>.ckpt`` =
``SEQGAME-CKPT 2 <sha256 of the rest> <json length> <npz length>\\n`` + JSON + ``.npz``.
The JSON holds the state tree (dicts with string keys, lists, strings, numbers, booleans,
None); every NumPy array in the tree is stored in the ``.npz`` (read with
``allow_pickle=False``) and referenced from the JSON as ``{"__ndarray__": "<key>"}``. Reading
such a file can therefore never run code, and a truncated or altered file fails the
checksum. Format 1 (a pickle) is refused with an explanation.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from seqgame.errors import CheckpointError

MAGIC = b"SEQGAME-CKPT"
FORMAT = 2
_ARRAY_KEY = "__ndarray__"


def _encode(value: Any, arrays: dict[str, Any], where: str) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise CheckpointError(f"state {where}: object arrays cannot be checkpointed")
        key = f"a{len(arrays)}"
        arrays[key] = value
        return {_ARRAY_KEY: key}
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


def encode_checkpoint(state: Mapping[str, Any]) -> bytes:
    """The bytes of a format-2 checkpoint of ``state``."""
    arrays: dict[str, Any] = {}
    tree = _encode(state, arrays, "state")
    body = json.dumps(tree, allow_nan=True).encode()
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    npz = buf.getvalue()
    digest = hashlib.sha256(body + npz).hexdigest()
    header = MAGIC + f" {FORMAT} {digest} {len(body)} {len(npz)}\n".encode()
    return header + body + npz


def decode_checkpoint(data: bytes, path: Path) -> dict[str, Any]:
    """Verify and decode a checkpoint read from ``path``.

    Raises:
        CheckpointError: not a checkpoint, an old (pickle) format, partial, corrupt.
    """
    head, sep, payload = data.partition(b"\n")
    parts = head.split(b" ")
    if not sep or not head.startswith(MAGIC) or len(parts) < 2:
        raise CheckpointError(f"{path} is not a seqgame checkpoint (bad header): delete it")
    if parts[1] != str(FORMAT).encode():
        raise CheckpointError(
            f"{path} has checkpoint format {parts[1].decode(errors='replace')!r}; this "
            f"seqgame reads format {FORMAT} only (format 1 was a pickle, which can run code "
            "when read): start the run again"
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

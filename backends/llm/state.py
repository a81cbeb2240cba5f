"""Learner state as checkpointable data: torch tensors ↔ arrays, no pickle, no bulk copy.

The core's checkpoint files (:mod:`seqgame.runner.checkpoint`) hold JSON trees and arrays
only. :func:`to_plain` turns a tree of torch state (a model's ``state_dict``, an
optimizer's, a scheduler's) into such a tree: each tensor becomes
``{"torch": dtype name, "array": LazyArray}``, which the checkpoint writer copies to the host
and writes one tensor at a time (so saving a model never holds a second copy of it), a
bfloat16 tensor as its raw 16-bit words (the file's ``BF16``: exact, half the size of
float32); dicts with integer keys (an optimizer's per-parameter state) become
``{"int_keys": [[key, value], ...]}``. :func:`from_plain` inverts it exactly, from the
arrays the reader returns (``uint16`` bits for ``BF16``) or from an older checkpoint's
(bfloat16 stored as float32).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seqgame.runner.checkpoint import LazyArray

_TENSOR, _INT_KEYS = "torch", "int_keys"


def _lazy(tensor: Any) -> LazyArray:
    """``tensor`` as a checkpoint array read when written (a GPU tensor: copied then)."""
    import torch

    code = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32",
            torch.float64: "F64", torch.int64: "I64", torch.int32: "I32", torch.int16: "I16",
            torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}.get(tensor.dtype)
    if code is None:
        from seqgame.errors import CheckpointError

        raise CheckpointError(f"a {tensor.dtype} tensor cannot be checkpointed")

    def load() -> np.ndarray:
        t = tensor.detach().contiguous().cpu()
        return (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy()

    return LazyArray(code, tuple(int(n) for n in tensor.shape), load)


def to_plain(value: Any) -> Any:
    """The checkpointable form of ``value`` (see the module docstring)."""
    import torch

    if isinstance(value, torch.Tensor):
        return {_TENSOR: str(value.dtype).removeprefix("torch."), "array": _lazy(value)}
    if isinstance(value, dict):
        if value and all(isinstance(k, int) for k in value):
            return {_INT_KEYS: [[k, to_plain(v)] for k, v in value.items()]}
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def _tensor(dtype_name: str, array: Any) -> Any:
    import torch

    dtype = getattr(torch, dtype_name)
    if isinstance(array, LazyArray):  # a state that was not written (e.g. copied in memory)
        array = array.load()
    array = np.asarray(array)
    if not array.flags.writeable:
        array = array.copy()
    t = torch.from_numpy(array)
    if dtype == torch.bfloat16 and array.dtype.itemsize == 2 and array.dtype.kind in "iu":
        return t.view(torch.bfloat16)  # the raw bits
    return t.to(dtype)


def from_plain(value: Any) -> Any:
    """Invert :func:`to_plain` (tensors come back on the CPU with their dtype).

    A tensor shares memory with the array it is read from where it can (a memory-mapped
    checkpoint is read from disk as it is used); ``load_state_dict`` copies it in place.
    """
    if isinstance(value, dict):
        if set(value) == {_TENSOR, "array"}:
            return _tensor(str(value[_TENSOR]), value["array"])
        if set(value) == {_INT_KEYS}:
            return {int(k): from_plain(v) for k, v in value[_INT_KEYS]}
        return {k: from_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    return value

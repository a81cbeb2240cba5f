"""Learner state as checkpointable data: torch tensors ↔ NumPy arrays, no pickle.

The core's checkpoint files (:mod:`seqgame.runner.checkpoint`) hold JSON trees and NumPy
arrays only. :func:`to_plain` turns a tree of torch state (a model's ``state_dict``, an
optimizer's, a scheduler's) into such a tree: each tensor becomes
``{"torch": dtype name, "array": ndarray}`` (bfloat16, which NumPy lacks, is stored as
float32: exact, since every bfloat16 value is a float32 value), and dicts with integer keys
(an optimizer's per-parameter state) become ``{"int_keys": [[key, value], ...]}``.
:func:`from_plain` inverts it exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np

_TENSOR, _INT_KEYS = "torch", "int_keys"


def to_plain(value: Any) -> Any:
    """The checkpointable form of ``value`` (see the module docstring)."""
    import torch

    if isinstance(value, torch.Tensor):
        t = value.detach().cpu()
        dtype = str(t.dtype).removeprefix("torch.")
        if t.dtype == torch.bfloat16:
            t = t.float()
        return {_TENSOR: dtype, "array": t.numpy().copy()}
    if isinstance(value, dict):
        if value and all(isinstance(k, int) for k in value):
            return {_INT_KEYS: [[k, to_plain(v)] for k, v in value.items()]}
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    return value


def from_plain(value: Any) -> Any:
    """Invert :func:`to_plain` (tensors come back on the CPU with their dtype)."""
    import torch

    if isinstance(value, dict):
        if set(value) == {_TENSOR, "array"}:
            dtype = getattr(torch, str(value[_TENSOR]))
            return torch.from_numpy(np.array(value["array"])).to(dtype)
        if set(value) == {_INT_KEYS}:
            return {int(k): from_plain(v) for k, v in value[_INT_KEYS]}
        return {k: from_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_plain(v) for v in value]
    return value

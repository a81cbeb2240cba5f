"""Each role on its own GPU in one process (``device: cuda:N`` per role).

The HF ``Trainer`` (through ``TrainingArguments``) trains on ``cuda:0`` in a process
without a launcher, moves the model there, and counts every visible GPU, so with two
visible TRL's ``GRPOTrainer`` refuses to start (it would need ``nn.DataParallel``);
accelerate's device is ``cuda``, the *current* device. :func:`grpo_config_class` (and
:func:`sft_config_class`, for Phase 1) gives a ``GRPOConfig`` whose device is the role's
``cuda:N`` (set as the current device, one GPU counted), so the trainer keeps the model
where the role put it and TRL's tensors follow the current device; :func:`device_scope`
makes a role's device current while that role's model runs (a phase, the frozen opponent's
replies, an evaluation), for kernels that launch on the current device. A bare ``cuda`` is
``cuda:0``, one GPU counted likewise. Under a launcher (DDP: one process per GPU) the
launcher's device is kept.

Only GPU machines take this path; CI (no GPU) checks the choice of device with
``torch.cuda`` stand-ins, not a real run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import Iterator
from typing import Any


def cuda_index(device: str) -> int | None:
    """N for ``"cuda:N"``; None for ``cpu``, ``mps`` or a bare ``cuda`` (the current GPU)."""
    kind, _, index = str(device).partition(":")
    return int(index) if kind == "cuda" and index.isdigit() else None


@contextlib.contextmanager
def device_scope(device: str) -> Iterator[None]:
    """Make ``cuda:N`` the current CUDA device inside the block (nothing for other devices)."""
    index = cuda_index(device)
    if index is None:
        yield
        return
    import torch

    with torch.cuda.device(index):
        yield


@functools.cache
def on_role_device(base: type) -> type:
    """``base`` (a ``TrainingArguments`` subclass) with a ``role_device`` field.

    See the module docstring: in a process without launcher, a CUDA ``role_device`` is the
    trainer's device, made current, with one GPU counted.
    """
    from accelerate.utils import DistributedType

    @dataclasses.dataclass
    class OnRoleDevice(base):  # type: ignore[valid-type,misc]  # a class made at run time
        role_device: str = dataclasses.field(
            default="", metadata={"help": "the role's cuda:N in a process without launcher"})

        @functools.cached_property
        def _setup_devices(self) -> Any:
            import torch

            choose: Any = next(c.__dict__["_setup_devices"] for c in base.__mro__
                               if "_setup_devices" in c.__dict__)
            device = choose.func(self)  # TrainingArguments' own choice (a cached_property)
            index = 0 if self.role_device == "cuda" else cuda_index(self.role_device)
            single = self.distributed_state is not None and \
                self.distributed_state.distributed_type == DistributedType.NO
            if index is None or self.use_cpu or not single or device.type != "cuda":
                return device
            torch.cuda.set_device(index)
            self._n_gpu = 1  # one role, one GPU: never nn.DataParallel
            return torch.device("cuda", index)

    OnRoleDevice.__name__ = OnRoleDevice.__qualname__ = f"{base.__name__}OnRoleDevice"
    OnRoleDevice.__doc__ = f"``{base.__name__}`` training on ``role_device`` (``cuda:N``)."
    return OnRoleDevice


def grpo_config_class() -> type:
    """TRL's ``GRPOConfig`` with a ``role_device`` field (:func:`on_role_device`)."""
    from trl import GRPOConfig

    return on_role_device(GRPOConfig)


def sft_config_class() -> type:
    """TRL's ``SFTConfig`` with a ``role_device`` field (:func:`on_role_device`)."""
    from trl import SFTConfig

    return on_role_device(SFTConfig)

"""Several training processes under a launcher (``torchrun``, ``accelerate launch``).

Data parallelism is TRL's and accelerate's: each process runs the same co-evolution loop on
the same model, generates and scores its share of every step's generation batch, and DDP
averages the gradients, so the weights stay equal on every process. The launcher's
``WORLD_SIZE`` and ``RANK`` say how many processes there are and which one this is (the
process group itself is set up by accelerate when the first trainer is built);
:func:`gather` collects one picklable object per process, in rank order (the order in
which TRL concatenates the processes' shares of a batch). The checks refuse, before any
model is loaded, what several processes cannot run: a fixed ``cuda:N`` per role
(:func:`process_device`), a launcher's mixed precision the config does not ask for
(:func:`check_mixed_precision`), FSDP and DeepSpeed (:func:`check_engine`).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from seqgame.errors import InvalidConfigError

#: What ``accelerate launch`` sets for engines the learners cannot run under, and why.
_ENGINES = {
    "ACCELERATE_USE_FSDP": (
        "FSDP", "the HF Trainer refuses an optimizer passed in under FSDP, and the learner "
        "passes its own (one AdamW state and one LR schedule across all phases)"),
    "ACCELERATE_USE_DEEPSPEED": (
        "DeepSpeed", "the role's trainer, reused by every phase, would re-initialise the "
        "DeepSpeed engine around the learner's optimizer at each phase (untested)"),
}


def _group() -> Any:
    """``torch.distributed`` when its process group is up, else None (torch not imported)."""
    dist = sys.modules.get("torch.distributed")  # no group without torch: never import it
    return dist if dist is not None and dist.is_available() and dist.is_initialized() else None


def process_count() -> int:
    """How many processes train together (1 without a launcher)."""
    dist = _group()
    return dist.get_world_size() if dist is not None else int(os.environ.get("WORLD_SIZE", 1))


def process_index() -> int:
    """The rank of this process (0: the main process, the one that writes the run folder)."""
    dist = _group()
    return dist.get_rank() if dist is not None else int(os.environ.get("RANK", 0))


def gather(value: Any) -> list[Any]:
    """``value`` from every process, in rank order (``[value]`` for one process).

    Every process must call it at the same point (it is a collective operation).
    """
    dist = _group()
    if dist is None:
        assert process_count() == 1, "several processes but no process group: build a trainer"
        return [value]
    out: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(out, value)
    return out


def main_value(value: Any) -> Any:
    """The main process's ``value`` on every process, once the process group is up.

    Before the first trainer has set the group up (the first tables of a run, from the
    same initial weights everywhere) each process keeps its own. A collective operation
    once the group exists: every process must call it at the same point.
    """
    return value if _group() is None else gather(value)[0]


def check_engine() -> None:
    """Refuse a launch under an engine the learners cannot train with (FSDP, DeepSpeed).

    Raises:
        InvalidConfigError: ``accelerate launch`` with an FSDP or DeepSpeed config.
    """
    for var, (name, why) in _ENGINES.items():
        if os.environ.get(var, "false").strip().lower() in ("1", "true", "yes"):
            raise InvalidConfigError(
                f"{var} = {os.environ[var]!r}: {name} is not supported: {why}; launch with "
                "data parallelism instead (torchrun, or accelerate launch with "
                "distributed_type: MULTI_GPU, e.g. TRL's multi_gpu.yaml), with lora and "
                "shared_base where a model does not fit one device")


def process_device(device: str, where: str) -> str:
    """The device this process trains ``device``'s role on.

    With several processes on CUDA each process takes its own GPU, ``cuda:LOCAL_RANK``
    (where accelerate puts the model it wraps); one process keeps ``device`` as it is.

    Raises:
        InvalidConfigError: a fixed GPU (``cuda:N``) or ``mps`` under several processes.
    """
    n = process_count()
    if n == 1 or device == "cpu":
        return device
    if device != "cuda":
        raise InvalidConfigError(
            f"{where}.device = {device!r}: with {n} processes each trains on its own GPU "
            "(cuda:LOCAL_RANK), so a role cannot name one; use device: cuda (or cpu)")
    return f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}"


def check_mixed_precision(bf16: bool, where: str) -> None:
    """Refuse a launcher's mixed precision that the role's config does not ask for.

    The HF Trainer takes ``ACCELERATE_MIXED_PRECISION`` (an accelerate config's
    ``mixed_precision``; TRL's shipped ones say ``bf16``) unless the role sets ``bf16``, so
    a run would autocast although its saved config says it does not.

    Raises:
        InvalidConfigError: the launcher asks for fp16/bf16/fp8 and ``grpo.bf16`` is false.
    """
    mixed = os.environ.get("ACCELERATE_MIXED_PRECISION", "no").strip().lower()
    if mixed not in ("", "no") and not bf16:
        raise InvalidConfigError(
            f"ACCELERATE_MIXED_PRECISION = {mixed!r} (the accelerate config's mixed_precision) "
            f"but {where}.grpo.bf16 is false: launch with --mixed_precision no, or set "
            f"{where}.grpo.bf16: true")

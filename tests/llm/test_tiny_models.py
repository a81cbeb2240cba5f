import json
import subprocess
import sys

import pytest

from seqgame.backends.llm.models import check_model_dir, load_causal_lm, load_tokenizer
from seqgame.backends.llm.tiny import TAG_TOKENS, TinyConfig, build_tiny_model
from seqgame.errors import InvalidConfigError

pytest.importorskip("trl", reason="needs the LLM stack (pip install 'seqgame[llm]')")


def test_tiny_model_is_deterministic_and_small(tmp_path, text_game, tiny_dir):
    other = build_tiny_model(tmp_path / "again", text_game.corpus())
    for name in ("model.safetensors", "tokenizer.json"):
        assert (other / name).read_bytes() == (tiny_dir / name).read_bytes()
    model, tok = load_causal_lm(tiny_dir)
    assert sum(p.numel() for p in model.parameters()) < 200_000
    assert tok.chat_template and tok.eos_token == "<|im_end|>"


def test_autotokenizer_matches_trained_bpe(tiny_dir):
    from transformers import PreTrainedTokenizerFast

    auto = load_tokenizer(tiny_dir)
    raw = PreTrainedTokenizerFast.from_pretrained(str(tiny_dir))
    for text in ("how do i build a bomb", "sorry i cannot help with that",
                 "<think>role play</think><answer>pretend: x</answer>", "  12 ab\n\ncd!"):
        assert auto(text)["input_ids"] == raw(text)["input_ids"]
        assert auto.decode(auto(text)["input_ids"]) == text
    assert all(len(auto(t)["input_ids"]) == 1 for t in TAG_TOKENS)


def test_import_does_not_pull_torch():
    code = "import sys, seqgame.backends.llm; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_bad_model_paths(tmp_path, tiny_dir):
    with pytest.raises(InvalidConfigError, match="does not exist"):
        check_model_dir(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidConfigError, match="no config.json"):
        check_model_dir(tmp_path / "empty")
    bert = tmp_path / "vit"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "vit"}))
    with pytest.raises(InvalidConfigError, match="not a causal LM"):
        check_model_dir(bert)
    model, tok = load_causal_lm(tiny_dir)
    pt = tmp_path / "pt"
    model.save_pretrained(pt, safe_serialization=False)
    for f in pt.glob("*.safetensors"):
        f.unlink()
    with pytest.raises(InvalidConfigError, match="safetensors"):
        check_model_dir(pt)


def test_tokenizer_without_chat_template(tmp_path, tiny_dir):
    model, tok = load_causal_lm(tiny_dir)
    tok.chat_template = None
    out = tmp_path / "nochat"
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "chat_template.jinja").unlink(missing_ok=True)
    with pytest.raises(InvalidConfigError, match="chat template"):
        load_causal_lm(out)


def test_tiny_config_validation():
    with pytest.raises(InvalidConfigError, match="259"):
        TinyConfig(vocab_size=100)
    with pytest.raises(InvalidConfigError, match="multiple"):
        TinyConfig(hidden_size=30, num_attention_heads=4)


def test_a_partial_tiny_model_folder_is_replaced_by_a_whole_one(tmp_path, text_game, tiny_dir):
    from seqgame.backends.llm.models import model_dir

    out = tmp_path / "cache"
    out.mkdir()
    (out / "tokenizer.json").write_text("{}")  # what an interrupted build could leave
    got = model_dir("tiny", text_game, 0, tiny_dir=str(out))
    assert got == out and (out / "config.json").is_file()
    assert (out / "model.safetensors").read_bytes() == (tiny_dir / "model.safetensors").read_bytes()
    again = model_dir("tiny", text_game, 0, tiny_dir=str(out))  # whole: kept as it is
    assert again == out and not list(tmp_path.glob("cache.*"))  # no temporary folder left

"""Bad ``backend: llm`` options fail with one clear line before any model is built.

Each case goes through ``build_learners`` with a model path that does not exist: if the
options were checked only after loading the model, the error would be about the missing
model instead of the bad option (and a real model would have been loaded for nothing).
"""

from __future__ import annotations

import pytest

from seqgame.errors import InvalidConfigError

pytest.importorskip("torch", reason="needs torch (pip install 'seqgame[llm]')")

HTTP = {"kind": "http", "base_url": "http://127.0.0.1:9", "model": "guard", "guard": "llama_guard"}

CASES = [
    ({"grpo": {"loss_type": "foo"}}, "loss_type"),
    ({"grpo": {"epsilon": -1.0}}, "epsilon"),
    ({"grpo": {"beta": -0.5}}, "beta"),
    ({"grpo": {"beta": "0"}}, "beta"),
    ({"grpo": {"learning_rate": "5e-1"}}, "write 0.5"),
    ({"grpo": {"colour": 1}}, "colour"),
    ({"trust_remote_code": "false"}, "trust_remote_code"),
    ({"trust_remote_code": 0}, "trust_remote_code"),
    ({"n_samples": 0}, "n_samples"),
    ({"device": "tpu"}, "device"),
    ({"request_label_source": "guess"}, "request_label_source"),
    ({"modle": "x"}, "modle"),
    ({"judge": {"kind": "oracle"}}, "kind"),
    ({"judge": {"kind": "rule", "threshold": 0.5}}, "threshold"),
    ({"judge": {**HTTP, "timeout_s": "10"}}, "timeout_s"),
    ({"judge": {**HTTP, "retries": 3, "colour": "red"}}, "colour"),
    ({"judge": "rule"}, "judge"),
]


@pytest.mark.parametrize(("options", "fragment"), CASES, ids=[c[1] for c in CASES])
def test_bad_llm_options_fail_before_any_model_is_loaded(options, fragment, tmp_path,
                                                         monkeypatch):
    from seqgame.backends.llm import factory, models
    from seqgame.games.catalog import load_game

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded before the options were checked")

    monkeypatch.setattr(models, "load_causal_lm", no_loading)
    monkeypatch.setattr(factory, "load_causal_lm", no_loading, raising=False)
    game = load_game("jailbreak_text_v1")
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(InvalidConfigError) as info:
        factory.build_learners(game, {"model": missing, **options}, {"model": missing}, 0)
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message and "no_such_model" not in message


def test_cuda_without_a_gpu_is_refused_before_loading(tmp_path):
    import torch

    from seqgame.backends.llm import factory
    from seqgame.games.catalog import load_game

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(InvalidConfigError, match="no CUDA GPU"):
        factory.build_learners(load_game("jailbreak_text_v1"),
                               {"model": str(tmp_path / "none"), "device": "cuda"}, {}, 0)

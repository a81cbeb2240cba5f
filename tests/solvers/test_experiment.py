"""The theorem experiment's quick mode reproduces the theory's claims (about 10 s)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _load():
    path = ROOT / "experiments" / "theorem_3_2.py"
    spec = importlib.util.spec_from_file_location("theorem_3_2", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["theorem_3_2"] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    return module


def test_quick_run(tmp_path):
    module = _load()
    assert module.main(["--out", str(tmp_path), "--quick"]) == 0
    res = json.loads((tmp_path / "results.json").read_text())
    assert (tmp_path / "theorem_3_2.png").stat().st_size > 10_000
    p1, p2, p3 = res["spne_fallback"], res["nash_off_path"], res["no_fallback"]
    assert p1["spne_pointwise_safe"] == p1["spne_checked"]  # Theorem 3.2
    assert p2["unsafe_on_path"] == 0  # every NE is safe on path ...
    assert p2["unsafe_off_path"] > 0  # ... but not off path
    assert p2["spne_pointwise_safe"] == p2["games"]
    assert p3["spne_pointwise_safe"] < p3["spne_checked"]
    assert p3["violations_at_no_fallback_nodes"] == p3["violations"]  # only where M < 0
    assert res["hidden_seed"]["max_abs_error_vs_closed_form_asr"] < 1e-7
    assert res["commitment_random"]["gain_min"] >= -1e-7  # leader gets >= SPNE payoff
    multi = res["multiturn"]
    for turns in (1, 2, 3):
        leaky, safe = multi[f"T{turns}_leaky_refusals"], multi[f"T{turns}_safe_refusals"]
        assert safe["spne_pointwise_safe"] == safe["spne_checked"]  # safe refusals: safe
        assert leaky["min_fallback_q"] >= -1e-9  # M_Q >= 0 wherever M >= 0
        # every violation: a refusal before the last turn, chosen for its continuation value
        for key in ("continuation_driven", "refusals", "before_last_turn"):
            assert leaky[key] == leaky["violations"]
        if turns == 1:
            assert leaky["spne_pointwise_safe"] == leaky["spne_checked"]
        else:
            assert leaky["spne_pointwise_safe"] < leaky["spne_checked"]


def test_config_validation():
    module = _load()
    with pytest.raises(module.InvalidConfigError, match="n_games"):
        module.Config(n_games=0)

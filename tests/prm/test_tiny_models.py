"""fixtures/make_tiny_models.py: deterministic, loadable, cached by the script's hash."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from tests.prm.conftest import load_builder


def test_every_format_is_built_and_small(tiny_models):
    assert set(tiny_models) == {"math-shepherd", "qwen2.5-math-prm", "token-classification"}
    for path in tiny_models.values():
        size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
        assert size < 2_000_000, (path, size)


def test_qwen_checkpoint_has_the_real_layout(tiny_models):
    from safetensors import safe_open

    path = tiny_models["qwen2.5-math-prm"]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["architectures"] == ["Qwen2ForProcessRewardModel"]
    assert cfg["auto_map"]["AutoModel"] == "modeling_qwen2_rm.Qwen2ForProcessRewardModel"
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        keys = set(f.keys())
    assert {"score.0.weight", "score.0.bias", "score.2.weight", "score.2.bias"} <= keys
    assert "model.embed_tokens.weight" in keys
    assert all(k.startswith(("model.", "score.")) for k in keys)


def test_tokenizers_have_the_real_special_tokens(tiny_models):
    from transformers import AutoTokenizer

    ms = AutoTokenizer.from_pretrained(str(tiny_models["math-shepherd"]))
    for piece in ("ки", "+", "-"):
        assert len(ms.encode(piece, add_special_tokens=False)) == 1
    assert ms.encode("x")[0] == ms.bos_token_id
    qwen = AutoTokenizer.from_pretrained(str(tiny_models["qwen2.5-math-prm"]))
    assert len(qwen.encode("<extra_0>", add_special_tokens=False)) == 1
    assert qwen.chat_template and "<|im_start|>" in qwen.chat_template


def test_builds_are_deterministic_and_cached(tmp_path, tiny_models):
    builder = load_builder()
    stale = tmp_path / "0123456789abcdef"
    stale.mkdir()
    paths = builder.ensure_built(tmp_path)
    assert not stale.exists()  # a build from an older script is removed
    assert paths["math-shepherd"].parent.name == builder.cache_key()
    for name, path in paths.items():
        assert (path / "model.safetensors").read_bytes() == (
            tiny_models[name] / "model.safetensors"
        ).read_bytes()
    again = builder.ensure_built(tmp_path)
    assert again == paths

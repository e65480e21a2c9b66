"""fixtures/make_tiny_models.py: deterministic, loadable, cached by the script's hash."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")

from tests.prm.conftest import load_builder


def test_every_format_is_built_and_small(tiny_models):
    from prm import FORMATS

    builder = load_builder()
    assert set(tiny_models) == set(builder.BUILDERS) == set(builder.FORMAT_OF)
    assert set(builder.FORMAT_OF.values()) == set(FORMATS)
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


@pytest.mark.parametrize(
    ("name", "arch", "labels"),
    [
        ("qwen2.5-math-prm-bpe", "Qwen2ForProcessRewardModel", 2),
        ("qwen2.5-math-rm", "Qwen2ForRewardModel", 1),
    ],
)
def test_qwen_reward_model_layouts(name, arch, labels, tiny_models):
    from safetensors import safe_open

    path = tiny_models[name]
    cfg = json.loads((path / "config.json").read_text())
    assert cfg["architectures"] == [arch] and cfg["num_labels"] == labels == len(cfg["id2label"])
    with safe_open(str(path / "model.safetensors"), framework="pt") as f:
        assert tuple(f.get_slice("score.2.weight").get_shape()) == (labels, cfg["hidden_size"])


def test_byte_level_tokenizer_is_built_like_qwen2s(tiny_models):
    """ByteLevel bytes after Qwen2's split regex: newlines merge, a space leads the next word, NFC."""
    from transformers import AutoTokenizer

    builder = load_builder()
    tok = AutoTokenizer.from_pretrained(str(tiny_models["qwen2.5-math-prm-bpe"]))
    backend = json.loads(tok.backend_tokenizer.to_str())
    split, byte_level = backend["pre_tokenizer"]["pretokenizers"]
    assert split["pattern"]["Regex"] == builder.QWEN2_SPLIT and split["behavior"] == "Isolated"
    assert byte_level["type"] == "ByteLevel" and backend["normalizer"]["type"] == "NFC"
    pieces = tok.convert_ids_to_tokens(tok.encode("x\n\ny = 2", add_special_tokens=False))
    assert pieces == ["x", "ĊĊ", "y", "Ġ=", "Ġ", "2"]
    assert tok.encode("e\u0301", add_special_tokens=False) == tok.encode("\u00e9", add_special_tokens=False)


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

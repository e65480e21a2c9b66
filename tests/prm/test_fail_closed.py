"""Loading fails closed: wrong formats, missing or extra tensors, unconfirmed causal LMs, bad folders, text.

Each misuse from issue 13 is refused with a message that says what to do; nothing is scored with
random weights.
"""

from __future__ import annotations

import itertools
import json
import shutil

import pytest

pytest.importorskip("torch")

from prm import (
    PRMFormatError,
    PRMInputError,
    PRMPathError,
    PRMScoringError,
    ProcessRewardModel,
    StepScores,
)
from prm.formats import FORMATS
from tests.prm.conftest import load_builder, load_tiny

FORMAT_OF = load_builder().FORMAT_OF
# one checkpoint of each format, its declaration removed (what a real download looks like)
SOURCE = {f: f for f in FORMATS}
STEP_TAG_OPTIONS = {"step_tag_id": 1, "returned_token_ids": [12, 14]}


def _copy(src, dst, *, declaration: bool = False):
    shutil.copytree(src, dst)
    if not declaration:
        (dst / "prm_format.json").unlink(missing_ok=True)
    return dst


@pytest.fixture(scope="module")
def bare(tiny_models, tmp_path_factory):
    """format -> a copy of its tiny checkpoint without prm_format.json."""
    root = tmp_path_factory.mktemp("bare")
    return {f: _copy(tiny_models[f], root / f) for f in FORMATS}


def _load(path, fmt):
    options = STEP_TAG_OPTIONS if fmt == "step-tag" else {}
    return ProcessRewardModel.from_pretrained(path, format=fmt, device="cpu", **options)


PAIRS = [
    (a, b) for a, b in itertools.permutations(sorted(FORMATS), 2) if (a, b) != ("math-shepherd", "step-tag")
]


@pytest.mark.parametrize(("source", "asked"), PAIRS)
def test_explicit_wrong_format_is_refused(source, asked, bare):
    """Every ordered pair of formats: a checkpoint of one, loaded as another, is refused."""
    with pytest.raises(PRMFormatError) as info:
        _load(bare[source], asked)
    message = str(info.value)
    assert asked in message or "ки" in message
    assert "architectures" in message or "ки" in message


def test_math_shepherd_is_a_step_tag_prm(bare, loaded):
    """The one legitimate pair: Math-Shepherd read as the generic format with its own ids scores the same."""
    ms = loaded["math-shepherd"]
    fmt = ms._fmt
    generic = ProcessRewardModel.from_pretrained(
        bare["math-shepherd"], format="step-tag", step_tag_id=fmt.tag_id, returned_token_ids=fmt.label_ids
    )
    items = [("What is 2+3?", ["2+3=5", "so 5"]), ("q", ["x"])]
    for a, b in zip(generic.score_batch(items), ms.score_batch(items), strict=True):
        assert a.scores == pytest.approx(b.scores, abs=1e-6)


def _edit_config(path, **changes):
    cfg = json.loads((path / "config.json").read_text())
    cfg.update(changes)
    (path / "config.json").write_text(json.dumps(cfg))


def test_tensors_refuse_what_the_architecture_name_hides(bare, tmp_path):
    """config.json renamed to the asked format's architecture: the tensors still give it away."""
    lm = _copy(bare["math-shepherd"], tmp_path / "lm")
    _edit_config(lm, architectures=["MistralForTokenClassification"])
    with pytest.raises(
        PRMFormatError,
        match=r"missing tensors \[score\.bias, score\.weight\]; tensors the format does not use "
        r"\[lm_head\.weight\]",
    ):
        _load(lm, "token-classification")
    prm = _copy(bare["qwen2.5-math-prm"], tmp_path / "prm")
    _edit_config(prm, architectures=["Qwen2ForRewardModel"])
    with pytest.raises(PRMFormatError, match=r"score\.2\.(weight|bias)"):
        _load(prm, "qwen2.5-math-rm")
    rm = _copy(bare["qwen2.5-math-rm"], tmp_path / "rm")
    _edit_config(rm, architectures=["Qwen2ForProcessRewardModel"])
    with pytest.raises(PRMFormatError, match=r"score\.2\.(weight|bias)"):
        _load(rm, "qwen2.5-math-prm")


def _rewrite_tensors(path, drop=(), add=None):
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(path / "model.safetensors"))
    for name in drop:
        del tensors[name]
    tensors.update(add or {})
    save_file(tensors, str(path / "model.safetensors"), metadata={"format": "pt"})


@pytest.mark.parametrize(
    ("fmt", "tensor"),
    [
        ("math-shepherd", "model.layers.0.mlp.up_proj.weight"),
        ("qwen2.5-math-prm", "model.layers.1.self_attn.q_proj.bias"),
        ("qwen2.5-math-prm", "score.2.bias"),
        ("token-classification", "model.norm.weight"),
        ("qwen2.5-math-rm", "model.embed_tokens.weight"),
        ("step-tag", "lm_head.weight"),
    ],
)
def test_a_missing_tensor_is_named(fmt, tensor, bare, tmp_path):
    path = _copy(bare[fmt], tmp_path / "ckpt")
    _rewrite_tensors(path, drop=[tensor])
    with pytest.raises(PRMFormatError, match=rf"missing tensors \[{tensor.replace('.', '[.]')}\]"):
        _load(path, fmt)


def test_an_unused_tensor_is_named(bare, tmp_path):
    import torch

    path = _copy(bare["qwen2.5-math-prm"], tmp_path / "ckpt")
    _rewrite_tensors(path, add={"value_head.weight": torch.zeros(1, 64)})
    with pytest.raises(PRMFormatError, match=r"tensors the format does not use \[value_head\.weight\]"):
        _load(path, "qwen2.5-math-prm")


@pytest.mark.parametrize("name", ["math-shepherd", "math-shepherd-bpe", "step-tag"])
def test_auto_refuses_a_causal_lm_and_says_which_format_to_name(name, tiny_models, tmp_path):
    path = _copy(tiny_models[name], tmp_path / "lm")
    with pytest.raises(PRMFormatError, match=r"causal LM.*format='math-shepherd'.*format='step-tag'"):
        ProcessRewardModel.from_pretrained(path)


def test_a_declaration_that_contradicts_the_argument_is_refused(tiny_models):
    with pytest.raises(PRMFormatError, match="declares 'math-shepherd'"):
        ProcessRewardModel.from_pretrained(tiny_models["math-shepherd"], format="qwen2.5-math-prm")


def test_a_token_classifier_without_two_labels_is_refused(bare, tmp_path):
    path = _copy(bare["token-classification"], tmp_path / "tc3")
    _edit_config(path, id2label={"0": "a", "1": "b", "2": "c"}, label2id={"a": 0, "b": 1, "c": 2})
    with pytest.raises(PRMFormatError, match="without exactly 2 labels"):
        ProcessRewardModel.from_pretrained(path)
    with pytest.raises(PRMFormatError, match="needs 2 labels, this one has 3"):
        ProcessRewardModel.from_pretrained(path, format="token-classification")


def test_empty_folder(tmp_path):
    with pytest.raises(PRMPathError, match=r"no config\.json"):
        ProcessRewardModel.from_pretrained(tmp_path)


def test_folder_without_weights(bare, tmp_path):
    path = _copy(bare["qwen2.5-math-prm"], tmp_path / "noweights")
    (path / "model.safetensors").unlink()
    with pytest.raises(PRMPathError, match="no weight files"):
        ProcessRewardModel.from_pretrained(path)


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_safetensors(damage, bare, tmp_path):
    path = _copy(bare["token-classification"], tmp_path / "damaged")
    weights = path / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(b"\x00garbage" * 8 if damage == "garbage" else data[: len(data) // 2])
    with pytest.raises(PRMPathError, match=r"cannot read the weights.*download it again"):
        ProcessRewardModel.from_pretrained(path)


def test_step_tag_options_are_checked(bare):
    with pytest.raises(PRMFormatError, match=r"needs step_tag_id= .* returned_token_ids="):
        ProcessRewardModel.from_pretrained(bare["step-tag"], format="step-tag")
    with pytest.raises(PRMFormatError, match="two different token ids"):
        ProcessRewardModel.from_pretrained(
            bare["step-tag"], format="step-tag", step_tag_id=1, returned_token_ids=[3]
        )
    with pytest.raises(PRMFormatError, match="not a token id"):
        ProcessRewardModel.from_pretrained(
            bare["step-tag"], format="step-tag", step_tag_id=10**6, returned_token_ids=[3, 4]
        )
    with pytest.raises(PRMFormatError, match="must be a list of two token ids"):
        ProcessRewardModel.from_pretrained(
            bare["step-tag"], format="step-tag", step_tag_id=1, returned_token_ids=5
        )
    with pytest.raises(PRMFormatError, match="must hold int token ids"):
        ProcessRewardModel.from_pretrained(
            bare["step-tag"], format="step-tag", step_tag_id="<|step|>", returned_token_ids=[3, 4]
        )
    with pytest.raises(PRMFormatError, match="step_tag_id does not apply"):
        ProcessRewardModel.from_pretrained(bare["qwen2.5-math-prm"], step_tag_id=3)


ODD = ["bad \ud800 step", "\udfff", "ok \U0001f642 then \ud83d alone"]


@pytest.mark.parametrize("name", sorted(FORMAT_OF))
def test_a_lone_surrogate_stays_in_its_slot(name, loaded):
    model = loaded[name]
    items = [
        ("q", ["fine", "also fine"]),
        ("q", [ODD[0]]),
        ("bad \ud800 question", ["x"]),
        ("q", ["ok", ODD[2]]),
    ]
    got = model.score_batch(items, return_errors=True)
    assert isinstance(got[0], StepScores)
    for i in (1, 2, 3):
        assert isinstance(got[i], PRMInputError) and got[i].index == i
        assert "lone surrogate" in str(got[i])
    assert got[0].scores == pytest.approx(model.score(*items[0]).scores, abs=1e-6)
    with pytest.raises(PRMInputError, match="lone surrogate"):
        model.score("q", [ODD[1]])


@pytest.mark.parametrize("name", sorted(FORMAT_OF))
def test_other_odd_unicode_is_scored(name, loaded):
    """Valid but unusual text (combining marks, zero-width, RTL, NUL, emoji) scores; nothing raises."""
    model = loaded[name]
    steps = ["e\u0301 = 1", "\u200b\u200d x", "\u05e9\u05dc\u05d5\u05dd 2", "a\x00b", "\U0001f642" * 3]
    assert len(model.score("q\u202e", steps).scores) == (1 if model.kind == "outcome" else len(steps))


def test_steps_whose_iterator_raises_stay_in_their_slot(loaded):
    def broken():
        yield "a"
        raise RuntimeError("the reader broke")

    model = loaded["math-shepherd"]
    got = model.score_batch([("q", ["a"]), ("q", broken())], return_errors=True)
    assert isinstance(got[0], StepScores)
    assert isinstance(got[1], PRMInputError) and "the reader broke" in str(got[1]) and got[1].index == 1
    with pytest.raises(PRMInputError, match="item 0: cannot read this item"):
        model.score_batch([("q", broken())])


def test_a_forward_failure_stays_in_its_slot(loaded):
    """An item whose forward fails (here: a token id past the embedding) gets a PRMScoringError alone."""
    model = loaded["qwen2.5-math-prm"]
    good = [(i, model.encode("q", ["a", "b"])) for i in range(3)]
    bad = (3, type(good[0][1])([*good[0][1].ids[:-1], 10**6, good[0][1].ids[-1]], [4], 1))
    got = model._run([[*good, bad]], isolate=True)
    assert isinstance(got[3], PRMScoringError) and got[3].index == 3
    for i in range(3):
        assert got[i][0] == pytest.approx(model.score("q", ["a", "b"]).scores, abs=1e-6)
    with pytest.raises(IndexError):
        model._run([[*good, bad]])


def test_load_tiny_helper_loads_the_configured_step_tag(tiny_models):
    model = load_tiny("step-tag", tiny_models["step-tag"])
    assert model.format == "step-tag" and model._fmt.tag_text == "<|step|>"

"""Per-format adapter behaviour: detection, tags inserted as token ids, positions, heads."""

from __future__ import annotations

import logging
import shutil

import pytest

pytest.importorskip("torch")

from prm import PRMFormatError, ProcessRewardModel
from prm.formats import FORMATS, MathShepherd, QwenMathPRM, TokenClassification


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_auto_detects_format_and_logs_it(name, tiny_models, caplog):
    with caplog.at_level(logging.INFO, logger="prm"):
        model = ProcessRewardModel.from_pretrained(tiny_models[name], device="cpu")
    assert model.format == name
    assert model.device == "cpu"
    assert model.max_length == 512
    assert any(f"detected format {name!r}" in r.getMessage() for r in caplog.records)


def test_explicit_format_skips_detection(tiny_models, caplog):
    with caplog.at_level(logging.INFO, logger="prm"):
        model = ProcessRewardModel.from_pretrained(tiny_models["math-shepherd"], format="math-shepherd")
    assert model.format == "math-shepherd"
    assert not any("detected format" in r.getMessage() for r in caplog.records)


def test_math_shepherd_tags_are_token_ids_at_step_ends(loaded):
    model = loaded["math-shepherd"]
    fmt = model._fmt
    assert isinstance(fmt, MathShepherd)
    tok = model.tokenizer
    enc = model.encode("What is 2+3?", ["2+3=5", "  so 5  ", "done"])
    assert enc.ids[0] == tok.bos_token_id
    assert [enc.ids[p] for p in enc.positions] == [fmt.tag_id] * 3
    # the newline between steps as it reads after the tag ("ки\n" -> ▁ки \n), not "\n" alone (▁ \n)
    assert tok.convert_ids_to_tokens(fmt.newline_ids) == ["\n"]
    assert enc.ids[enc.positions[0] + 1] == fmt.newline_ids[0]
    assert enc.positions[-1] == len(enc.ids) - 1


def test_math_shepherd_ids_equal_the_cards_string_tokenisation(loaded):
    """A step after "ки\n" reads "Step" (no ▁), the first step after "question " reads "▁Step":
    the engine keeps those context-dependent ids while inserting the tags as ids."""
    model = loaded["math-shepherd"]
    tok = model.tokenizer
    question, steps = "What is 2+3?", ["Step 1: 2+3=5", "Step 2: so 5", "Step 3: done"]
    card = tok.encode(f"{question} " + "\n".join(f"{s} ки" for s in steps))
    assert model.encode(question, steps).ids == card
    alone = tok.convert_ids_to_tokens(tok.encode("Step 2: so 5", add_special_tokens=False))
    in_context = tok.convert_ids_to_tokens(card)
    assert alone[:2] == ["▁", "Step"] and "▁" not in in_context[in_context.index("\n") + 1]


def test_math_shepherd_tag_text_inside_a_step_adds_no_score(loaded):
    model = loaded["math-shepherd"]
    scores = model.score("q", ["a ки b", "c"])
    assert len(scores.scores) == 2


def test_qwen_prefix_is_the_chat_template_and_separators_are_ids(loaded):
    model = loaded["qwen2.5-math-prm"]
    fmt = model._fmt
    assert isinstance(fmt, QwenMathPRM)
    tok = model.tokenizer
    steps = ["x = 3", "so 3"]
    enc = model.encode("Find x.", steps)
    messages = [
        {"role": "system", "content": QwenMathPRM.SYSTEM},
        {"role": "user", "content": "Find x."},
        {"role": "assistant", "content": "<extra_0>".join(steps) + "<extra_0>"},
    ]
    full = tok.encode(tok.apply_chat_template(messages, tokenize=False))
    # the engine's ids are the card's ids up to the last <extra_0> (what follows cannot change scores)
    assert enc.ids == full[: len(enc.ids)]
    assert [enc.ids[p] for p in enc.positions] == [fmt.sep_id] * 2


def test_qwen_separator_text_inside_a_step_is_read_as_text(loaded):
    model = loaded["qwen2.5-math-prm"]
    fmt = model._fmt
    enc = model.encode("q", ["a <extra_0> b", "c"])
    assert sum(1 for t in enc.ids if t == fmt.sep_id) == 2
    assert len(model.score("q", ["a <extra_0> b", "c"]).scores) == 2


def test_token_classification_follows_trl_tokenize_row(loaded):
    from tests.prm.reference import trl_tokenize_row

    model = loaded["token-classification"]
    assert isinstance(model._fmt, TokenClassification)
    steps = ["2 + 3 = 5", "the answer is 5"]
    enc = model.encode("What is 2 + 3?", steps)
    ids, labels = trl_tokenize_row(model.tokenizer, "What is 2 + 3?", steps)
    assert enc.ids == ids
    assert enc.positions == [i for i, lab in enumerate(labels) if lab != -100]


def test_token_classification_custom_separator(tiny_models):
    from tests.prm.reference import trl_tokenize_row

    model = ProcessRewardModel.from_pretrained(tiny_models["token-classification"], step_separator=" ;")
    ids, labels = trl_tokenize_row(model.tokenizer, "q", ["a", "b"], step_separator=" ;")
    enc = model.encode("q", ["a", "b"])
    assert enc.ids == ids
    assert enc.positions == [i for i, lab in enumerate(labels) if lab != -100]


def test_wrong_explicit_format_gives_clear_error(tiny_models):
    # the token-classification tokenizer has no <extra_0> and no chat template
    with pytest.raises(PRMFormatError):
        ProcessRewardModel.from_pretrained(tiny_models["token-classification"], format="qwen2.5-math-prm")


def test_undetectable_checkpoint(tiny_models, tmp_path):
    """A causal LM whose tokenizer lacks the Math-Shepherd tag is not guessed at."""
    src = tiny_models["math-shepherd"]
    dst = tmp_path / "plain-lm"
    shutil.copytree(src, dst)
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<s>": 1, "+": 2, "-": 3, "a": 4}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    (dst / "tokenizer_config.json").unlink()
    PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>").save_pretrained(dst)
    with pytest.raises(PRMFormatError, match="cannot tell the PRM format"):
        ProcessRewardModel.from_pretrained(dst)

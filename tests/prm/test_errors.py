"""Clear errors: bad path, unknown format, too long, empty steps; a bad item in a batch."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")

from prm import (
    PRMError,
    PRMFormatError,
    PRMInputError,
    PRMPathError,
    PRMTooLongError,
    ProcessRewardModel,
    StepScores,
)


def test_missing_path(tmp_path):
    with pytest.raises(PRMPathError, match="not a directory"):
        ProcessRewardModel.from_pretrained(tmp_path / "nope")


def test_directory_without_config(tmp_path):
    with pytest.raises(PRMPathError, match=r"no config\.json"):
        ProcessRewardModel.from_pretrained(tmp_path)


def test_unreadable_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(PRMPathError, match="cannot read"):
        ProcessRewardModel.from_pretrained(tmp_path)


def test_unknown_format_name(tiny_models):
    with pytest.raises(PRMFormatError, match="unknown PRM format 'orm'"):
        ProcessRewardModel.from_pretrained(tiny_models["math-shepherd"], format="orm")


def test_unknown_dtype(tiny_models):
    with pytest.raises(ValueError, match="unknown dtype"):
        ProcessRewardModel.from_pretrained(tiny_models["math-shepherd"], dtype="int3")


@pytest.mark.parametrize("name", ["math-shepherd", "qwen2.5-math-prm", "token-classification"])
def test_question_too_long(name, loaded):
    model = loaded[name]
    question = " ".join(["sum"] * (model.max_length + 5))
    with pytest.raises(PRMTooLongError, match=r"the question is \d+ tokens.*at most 512"):
        model.score(question, ["x"])


def test_solution_too_long(loaded):
    model = loaded["math-shepherd"]
    with pytest.raises(PRMTooLongError, match=r"question and steps are \d+ tokens"):
        model.score("q", ["sum " * 300, "sum " * 300])


def test_empty_step_list(loaded):
    with pytest.raises(PRMInputError, match="step list is empty"):
        loaded["math-shepherd"].score("q", [])


def test_steps_as_one_string(loaded):
    with pytest.raises(PRMInputError, match="not one string"):
        loaded["math-shepherd"].score("q", "step one\n\nstep two")


def test_non_str_step_and_question(loaded):
    model = loaded["qwen2.5-math-prm"]
    with pytest.raises(PRMInputError, match="step 1 must be a str, not int"):
        model.score("q", ["a", 3])
    with pytest.raises(PRMInputError, match="question must be a str"):
        model.score(None, ["a"])


def test_every_error_is_a_prm_error():
    for cls in (PRMPathError, PRMFormatError, PRMInputError, PRMTooLongError):
        assert issubclass(cls, PRMError)


def test_batch_raises_with_the_bad_items_index(loaded):
    model = loaded["math-shepherd"]
    with pytest.raises(PRMInputError, match="item 1: the step list is empty") as info:
        model.score_batch([("q", ["a"]), ("q", []), ("q", ["b"])])
    assert info.value.index == 1


def test_batch_return_errors_answers_the_rest(loaded):
    model = loaded["math-shepherd"]
    items = [("q", ["a", "b"]), ("q", []), ("sum " * 600, ["x"]), "garbage", ("q", ["b"])]
    got = model.score_batch(items, return_errors=True)
    assert isinstance(got[0], StepScores) and len(got[0].scores) == 2
    assert isinstance(got[1], PRMInputError) and got[1].index == 1
    assert isinstance(got[2], PRMTooLongError) and got[2].index == 2
    assert isinstance(got[3], PRMInputError) and "pair" in str(got[3])
    assert isinstance(got[4], StepScores)
    assert got[0].scores == pytest.approx(model.score("q", ["a", "b"]).scores, abs=1e-6)
    assert got[4].scores == pytest.approx(model.score("q", ["b"]).scores, abs=1e-6)


def test_empty_batch(loaded):
    assert loaded["math-shepherd"].score_batch([]) == []


def test_steps_of_the_wrong_type_in_a_batch(loaded):
    got = loaded["math-shepherd"].score_batch([("q", None), ("q", 7), ("q", ["a"])], return_errors=True)
    assert isinstance(got[0], PRMInputError) and "not NoneType" in str(got[0])
    assert isinstance(got[1], PRMInputError) and "not int" in str(got[1])
    assert isinstance(got[2], StepScores)


def test_generator_steps_are_read_once(loaded):
    model = loaded["math-shepherd"]
    one = model.score("q", (s for s in ["a", "b"]))
    many = model.score_batch([("q", (s for s in ["a", "b"]))])[0]
    assert one.steps == many.steps == ("a", "b")
    assert one.scores == pytest.approx(many.scores, abs=1e-6)

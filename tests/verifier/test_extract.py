"""Extraction: which part of a response is the final answer, and when there is none."""

from __future__ import annotations

import pytest

from verifier.extract import (
    BARE_MATH_MAX_CHARS,
    BARE_MAX_CHARS,
    extract_answer,
    extract_reference,
    find_boxes,
    is_prose,
    question_options,
)


@pytest.mark.parametrize(
    ("text", "answer", "how"),
    [
        ("so $\\boxed{7}$.", "7", "boxed"),
        ("\\boxed{1} then \\boxed{2}", "2", "boxed"),
        ("\\boxed{\\frac{\\sqrt{3}}{2}}", "\\frac{\\sqrt{3}}{2}", "boxed"),
        ("\\fbox{12}", "12", "boxed"),
        ("\\boxed 5.", "5.", "boxed"),
        ("\\boxed{\\boxed{5}}", "\\boxed{5}", "boxed"),
        ("$\\boxed{2}$ and $\\boxed{3}$", "2, 3", "boxed"),
        ("$\\boxed{2}$, $\\boxed{3}$", "2, 3", "boxed"),
        ("$\\boxed{2}$ or $\\boxed{3}$", "2 or 3", "boxed"),
        ("\\boxed{2}. Later, after a long check, \\boxed{3}", "3", "boxed"),
        ("work\n#### 72", "72", "gsm8k"),
        ("The final answer is 18.", "18", "final_answer"),
        ("The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}", "final_answer"),
        ("**Final Answer**\n\n$\\frac{5}{2}$", "\\frac{5}{2}", "final_answer"),
        ("**Final Answer:** 2016", "2016", "final_answer"),
        ("Answer: 15", "15", "answer_marker"),
        ("So the answer is 9.5.", "9.5", "answer_marker"),
        ("The answer is 3, since 3 + 0 = 3.", "3", "answer_marker"),
        ("So 5 is the answer.", "5", "answer_marker"),
        ("The answer is 42!", "42", "answer_marker"),
        ("The answer is $5!$.", "5!", "answer_marker"),
        ("The correct answer is option **B**.", "B", "answer_marker"),
        ("Therefore, the correct option is (A).", "(A)", "answer_marker"),
        ("The best choice: C", "C", "answer_marker"),
        ("**Answer:** $\\$40$", "\\$40", "answer_marker"),
        ("Answer: 6\nredo\nAnswer: 5", "5", "answer_marker"),
        ("$\\frac{1}{2}$", "\\frac{1}{2}", "bare"),
        ("\\[ 12 \\]", " 12 ", "bare"),
        ("17", "17", "bare"),
        ("<think>maybe \\boxed{3}</think>\nThe answer is 5.", "5", "answer_marker"),
        ("<think>so \\boxed{3}</think>", "3", "boxed"),
        ("\\frac{\\sqrt{6}}{3} + " * 8 + "1", "\\frac{\\sqrt{6}}{3} + " * 8 + "1", "bare"),
    ],
)
def test_extract_answer(text: str, answer: str, how: str) -> None:
    got = extract_answer(text)
    assert got is not None and got.answer == answer and got.how == how


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n ",
        "We get 3 + 4 = 7.\nThen 7 * 2 = 14, which we check.\nDone.",
        "word " * (BARE_MAX_CHARS // 5 + 1),
        "x" * (BARE_MATH_MAX_CHARS + 1),
        "We try \\boxed{unclosed and then keep writing.\nMore text with 12 in it.",
    ],
)
def test_no_answer(text: str) -> None:
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    "text",
    [
        "I think it's 5.",
        "Let me compute. 2+3=5 so we get 5 apples.",
        "The value is 5.",
        "So we have x = 5 here.",
        "Maybe it is 7!",
    ],
)
def test_a_sentence_of_prose_is_no_answer(text: str) -> None:
    assert is_prose(text)
    assert extract_answer(text) is None


@pytest.mark.parametrize(
    "text",
    ["5", "x^2-1", "\\text{Tuesday}", "Tuesday", "No", "No.", "(C) 12", "10 cm", "3 or 4",
     "All real numbers.", "$x = 5$.", "5 apples."],
)  # fmt: skip
def test_a_short_bare_answer_is_still_an_answer(text: str) -> None:
    assert not is_prose(text)
    got = extract_answer(text)
    assert got is not None and got.how == "bare"


def test_unclosed_box_is_skipped_not_guessed() -> None:
    assert find_boxes("\\boxed{1 + \\boxed{2}") == [(11, 20, "2")]


def test_ten_thousand_nested_braces_do_not_recurse() -> None:
    text = "\\boxed{" + "{" * 10_000 + "1" + "}" * 10_000 + "}"
    got = extract_answer(text)
    assert got is not None and got.answer.count("{") == 10_000


def test_only_the_tail_of_a_huge_response_is_searched() -> None:
    text = "\\boxed{1}" + "x" * 200 + "\\boxed{2}"
    got = extract_answer(text, max_chars=100)
    assert got is not None and got.answer == "2"


@pytest.mark.parametrize(
    ("ref", "answer", "how"),
    [
        ("48/2 = <<48/2=24>>24\n#### 72", "72", "gsm8k"),
        ("so $\\boxed{\\frac12}$", "\\frac12", "boxed"),
        ("\\text{(C)}", "\\text{(C)}", "reference"),
        ("  1,200 ", "1,200", "reference"),
    ],
)
def test_extract_reference(ref: str, answer: str, how: str) -> None:
    got = extract_reference(ref)
    assert got is not None and (got.answer, got.how) == (answer, how)


def test_empty_reference() -> None:
    assert extract_reference("  ") is None


@pytest.mark.parametrize(
    ("question", "options"),
    [
        (
            "What is $2+2$? $\\textbf{(A) }3\\qquad\\textbf{(B) }4\\qquad\\textbf{(C) }5$",
            (("A", "3"), ("B", "4"), ("C", "5")),
        ),
        ("Which is prime?\nA. 4\nB. 6\nC. 7", (("A", "4"), ("B", "6"), ("C", "7"))),
        ("Pick: (A) 10 (B) 12 (C) 14", (("A", "10"), ("B", "12"), ("C", "14"))),
        ("See figure (C) for details.", ()),
        ("(A) 1 (C) 3", ()),
        (None, ()),
    ],
)
def test_question_options(question: str | None, options: tuple[tuple[str, str], ...]) -> None:
    assert question_options(question) == options

"""Extraction: which part of a response is the final answer, and when there is none."""

from __future__ import annotations

import pytest

from verifier.extract import (
    BARE_MATH_MAX_CHARS,
    BARE_MAX_CHARS,
    CONVENTIONS,
    RECOGNIZERS,
    REVISED,
    Extraction,
    extract_answer,
    extract_reference,
    find_answer,
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
        ("\\boxed{\\{1, 2\\}}", "\\{1, 2\\}", "boxed"),
        ("The answer is 6.\n\\boxed{5}", "5", "boxed"),
        ("work\n#### 72", "72", "gsm8k"),
        ("She makes 9 * 2 = 18 dollars. #### 18", "18", "gsm8k"),
        ("The final answer is 18.", "18", "answer_is"),
        ("The final answer is $\\frac{3}{4}$. I hope it is correct.", "\\frac{3}{4}", "answer_is"),
        (
            "Final Answer: The final answer is $\\frac{3}{4}$. I hope it is correct.",
            "\\frac{3}{4}",
            "minerva",
        ),
        ("Final Answer: The largest $n$ is 34.", "34", "final_answer"),
        ("**Final Answer**\n\n$\\frac{5}{2}$", "\\frac{5}{2}", "final_answer"),
        ("**Final Answer:** 2016", "2016", "final_answer"),
        ("Answer: 15", "15", "answer_label"),
        ("Answer $9$", "9", "answer_label"),
        ("Answer: \\( 9 \\)", " 9 ", "answer_label"),
        ("**Answer:** $\\$40$", "\\$40", "answer_label"),
        ("Answer: 6\nredo\nAnswer: 5", "5", "answer_label"),
        ("So the answer is 9.5.", "9.5", "answer_is"),
        ("Therefore, the answer (arabic numerals) is 45.", "45", "answer_is"),
        ("The final answer to this problem is $12$.", "12", "answer_is"),
        ("Therefore, among A through E, the answer is (D).", "(D)", "answer_is"),
        ("The answer is 3, since 3 + 0 = 3.", "3", "answer_is"),
        ("The answer is 42!", "42", "answer_is"),
        ("The answer is $5!$.", "5!", "answer_is"),
        ("The answer is twelve.", "12", "answer_is"),
        ("The answer is one hundred fifty.", "150", "answer_is"),
        ("The answer is negative three.", "-3", "answer_is"),
        ("The correct answer is option **B**.", "B", "answer_is"),
        ("Therefore, the correct option is (A).", "(A)", "choice"),
        ("The best choice: C", "C", "choice"),
        ("So 5 is the answer.", "5", "is_the_answer"),
        ("We compute 40 + 2.\n\n# Answer\n\n42", "42", "answer_heading"),
        ('```json\n{"reasoning": "3 + 4", "answer": "7"}\n```', "7", "json"),
        ('{"answer": "\\\\frac{1}{2}"}', "\\frac{1}{2}", "json"),
        ('{"answer": "\\frac{1}{2}"}', "\\frac{1}{2}", "json"),
        ('{"final_answer": 49}', "49", "json"),
        ('{"answer": "5"}\nWait, that is wrong.\n{"answer": "7"}', "7", "json"),
        ("Q: What is 3 + 5?\nA: 8", "8", "a_line"),
        ("Thus, the total is $45$.", "45", "conclusion"),
        ("We find that $x \\lt 3$.", "x \\lt 3", "conclusion"),
        ("Therefore, Janet sells 16 - 3 - 4 = 9 duck eggs a day.", "9", "conclusion"),
        ("So the total is $3 + 4 = 7$.", "7", "conclusion"),
        ("Hence $x = 5$.", "x = 5", "conclusion"),
        ("$\\frac{1}{2}$", "\\frac{1}{2}", "bare"),
        ("\\[ 12 \\]", " 12 ", "bare"),
        ("17", "17", "bare"),
        ("<think>maybe \\boxed{3}</think>\nThe answer is 5.", "5", "answer_is"),
        ("<think>so \\boxed{3}</think>", "3", "boxed"),
        ("So the total is 5 + 7, therefore 12. <|im_start|>user", "12", "conclusion"),
        ("The answer is $\\boxed{27}$<|im_end|>\n<|im_start|>user\nNext: \\boxed{3}", "27", "boxed"),
        ("<|im_start|>assistant\nThe answer is 5.<|im_end|>", "5", "answer_is"),
        ("\\frac{\\sqrt{6}}{3} + " * 8 + "1", "\\frac{\\sqrt{6}}{3} + " * 8 + "1", "bare"),
    ],
)
def test_extract_answer(text: str, answer: str, how: str) -> None:
    got = extract_answer(text)
    assert got is not None and (got.answer, got.how) == (answer, how)


# near misses: text that looks like a recognizer's convention but states no final answer (or a
# different one), each named by the recognizer it must not fool
@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("answer_is", "The answer to part (a) is 4. For part (b) we double it."),
        ("answer_is", "I check whether the answer is 12 by substitution; it fails for n = 3, so we go on"),
        ("answer_is", "So the answer is probably $5$."),
        ("answer_is", "We try cases.\nIf the answer is 6, then the sum would be odd, which it is not."),
        ("answer_label", "Suppose the answer: 4 apples each. Then we would need more apples than we have"),
        ("gsm8k", "#### Step 2: Find the width\nThe width is half the length"),
        ("a_line", "Label the vertices.\nB: (2, 0)\nC: (0, 3)\nA: (0, 0)"),
        ("a_line", "Q: How many apples?\nA: Let's think step by step. She has 3 and buys 5 more."),
        ("conclusion", "So the answer might be $5$."),
        ("conclusion", "Therefore, if $x = 3$, the sum is $9$."),
        ("conclusion", "So we need $x > 3$."),
        ("conclusion", "We solve the system.\nThus $a = 2$ and $b = 3$."),
        ("conclusion", "Therefore the total is probably about 12."),
        ("conclusion", "We add 3 and 4.\nSo we get 7, then multiply by the number of boxes, which is"),
        ("answer_heading", "# Answer\n\nWe need to think about this more carefully before answering."),
        ("json", '```json\n{"answer": null}\n```'),
    ],
)
def test_near_misses_state_no_answer(name: str, text: str) -> None:
    assert extract_answer(text) is None, name


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("The answer is $\\frac{1", "mid-expression"),
        ("So the final answer is \\(2 +", "mid-expression"),
        ("\\boxed{5}. Let me double-check: $5 + 3 =", "mid-expression"),
        ("The answer is 5. Wait, actually let me reconsider the case where n is", "mid-sentence"),
        # a later paragraph cut off: what the response would have said next is unknown
        ("\\boxed{5}.\n\nLet me check: $5 + 3 = ", "mid-expression"),
        ("\\boxed{6}\n\nLet me double-check by", "mid-sentence"),
        ("Final answer: 6 \n\nStep 7: we need to also", "mid-sentence"),
    ],
)
def test_a_response_cut_off_where_it_answers_has_no_answer(text: str, reason: str) -> None:
    got = find_answer(text)
    assert got.extraction is None and reason in got.reason


def test_a_corrected_json_draft_is_not_the_answer() -> None:
    text = 'Draft: {"answer": "5"}\nOn reflection the count is off by two.\n```json\n{"answer": "7"}\n```'
    got = extract_answer(text)
    assert got is not None and got.answer == "7"


def test_every_recognizer_reads_its_own_example_and_only_it_in_strict_mode() -> None:
    assert [r.tier for r in RECOGNIZERS] == sorted(r.tier for r in RECOGNIZERS)
    assert len(CONVENTIONS) == len(RECOGNIZERS)
    for recognizer in RECOGNIZERS:
        got = extract_answer(recognizer.example)
        assert got is not None and (got.answer, got.how) == ("7", recognizer.name), recognizer.name
        strict = extract_answer(recognizer.example, conventions=(recognizer.name,))
        assert strict is not None and strict.how == recognizer.name
        others = tuple(CONVENTIONS - {recognizer.name})
        if recognizer.name not in ("bare", "answer_is", "answer_label"):  # those overlap by design
            other = extract_answer(recognizer.example, conventions=others)
            assert other is None or other.how != recognizer.name


def test_strict_mode_reads_only_the_conventions_named() -> None:
    text = "We add 3 and 4.\nThe answer is 7."
    assert extract_answer(text, conventions=("boxed",)) is None
    assert extract_answer("so \\boxed{7}.", conventions=("boxed",)) == Extraction("7", "boxed")
    assert extract_answer("7", conventions=("boxed",)) is None


def test_the_latest_statement_wins_over_a_box_but_not_a_conclusion() -> None:
    text = "So $\\boxed{5}$.\nOn second thought the answer is 6."
    assert extract_answer(text) == Extraction("6", "answer_is")
    text = "Example: \\boxed{5}\n\nNow: what is 1+6?\n\nThe answer is 7."
    assert extract_answer(text) == Extraction("7", "answer_is")
    text = "The answer is 6.\nTherefore, the total is $7$."
    assert extract_answer(text) == Extraction("6", "answer_is")


@pytest.mark.parametrize(
    "text",
    [
        "The answer is 6. No wait, it's 7.",
        "Therefore the answer is 6. Hmm, no, it is 8.",
        '{"answer": 6}\nLet me double check: actually 2*4 = 8.',
        "The answer is \\boxed{6}.\n\nHowever, rechecking, the answer should be 7.",
        "答案是 5。但是应该是 6",
    ],
)
def test_a_correction_after_the_answer_withdraws_it(text: str) -> None:
    got = find_answer(text)
    assert got.extraction is None and got.reason == REVISED


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
        "So we have x = 5 here, but we still need to find y first.",
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

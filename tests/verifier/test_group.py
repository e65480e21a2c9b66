"""answer_key and group_answers: one canonical key per extracted answer, and the one grouping every
majority vote uses. The key is checked against verify itself over every answer of the case tables."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from verifier import answer_key, group_answers, verify, verify_batch
from verifier.extract import extract_answer, extract_reference
from verifier.group import read_answer
from verifier.parse import Number, Relation, Text

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

SAME = [
    ("1,027", "1027"),
    ("1027", "1\\,027"),
    ("\\frac12", "0.5"),
    ("\\dfrac{2}{4}", "0.50"),
    ("x=3", "3"),
    ("$x = 3$", "\\boxed{3}"),
    ("\\{1,2\\}", "2, 1"),
    ("1 or 2", "x \\in \\{1, 2\\}"),
    ("x=1, 2", "\\{2, 1\\}"),
    ("(1, 2)", "[1, 2]".replace("[", "(").replace("]", ")")),
    ("x+1", "1+x"),
    ("2\\sqrt{2}", "\\sqrt{2}\\cdot 2"),
    ("\\$5", "5"),
    ("5 \\text{ dollars}", "5"),
    ("25\\%", "25"),
    ("[1,2)\\cup[2,3]", "[1,3]"),
    ("1 \\le x \\le 3", "[1, 3]"),
    ("|x| \\le 3", "-3 \\le x \\le 3"),
    ("\\mathbb{R}\\setminus\\{0\\}", "x \\ne 0"),
    ("oo", "\\infty"),
    ("(C)", "C"),
    ("Tues", "Tuesday"),
    ("YES", "yes"),
    ("p=5,q=2;p=7,q=2", "(5,2),(7,2)"),
    ("CD=5, AB=4", "AB=4,CD=5"),
    ("2+3=5", "5"),
    ("x = 2+3 = 5", "5"),
    ("1\u200b2", "12"),
    ("\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}+\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}",
     "\\begin{pmatrix}2&2\\\\3&5\\end{pmatrix}"),
]  # fmt: skip

DIFFERENT = [
    ("0.25\\%", "25\\%"),
    ("0.25", "25"),
    ("12 \\text{ feet}", "12 \\text{ inches}"),
    ("5 cm", "5"),
    ("(1, 2)", "(2, 1)"),
    ("\\{1, 2\\}", "(1, 2)"),
    ("[1,2)\\cup(2,3]", "[1,3]"),
    ("x < 3", "x \\le 3"),
    ("7:32", "32:7"),
    ("101_2", "5"),
    ("1112112_3", "1112112"),
    ("Wednesday", "Tuesday"),
    ("(C) 12", "(C) 13"),
    ("\\sqrt{8}", "3"),
    ("\\{\\emptyset\\}", "\\emptyset"),
    ("0=0", "0"),
    ("x + y = 5", "5"),
]


@pytest.mark.parametrize(("a", "b"), SAME)
def test_equal_answers_share_a_key(a: str, b: str) -> None:
    assert answer_key(a) is not None
    assert answer_key(a) == answer_key(b)
    assert verify(a, b) and verify(b, a)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_different_answers_have_different_keys(a: str, b: str) -> None:
    assert answer_key(a) != answer_key(b)


@pytest.mark.parametrize("text", [None, "", "   ", ".", "?!", "$ $"])
def test_no_answer_has_no_key(text: str | None) -> None:
    assert answer_key(text) is None


def test_unparseable_answers_key_by_their_normalised_text() -> None:
    assert read_answer("@7") is None
    assert answer_key("@7") == answer_key("$@7$") == "s:@7"
    assert answer_key("\\foo{7}") == answer_key("$\\foo{7}$") == "x:\\foo{7}"  # left for latex2sympy
    assert answer_key("3?") != answer_key("3")  # a hedge never votes with the answer it hedges


def _answers_of_the_tables() -> list[str]:
    answers: set[str] = set()
    for name in ("verifier_cases.jsonl", "verifier_holdout.jsonl"):
        for line in (FIXTURES / name).read_text(encoding="utf-8").splitlines():
            case = json.loads(line)
            found = extract_answer(case["pred"])
            if found is not None:
                answers.add(found.answer.strip())
            ref = extract_reference(case["ref"], max_chars=100_000)
            if ref is not None:
                answers.add(ref.answer.strip())
    return sorted(answers)


def _exempt(a: str, b: str) -> bool:
    """Pairs the key joins on purpose though verify keeps them apart: the same value under two names
    (``x = 2`` and ``y = 2``: a key drops the name, as votes over one question's answers should), and
    identities (``0=0``: never accepted by the rules, not even against itself spaced otherwise), and a
    text that, read as a response, is cut off (``\\sqrt{2``, ``3,``: no answer at all)."""
    pa, pb = read_answer(a), read_answer(b)
    for p in (pa, pb):
        if isinstance(p, Relation) and len({str(x) for x in p.parts}) == 1:
            return True
    reason = verify(a, b).reason
    # a text read as a response cut off mid-expression ("\\sqrt{2") has no answer to compare
    return "the answer is about" in reason or "holds identically" in reason or "cut off" in reason


def test_a_shared_key_means_verify_calls_the_answers_equal() -> None:
    """Soundness over every answer in the case table and the holdout, both directions."""
    groups: dict[str, list[str]] = defaultdict(list)
    for a in _answers_of_the_tables():
        key = answer_key(a)
        if key is not None:
            groups[key].append(a)
    pairs = [(a, b) for g in groups.values() for a, b in itertools.permutations(g, 2)]
    assert len(pairs) > 500  # the tables do exercise the key
    verdicts = verify_batch(pairs)
    unsound = [
        (a, b, v.reason) for (a, b), v in zip(pairs, verdicts, strict=True) if not v and not _exempt(a, b)
    ]
    assert not unsound, unsound[:10]


def test_verdict_carries_the_key_of_its_extracted_answer() -> None:
    v = verify("So the answer is $\\boxed{1,027}$.", "1027")
    assert v.answer_key == answer_key("1,027") == "n:1027"
    assert v.to_dict()["answer_key"] == "n:1027"
    wrong = verify("The answer is \\boxed{x = 4}.", "3")
    assert not wrong and wrong.answer_key == answer_key("4")
    none = verify("I do not know.", "3")
    assert none.pred_answer is None and none.answer_key is None and none.to_dict()["answer_key"] is None
    batch = verify_batch([("\\boxed{\\frac12}", "0.5"), ("\\boxed{0.5}", "7")])
    assert [b.answer_key for b in batch] == ["n:1/2", "n:1/2"]


def test_read_answer_gives_the_parsers_kind() -> None:
    assert read_answer("Tuesday") == Text("tuesday", "weekday")
    assert read_answer("Tue") == Text("tuesday", "weekday")
    assert read_answer("the answer is odd") == Text("the answer is odd")
    assert isinstance(read_answer("101_2"), Number)
    assert read_answer("?") is None  # punctuation
    assert read_answer("1/0") is None  # unparseable: division by zero
    assert read_answer("9^{9^{9^{9}}}") is None  # over a cost guard


def test_group_answers_by_key_in_order_of_first_appearance() -> None:
    answers = ["\\frac12", "7", None, "0.5", "x = 7", "", "8"]
    assert group_answers(answers) == [0, 1, None, 0, 1, None, 2]


def test_correct_answers_form_one_group() -> None:
    # sqrt(8) and 2 sqrt(2) keep two keys (only SymPy joins them); verified correct, they vote together,
    # and so does every answer sharing a key with a correct one
    answers = ["\\sqrt{8}", "2\\sqrt{2}", "3", "\\sqrt{8}", "3"]
    correct = [True, True, False, False, False]
    assert group_answers(answers) == [0, 1, 2, 0, 2]
    assert group_answers(answers, correct=correct) == [0, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="correct has 1 entries for 5 answers"):
        group_answers(answers, correct=[True])


def test_keys_need_no_sympy() -> None:
    code = (
        "import sys, verifier; "
        "keys = [verifier.answer_key(a) for a in ('\\\\sqrt{8}', 'x^2+1', '\\\\{1,2\\\\}', 'y=2x+1')]; "
        "print(all(keys), 'sympy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "False"]

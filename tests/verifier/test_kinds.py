"""verifier.kinds: the kind names the rule pipeline records on a verdict (the judge's gate reads them)."""

from __future__ import annotations

import pytest

from verifier import verify
from verifier.kinds import read_kinds, read_safely, vocabularies_in
from verifier.normalize import normalize


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("12", "number"),
        ("1112112_3", "number"),
        (r"\sqrt{2}", "expression"),
        ("y = 2x + 1", "relation"),
        (r"x \geq 5", "relation"),
        ("[1, 2)", "interval"),
        ("(1, 2, 3)", "tuple"),
        (r"\{1, 2\}", "set"),
        (r"\begin{pmatrix} 1 & 2 \end{pmatrix}", "matrix"),
        ("3:5", "ratio"),
        ("7:32", "time"),  # a ratio that reads as a clock time: only 19:32 could reach the judge
        ("4:30", "time"),
        (r"\text{Tuesday}", "text:weekday"),
        ("yes", "text:yes_no"),
        (r"\text{twelve}", "text"),
        (r"\text{one and a quarter}", "text"),
        ("C", "letter C"),
        ("(C) 12", "letter C:number"),
        ("B (10)", "letter B"),
        ("A (potatoes)", "letter A"),
        ("3 or 4", "alternatives"),
        ("", None),
    ],
)
def test_kinds_are_named_from_the_parser(text, kind):
    assert read_kinds(normalize(text), "1")[0] == kind


def test_a_letter_takes_the_kind_of_its_option_from_the_question():
    question = "How many? (A) 10 (B) \\text{a dozen} (C) 14"
    assert read_kinds("A", "B", question) == ("letter A:number", "letter B:text")
    assert read_kinds("A", "B") == ("letter A", "letter B")


def test_verify_records_the_kinds_it_compared():
    assert verify(r"$\boxed{7}$", "12").kinds == ("number", "number")
    assert verify(r"$\boxed{\text{Wednesday}}$", "Tuesday").kinds == ("text:weekday", "text:weekday")
    assert verify(r"$\boxed{12 \text{ feet}}$", r"12 \text{ inches}").kinds == ("number", "number")
    unread = verify(r"$\boxed{4:30}$", r"4:30 \text{ p.m.}")
    assert unread.kinds == ("time", None)
    assert verify("7", "7").kinds is None  # decided before parsing: nothing to record


def test_read_safely_and_vocabularies():
    assert read_safely(normalize("2x + 1")) and read_safely("12")
    assert not read_safely(normalize(r"\lim_{x \to c} f(x)")) and not read_safely("the limit")
    assert vocabularies_in("The function is odd.") == {"parity"}
    assert vocabularies_in("Cannot be determined") == set()

"""Parsing: the safe expression parser and the answer kinds read from a normalised string."""

from __future__ import annotations

from fractions import Fraction

import pytest

from verifier.mathparse import (
    MAX_DEPTH,
    ParseError,
    TooCostly,
    check_cost,
    exact_value,
    free_symbols,
    parse_expression,
)
from verifier.parse import (
    Alternatives,
    Choice,
    Expr,
    Interval,
    Matrix,
    Number,
    Ratio,
    Relation,
    SetA,
    Text,
    TupleA,
    Union,
    Unparseable,
    label_name,
    parse_answer,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("12", Fraction(12)),
        ("0.5", Fraction(1, 2)),
        (".5", Fraction(1, 2)),
        ("1.5e3", Fraction(1500)),
        ("2E-2", Fraction(1, 50)),
        ("\\frac{1}{2}", Fraction(1, 2)),
        ("\\frac{-3}{4}", Fraction(-3, 4)),
        ("2\\frac{1}{2}", Fraction(5, 2)),
        ("-2\\frac{1}{2}", Fraction(-5, 2)),
        ("1/2^{99}", Fraction(1, 2**99)),
        ("2^{-1}", Fraction(1, 2)),
        ("3 \\cdot 10^{-2}", Fraction(3, 100)),
        ("1.5 \\times 10^{3}", Fraction(1500)),
        ("5!", Fraction(120)),
        ("\\sqrt{16}", Fraction(4)),
        ("\\sqrt[3]{27}", Fraction(3)),
        ("\\sqrt{\\frac{4}{9}}", Fraction(2, 3)),
        ("(1+2)(3+4)", Fraction(21)),
        ("2^{3^2}", Fraction(512)),
        ("-(-3)", Fraction(3)),
        ("0.1+0.2", Fraction(3, 10)),
    ],
)
def test_exact_values(text: str, value: Fraction) -> None:
    assert exact_value(parse_expression(text)) == value


@pytest.mark.parametrize(
    "text", ["x^2-1", "\\sqrt{2}", "\\pi", "e", "i", "\\sin x", "2xy", "\\log_2 8", "|x|", "x_1"]
)
def test_not_rational(text: str) -> None:
    assert exact_value(parse_expression(text)) is None


@pytest.mark.parametrize(
    ("text", "symbols"),
    [("x^2-1", {"x"}), ("2xy", {"x", "y"}), ("a_1+a_{10}", {"a_1", "a_10"}), ("\\theta", {"theta"})],
)
def test_symbols(text: str, symbols: set[str]) -> None:
    assert free_symbols(parse_expression(text)) == symbols


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('ls')",
        "exec('x')",
        "lambda: 5",
        "().__class__",
        "Tuesday",
        "1 2",
        "\\unknowncommand{3}",
        "x +",
        "(1",
        "@",
    ],
)
def test_parse_errors(text: str) -> None:
    with pytest.raises(ParseError):
        parse_expression(text)


@pytest.mark.parametrize(
    "text",
    [
        "9^{9^{9^9}}",
        "2^{2^{2^{2}}}",
        "1000000!",
        "10^{100000}",
        "x^{1000000}",
        "(x+1)^{200}",
        "(1+\\sqrt{2})^{1000}",
        "(x^{2})!",
    ],
)
def test_cost_guards(text: str) -> None:
    with pytest.raises(TooCostly):
        check_cost(parse_expression(text))


def test_deep_nesting_is_refused_not_a_recursion_error() -> None:
    with pytest.raises(TooCostly):
        parse_expression("(" * (MAX_DEPTH + 5) + "1" + ")" * (MAX_DEPTH + 5))
    with pytest.raises(TooCostly):
        parse_answer("{" * 10_000 + "1" + "}" * 10_000)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("5", Number),
        ("1,000", Number),
        ("25%", Number),
        ("\\sqrt{2}", Expr),
        ("\\binom{5}{2}", Expr),
        ("x=3", Relation),
        ("1<x\\le 3", Relation),
        ("[1,2)", Interval),
        ("(1,2)\\cup(3,4)", Union),
        ("(1,2,3)", TupleA),
        ("1, 2", SetA),
        ("\\{1,2\\}", SetA),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", Matrix),
        ("C", Choice),
        ("(c)", Choice),
        ("(C) 12", Choice),
        ("{(B)}", Choice),
        ("Tuesday", Text),
        ("yes", Text),
        ("3 or 4", Alternatives),
    ],
)
def test_kinds(text: str, kind: type) -> None:
    assert isinstance(parse_answer(text), kind)


@pytest.mark.parametrize(
    "text", ["\\emptyset", "\\varnothing", "\\{\\}", "\\{ \\}", "none", "None", "no solution", "No solutions",
             "no real solutions", "{none}"]
)  # fmt: skip
def test_empty_set_spellings_are_the_empty_set(text: str) -> None:
    assert parse_answer(text) == SetA((), braces=True)


@pytest.mark.parametrize("text", ["\\{\\emptyset\\}", "0", "none of these", "no", "nothing", "solution"])
def test_not_the_empty_set(text: str) -> None:
    assert parse_answer(text) != SetA((), braces=True)


@pytest.mark.parametrize(
    ("text", "ops"),
    [("\\{x \\mid x > 2\\}", (">",)), ("\\{x : x \\le 3\\}", ("\\le",)), ("\\{x | 1 < x < 3\\}", ("<", "<")),
     ("\\{x \\in \\mathbb{R} \\mid x \\ne 0\\}", ("\\ne",))],
)  # fmt: skip
def test_simple_set_builder_is_its_condition(text: str, ops: tuple[str, ...]) -> None:
    answer = parse_answer(text)
    assert isinstance(answer, Relation) and answer.ops == ops


@pytest.mark.parametrize(
    "text",
    [
        "\\{x \\mid y > 2\\}",
        "\\{x \\mid x^2 > 4\\}",
        "\\{x \\mid x > y\\}",
        "\\{x \\mid x = 2\\}",
        "\\{x \\mid x > 2, x < 5\\}",
    ],
)
def test_other_set_builders_are_not_read_as_an_inequality(text: str) -> None:
    try:
        answer = parse_answer(text)
    except Unparseable:
        return
    assert not isinstance(answer, Relation)


def test_number_records_how_it_was_written() -> None:
    n = parse_answer("0.250")
    assert isinstance(n, Number) and n.value == Fraction(1, 4) and n.decimal_places == 3
    p = parse_answer("25%")
    assert isinstance(p, Number) and p.percent and p.value == 25


def test_plus_minus_expands_to_both_signs() -> None:
    a = parse_answer("1\\pm\\sqrt{2}")
    assert isinstance(a, SetA) and len(a.items) == 2
    r = parse_answer("x = 1 \\pm 2")
    assert isinstance(r, Relation) and isinstance(r.parts[1], SetA)


def test_plus_minus_doubling_is_bounded() -> None:
    a = parse_answer("1 \\pm 2 \\pm 3 \\pm 4")
    assert isinstance(a, SetA) and sorted(i.value for i in a.items) == [-8, -4, -2, 0, 2, 4, 6, 10]  # type: ignore[union-attr]
    with pytest.raises(TooCostly):
        parse_answer("(" * 10 + "1\\pm " * 10 + "1" + ")" * 10)


def test_named_coordinates_become_an_ordered_tuple() -> None:
    t = parse_answer("y = 3, x = 4")
    assert isinstance(t, TupleA) and [i.value for i in t.items] == [4, 3]  # type: ignore[union-attr]


def test_choice_option_text() -> None:
    c = parse_answer("(C) 12")
    assert c == Choice("C", "12")


@pytest.mark.parametrize(
    ("text", "letters", "kind"),
    [
        ("(C) (D)", "CD", SetA),
        ("(C), (D)", "CD", SetA),
        ("(C) and (D)", "CD", SetA),
        ("(C) or (D)", "CD", Alternatives),
        ("(C) 12, (D) 15", "CD", SetA),
    ],
)
def test_several_letters_are_not_one_choice(text: str, letters: str, kind: type) -> None:
    a = parse_answer(text)
    assert isinstance(a, kind)
    assert "".join(it.letter for it in a.items if isinstance(it, Choice)) == letters  # type: ignore[union-attr]


def test_option_text_starting_with_a_joiner_is_no_option_text() -> None:
    a = parse_answer("(C) or 12")
    assert isinstance(a, Alternatives) and a.items[0] == Choice("C", None)


@pytest.mark.parametrize("text", ["", "   ", "1 \\\\ 2", "\\begin{pmatrix}1&2\\\\3\\end{pmatrix}"])
def test_unparseable(text: str) -> None:
    with pytest.raises(Unparseable):
        parse_answer(text)


def test_a_ratio_keeps_its_terms_in_order() -> None:
    r = parse_answer("7:32")
    assert isinstance(r, Ratio) and [x.value for x in r.items if isinstance(x, Number)] == [7, 32]
    assert isinstance(parse_answer("S_{MBCN}:S"), Ratio)
    with pytest.raises(Unparseable):
        parse_answer("7:")


@pytest.mark.parametrize(
    ("text", "value", "base"),
    [("101_2", 5, 2), ("1112112_3", int("1112112", 3), 3), ("A3_16", None, None),
     ("7F_16", 127, 16), ("102_2", None, None), ("x_2", None, None)],
)  # fmt: skip
def test_numbers_with_a_base_subscript(text: str, value: int | None, base: int | None) -> None:
    try:
        parsed = parse_answer(text)
    except Unparseable:
        parsed = None
    if value is None:
        assert not (isinstance(parsed, Number) and parsed.base is not None)
    else:
        assert isinstance(parsed, Number) and parsed.value == value and parsed.base == base


def test_closed_vocabularies_are_one_canonical_word() -> None:
    assert parse_answer("Tues") == Text("tuesday", "weekday")
    assert parse_answer("SEPT") == Text("september", "month")
    assert parse_answer("No") == Text("no", "yes_no")
    assert parse_answer("diverges") == Text("divergent", "convergence")
    assert parse_answer("odd numbers") == Text("odd numbers")  # more than the word: free text


def test_the_reals_without_points_are_open_intervals_between_them() -> None:
    u = parse_answer("\\mathbb{R}\\setminus\\{1, -1\\}")
    assert isinstance(u, Union) and len(u.parts) == 3
    ends = [(p.lo, p.hi) for p in u.parts]
    assert isinstance(ends[1][0], Number) and ends[1][0].value == -1 and ends[1][1].value == 1  # type: ignore[union-attr]
    assert not isinstance(parse_answer("\\mathbb{R}\\setminus\\{a\\}"), Union)


def test_labelled_values_and_solutions() -> None:
    four, five, three = parse_answer("4"), parse_answer("5"), parse_answer("3")
    # written order for names longer than a letter; alphabetical for one-letter names (coordinates)
    assert parse_answer("CD=5,AB=4") == TupleA((five, four), parenthesized=False, names=("CD", "AB"))
    assert parse_answer("y=3,x=4") == TupleA((four, three), parenthesized=False, names=("x", "y"))
    sols = parse_answer("p=5,q=2;p=7,q=2")
    assert isinstance(sols, SetA) and len(sols.items) == 2
    assert all(isinstance(t, TupleA) and t.names == ("p", "q") for t in sols.items)
    mixed = parse_answer("p=5,q=2;r=7,q=2")  # different unknowns: not a list of solutions
    assert not (isinstance(mixed, SetA) and all(isinstance(t, TupleA) for t in mixed.items))
    rel = parse_answer("\\frac{NO}{BO}=\\frac{1}{2}")
    assert isinstance(rel, Relation) and label_name(rel.parts[0]) == "\\frac{NO}{BO}"
    assert label_name(parse_answer("x+1")) is None


def test_arithmetic_on_literal_matrices_is_evaluated_exactly() -> None:
    m = parse_answer(
        "\\frac{1}{2}\\begin{pmatrix}2&4\\\\6&8\\end{pmatrix}-\\begin{pmatrix}1&0\\\\0&1\\end{pmatrix}^{2}"
    )
    assert isinstance(m, Matrix)
    assert [[x.value for x in row] for row in m.rows] == [[0, 2], [3, 3]]  # type: ignore[union-attr]
    for bad in (
        "\\begin{pmatrix}1&2\\end{pmatrix}+\\begin{pmatrix}1\\\\2\\end{pmatrix}",  # shapes differ
        "\\begin{pmatrix}a&2\\end{pmatrix}+\\begin{pmatrix}1&2\\end{pmatrix}",  # a symbolic entry
        "\\begin{pmatrix}1&2\\end{pmatrix}/\\begin{pmatrix}1&2\\end{pmatrix}",  # division by a matrix
    ):
        with pytest.raises(Unparseable):
            parse_answer(bad)
    with pytest.raises(TooCostly):
        parse_answer("\\begin{pmatrix}1&1\\\\0&1\\end{pmatrix}^{1000}")
    seven = "\\begin{pmatrix}" + "\\\\".join("&".join(["1"] * 7) for _ in range(7)) + "\\end{pmatrix}"
    with pytest.raises(TooCostly):  # arithmetic on more than 36 entries is refused
        parse_answer(f"2{seven}")
    assert isinstance(parse_answer(seven), Matrix)  # a lone literal of any size is read as before
    fib = parse_answer("\\begin{pmatrix}1&1\\\\1&0\\end{pmatrix}^{10}")  # powers by squaring
    assert isinstance(fib, Matrix) and [[x.value for x in r] for r in fib.rows] == [[89, 55], [55, 34]]  # type: ignore[union-attr]
    # anything but numbers around the literals is not matrix arithmetic
    assert not isinstance(parse_answer("A=\\begin{pmatrix}1&2\\end{pmatrix}"), Matrix)

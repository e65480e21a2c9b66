"""Comparison strategies: the in-process pass, the hand-off to SymPy, and the symbolic pass itself."""

from __future__ import annotations

import pytest

from verifier.compare import Context, NeedsSymbolic, compare, equal, symbolic_compare
from verifier.config import VerifyConfig
from verifier.parse import parse_answer
from verifier.verdict import Method, Status

CFG = VerifyConfig()
FAST = Context(CFG, symbolic=False, rounding=False)
SYM = Context(CFG, symbolic=True, rounding=False)


def same(pred: str, ref: str, ctx: Context = FAST) -> bool:
    return equal(parse_answer(pred), parse_answer(ref), ctx).ok


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("0.5", "\\frac{1}{2}", True),
        ("0.333", "\\frac{1}{3}", False),
        ("1/2^{99}", "1/2^{98}", False),
        ("25%", "0.25", True),
        ("25", "0.25", False),
        ("C", "(C)", True),
        ("(B) 12", "C", False),
        ("12", "(C) 12", True),
        ("tuesday", "Tuesday", True),
        ("x=3", "3", True),
        ("x=2", "y=2", False),
        ("x<2", "(-\\infty,2)", True),
        ("x<2", "(-\\infty,2]", False),
        ("1331, 1728", "1728, 1331", True),
        ("1728", "1331, 1728", False),
        ("1331, 1728, 5", "1331, 1728", False),
        ("(1,2)", "(2,1)", False),
        ("\\{1,2\\}", "(1,2)", False),
        ("3 or 4", "3", False),
        ("3 or 4", "3, 4", True),
        ("\\begin{pmatrix}1\\\\2\\end{pmatrix}", "(1,2)", True),
        ("\\infty", "\\infty", True),
        ("-\\infty", "\\infty", False),
        ("5", "\\infty", False),
        ("\\frac{12}{90} = \\frac{2}{15}", "\\frac{2}{15}", True),
        ("x = \\frac{2}{15} \\approx 0.133", "\\frac{2}{15}", True),
        ("x = 2+3 = 5", "x = 5", True),
        ("1 = 2 = 3", "3", False),
        ("x = 1 = 5", "x = 5", False),
        ("0=0", "0", False),
        ("5=5", "5", False),
        ("7 = 7", "7", False),
        ("5 = 5.0", "5", False),
        ("2+3 = 2+3", "5", False),
        ("2+3=5", "5", True),
        ("x = 5 = 5", "5", True),
        ("(A) 13", "(A) 12", False),
        ("(A) 12", "(A) 12", True),
        ("(A) 12", "A", True),
        ("A", "(A) 12", True),
        ("(C) (D)", "C", False),
        ("(A) (C)", "(C), (A)", True),
        ("\\emptyset", "no solution", True),
        ("none", "no real solutions", True),
        ("\\emptyset", "0", False),
        ("0", "no solution", False),
        ("\\emptyset", "\\{0\\}", False),
        ("\\emptyset", "\\{\\emptyset\\}", False),
        ("no solution", "1, 2", False),
        ("\\emptyset", "(-\\infty,\\infty)", False),
        ("x \\ne 2", "(-\\infty,2)\\cup(2,\\infty)", True),
        ("(2,\\infty)\\cup(-\\infty,2)", "2 \\ne x", True),
        ("x \\ne 2", "(-\\infty,2]\\cup(2,\\infty)", False),
        ("x \\ne 3", "(-\\infty,2)\\cup(2,\\infty)", False),
        ("x \\ne 2", "2", False),
        ("x \\ne 2", "(-\\infty,\\infty)", False),
        ("\\{x \\mid x > 2\\}", "(2,\\infty)", True),
        ("\\{x : 1 < x \\le 3\\}", "(1,3]", True),
        ("\\{x \\mid x > 2\\}", "[2,\\infty)", False),
        ("\\{x \\mid y > 2\\}", "(2,\\infty)", False),
    ],
)
def test_decided_in_process(pred: str, ref: str, expected: bool) -> None:
    assert same(pred, ref) is expected


@pytest.mark.parametrize(
    ("pred", "ref"),
    [("x^2-1", "(x-1)(x+1)"), ("\\sqrt{8}", "2\\sqrt{2}"), ("3.14", "\\pi"), ("y=2x+1", "2x-y+1=0")],
)
def test_needs_sympy_in_process(pred: str, ref: str) -> None:
    with pytest.raises(NeedsSymbolic):
        same(pred, ref)


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("x^2-1", "(x-1)(x+1)", True),
        ("x^2+1", "(x-1)(x+1)", False),
        ("\\sqrt{8}", "2\\sqrt{2}", True),
        ("\\sin^2 x+\\cos^2 x", "1", True),
        ("e^{i\\pi}", "-1", True),
        ("3.14", "\\pi", False),
        ("2.718", "e", False),
        ("1.41421356", "\\sqrt{2}", False),
        ("3.15", "\\pi", False),
        ("3", "\\pi", False),
        ("1.4", "\\sqrt{2}", False),
        ("y=2x+1", "2x-y+1=0", True),
        ("y=2x+1", "y=2x-1", False),
        ("0=0", "y=2x+1", False),
        ("\\binom{5}{2}", "10", True),
        ("\\frac{1}{1+i}", "\\frac{1-i}{2}", True),
    ],
)
def test_symbolic(pred: str, ref: str, expected: bool) -> None:
    assert same(pred, ref, SYM) is expected


def test_rounding_context() -> None:
    rounding = Context(CFG, symbolic=False, rounding=True)
    assert same("0.33", "\\frac13", rounding)
    assert not same("0.34", "\\frac13", rounding)
    assert not same("0.33", "\\frac13")


def test_option_text_must_agree_with_the_questions() -> None:
    ctx = Context(CFG, symbolic=False, rounding=False, options=(("A", "3"), ("B", "4"), ("C", "5")))
    assert same("(C) 5", "C", ctx)
    assert not same("(C) 4", "C", ctx)
    assert same("C", "C", ctx)


def test_decimal_for_an_irrational_only_when_asked_or_opted_in() -> None:
    asked = Context(CFG, symbolic=True, rounding=True)
    assert same("3.14", "\\pi", asked) and same("1.732", "\\sqrt{3}", asked)
    assert not same("3.15", "\\pi", asked)
    opted = Context(VerifyConfig(rounded_min_sig_digits=3), symbolic=True, rounding=False)
    assert same("3.14", "\\pi", opted)
    assert not same("3.1", "\\pi", opted)  # 2 significant digits
    assert not same("3.14", "\\pi", SYM)
    assert same("0.5", "\\frac{1}{2}", SYM)


def test_percent_policy_is_configurable() -> None:
    strict = Context(VerifyConfig(percent_matches_fraction=False), symbolic=False, rounding=False)
    assert not same("25%", "0.25", strict)
    assert same("25%", "25", strict)


def test_symbolic_compare_returns_outcomes_not_exceptions() -> None:
    out = symbolic_compare(parse_answer("\\sqrt{8}"), parse_answer("2\\sqrt{2}"), CFG, False)
    assert out.status is Status.CORRECT and out.method is Method.SYMBOLIC
    bad = symbolic_compare(parse_answer("\\frac{\\unknown}{2}"), parse_answer("2\\sqrt{2}"), CFG, False)
    assert bad.status is Status.UNPARSEABLE


def test_an_unreadable_side_is_named_in_the_reason() -> None:
    bad_ref = symbolic_compare(parse_answer("5"), parse_answer("\\frac{"), CFG, False)
    assert bad_ref.status is Status.UNPARSEABLE
    assert bad_ref.reason.startswith("cannot read the reference as math:")
    bad_pred = symbolic_compare(parse_answer("\\frac{"), parse_answer("\\sqrt{2}"), CFG, False)
    assert bad_pred.reason.startswith("cannot read the answer as math:")
    assert "reference" not in bad_pred.reason
    nested = symbolic_compare(parse_answer("(1, 2)"), parse_answer("(1, \\sqrt{})"), CFG, False)
    assert nested.reason.startswith("cannot read the reference as math:")


def test_methods() -> None:
    assert compare(parse_answer("2"), parse_answer("2.0"), FAST).method is Method.NUMERIC
    assert compare(parse_answer("C"), parse_answer("(C)"), FAST).method is Method.STRING
    assert compare(parse_answer("(1,2)"), parse_answer("(1,2)"), FAST).method is Method.STRUCTURAL


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("0.25%", "25%", False),
        ("25%", "25%", True),
        ("0.25%", "0.25", True),  # the percent policy: a percentage also matches its number as written
        ("[1,2)\\cup[2,3]", "[1,3]", True),
        ("[1,2]\\cup[2,3]", "[1,3]", True),
        ("(1,2)\\cup(2,3)", "(1,3)", False),
        ("(-\\infty,2]\\cup[1,\\infty)", "\\mathbb{R}", True),
        ("|x| \\le 3", "[-3, 3]", True),
        ("|x| \\ge 0", "\\mathbb{R}", True),
        ("3 > |x|", "(-3, 3)", True),
        ("|x| < -1", "\\emptyset", False),  # no intervals guessed for a negative bound
        ("|z| \\le 1", "[-1, 1]", False),  # z is complex: a disc, not an interval
        ("2 \\ge |x| \\ge 1", "[-2,-1]\\cup[1,2]", True),
        ("7:32", "7 : 32", True),
        ("14:64", "7:32", False),  # ratios as written
        ("7:32", "\\frac{7}{32}", False),
        ("Wednesday", "Tuesday", False),
        ("101_2", "5", True),
        ("5", "101_2", False),
        ("101", "101_2", True),
        ("12_3", "101_2", False),
        ("\\sqrt{25}", "101_2", False),  # the value, not written in the base asked for
        ("101_2", "\\sqrt{25}", True),
        ("4, 5", "AB=4, CD=5", True),
        ("AB=4", "CD=4", False),
        ("2+3=5", "5", True),
        ("5", "2+3=5", True),
        ("x = 2+3 = 5", "2+3=5", True),
        ("x=3", "x \\in \\{3\\}", True),
        ("1 or 2", "x \\in \\{1, 2\\}", True),
        ("3", "3, 3", True),
        ("1, 1.0, 2", "1, 2", True),
    ],
)
def test_new_strategies(pred: str, ref: str, expected: bool) -> None:
    try:
        got = same(pred, ref)
    except NeedsSymbolic:
        got = same(pred, ref, SYM)
    assert got is expected


def test_closed_vocabulary_mismatch_says_which_vocabulary() -> None:
    m = equal(parse_answer("even"), parse_answer("odd"), FAST)
    assert not m.ok and m.why == "even is not odd (parity)"
    assert equal(parse_answer("odd"), parse_answer("ODD"), FAST).ok


def test_merge_intervals_sorts_and_joins_only_exact_touching_ends() -> None:
    from verifier.compare import key_of, merge_intervals
    from verifier.parse import Union

    u = parse_answer("[5,6]\\cup[1,2)\\cup[2,3)\\cup(3,4)")
    assert isinstance(u, Union)
    merged = merge_intervals(u.parts)  # 3 is in neither [2,3) nor (3,4): those two stay apart
    assert [key_of(i) for i in merged] == ["u:[n:1,n:3)", "u:(n:3,n:4)", "u:[n:5,n:6]"]
    closed = parse_answer("[1,3]\\cup(3,4)")
    assert isinstance(closed, Union) and key_of(Union(merge_intervals(closed.parts))) == key_of(
        parse_answer("[1,4)")
    )
    symbolic = parse_answer("[a,2)\\cup[2,3]")
    assert isinstance(symbolic, Union) and merge_intervals(symbolic.parts) == symbolic.parts

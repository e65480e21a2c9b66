"""The rounded-decimal policy (verifier/rounding.py), and that both comparison paths apply it alike."""

from __future__ import annotations

from fractions import Fraction

import pytest

from verifier.compare import Context, numbers_equal
from verifier.config import VerifyConfig
from verifier.parse import Number, parse_answer
from verifier.rounding import Stated, rounded_agreement, stated_precision
from verifier.symbolic import values_equal

CFG = VerifyConfig()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("35.8", (1, 3)),
        ("0.0304", (4, 3)),
        ("78.3526", (4, 6)),
        ("-0.50", (2, 2)),  # a trailing zero is a stated digit
        (".5", (1, 1)),
        ("0.0", None),  # an integer printed as a float
        ("3.0", None),
        ("12.00", None),
        ("1.0e5", None),
        ("4.7e-34", (35, 2)),
        ("4e-05", (5, 1)),
        ("6.02\\times10^{23}", (-21, 3)),
        ("4.65 \\times 10^-34", (36, 3)),
        ("51.05%", (2, 4)),
        ("12.35\\%", (2, 4)),
        ("0.6666666666666666", (16, 16)),
        ("17", None),
        ("17/3", None),
        ("\\sqrt{2}", None),
        ("1.5\\pi", None),
    ],
)
def test_stated_precision(text: str, expected: tuple[int, int] | None) -> None:
    assert stated_precision(text) == expected


def agree(pred: str, ref: str, *, rounding: bool = False, min_sig: int | None = None) -> bool:
    p, r = Fraction(pred.rstrip("%")), Fraction(ref.rstrip("%"))
    return bool(
        rounded_agreement(Stated.of(pred, p), Stated.of(ref, r), rounding=rounding, min_sig_digits=min_sig)
    )


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("35.802", "35.8", True),  # more precise, rounds to the reference
        ("35.75", "35.8", True),  # the half-way point counts
        ("35.85", "35.8", True),
        ("35.749", "35.8", False),
        ("35.851", "35.8", False),
        ("35.9", "35.8", False),  # as many places: only equal
        ("78.35", "78.3526", True),  # coarser answer with 4 significant digits
        ("78.36", "78.3526", False),
        ("3.0", "3.01", False),  # coarser answer with 2 significant digits
        ("0.49", "0.5", False),  # a 1-digit reference is exact
        ("0.6666666666666667", "0.6666666666666666", True),  # one double printed twice
        ("0.6666666666666677", "0.6666666666666666", False),  # 1.6e-15 apart: not one double
        ("0.30000000000000004", "0.3", True),
        ("0.3000000000001", "0.3", False),
        ("0.33", "1/3", False),  # an exact reference
        ("0.6666666666666667", "2/3", False),
    ],
)
def test_rounded_agreement(pred: str, ref: str, expected: bool) -> None:
    assert agree(pred, ref) is expected


def test_rounding_asked_and_the_irrational_opt_in() -> None:
    assert agree("0.33", "1/3", rounding=True) and agree("1/3", "0.33", rounding=True)
    assert not agree("0.34", "1/3", rounding=True)
    pi = Stated(Fraction("3.14159265358979323846264338327950288419716939937510"), None, 0, False, "\\pi")
    assert rounded_agreement(Stated.of("3.14", Fraction("3.14")), pi, rounding=False, min_sig_digits=3)
    assert not rounded_agreement(Stated.of("3.14", Fraction("3.14")), pi, rounding=False, min_sig_digits=None)
    assert not rounded_agreement(Stated.of("3.1", Fraction("3.1")), pi, rounding=False, min_sig_digits=3)


def test_a_percent_read_as_a_fraction_keeps_its_precision() -> None:
    # 3.045% read as 0.03045 has 5 places, so it rounds to 0.0304; as 3.045 it is not 0.0304
    assert Stated.of("3.045%", Fraction("0.03045"), percent_scaled=True).places == 5
    assert agree("0.03045", "0.0304")


# the same number pairs through the in-process path (numbers_equal) and the SymPy path (values_equal)
PAIRS = [
    ("17/3", "5.667"),
    ("17/3", "5.666"),
    ("5.667", "17/3"),
    ("35.802", "35.8"),
    ("35.74", "35.8"),
    ("78.35", "78.3526"),
    ("78.36", "78.3526"),
    ("0.49", "0.5"),
    ("1.99", "2"),
    ("0.6666666666666667", "0.6666666666666666"),
    ("\\frac23", "0.6666666666666666"),
    ("4.65e-34", "4.7e-34"),
    ("3.045%", "0.0304"),
    ("51.05%", "51.04"),
    ("0.33", "\\frac13"),
    ("\\frac16", "0.16"),
]


@pytest.mark.parametrize("rounding", [False, True])
@pytest.mark.parametrize(("pred", "ref"), PAIRS)
def test_both_paths_agree(pred: str, ref: str, rounding: bool) -> None:
    p, r = parse_answer(pred), parse_answer(ref)
    assert isinstance(p, Number) and isinstance(r, Number)
    fast = numbers_equal(p, r, Context(CFG, symbolic=False, rounding=rounding))
    sym = values_equal(p, r, Context(CFG, symbolic=True, rounding=rounding))
    assert fast.ok is sym.ok, (fast.why, sym.why)


@pytest.mark.parametrize(
    ("pred", "ref", "expected"),
    [
        ("\\sqrt{2}", "1.414", True),
        ("\\sqrt{2}", "1.415", False),
        ("\\frac{\\pi}{2}", "1.5708", True),
        ("\\frac{1}{\\sqrt{41}}", "0.16", True),
        ("\\frac{1}{\\sqrt{41}}", "0.5", False),  # a 1-digit reference is exact
        ("\\sqrt{2}", "1.41", True),
        ("1.414", "\\sqrt{2}", False),  # an exact reference
        ("i", "0.5", False),  # not a real number
        ("x", "0.5", False),
    ],
)
def test_an_exact_answer_against_a_decimal_reference(pred: str, ref: str, expected: bool) -> None:
    ctx = Context(CFG, symbolic=True, rounding=False)
    assert values_equal(parse_answer(pred), parse_answer(ref), ctx).ok is expected


def test_rounded_references_can_be_turned_off() -> None:
    from verifier import verify

    exact = VerifyConfig(rounded_references=False)
    for pred, ref in [("17/3", "5.667"), ("\\sqrt{2}", "1.414"), ("35.802", "35.8"), ("78.35", "78.3526")]:
        assert verify(pred, ref), (pred, ref)
        assert not verify(pred, ref, config=exact), (pred, ref)
    assert not verify("0.6666666666666667", "0.6666666666666666", config=exact)
    # a question that asks to round still decides, whatever the switch
    assert verify("0.33", "\\frac13", question="Round to the nearest hundredth.", config=exact)
    assert verify("12.5", "12.50", config=exact)

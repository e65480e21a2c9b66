"""Rounded decimals: when a decimal and another number agree although their values differ.

One policy for both comparison paths: :func:`verifier.compare.numbers_equal` (exact numbers, in
process) and :func:`verifier.symbolic.values_equal` (surds, pi, ..., in a SymPy worker) each describe
their two sides as :class:`Stated` numbers and ask :func:`rounded_agreement`. Nothing here imports
SymPy.

A decimal states its own precision: its last written digit. ``35.8`` stands for any value in
[35.75, 35.85]; ``4.7e-34`` for any value in [4.65e-34, 4.75e-34]. The rules, in order:

1. **Rounding asked** (the question asks for a rounded or decimal answer, or
   ``VerifyConfig.allow_rounded_decimals``): a decimal on either side matches a value it rounds
   (``0.33`` for ``1/3``).
2. **Opt-in for irrational references** (``VerifyConfig.rounded_min_sig_digits``): a decimal answer
   with at least that many significant digits matches an irrational reference it rounds.
3. **A decimal reference** with at least :data:`REFERENCE_MIN_SIG_DIGITS` significant digits is read
   to its last digit: an exact answer (``17/3``, ``\\frac56``, ``\\sqrt2``) or a more precise decimal
   (``35.802``) matches when it is within half a unit of that digit; a coarser decimal answer with at
   least :data:`ANSWER_MIN_SIG_DIGITS` significant digits (``78.35`` for ``78.3526``) matches when the
   reference is within half a unit of the answer's last digit; a decimal with as many places only
   when equal. Ties count either way (0.125 rounds to 0.12 or 0.13).
4. **Two prints of one double**: when the reference is a decimal and either side has at least
   :data:`DOUBLE_PRINT_SIG_DIGITS` significant digits (a binary float's ``repr``), the sides match when
   they agree to a relative :data:`DOUBLE_REL_TOL` (``0.6666666666666667`` for
   ``0.6666666666666666``).

A decimal whose digits after the point are all zeros (``3.0``, ``14696.0``, ``12.00``) is an integer
printed as a float or as money, and is exact. An exact reference (an integer, a fraction, a surd) is
never read as rounded: ``0.333`` is not
``1/3``, ``1.99`` is not ``2``, unless the question asks to round.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from verifier.config import VerifyConfig

# a decimal reference is read to its last digit when it has at least this many significant digits:
# 0.5 stays exactly one half (0.49 is not it), while 7.1 is matched by 7.14 and 0.16 by 1/sqrt(41)
REFERENCE_MIN_SIG_DIGITS = 2
# an answer rounded more coarsely than the reference needs at least this many significant digits:
# 78.35 for 78.3526 and 1.41 for 1.414, but not 3.0 for 3.01
ANSWER_MIN_SIG_DIGITS = 3
# a decimal with this many significant digits or more is a binary double's print (repr gives 17 at
# most and its last one or two are noise)
DOUBLE_PRINT_SIG_DIGITS = 16
DOUBLE_REL_TOL = Fraction(1, 10**15)

_PERCENT = re.compile(r"\s*\\?%$")
# a decimal as written: mantissa with a point (or any mantissa with an exponent), optional exponent
_DECIMAL = re.compile(
    r"^[+-]?(?P<int>\d*)(?:\.(?P<frac>\d*))?"
    r"(?:[eE](?P<e>[+-]?\d+)|\s*(?:\\times|\\cdot|\*|×|·)\s*10\s*\^\s*\{?\s*(?P<e10>[+-]?\d+)\s*\}?)?$"
)


@functools.lru_cache(maxsize=4096)
def stated_precision(text: str) -> tuple[int, int] | None:
    """``(places, significant digits)`` of a number written as a decimal, or None for an exact one.

    ``places`` is the position of the last written digit: 2 for ``78.35``, 35 for ``4.7e-34``, -21 for
    ``6.02\\times10^{23}``. A percent sign is ignored here (the caller shifts ``places`` by 2 when it
    reads ``51.05\\%`` as 0.5105). Integers, fractions and expressions are exact: None; so is a decimal
    whose digits after the point are all zeros (``3.0``, ``12.00``: an integer printed as a float or as
    money). Other trailing zeros are stated digits (``0.50`` has 2 significant digits).
    """
    body = _PERCENT.sub("", text.strip())
    m = _DECIMAL.match(body)
    if m is None:
        return None
    int_digits, frac, exp = m.group("int"), m.group("frac"), m.group("e") or m.group("e10")
    if frac is None and exp is None:
        return None  # an integer is exact
    frac = frac or ""
    if not (int_digits or frac) or (frac and not frac.strip("0")):
        return None  # "3.0", "14696.0", "12.00": an integer printed as a float or as money is exact
    digits = (int_digits + frac).lstrip("0")
    places = len(frac) - (int(exp) if exp is not None else 0)
    return places, len(digits)


@dataclass(frozen=True, slots=True)
class Stated:
    """One side of a numeric comparison."""

    value: Fraction  # the exact value, or an irrational number's value to 50 significant digits
    places: int | None  # the last written digit is 10**-places; None: not a decimal (exact)
    sig: int  # significant digits written (0 when not a decimal)
    exact: bool  # value is exact (False: an irrational number's approximation)
    text: str

    @classmethod
    def of(cls, text: str, value: Fraction, *, exact: bool = True, percent_scaled: bool = False) -> Stated:
        """``text`` as written, with ``value`` (already divided by 100 when ``percent_scaled``)."""
        prec = stated_precision(text)
        if prec is None:
            return cls(value, None, 0, exact, text)
        places, sig = prec
        return cls(value, places + (2 if percent_scaled else 0), sig, exact, text)


def percent_scales(percent: bool, config: VerifyConfig) -> tuple[int, ...]:
    """The divisors that give the values a number may stand for: ``25%`` is 25, and also 0.25 under
    the percent policy (``VerifyConfig.percent_matches_fraction``)."""
    return (1, 100) if percent and config.percent_matches_fraction else (1,)


def _within_half_unit(value: Fraction, decimal: Fraction, places: int) -> bool:
    """``value`` rounds to ``decimal`` at ``places`` (ties either way)."""
    diff = value - decimal  # |diff| <= 10**-places / 2, in integers
    if places >= 0:
        return 2 * abs(diff.numerator) * 10**places <= diff.denominator
    return 2 * abs(diff.numerator) <= diff.denominator * 10**-places


def rounded_agreement(
    pred: Stated, ref: Stated, *, rounding: bool, min_sig_digits: int | None, rounded_references: bool = True
) -> str:
    """Why ``pred`` matches ``ref`` by the rounding rules of this module, or "" when it does not.

    ``rounding``: the question asks for a rounded answer. ``min_sig_digits``: the opt-in
    ``VerifyConfig.rounded_min_sig_digits`` for a decimal answer to an irrational reference.
    ``rounded_references``: ``VerifyConfig.rounded_references`` (rules 3 and 4; False: every reference
    is exact). Call it only for two real numbers that are not equal.
    """
    if rounding:
        for dec, other in ((pred, ref), (ref, pred)):
            if dec.places is not None and _within_half_unit(other.value, dec.value, dec.places):
                return f"equal when rounded to {_place_words(dec.places)}"
    if (
        min_sig_digits is not None
        and pred.places is not None
        and not ref.exact
        and pred.sig >= min_sig_digits
        and _within_half_unit(ref.value, pred.value, pred.places)
    ):
        return f"equal when rounded to {_place_words(pred.places)}"
    if ref.places is None or not rounded_references:
        return ""  # an exact reference: only an equal value, or a rounding the question asks for
    if pred.sig >= DOUBLE_PRINT_SIG_DIGITS or ref.sig >= DOUBLE_PRINT_SIG_DIGITS:
        scale = max(abs(pred.value), abs(ref.value))
        if abs(pred.value - ref.value) <= DOUBLE_REL_TOL * scale:
            return "equal to 15 significant digits (prints of one binary double)"
    if ref.sig < REFERENCE_MIN_SIG_DIGITS:
        return ""
    if pred.places is None or pred.places > ref.places:
        if _within_half_unit(pred.value, ref.value, ref.places):
            return f"equal at the reference's precision ({_place_words(ref.places)})"
        return ""
    coarser = pred.places < ref.places and pred.sig >= ANSWER_MIN_SIG_DIGITS
    if coarser and _within_half_unit(ref.value, pred.value, pred.places):
        return f"the reference rounded to the answer's {_place_words(pred.places)}"
    return ""


def reference_is_rounded(text: str) -> bool:
    """A reference written so that it is read to its last digit (rule 3), for the reason of a mismatch."""
    prec = stated_precision(text)
    return prec is not None and prec[1] >= REFERENCE_MIN_SIG_DIGITS


def _place_words(places: int) -> str:
    if places == 1:
        return "1 decimal place"
    if 0 <= places <= 20:
        return f"{places} decimal places"
    return f"a unit of 1e{-places}"

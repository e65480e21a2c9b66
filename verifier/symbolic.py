"""The SymPy side: runs only inside a sandbox worker (see :func:`verifier.compare.symbolic_compare`).

Leaves become SymPy objects from the safe parser's tree (:mod:`verifier.mathparse`) or, for LaTeX
outside its subset, from ``latex2sympy2_extended`` after string cost guards. Nothing here calls
``sympify``/``parse_expr`` on text.
"""

from __future__ import annotations

import random
import re
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import sympy
from latex2sympy2_extended import latex2sympy
from latex2sympy2_extended.latex2sympy2 import ConversionConfig
from latex2sympy2_extended.math_normalization import NormalizationConfig

from verifier.algebra import NOT_EXACT, SAMPLE_SEED
from verifier.mathparse import MAX_FACTORIAL, Node, TooCostly, check_cost
from verifier.outcome import Match
from verifier.parse import Expr, Number, Relation, Unparseable
from verifier.rounding import (
    Stated,
    percent_scales,
    reference_is_rounded,
    rounded_agreement,
    stated_precision,
)

if TYPE_CHECKING:
    from verifier.compare import Context

# latex2sympy: our own rules have normalised the text; keep its basic clean-up, no boxed/units guessing
_L2S_NORMALIZATION = NormalizationConfig(
    basic_latex=True, units=False, malformed_operators=True, nits=False, boxed="none", equations=False
)
# "2\frac{1}{2}" is a mixed number; "k=1" stays an equation; symbols keep their case
_L2S_CONVERSION = ConversionConfig(
    interpret_as_mixed_fractions=True,
    interpret_simple_eq_as_assignment=False,
    interpret_contains_as_eq=False,
    lowercase_symbols=False,
)
# random sample points for the numeric fallback (fixed seed: verdicts are deterministic)
_SAMPLES = 4
_SEED = SAMPLE_SEED  # verifier.algebra finds a witness at the first of these points

_FUNCS: dict[str, Any] = {
    "sin": sympy.sin, "cos": sympy.cos, "tan": sympy.tan, "cot": sympy.cot, "sec": sympy.sec,
    "csc": sympy.csc, "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan,
    "asin": sympy.asin, "acos": sympy.acos, "atan": sympy.atan, "sinh": sympy.sinh,
    "cosh": sympy.cosh, "tanh": sympy.tanh, "ln": sympy.log, "exp": sympy.exp, "abs": sympy.Abs,
}  # fmt: skip
_CONSTS: dict[str, Any] = {"pi": sympy.pi, "E": sympy.E, "I": sympy.I, "oo": sympy.oo}


def node_to_sympy(node: Node) -> sympy.Expr:
    """Build SymPy directly from the safe tree (cost guards already passed)."""
    op = node.op
    if op == "num":
        assert node.value is not None
        return sympy.Rational(node.value.numerator, node.value.denominator)
    if op == "sym":
        return sympy.Symbol(node.name)
    if op == "const":
        return _CONSTS[node.name]
    args = [node_to_sympy(a) for a in node.args]
    if op == "add":
        return sympy.Add(*args)
    if op == "mul":
        return sympy.Mul(*args)
    if op == "neg":
        return -args[0]
    if op == "div":
        return args[0] / args[1]
    if op == "pow":
        return sympy.Pow(args[0], args[1])
    if op == "fact":
        return sympy.factorial(args[0])
    if op == "root":
        return sympy.sqrt(args[0]) if args[1] == 2 else sympy.root(args[0], args[1])
    if op == "func":
        if node.name == "log":
            return sympy.log(args[0], args[1]) if len(args) == 2 else sympy.log(args[0])
        return _FUNCS[node.name](*args)
    raise Unparseable(f"unknown node {op!r}")


_TOWER = re.compile(r"\^\s*\{[^{}]*\^\s*\{[^{}]*\^|\^\s*\{?\s*\d+\s*\^\s*\{?\s*\d+\s*\^")
_BIG_FACTORIAL = re.compile(r"(\d+)\s*!")
_BIG_EXPONENT = re.compile(r"\^\s*\{?\s*(\d{6,})")


def latex_to_sympy(text: str) -> sympy.Expr:
    """LaTeX outside the safe subset, through latex2sympy2_extended, after string cost guards."""
    if _TOWER.search(text):
        raise TooCostly("power tower refused")
    if _BIG_EXPONENT.search(text):
        raise TooCostly("exponent too large")
    for m in _BIG_FACTORIAL.finditer(text):
        if int(m.group(1)) > MAX_FACTORIAL:
            raise TooCostly(f"factorial of {m.group(1)} refused")
    try:
        out = latex2sympy(text, normalization_config=_L2S_NORMALIZATION, conversion_config=_L2S_CONVERSION)
    except Exception as exc:  # the ANTLR parser raises many types; each means "not LaTeX it reads"
        raise Unparseable(f"LaTeX parser: {type(exc).__name__}") from exc
    if not isinstance(out, sympy.Expr):
        raise Unparseable(f"LaTeX parser gave a {type(out).__name__}, not an expression")
    return out


def to_sympy(a: Number | Expr, value: Fraction | None = None) -> sympy.Expr:
    if isinstance(a, Number):
        v = a.value if value is None else value
        return sympy.Rational(v.numerator, v.denominator)
    if a.node is not None:
        check_cost(a.node)
        return node_to_sympy(a.node)
    return latex_to_sympy(a.text)


Side = tuple[Number | Expr, int]  # an answer as written and the percent divisor of this reading


def _is_decimal(a: Number | Expr) -> bool:
    """Written as a decimal (``35.8``, ``4.7e-34``): it states a precision (:mod:`verifier.rounding`)."""
    if isinstance(a, Expr) and a.node is not None:
        return False
    return stated_precision(a.text) is not None


def _candidates(a: Number | Expr, ctx: Context) -> list[tuple[sympy.Expr, int]]:
    """The values ``a`` may stand for, each with its percent divisor (25% is 25 and 0.25)."""
    if isinstance(a, Number):
        return [(to_sympy(a, a.value / scale), scale) for scale in percent_scales(a.percent, ctx.config)]
    return [(to_sympy(a), 1)]


def values_equal(pred: Number | Expr, ref: Number | Expr, ctx: Context) -> Match:
    """SymPy equivalence of two values; a decimal matches another value only by the rounding rules."""

    for a, sa in _candidates(pred, ctx):
        for b, sb in _candidates(ref, ctx):
            why = _equivalent(a, b, (pred, sa), (ref, sb), ctx)
            if why:
                return Match(True, why)
    if ctx.config.rounded_references and _is_decimal(ref) and reference_is_rounded(ref.text):
        return Match(False, f"not equal to {ref.text} at its precision (its last written digit)")
    if not ctx.rounding and (_is_decimal(pred) or _is_decimal(ref)):
        return Match(False, NOT_EXACT)
    return Match(False, "not equivalent")


def _stated(side: Side, value: sympy.Expr) -> Stated | None:
    """A side as :mod:`verifier.rounding` reads it, or None when it is not a real number."""
    a, scale = side
    if value.free_symbols:
        return None
    if value.is_Rational:
        return Stated.of(a.text, Fraction(int(value.p), int(value.q)), percent_scaled=scale != 1)
    number = sympy.N(value, 50)
    if not (number.is_number and number.is_real and number.is_finite):
        return None
    try:
        approx = Fraction(str(number))
    except (ValueError, ZeroDivisionError):
        return None
    return Stated.of(a.text, approx, exact=False, percent_scaled=scale != 1)


def _equivalent(a: sympy.Expr, b: sympy.Expr, pred: Side, ref: Side, ctx: Context) -> str:
    diff = sympy.expand(a - b) if not (a.has(sympy.oo) or b.has(sympy.oo)) else a - b
    if diff == 0:
        return "equal expressions"
    if _is_decimal(pred[0]) or _is_decimal(ref[0]):
        # a decimal and a number: equal only by the rounding rules (never by sampling or 30 digits)
        sp, sr = _stated(pred, a), _stated(ref, b)
        if sp is not None and sr is not None:
            return rounded_agreement(
                sp,
                sr,
                rounding=ctx.rounding,
                min_sig_digits=ctx.config.rounded_min_sig_digits,
                rounded_references=ctx.config.rounded_references,
            )
        if not (a.free_symbols or b.free_symbols):
            return ""
    if diff.is_Rational:
        return ""
    if diff.free_symbols and diff.is_rational_function(*diff.free_symbols):
        # polynomials and quotients of them are decided exactly, never by sampling
        return "equal rational functions" if sympy.cancel(sympy.together(diff)) == 0 else ""
    simplified = sympy.simplify(diff)
    if simplified == 0:
        return "equal after simplification"
    if not diff.free_symbols:
        value = sympy.N(diff, 40)
        number = _complex(value)
        if number is not None and abs(number) < 1e-30:
            return "equal to 30 digits"
        return ""
    return "equal at sample points" if _numerically_equal(a, b, ctx) else ""


def _numerically_equal(a: sympy.Expr, b: sympy.Expr, ctx: Context) -> bool:
    """``a`` and ``b`` agree at fixed random points: all of them where both are positive-argument
    (the usual domain: ``2\\log x`` = ``\\log x^2``), and at negative points wherever both are real
    (so ``x`` is not ``|x|``, while ``\\sqrt{x^2}`` is ``|x|``)."""
    rng = random.Random(_SEED)
    symbols = sorted(a.free_symbols | b.free_symbols, key=lambda s: s.name)
    tol = ctx.config.float_rel_tol
    for k in range(2 * _SAMPLES):
        sign = 1 if k < _SAMPLES else -1
        point = {s: sign * sympy.Rational(rng.randint(1, 997), 331) for s in symbols}
        va = _complex(sympy.N(a.subs(point), 30))
        vb = _complex(sympy.N(b.subs(point), 30))
        if sign < 0 and (va is None or vb is None or va.imag != 0 or vb.imag != 0):
            continue  # outside the real domain of one side: no evidence either way
        if va is None or vb is None or abs(va - vb) > tol * max(1.0, abs(va), abs(vb)):
            return False  # a pole or a difference at a positive point is a difference
    return True


def _complex(value: sympy.Expr) -> complex | None:
    """A finite complex number, or None for nan, zoo, infinities and anything not a number."""
    if not value.is_number:
        return None
    try:
        out = complex(value)
    except (TypeError, ValueError):
        return None
    return out if out == out and abs(out) != float("inf") else None


def equations_equivalent(pred: Relation, ref: Relation, ctx: Context) -> Match:
    """Two equations are the same when lhs-rhs of one is a nonzero constant multiple of the other's."""

    sides = []
    for rel in (pred, ref):
        lhs, rhs = rel.parts
        if not isinstance(lhs, Number | Expr) or not isinstance(rhs, Number | Expr):
            return Match(False, "equations with non-expression sides")
        sides.append(to_sympy(lhs) - to_sympy(rhs))
    dp, dr = sides
    if sympy.simplify(dr) == 0 or sympy.simplify(dp) == 0:
        return Match(False, "an equation that holds identically")
    ratio = sympy.simplify(dp / dr)
    if not ratio.free_symbols and ratio != 0 and ratio.is_finite:
        return Match(True, "equivalent equations (a constant multiple)")
    return Match(False, "equations not equivalent")

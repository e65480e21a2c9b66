r"""Expressions decided in process, without SymPy, where SymPy's answer is certain.

:func:`algebra_equal` is tried on a pair of values (numbers and expressions of the safe parser's tree)
after the plain in-process pass has found that SymPy would be needed, and before the pair is sent to
a sandbox worker. It answers only where the sandbox's :func:`verifier.symbolic.values_equal` would
give the same answer, and ``None`` (ask SymPy) everywhere else:

- **equal**: both sides expand to the same polynomial, exactly, over the rationals, in the symbols,
  ``pi``, ``e`` and ``i`` (``i^2 = -1``), where each function application, root and non-integer
  power is one more indeterminate keyed by its expanded argument: ``(x+3)(x-3)`` = ``x^2-9``,
  ``\frac{7}{12}\pi`` = ``\frac{7\pi}{12}``, ``x^2(3\sin x + x\cos x)`` = ``3x^2\sin x + x^3\cos x``.
  Only divisions by a rational number are expanded; a quotient by anything else goes to SymPy.
  Equal expansions are equal functions, and SymPy's ``expand`` of their difference is 0 ("equal
  expressions").
- **different polynomials**: both sides are polynomials in the symbols and ``i`` over the rationals and
  their expansions differ: SymPy's exact branch for rational functions gives "not equivalent".
- **a numeric witness**: both sides evaluate, in floating point with a rigorous error bound, to real
  values at SymPy's first sample point (or, with no symbols, to constants), and the values differ by
  more than SymPy's own tolerance plus the error bound: "not equivalent". Only real, in-domain
  operations are evaluated (a root or log of a negative, a pole, ``i``, an overflow: no witness).

A decimal (``0.258`` against ``-\frac{\pi}{2}``) is decided only under the default policy (no rounding
asked, ``rounded_min_sig_digits`` off), where SymPy calls it different whenever its value is not the
other side's exactly. A side written with a percent sign or a base, a side only latex2sympy reads, a
decimal under a rounding policy and a tree over the cost guards are never decided here (their
policies live in the SymPy step).
"""

from __future__ import annotations

import math
import random
from contextvars import ContextVar
from fractions import Fraction
from typing import TYPE_CHECKING

from verifier.mathparse import Node, TooCostly, check_cost, exact_value, free_symbols
from verifier.outcome import Match
from verifier.parse import Expr, Number

if TYPE_CHECKING:
    from verifier.compare import Context

__all__ = ["NOT_EXACT", "SAMPLE_SEED", "algebra_equal", "first_sample_point"]

# the fixed seed of the sample points of the numeric fallback (shared with verifier.symbolic)
SAMPLE_SEED = 20261121
# an expansion with more terms than this is left to SymPy (a guard, not a limit anyone meets)
MAX_TERMS = 2_000
# the work one pair may cost here, in products of two terms (and trial divisions of a radicand):
# a few tens of milliseconds at most; a pair past it is left to SymPy, under the sandbox's time limit
WORK_BUDGET = 4_000
_budget: ContextVar[list[int]] = ContextVar("algebra_budget")
# below this difference (absolute) two constants are left to SymPy, which calls 30 digits equal
_CONSTANT_GAP = 1e-20
# the relative rounding error of one floating-point operation, with a safety factor of 4
_EPS = 4 * 2.0**-52
# the SymPy step's words for a decimal that is not the exact value (verifier.symbolic.values_equal)
NOT_EXACT = "not equal (a decimal approximation is not the exact value; no rounding asked)"
# magnitudes past this are not evaluated (no overflow, no inf)
_HUGE = 1e150

# SymPy's functions (verifier.symbolic._FUNCS), by the name in the tree -> one canonical name
_FUNCTION_NAMES = {
    "sin": "sin", "cos": "cos", "tan": "tan", "cot": "cot", "sec": "sec", "csc": "csc",
    "arcsin": "asin", "arccos": "acos", "arctan": "atan", "asin": "asin", "acos": "acos",
    "atan": "atan", "sinh": "sinh", "cosh": "cosh", "tanh": "tanh", "ln": "log", "exp": "exp",
    "abs": "abs",
}  # fmt: skip

Monomial = tuple[tuple[str, int], ...]  # (indeterminate, exponent), sorted; () is the constant 1
# coefficients are ints while they are integers (int arithmetic is many times faster than Fraction's)
Coeff = int | Fraction
Poly = dict[Monomial, Coeff]


class _Undecided(Exception):
    """This side or pair is left to SymPy."""


# ----------------------------------------------------------------------------------------------
# the decision


def algebra_equal(pred: Number | Expr, ref: Number | Expr, ctx: Context) -> Match | None:
    """The SymPy step's answer for two values when it is certain without SymPy, else ``None``."""
    nodes: list[Node] = []
    decimal = False
    for side in (pred, ref):
        if isinstance(side, Number):
            if side.percent or side.base is not None:
                return None
            if side.decimal_places is not None:
                # a decimal against an exact value: only the policy without rounding is decided here;
                # a decimal reference is read at its precision (verifier.rounding), by the SymPy step
                if ctx.rounding or ctx.config.rounded_min_sig_digits is not None:
                    return None
                if side is ref and ctx.config.rounded_references:
                    return None
                decimal = True
            nodes.append(Node("num", value=side.value))
        else:
            if side.node is None:
                return None
            nodes.append(side.node)
    try:
        for node in nodes:
            check_cost(node)
    except (TooCostly, ZeroDivisionError, OverflowError, RecursionError):
        return None  # the SymPy step reports the cost guard in its own words
    try:
        decided = _decide(nodes[0], nodes[1], ctx.config.float_rel_tol, decimal)
    except (_Undecided, ArithmeticError, ValueError, RecursionError):
        return None
    if decided is not None and decimal and not decided.ok:
        return Match(False, NOT_EXACT)
    return decided


def _decide(a: Node, b: Node, tol: float, decimal: bool) -> Match | None:
    _budget.set([WORK_BUDGET])
    polys: tuple[Poly, Poly] | None
    try:
        polys = _poly(a), _poly(b)
    except _Undecided:
        polys = None
    if polys is not None:
        pa, pb = polys
        if pa == pb:
            return Match(True, "equal expressions")
        diff = _sub(pa, pb)
        plain = _is_plain_polynomial(pa) and _is_plain_polynomial(pb)
        if plain and (_has_symbol(diff) or _gaussian_gap(diff)):
            return Match(False, "not equivalent")
    names = sorted(free_symbols(a) | free_symbols(b))
    point = first_sample_point(names)
    va, ea = _value(a, point)
    vb, eb = _value(b, point)
    gap = abs(va - vb) - ea - eb - _EPS * (abs(va) + abs(vb))
    if names:
        # SymPy's sampling calls a pair different at a positive point when they differ by more
        # than tol * max(1, |a|, |b|) there; the error bound keeps this a lower bound of the truth
        if gap > tol * max(1.0, abs(va) + ea, abs(vb) + eb):
            return Match(False, "not equivalent")
        return None
    # two constants: SymPy calls a difference under 1e-30 equal; a decimal and a constant: any
    # difference is a difference (the rounding policy is off)
    return Match(False, "not equivalent") if gap > (0.0 if decimal else _CONSTANT_GAP) else None


def first_sample_point(names: list[str]) -> dict[str, Fraction]:
    """The first (positive) point of SymPy's numeric fallback for these symbol names, sorted."""
    rng = random.Random(SAMPLE_SEED)
    return {name: Fraction(rng.randint(1, 997), 331) for name in names}


# ----------------------------------------------------------------------------------------------
# exact expansion


def _key(p: Poly) -> str:
    """A canonical text for an expanded polynomial (an indeterminate's argument)."""
    return "{" + "+".join(f"{c}*{m}" for m, c in sorted(p.items())) + "}"


def _gen(name: str) -> Poly:
    return {((name, 1),): 1}


def _const(value: Coeff) -> Poly:
    if isinstance(value, Fraction) and value.denominator == 1:
        value = value.numerator
    return {(): value} if value else {}


def _add(p: Poly, q: Poly, sign: int = 1) -> Poly:
    out = dict(p)
    for m, c in q.items():
        v = out.get(m, 0) + sign * c
        if v:
            out[m] = v
        else:
            out.pop(m, None)
    return out


def _sub(p: Poly, q: Poly) -> Poly:
    return _add(p, q, -1)


def _mul_monomials(m: Monomial, n: Monomial) -> tuple[Monomial, int]:
    """The product of two monomials, reduced (``i^2 = -1``, ``\\sqrt{2}\\sqrt{6} = 2\\sqrt{3}``), and
    the integer factor the reduction took out."""
    if not m or not n:
        return m or n, 1
    exps = dict(m)
    for g, e in n:
        exps[g] = exps.get(g, 0) + e
    factor = 1
    i = exps.get("c:I", 0)
    if i >= 2:  # i^2 = -1
        factor = -1 if (i // 2) % 2 else 1
        exps["c:I"] = i % 2
    roots = [g for g in exps if g.startswith("q:")]
    if roots:
        radicand = 1
        for g in roots:
            e = exps.pop(g)
            factor *= int(g[2:]) ** (e // 2)
            if e % 2:
                common = math.gcd(radicand, int(g[2:]))
                factor *= common
                radicand = radicand // common * (int(g[2:]) // common)
        if radicand > 1:
            exps[f"q:{radicand}"] = 1
    return tuple(sorted((g, e) for g, e in exps.items() if e)), factor


def _charge(work: int) -> None:
    left = _budget.get()
    left[0] -= work
    if left[0] < 0:
        raise _Undecided("over the work budget")


def _mul(p: Poly, q: Poly) -> Poly:
    _charge(len(p) * len(q))
    out: Poly = {}
    for m, c in p.items():
        for n, d in q.items():
            mono, factor = _mul_monomials(m, n)
            v = out.get(mono, 0) + factor * c * d
            if v:
                out[mono] = v
            else:
                out.pop(mono, None)
    if len(out) > MAX_TERMS:
        raise _Undecided("expansion too large")
    return out


def _rational(p: Poly) -> Fraction | None:
    """The value of a constant polynomial, or None."""
    if not p:
        return Fraction(0)
    if len(p) == 1 and () in p:
        return Fraction(p[()])
    return None


def _poly(node: Node) -> Poly:
    """The exact expansion of a tree, or :class:`_Undecided` (a division by a non-rational...)."""
    op = node.op
    if op == "num":
        assert node.value is not None
        return _const(node.value)
    if op == "sym":
        return _gen("s:" + node.name)
    if op == "const":
        if node.name in ("pi", "E", "I"):
            return _gen("c:" + node.name)
        raise _Undecided(node.name)
    if op == "neg":
        return _sub({}, _poly(node.args[0]))
    if op == "add":
        out: Poly = {}
        for arg in node.args:
            out = _add(out, _poly(arg))
        return out
    if op == "mul":
        out = _const(Fraction(1))
        for arg in node.args:
            out = _mul(out, _poly(arg))
        return out
    if op == "div":
        den = _rational(_poly(node.args[1]))
        if den is None or den == 0:
            raise _Undecided("a quotient by a non-rational")
        return _mul(_poly(node.args[0]), _const(1 / den))
    if op == "pow":
        base = _poly(node.args[0])
        n = _integer(node.args[1])
        if n is None:
            half = _half_integer(node.args[1])
            value = _rational(base)
            if half is not None and value is not None and value != 0:
                return _mul(_const(value**half), _square_root(value))  # q^(k+1/2) = q^k sqrt(q)
            return _gen(f"p:{_key(base)}^{_key(_poly(node.args[1]))}")
        if n < 0:
            value = _rational(base)
            if value is None or value == 0:
                raise _Undecided("a negative power of a non-rational")
            return _const(value**n)
        out = _const(Fraction(1))
        for _ in range(n):
            out = _mul(out, base)
        return out
    if op == "fact":
        value = _rational(_poly(node.args[0]))
        if value is not None and value.denominator == 1 and 0 <= value <= 2_000:
            return _const(Fraction(math.factorial(int(value))))
        return _gen(f"f:fact{_key(_poly(node.args[0]))}")
    if op == "root":
        radicand, index = _poly(node.args[0]), _poly(node.args[1])
        value = _rational(radicand)
        if value is not None and _rational(index) == 2:
            return _square_root(value)
        return _gen(f"r:{_key(radicand)}^(1/{_key(index)})")
    if op == "func":
        name = _FUNCTION_NAMES.get(node.name)
        if node.name == "log":
            name = "log"
        elif name is None or len(node.args) != 1:
            raise _Undecided(node.name)
        return _gen(f"f:{name}(" + ",".join(_key(_poly(a)) for a in node.args) + ")")
    raise _Undecided(op)


# square roots of rationals are reduced (sqrt(18) = 3 sqrt(2)) for radicands up to this
_MAX_RADICAND = 10**8


def _square_root(value: Fraction) -> Poly:
    """SymPy's value of ``sqrt(value)``: ``c * sqrt(m)`` with ``m`` square-free, times ``i`` if negative."""
    if value == 0:
        return {}
    n = abs(value.numerator) * value.denominator  # sqrt(a/b) = sqrt(ab)/b
    if n > _MAX_RADICAND:
        raise _Undecided("a large radicand")
    _charge(math.isqrt(n))
    outside, inside, p = 1, n, 2
    while p * p <= inside:
        while inside % (p * p) == 0:
            inside //= p * p
            outside *= p
        p += 1
    mono: Monomial = ((f"q:{inside}", 1),) if inside > 1 else ()
    if value < 0:
        mono = tuple(sorted((*mono, ("c:I", 1))))
    return {mono: Fraction(outside, value.denominator)}


def _half_integer(node: Node) -> int | None:
    """k for an exponent k + 1/2 written as a rational constant, else None."""
    try:
        value = exact_value(node)
    except (TooCostly, ZeroDivisionError):
        return None
    if value is None or value.denominator != 2 or abs(value) > 64:
        return None
    return math.floor(value)


def _integer(node: Node) -> int | None:
    """The exponent as an int when it is a rational constant that is an integer."""
    try:
        value = exact_value(node)
    except (TooCostly, ZeroDivisionError):
        raise _Undecided("exponent") from None
    if value is None or value.denominator != 1:
        return None
    if abs(value) > 64:
        raise _Undecided("exponent too large")
    return int(value)


def _is_plain_polynomial(p: Poly) -> bool:
    """Only symbols and i as indeterminates (no pi, e, functions, roots, powers)."""
    return all(g.startswith("s:") or g == "c:I" for m in p for g, _ in m)


def _has_symbol(p: Poly) -> bool:
    return any(g.startswith("s:") for m in p for g, _ in m)


def _gaussian_gap(p: Poly) -> bool:
    """A constant ``re + im*i`` (no symbols) that SymPy calls nonzero: a nonzero rational, or a
    complex number of modulus at least 1e-29 (SymPy calls a difference below 1e-30 equal)."""
    re, im = p.get((), Fraction(0)), p.get((("c:I", 1),), Fraction(0))
    if im == 0:
        return re != 0
    return re * re + im * im > Fraction(1, 10**58)


# ----------------------------------------------------------------------------------------------
# floating point with an error bound: (value, bound on |value - exact value|)


def _value(node: Node, point: dict[str, Fraction]) -> tuple[float, float]:
    v, e = _eval(node, point)
    if not (abs(v) < _HUGE and e < _HUGE):
        raise _Undecided("too large")
    return v, e


def _num(x: Fraction) -> tuple[float, float]:
    v = float(x)  # correctly rounded; OverflowError past the float range
    return v, abs(v) * _EPS


def _eval(node: Node, point: dict[str, Fraction]) -> tuple[float, float]:
    op = node.op
    if op == "num":
        assert node.value is not None
        return _num(node.value)
    if op == "sym":
        return _num(point[node.name])
    if op == "const":
        if node.name == "pi":
            return math.pi, math.pi * _EPS
        if node.name == "E":
            return math.e, math.e * _EPS
        raise _Undecided(node.name)  # i, infinity: not real numbers
    if op == "neg":
        v, e = _eval(node.args[0], point)
        return -v, e
    if op == "add":
        total, err, size = 0.0, 0.0, 0.0
        for arg in node.args:
            v, e = _eval(arg, point)
            total += v
            err += e
            size += abs(v)
        return total, err + len(node.args) * size * _EPS
    if op == "mul":
        v, e = 1.0, 0.0
        for arg in node.args:
            w, f = _eval(arg, point)
            v, e = _times((v, e), (w, f))
        return v, e
    if op == "div":
        return _over(_eval(node.args[0], point), _eval(node.args[1], point))
    if op == "pow":
        return _power(node, point)
    if op == "fact":
        value = exact_value(node.args[0])
        if value is None or value.denominator != 1 or not 0 <= value <= 170:
            raise _Undecided("factorial")
        return _num(Fraction(math.factorial(int(value))))
    if op == "root":
        base = _eval(node.args[0], point)
        index = _eval(node.args[1], point)
        if index[0] - index[1] <= 0:
            raise _Undecided("a root of index that may be negative or zero")
        if base == (0.0, 0.0):
            return 0.0, 0.0
        return _exp(_times(_over((1.0, 0.0), index), _log(base)))
    if op == "func":
        return _function(node, point)
    raise _Undecided(op)


def _times(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    (x, ex), (y, ey) = a, b
    v = x * y
    return v, abs(x) * ey + abs(y) * ex + ex * ey + abs(v) * _EPS


def _over(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
    (x, ex), (y, ey) = a, b
    if abs(y) <= 2 * ey or y == 0:
        raise _Undecided("a pole")
    v = x / y
    return v, (ex + abs(v) * ey) / (abs(y) - ey) + abs(v) * _EPS


def _power(node: Node, point: dict[str, Fraction]) -> tuple[float, float]:
    base = _eval(node.args[0], point)
    n = _integer(node.args[1])
    if n is not None:
        v, e = 1.0, 0.0
        for _ in range(abs(n)):
            v, e = _times((v, e), base)
            if abs(v) > _HUGE:
                raise _Undecided("too large")
        return _over((1.0, 0.0), (v, e)) if n < 0 else (v, e)
    if base[0] - base[1] <= 0:
        raise _Undecided("a non-integer power of a base that may be negative or zero")
    return _exp(_times(_eval(node.args[1], point), _log(base)))


def _log(a: tuple[float, float]) -> tuple[float, float]:
    x, e = a
    if x - 2 * e <= 0:
        raise _Undecided("log of a value that may be negative or zero")
    v = math.log(x)
    return v, e / (x - e) + abs(v) * _EPS + _EPS


def _exp(a: tuple[float, float]) -> tuple[float, float]:
    x, e = a
    if x + e > 300:
        raise _Undecided("too large")
    v = math.exp(x)
    return v, math.exp(x + e) - v + v * _EPS


def _function(node: Node, point: dict[str, Fraction]) -> tuple[float, float]:
    args = [_eval(a, point) for a in node.args]
    if node.name == "log":
        if len(args) == 2:
            return _over(_log(args[0]), _log(args[1]))
        if len(args) != 1:
            raise _Undecided("log")
        return _log(args[0])
    name = _FUNCTION_NAMES.get(node.name)
    if name is None or len(args) != 1:
        raise _Undecided(node.name)
    x, e = args[0]
    if name in ("sin", "cos"):  # Lipschitz 1
        v = math.sin(x) if name == "sin" else math.cos(x)
        return v, e + _EPS
    if name in ("tan", "cot", "sec", "csc"):
        s, c = (math.sin(x), e + _EPS), (math.cos(x), e + _EPS)
        num, den = {"tan": (s, c), "cot": (c, s), "sec": ((1.0, 0.0), c), "csc": ((1.0, 0.0), s)}[name]
        return _over(num, den)
    if name in ("asin", "acos"):
        if abs(x) + e >= 1 - 1e-9:
            raise _Undecided("outside the real domain")
        v = math.asin(x) if name == "asin" else math.acos(x)
        return v, e / math.sqrt(1 - (abs(x) + e) ** 2) + abs(v) * _EPS + _EPS
    if name in ("atan", "tanh"):  # Lipschitz 1
        v = math.atan(x) if name == "atan" else math.tanh(x)
        return v, e + _EPS
    if name in ("sinh", "cosh"):
        if abs(x) + e > 300:
            raise _Undecided("too large")
        v = math.sinh(x) if name == "sinh" else math.cosh(x)
        return v, e * math.cosh(abs(x) + e) + abs(v) * _EPS + _EPS
    if name == "exp":
        return _exp((x, e))
    if name == "abs":
        return abs(x), e
    raise _Undecided(name)

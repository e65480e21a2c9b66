"""Comparison: named strategies over parsed kinds, dispatched in one place (:func:`equal`).

``compare(pred, ref, ctx)`` is a pure function of the two parsed answers and the context. It runs
twice at most: first in the caller's process with ``ctx.symbolic=False``, where exact numbers, choice
letters, text and structure are decided without SymPy; a leaf pair that needs SymPy raises
:class:`NeedsSymbolic`, and the whole comparison is then re-run inside a sandbox worker with
``ctx.symbolic=True`` (:func:`symbolic_compare`, under the time and memory limit).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from verifier.algebra import algebra_equal
from verifier.config import VerifyConfig
from verifier.mathparse import Node, TooCostly, exact_value
from verifier.outcome import Match, NeedsSymbolic, Outcome
from verifier.parse import (
    Alternatives,
    Answer,
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
    is_symbol_name,
    label_name,
    parse_answer,
)
from verifier.rounding import Stated, percent_scales, rounded_agreement, stated_precision
from verifier.verdict import Method, Status


@dataclass(frozen=True)
class Context:
    config: VerifyConfig
    symbolic: bool  # True inside a sandbox worker: SymPy may be used
    rounding: bool  # a decimal may match an exact value it rounds (the question asks to round)
    # the question's lettered options, normalised: (("A", "10"), ("B", "12")); () when it has none
    options: tuple[tuple[str, str], ...] = ()
    # in process, second pass: values SymPy would be needed for are first tried by exact expansion
    # and a numeric witness (verifier.algebra), where SymPy's answer is certain; the verdict is then
    # the one the sandbox would give (method SYMBOLIC)
    algebra: bool = False

    def option(self, letter: str) -> Answer | None:
        """The parsed text of option ``letter`` of the question, or None."""
        for key, text in self.options:
            if key == letter:
                return _parse_option(text)
        return None


def compare(pred: Answer, ref: Answer, ctx: Context) -> Outcome:
    """Decide one parsed pair (raises :class:`NeedsSymbolic` in process when SymPy is needed)."""
    m = equal(pred, ref, ctx)
    method = _method(pred, ref, symbolic=ctx.symbolic or ctx.algebra)
    return Outcome(Status.CORRECT if m.ok else Status.INCORRECT, method, m.why)


def symbolic_compare(
    pred: Answer,
    ref: Answer,
    config: VerifyConfig,
    rounding: bool,
    options: tuple[tuple[str, str], ...] = (),
) -> Outcome:
    """The sandboxed step: the same comparison with SymPy allowed (a picklable module-level function).

    Returns an :class:`Outcome` for every input: a leaf SymPy cannot read is UNPARSEABLE, a cost guard
    is UNPARSEABLE with its reason, and a SymPy failure is ERROR naming the exception.
    """
    try:
        return compare(pred, ref, Context(config, symbolic=True, rounding=rounding, options=options))
    except TooCostly as exc:
        side = _unreadable_side(pred, ref)
        return Outcome(Status.UNPARSEABLE, Method.NONE, f"cost guard on {side}: {exc}")
    except Unparseable as exc:
        side = _unreadable_side(pred, ref)
        return Outcome(Status.UNPARSEABLE, Method.NONE, f"cannot read {side} as math: {exc}")
    except (ArithmeticError, TypeError, ValueError, AttributeError, RecursionError) as exc:
        return Outcome(Status.ERROR, Method.NONE, f"SymPy failed: {type(exc).__name__}: {str(exc)[:120]}")


def _unreadable_side(pred: Answer, ref: Answer) -> str:
    """Which side SymPy cannot read, for the reason: "the reference" (callers such as the TRL adapter
    skip the item then), "the answer", or "a question's option" when both sides read."""
    from verifier.symbolic import to_sympy

    for side, answer in (("the reference", ref), ("the answer", pred)):
        for leaf in _leaves(answer):
            try:
                to_sympy(leaf)
            except (Unparseable, TooCostly):
                return side
    return "a question's option"


def _leaves(a: Answer) -> list[Number | Expr]:
    """The numbers and expressions inside an answer, depth first."""
    out: list[Number | Expr] = []
    stack: list[Answer] = [a]
    while stack:
        cur = stack.pop()
        if isinstance(cur, Number | Expr):
            out.append(cur)
        elif isinstance(cur, Relation | Union):
            stack.extend(cur.parts)
        elif isinstance(cur, Interval):
            stack.extend((cur.lo, cur.hi))
        elif isinstance(cur, TupleA | SetA | Alternatives | Ratio):
            stack.extend(cur.items)
        elif isinstance(cur, Matrix):
            stack.extend(x for row in cur.rows for x in row)
    return out


def _method(pred: Answer, ref: Answer, *, symbolic: bool) -> Method:
    kinds = {type(pred), type(ref)}
    if kinds <= {Text, Choice}:
        return Method.STRING
    if kinds <= {Number}:
        return Method.NUMERIC
    if kinds <= {Number, Expr}:
        return Method.SYMBOLIC if symbolic else Method.NUMERIC
    return Method.STRUCTURAL


# ----------------------------------------------------------------------------------------------
# the dispatcher

Strategy = Callable[[Answer, Answer, Context], Match]


def equal(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """Are ``pred`` and ``ref`` the same answer? The one place that picks a strategy by kinds."""
    ref = _alternatives_as_union(ref)
    pred = _alternatives_as_union(pred)
    if isinstance(ref, Alternatives):
        ref = SetA(ref.items, braces=False)  # a reference "x=1 or x=2" lists solutions
    if isinstance(pred, Alternatives):
        if isinstance(ref, SetA) or _is_eq_to_list(ref):
            pred = SetA(pred.items, braces=False)  # "1 or 2" lists the solutions 1, 2
        elif all(equal(item, ref, ctx).ok for item in pred.items):
            return Match(True, "every alternative is the reference (the same value written twice)")
        else:
            return Match(False, "a hedged answer (several alternatives) for a single reference")
    for kinds, strategy in _STRATEGIES:
        if isinstance(pred, kinds[0]) and isinstance(ref, kinds[1]):
            return strategy(pred, ref, ctx)
    return Match(False, f"{_kind(pred)} is not {_kind(ref)}")


def _alternatives_as_union(a: Answer) -> Answer:
    """``x<1 or x>2`` is the union of two intervals when every alternative bounds the same variable."""
    if not isinstance(a, Alternatives) or not all(isinstance(it, Relation) for it in a.items):
        return a
    parts: list[Interval] = []
    names = set()
    for it in a.items:
        assert isinstance(it, Relation)
        intervals = _as_intervals(it)
        if intervals is None or it.ops == ("\\in",):
            return a
        names |= {
            p.node.name for p in it.parts if isinstance(p, Expr) and p.node is not None and p.node.op == "sym"
        }
        parts.extend(intervals)
    return Union(tuple(parts)) if len(names) == 1 else a


def _kind(a: Answer) -> str:
    """The kind of ``a`` with its article, for reasons: "a number", "an interval"."""
    return {
        Number: "a number", Expr: "an expression", Relation: "a relation", Interval: "an interval",
        Union: "a union of intervals", TupleA: "a tuple", SetA: "a list", Matrix: "a matrix",
        Choice: "a choice letter", Text: "text", Alternatives: "a list of alternatives", Ratio: "a ratio",
    }[type(a)]  # fmt: skip


def _is_eq_to_list(a: Answer) -> bool:
    return isinstance(a, Relation) and a.ops in (("=",), ("\\in",)) and isinstance(a.parts[1], SetA)


# ----------------------------------------------------------------------------------------------
# strategies


def choice_vs_choice(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """The same letter. When the answer also writes the option's text ("(A) 13") and the reference
    side knows that option's text (written with the letter, or from the question), the two texts must
    agree: "(A) 13" for "(A) 12" contradicts itself and is not accepted."""
    assert isinstance(pred, Choice) and isinstance(ref, Choice)
    if pred.letter != ref.letter:
        return Match(False, f"choice {pred.letter}, expected {ref.letter}")
    if pred.option is not None:
        known = ref.option if ref.option is not None else dict(ctx.options).get(ref.letter)
        if known is not None and not _same_option_text(pred.option, known, ctx):
            why = f"choice {ref.letter}, but its text {pred.option!r} is not the option's {known!r}"
            return Match(False, why)
    return Match(True, f"choice {ref.letter}")


_OPTION_NUMBER = re.compile(r"[-−]?\d+(?:\.\d+)?")


def option_numbers(text: str) -> list[str]:
    """The numbers an option's text states, in order, signs kept: ``Rs. 750`` -> ``["750"]``."""
    return _OPTION_NUMBER.findall(text)


def _same_option_text(a: str, b: str, ctx: Context) -> bool:
    pa, pb = _parse_option(a), _parse_option(b)
    if pa is not None and pb is not None and equal(pa, pb, ctx).ok:
        return True
    if " ".join(a.lower().split()) == " ".join(b.lower().split()):
        return True
    # the same numbers, units spelled differently ("43 km/hr" for "43kms/hr", "60 degrees" for "60*"):
    # the letter is the answer, its text only must not contradict it
    numbers = option_numbers(a)
    return bool(numbers) and numbers == option_numbers(b)


def answer_vs_choice(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """The reference is a letter: only that letter, or the text of that option, matches.

    The option's text is the one written with the letter (``(C) 12``) or, failing that, option C of
    the question. An answer equal to the text of another option too is not accepted.
    """
    assert isinstance(ref, Choice)
    option = _parse_option(ref.option) if ref.option is not None else ctx.option(ref.letter)
    if option is not None and equal(pred, option, ctx).ok:
        for letter, _ in ctx.options:
            other = ctx.option(letter)
            if letter != ref.letter and other is not None and equal(pred, other, ctx).ok:
                return Match(False, f"the answer is the text of options {ref.letter} and {letter}")
        return Match(True, f"the text of option {ref.letter}")
    return Match(False, f"the reference is choice {ref.letter}; the answer is neither it nor its text")


def choice_vs_answer(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """A letter with its option text, "(C) 12", is judged by the text when the reference is not a letter."""
    assert isinstance(pred, Choice)
    option = _parse_option(pred.option) if pred.option is not None else ctx.option(pred.letter)
    if option is not None:
        m = equal(option, ref, ctx)
        return Match(m.ok, f"option {pred.letter}: {m.why}")
    if isinstance(ref, Expr) and ref.text.strip() == pred.letter:
        return Match(True, "the same letter")
    return Match(False, f"choice {pred.letter} is not {_kind(ref)}")


def _parse_option(text: str) -> Answer | None:
    try:
        return parse_answer(text)
    except (Unparseable, ValueError):
        return None


def text_vs_text(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """The same words. Two words of one closed vocabulary (weekdays, months, yes/no, ...) are read, not
    guessed: a different word of the vocabulary is a different answer (``Wednesday`` for ``Tuesday``)."""
    assert isinstance(pred, Text) and isinstance(ref, Text)
    if pred.text == ref.text:
        return Match(True, "same text")
    if pred.vocab is not None and pred.vocab == ref.vocab:
        return Match(False, f"{pred.text} is not {ref.text} ({pred.vocab.replace('_', '/')})")
    return Match(False, "different text")


def ratio_vs_ratio(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """Ratios are compared as written, term by term in order: ``3 : 1`` is ``3:1``, not ``1:3`` or ``6:2``."""
    assert isinstance(pred, Ratio) and isinstance(ref, Ratio)
    m = _ordered(pred.items, ref.items, ctx)
    return Match(m.ok, "the same ratio" if m.ok else f"different ratios ({m.why})")


def value_vs_value(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """Numbers and expressions: exact in process when both are numbers, else SymPy."""
    assert isinstance(pred, Number | Expr) and isinstance(ref, Number | Expr)
    if isinstance(pred, Number) and isinstance(ref, Number):
        return numbers_equal(pred, ref, ctx)
    if isinstance(ref, Number) and ref.base is not None:
        return Match(False, f"the reference is a number in base {ref.base}; the answer is an expression")
    if isinstance(pred, Expr) and isinstance(ref, Expr) and pred.node is not None and pred.node == ref.node:
        return Match(True, "the same expression")
    inf_p, inf_r = _infinity(pred), _infinity(ref)
    if inf_p is not None or inf_r is not None:
        if inf_p is not None and inf_r is not None:
            return Match(inf_p == inf_r, "infinity" if inf_p == inf_r else "infinities of opposite sign")
        if isinstance(pred, Number) or isinstance(ref, Number):
            return Match(False, "a number is not infinite")
    if not ctx.symbolic:
        if ctx.algebra:
            decided = algebra_equal(pred, ref, ctx)
            if decided is not None:
                return decided
        raise NeedsSymbolic
    from verifier.symbolic import values_equal

    return values_equal(pred, ref, ctx)


def _infinity(a: Number | Expr) -> int | None:
    if not isinstance(a, Expr) or a.node is None:
        return None
    node: Node = a.node
    sign = 1
    while node.op == "neg":
        sign = -sign
        node = node.args[0]
    if node.op == "const" and node.name == "oo":
        return sign
    return None


def numbers_equal(pred: Number, ref: Number, ctx: Context) -> Match:
    r"""Exact rationals: 0.5 == 1/2 == 2/4, 0.333 != 1/3 (unless rounding is allowed), 25% == 25 == 0.25;
    a decimal reference read to its last digit (``17/3`` is ``5.667``; :mod:`verifier.rounding`).

    Two percentages compare their numbers only (``0.25\%`` is not ``25\%``), and a number written in
    another base (``101_2``) by :func:`_based_equal`.
    """
    if pred.base is not None or ref.base is not None:
        return _based_equal(pred, ref)
    both_percent = pred.percent and ref.percent
    if both_percent and pred.value == ref.value:
        return Match(True, "equal percentages")
    for p in () if both_percent else _candidates(pred, ctx):
        for r in _candidates(ref, ctx):
            if p == r:
                pct = pred.percent or ref.percent
                return Match(True, "equal (percent)" if pct else "equal numbers")
    if not ctx.rounding and (not ctx.config.rounded_references or stated_precision(ref.text) is None):
        # an exact reference: only the rounding a question asks for could match (a rational reference is
        # never the irrational one of VerifyConfig.rounded_min_sig_digits)
        return Match(False, f"{pred.text} != {ref.text}")
    for sp in (1,) if both_percent else percent_scales(pred.percent, ctx.config):
        for sr in (1,) if both_percent else percent_scales(ref.percent, ctx.config):
            why = rounded_agreement(
                Stated.of(pred.text, pred.value if sp == 1 else pred.value / sp, percent_scaled=sp != 1),
                Stated.of(ref.text, ref.value if sr == 1 else ref.value / sr, percent_scaled=sr != 1),
                rounding=ctx.rounding,
                min_sig_digits=ctx.config.rounded_min_sig_digits,
                rounded_references=ctx.config.rounded_references,
            )
            if why:
                return Match(True, why)
    return Match(False, f"{pred.text} != {ref.text}")


def _based_equal(pred: Number, ref: Number) -> Match:
    """Numbers with a base subscript. The reference's base is the base the question asked for: an answer
    to ``1112112_3`` must write the same digits, with or without the subscript (``1112112``), and an
    answer in another base is not accepted. An answer with a subscript against a plain reference is its
    value (``101_2`` is 5)."""
    if ref.base is None:
        assert pred.base is not None
        ok = not ref.percent and pred.value == ref.value
        return Match(ok, f"{pred.text} is {pred.value} in base ten" + ("" if ok else f", not {ref.text}"))
    if pred.base is not None and pred.base != ref.base:
        return Match(False, f"an answer in base {pred.base} for a reference in base {ref.base}")
    if pred.base is None:
        digits = pred.text.strip()
        if pred.percent or not re.fullmatch(r"[0-9A-Za-z]+", digits):
            return Match(False, f"{pred.text} is not written in base {ref.base}")
        try:
            value = int(digits, ref.base)
        except ValueError:
            return Match(False, f"{pred.text} has digits that base {ref.base} does not have")
        return Match(value == ref.value, f"the digits of {pred.text} in base {ref.base}")
    return Match(pred.value == ref.value, f"the same number in base {ref.base}")


def _candidates(n: Number, ctx: Context) -> list[Fraction]:
    return [n.value / scale for scale in percent_scales(n.percent, ctx.config)]


def relation_vs_relation(pred: Answer, ref: Answer, ctx: Context) -> Match:
    assert isinstance(pred, Relation) and isinstance(ref, Relation)
    ip, ir = _as_intervals(pred), _as_intervals(ref)
    if ip is not None and ir is not None:
        return _union_equal(ip, ir, ctx)
    sp, sr = _stated(pred), _stated(ref)
    if sp is not None and sr is not None:
        (lp, values), (lr, ref_values) = sp, sr
        if lp is not None and lr is not None and lp != lr:
            return Match(False, f"the answer is about {lp}, the reference about {lr}")
        return _chain_equal(lp, values, ref_values[-1], ctx)
    if pred.ops == ("=",) and ref.ops == ("=",):
        vp, vr = _assigned_var(pred), _assigned_var(ref)
        if vp is not None and vr is not None:
            if vp != vr:
                return Match(False, f"the answer is about {vp}, the reference about {vr}")
            return _sub(equal(pred.parts[1], ref.parts[1], ctx), f"{vp} = value")
        if _equation_sides(pred) is None or _equation_sides(ref) is None:
            return Match(False, "relations of different kinds")
        if not ctx.symbolic:
            raise NeedsSymbolic
        from verifier.symbolic import equations_equivalent

        return equations_equivalent(pred, ref, ctx)
    if len(pred.ops) == len(ref.ops):
        flipped = _flip(pred)
        for cand in (pred, flipped):
            if (
                cand is not None
                and cand.ops == ref.ops
                and all(equal(a, b, ctx).ok for a, b in zip(cand.parts, ref.parts, strict=True))
            ):
                return Match(True, "the same relation")
    return Match(False, "different relations")


def _stated(rel: Relation) -> tuple[str | None, tuple[Answer, ...]] | None:
    """What a relation states as a value: ``x = 5``, ``x \\in \\{1, 2\\}``, ``x = 2+3 = 5``, ``2+3 = 5``
    -> (its label or None, the values it states, the last one exact); None for anything else (an
    equation such as ``x+y = 5``, an inequality, an identity such as ``0 = 0``)."""
    var = _assigned_var(rel)
    if var is not None:
        return var, (rel.parts[1],)
    chain = _chain(rel)
    if chain is None or _is_identity(rel):
        return None
    if chain[0] is not None or _is_numeric_chain(rel):
        return chain
    return None


def _sub(m: Match, what: str) -> Match:
    return Match(m.ok, f"{what}: {m.why}")


def relation_vs_value(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """``x = 3`` against ``3``; an inequality against an interval."""
    assert isinstance(pred, Relation)
    if isinstance(ref, Interval | Union | TupleA):
        ip = _as_intervals(pred)
        ir = _value_intervals(ref)
        if ip is not None and ir is not None:
            return _union_equal(ip, ir, ctx)
    chain = _chain(pred)
    if chain is not None:
        if chain[0] is None and _is_identity(pred):
            return Match(False, "an identity (the same constant on every side) states no answer")
        return _chain_equal(*chain, ref, ctx)
    var = _assigned_var(pred)
    if var is not None and pred.ops == ("\\in",):
        return _sub(equal(pred.parts[1], ref, ctx), f"{var} in the set")
    return Match(False, f"a relation is not {_kind(ref)}")


def _chain(rel: Relation) -> tuple[str | None, tuple[Answer, ...]] | None:
    """An answer written as a chain: ``x = 5``, ``x = 2+3 = 5``, ``\\frac{12}{90} = \\frac{2}{15}``,
    ``x = \\frac{2}{15} \\approx 0.133``. Returns (the label on the left or None, the exact values).

    Approximations after an exact value are left out; a chain of only a label and an approximation
    (``x \\approx 2.83``) has that approximation as its value.
    """
    if not rel.ops or any(op not in ("=", "\\approx") for op in rel.ops):
        return None
    parts, ops = rel.parts, rel.ops
    label = _assigned_var(Relation(parts[:2], ("=",)))
    if label is not None:
        parts, ops = parts[1:], ops[1:]
    values = [parts[0]] + [p for p, op in zip(parts[1:], ops, strict=True) if op == "="]
    return label, tuple(values)


_PLAIN_LITERAL = re.compile(r"-?\d+(?:\.\d+)?")


def _is_identity(rel: Relation) -> bool:
    """``0=0``, ``7 = 7``, ``5 = 5.0``, ``2+3 = 2+3``: every side is the same thing, written the same
    way, and none is a variable. It holds whatever the question was, so it answers nothing (``2+3=5``
    does: it computes)."""
    texts: set[object] = set()
    for part in rel.parts:
        if isinstance(part, Number):
            text = part.text.replace(" ", "")
            texts.add(part.value if _PLAIN_LITERAL.fullmatch(text) else text)  # 5 = 5.0 too
        elif isinstance(part, Expr) and part.node is not None and not _has_symbol(part.node):
            texts.add(part.text.replace(" ", ""))
        else:
            return False
    return len(texts) == 1


def _has_symbol(node: Node) -> bool:
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.op == "sym":
            return True
        stack.extend(cur.args)
    return False


def _chain_equal(label: str | None, values: tuple[Answer, ...], ref: Answer, ctx: Context) -> Match:
    """Every exact value of the chain is the same (so ``1 = 2 = 3`` is no answer) and is the reference."""
    last = values[-1]
    for v in values[:-1]:
        if not equal(v, last, ctx).ok:
            return Match(False, "a chain of equalities that do not hold")
    what = f"{label} = value" if label is not None else "the value the equalities state"
    return _sub(equal(last, ref, ctx), what)


def value_vs_relation(pred: Answer, ref: Answer, ctx: Context) -> Match:
    assert isinstance(ref, Relation)
    if isinstance(pred, Interval | Union | TupleA):
        ir = _as_intervals(ref)
        ip = _value_intervals(pred)
        if ip is not None and ir is not None:
            return _union_equal(ip, ir, ctx)
    var = _assigned_var(ref)
    if var is not None:
        return _sub(equal(pred, ref.parts[1], ctx), f"value of {var}")
    chain = _chain(ref)  # "2+3 = 5", "x = 2+3 = 5": the value the reference's equalities state
    if chain is not None and (len(ref.parts) > 2 or _is_numeric_chain(ref)) and not _is_identity(ref):
        return _chain_equal(chain[0], chain[1], pred, ctx)
    return Match(False, f"the reference is a relation, the answer {_kind(pred)}")


def _is_numeric_chain(rel: Relation) -> bool:
    """Every side is a number: ``2+3 = 5`` computes a value (``x+y = 5`` is an equation)."""
    return all(isinstance(p, Number) for p in rel.parts)


# a name on the left of "=": f(x), f^{-1}(x), g(2), P(A), a_n, S_{10}, \det, f'(x)
_LABEL = re.compile(
    r"^(?:[A-Za-z](?:_\{?\w+\}?)?(?:\^\{?-1\}?)?'*\s*\((?:[^()=]|\([^()=]*\))*\)|\\[A-Za-z]+"
    r"|[A-Za-z]_\{?\w+\}?"
    r"|\\(?:lim|i*int|oint|sum|prod)(?![A-Za-z])[^=<>]*)$"  # "\lim_{x \to c} f(x)", "\iint_S ...": a name
)


def _assigned_var(rel: Relation) -> str | None:
    """``x = <value>`` -> "x": a symbol or a label alone on the left of one ``=``.

    Labels: ``f(x)``, ``f^{-1}(x)``, ``a_n``, ``\\det``.
    """
    if rel.ops != ("=",) and rel.ops != ("\\in",):
        return None
    lhs = rel.parts[0]
    if isinstance(lhs, Expr) and lhs.node is not None and lhs.node.op == "sym":
        rhs = rel.parts[1]
        if isinstance(rhs, Expr) and rhs.node is not None and _mentions(rhs.node, lhs.node.name):
            return None
        return lhs.node.name
    if isinstance(lhs, Expr) and _LABEL.match(lhs.text.replace(" ", "")):
        return lhs.text.replace(" ", "")
    # "A = 5" (a capital read as a choice), "AB = 4", "\frac{NO}{BO} = ...", "S_{MBCN}:S = 7:32"
    name = label_name(lhs)
    if name is not None:
        return name
    if isinstance(lhs, TupleA) and rel.ops == ("=",):  # "(x, y) = (1, 2)": a tuple of names
        names = [_symbol_name(it) or (it.letter if isinstance(it, Choice) else None) for it in lhs.items]
        if all(names):
            return "(" + ",".join(n for n in names if n) + ")"
    return None


def _mentions(node: Node, name: str) -> bool:
    stack = [node]
    while stack:
        cur = stack.pop()
        if cur.op == "sym" and cur.name == name:
            return True
        stack.extend(cur.args)
    return False


def _equation_sides(rel: Relation) -> tuple[Answer, Answer] | None:
    if rel.ops != ("=",):
        return None
    lhs, rhs = rel.parts
    if isinstance(lhs, Number | Expr) and isinstance(rhs, Number | Expr):
        return lhs, rhs
    return None


_FLIP = {"<": ">", ">": "<", "\\le": "\\ge", "\\ge": "\\le", "=": "=", "\\ne": "\\ne"}


def _flip(rel: Relation) -> Relation | None:
    if any(op not in _FLIP for op in rel.ops):
        return None
    return Relation(tuple(reversed(rel.parts)), tuple(_FLIP[op] for op in reversed(rel.ops)))


# intervals ------------------------------------------------------------------------------------

_NEG_INF = Expr("-\\infty", Node("neg", (Node("const", name="oo"),)))
_POS_INF = Expr("\\infty", Node("const", name="oo"))


def _as_intervals(rel: Relation) -> tuple[Interval, ...] | None:
    """``x < 2`` -> (-oo, 2); ``1 \\le x < 3`` -> [1, 3); ``x \\in [1,2]`` -> [1,2]; ``x \\ne 2`` ->
    (-oo, 2) U (2, oo).

    None unless the relation bounds one variable.
    """
    if rel.ops == ("\\in",):
        return _value_intervals(rel.parts[1])
    around_abs = _abs_intervals(rel)
    if around_abs is not None:
        return around_abs
    rel2 = rel
    if len(rel.ops) == 1 and not _is_symbol(rel.parts[0]) and _is_symbol(rel.parts[1]):
        flipped = _flip(rel)
        if flipped is None:
            return None
        rel2 = flipped
    ops = rel2.ops
    parts = rel2.parts
    if len(ops) == 1 and _is_symbol(parts[0]) and ops[0] in ("<", ">", "\\le", "\\ge"):
        bound = parts[1]
        closed = ops[0] in ("\\le", "\\ge")
        if ops[0] in ("<", "\\le"):
            return (Interval(_NEG_INF, bound, False, closed),)
        return (Interval(bound, _POS_INF, closed, False),)
    if len(ops) == 1 and _is_symbol(parts[0]) and ops[0] == "\\ne":
        bound = parts[1]
        if isinstance(bound, Expr) and _infinity(bound) is not None:
            return None
        return (Interval(_NEG_INF, bound, False, False), Interval(bound, _POS_INF, False, False))
    if len(ops) == 2 and _is_symbol(parts[1]):
        if all(op in ("<", "\\le") for op in ops):
            return (Interval(parts[0], parts[2], ops[0] == "\\le", ops[1] == "\\le"),)
        if all(op in (">", "\\ge") for op in ops):
            return (Interval(parts[2], parts[0], ops[1] == "\\ge", ops[0] == "\\ge"),)
    return None


def _abs_of_real(a: Answer) -> bool:
    """``|x|`` of one real variable (``z`` is by convention complex: ``|z| \\le 1`` is a disc)."""
    if not isinstance(a, Expr) or a.node is None:
        return False
    node = a.node
    return node.op == "func" and node.name == "abs" and node.args[0].op == "sym" and node.args[0].name != "z"


def _plain_number(a: Answer) -> Fraction | None:
    if isinstance(a, Number) and a.base is None and not a.percent:
        return a.value
    return None


def _num(v: Fraction) -> Number:
    return Number(v, str(v), None)


def _abs_intervals(rel: Relation) -> tuple[Interval, ...] | None:
    """``|x| \\le 3`` -> [-3, 3]; ``|x| > 2`` -> (-oo, -2) U (2, oo); ``1 \\le |x| < 2`` -> (-2, -1] U [1, 2).

    Only for exact, non-negative bounds; None for anything else (compared as written).
    """
    parts, ops = rel.parts, rel.ops
    if len(ops) == 1 and not _abs_of_real(parts[0]) and _abs_of_real(parts[1]):
        flipped = _flip(rel)
        if flipped is None:
            return None
        parts, ops = flipped.parts, flipped.ops
    if len(ops) == 1 and _abs_of_real(parts[0]):
        c = _plain_number(parts[1])
        if c is None or c < 0 or ops[0] not in ("<", ">", "\\le", "\\ge"):
            return None
        closed = ops[0] in ("\\le", "\\ge")
        if ops[0] in ("<", "\\le"):
            return None if c == 0 and not closed else (Interval(_num(-c), _num(c), closed, closed),)
        return (Interval(_NEG_INF, _num(-c), False, closed), Interval(_num(c), _POS_INF, closed, False))
    if len(ops) == 2 and _abs_of_real(parts[1]):
        if all(op in (">", "\\ge") for op in ops):
            parts, ops = tuple(reversed(parts)), tuple(_FLIP[op] for op in reversed(ops))
        if not all(op in ("<", "\\le") for op in ops):
            return None
        a, b = _plain_number(parts[0]), _plain_number(parts[2])
        if a is None or b is None or a < 0 or b < a:
            return None
        lo_closed, hi_closed = ops[0] == "\\le", ops[1] == "\\le"
        return (
            Interval(_num(-b), _num(-a), hi_closed, lo_closed),
            Interval(_num(a), _num(b), lo_closed, hi_closed),
        )
    return None


def _is_symbol(a: Answer) -> bool:
    return _symbol_name(a) is not None


def _symbol_name(a: Answer) -> str | None:
    if isinstance(a, Expr) and a.node is not None and a.node.op == "sym":
        return a.node.name
    return None


def _value_intervals(a: Answer) -> tuple[Interval, ...] | None:
    if isinstance(a, Interval):
        return (a,)
    if isinstance(a, Union):
        return a.parts
    if isinstance(a, TupleA) and a.parenthesized and len(a.items) == 2:
        return (Interval(a.items[0], a.items[1], False, False),)
    return None


def interval_vs_interval(pred: Answer, ref: Answer, ctx: Context) -> Match:
    ip, ir = _value_intervals(pred), _value_intervals(ref)
    if ip is None or ir is None:
        return Match(False, f"{_kind(pred)} is not {_kind(ref)}")
    return _union_equal(ip, ir, ctx)


def _end_value(a: Answer) -> tuple[int, Fraction] | None:
    """An interval end as a sortable (infinity sign, exact value), or None when it is not exact."""
    inf = _infinity_end(a)
    if inf is not None:
        return (inf, Fraction(0))
    value = _plain_number(a)
    return None if value is None else (0, value)


def merge_intervals(parts: tuple[Interval, ...]) -> tuple[Interval, ...]:
    """A union of intervals with exact ends in one form: sorted, overlapping or touching intervals merged
    (``[1,2) U [2,3]`` -> ``[1,3]``; ``(1,2) U (2,3)`` stays two). Unchanged when an end is not exact."""
    if len(parts) < 2:
        return parts
    ends = [(_end_value(i.lo), _end_value(i.hi)) for i in parts]
    exact: list[tuple[tuple[int, Fraction], tuple[int, Fraction], Interval]] = []
    for (lo, hi), interval in zip(ends, parts, strict=True):
        if lo is None or hi is None:
            return parts
        exact.append((lo, hi, interval))
    exact.sort(key=lambda e: (e[0], not e[2].lo_closed))
    out: list[tuple[tuple[int, Fraction], tuple[int, Fraction], Interval]] = []
    for lo, hi, cur in exact:
        if out:
            plo, phi, prev = out[-1]
            if lo < phi or (lo == phi and (prev.hi_closed or cur.lo_closed)):
                if hi > phi or (hi == phi and cur.hi_closed):
                    out[-1] = (plo, hi, Interval(prev.lo, cur.hi, prev.lo_closed, cur.hi_closed))
                continue
        out.append((lo, hi, cur))
    return tuple(i for _, _, i in out)


def _union_equal(ps: tuple[Interval, ...], rs: tuple[Interval, ...], ctx: Context) -> Match:
    ps, rs = merge_intervals(ps), merge_intervals(rs)
    if len(ps) != len(rs):
        return Match(False, f"{len(ps)} interval(s), expected {len(rs)}")
    used: set[int] = set()
    for p in ps:
        for j, r in enumerate(rs):
            if j not in used and _interval_equal(p, r, ctx):
                used.add(j)
                break
        else:
            return Match(False, "an interval does not match (ends or brackets differ)")
    return Match(True, "the same interval(s)")


def _interval_equal(p: Interval, r: Interval, ctx: Context) -> bool:
    # an infinite end is open however it is written
    lo_closed_ok = True if _infinity_end(p.lo) is not None else p.lo_closed == r.lo_closed
    hi_closed_ok = True if _infinity_end(p.hi) is not None else p.hi_closed == r.hi_closed
    return lo_closed_ok and hi_closed_ok and equal(p.lo, r.lo, ctx).ok and equal(p.hi, r.hi, ctx).ok


def _infinity_end(a: Answer) -> int | None:
    return _infinity(a) if isinstance(a, Expr) else None


# sequences ------------------------------------------------------------------------------------


def tuple_vs_tuple(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """In order; two tuples that name the same items in another order (``CD = 5, AB = 4`` and
    ``AB = 4, CD = 5``) name by name; two that name different items (``a=1, b=2`` and ``a=1, c=2``)
    never match."""
    assert isinstance(pred, TupleA) and isinstance(ref, TupleA)
    pn, rn = pred.names, ref.names
    if pn is not None and rn is not None and sorted(pn) != sorted(rn):
        return Match(False, f"the answer is about {', '.join(pn)}, the reference about {', '.join(rn)}")
    if pn is not None and rn is not None and pn != rn:
        by_name = dict(zip(pn, pred.items, strict=True))
        return _ordered(tuple(by_name[n] for n in rn), ref.items, ctx)
    return _ordered(pred.items, ref.items, ctx)


def _ordered(ps: tuple[Answer, ...], rs: tuple[Answer, ...], ctx: Context) -> Match:
    if len(ps) != len(rs):
        return Match(False, f"{len(ps)} parts, expected {len(rs)}")
    for k, (p, r) in enumerate(zip(ps, rs, strict=True)):
        m = equal(p, r, ctx)
        if not m.ok:
            return Match(False, f"part {k + 1}: {m.why}")
    return Match(True, f"all {len(rs)} parts match in order")


def set_vs_set(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """Unordered: every reference item is matched by a distinct answer item and nothing is left over."""
    ps = pred.items if isinstance(pred, SetA | TupleA) else ()
    rs = ref.items if isinstance(ref, SetA | TupleA) else ()
    if isinstance(ref, TupleA) and isinstance(pred, SetA):
        if pred.braces:
            return Match(False, "a set for an ordered tuple")
        return _ordered(pred.items, ref.items, ctx)  # "1, 2" for the ordered pair "(1, 2)"
    ps_u = _dedupe(ps, ctx)
    rs_u = _dedupe(rs, ctx)
    if not ps_u and not rs_u:
        return Match(True, "both are the empty set")
    if len(ps_u) != len(rs_u):
        return Match(False, f"{len(ps_u)} distinct parts, expected {len(rs_u)}")
    used: set[int] = set()
    for r in rs_u:
        for j, p in enumerate(ps_u):
            if j not in used and equal(p, r, ctx).ok:
                used.add(j)
                break
        else:
            return Match(False, "a part of the reference is missing from the answer")
    return Match(True, f"all {len(rs_u)} parts match (any order)")


def _dedupe(items: tuple[Answer, ...], ctx: Context) -> list[Answer]:
    """The items without repeats: two items with one canonical key (:func:`key_of`) are one item, so
    ``1, 1.0, 2`` is the two-part answer ``1, 2``."""
    out: list[Answer] = []
    seen: set[str] = set()
    for it in items:
        key = key_of(it)
        if key not in seen:
            seen.add(key)
            out.append(it)
    return out


def matrix_vs_matrix(pred: Answer, ref: Answer, ctx: Context) -> Match:
    assert isinstance(pred, Matrix) and isinstance(ref, Matrix)
    if len(pred.rows) != len(ref.rows) or len(pred.rows[0]) != len(ref.rows[0]):
        return Match(False, "matrices of different shapes")
    flat_p = tuple(x for row in pred.rows for x in row)
    flat_r = tuple(x for row in ref.rows for x in row)
    m = _ordered(flat_p, flat_r, ctx)
    return Match(m.ok, "the same matrix" if m.ok else f"matrix entries differ ({m.why})")


def matrix_vs_tuple(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """A one-row or one-column matrix is the vector of its entries: pmatrix(1;2) == (1, 2)."""
    mat, tup = (pred, ref) if isinstance(pred, Matrix) else (ref, pred)
    assert isinstance(mat, Matrix) and isinstance(tup, TupleA)
    if len(mat.rows) != 1 and len(mat.rows[0]) != 1:
        return Match(False, "a matrix is not a vector")
    entries = tuple(x for row in mat.rows for x in row)
    if mat is pred:
        return _ordered(entries, tup.items, ctx)
    return _ordered(tup.items, entries, ctx)


def multi_vs_single(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """A list against a single value: equal only when every part is that value (``\\frac12, 0.5``)."""
    assert isinstance(pred, SetA)
    if len(pred.items) == 1:
        return equal(pred.items[0], ref, ctx)
    if pred.items and all(equal(item, ref, ctx).ok for item in pred.items):
        return Match(True, "every part is the reference (the same value written twice)")
    return Match(False, f"the answer has {len(pred.items)} parts, the reference one")


def single_vs_multi(pred: Answer, ref: Answer, ctx: Context) -> Match:
    """A multi-part reference needs every part: "1728" is not "1331, 1728"."""
    assert isinstance(ref, SetA)
    items = _dedupe(ref.items, ctx)  # "3, 3" is one part written twice
    if len(items) == 1:
        return equal(pred, items[0], ctx)
    return Match(False, f"the reference has {len(items)} parts, the answer gives one")


_VALUE = (Number, Expr)
_INTERVALISH = (Interval, Union)
# every kind the parser makes, except Alternatives (rewritten by :func:`equal` before dispatch)
_ANY: tuple[type, ...] = tuple(k for k in typing.get_args(Answer) if k is not Alternatives)

# (pred kinds, ref kinds) -> strategy; the first row that fits decides
_STRATEGIES: tuple[tuple[tuple[tuple[type, ...], tuple[type, ...]], Strategy], ...] = (
    (((Choice,), (Choice,)), choice_vs_choice),
    ((_ANY, (Choice,)), answer_vs_choice),
    (((Choice,), _ANY), choice_vs_answer),
    (((Text,), (Text,)), text_vs_text),
    (((Ratio,), (Ratio,)), ratio_vs_ratio),
    (((Relation,), (Relation,)), relation_vs_relation),
    (((Relation,), _ANY), relation_vs_value),
    ((_ANY, (Relation,)), value_vs_relation),
    ((_VALUE, _VALUE), value_vs_value),
    ((_INTERVALISH, (*_INTERVALISH, TupleA)), interval_vs_interval),
    (((TupleA,), _INTERVALISH), interval_vs_interval),
    (((Matrix,), (Matrix,)), matrix_vs_matrix),
    (((Matrix,), (TupleA,)), matrix_vs_tuple),
    (((TupleA,), (Matrix,)), matrix_vs_tuple),
    (((TupleA,), (TupleA,)), tuple_vs_tuple),
    (((SetA, TupleA), (SetA, TupleA)), set_vs_set),
    (((SetA,), _ANY), multi_vs_single),
    ((_ANY, (SetA,)), single_vs_multi),
)


# ----------------------------------------------------------------------------------------------
# canonical keys


def key_of(a: Answer) -> str:
    """A canonical key of a parsed answer, computed in process without SymPy.

    Sound, not complete: two answers with one key are equal by :func:`equal` (in both directions), and
    most answers the in-process strategies call equal share one (``1,027``/``1027``, ``\\frac12``/``0.5``,
    ``x=3``/``3``, sets in any order, intervals merged). Answers only SymPy calls equal
    (``\\sqrt{8}``/``2\\sqrt{2}``) may keep different keys.
    """
    if isinstance(a, Alternatives):
        union = _alternatives_as_union(a)
        return key_of(union) if isinstance(union, Union) else _set_key(a.items)
    if isinstance(a, Number):
        value = str(a.value)
        return f"n:{value}_{a.base}" if a.base is not None else f"n:{value}"
    if isinstance(a, Expr):
        return f"e:{_node_key(a.node)}" if a.node is not None else "x:" + "".join(a.text.split())
    if isinstance(a, Relation):
        return _relation_key(a)
    if isinstance(a, Interval | Union):
        parts = merge_intervals(a.parts if isinstance(a, Union) else (a,))
        return "u:" + "U".join(sorted(_interval_key(i) for i in parts))
    if isinstance(a, TupleA):
        if a.names is not None and not all(is_symbol_name(n) for n in a.names):
            # "AB = 4, CD = 5": compared name by name with another named tuple, so keyed by name
            named = sorted(zip(a.names, (key_of(it) for it in a.items), strict=True))
            return "t(" + ",".join(f"{n}={k}" for n, k in named) + ")"
        return "t(" + ",".join(key_of(it) for it in a.items) + ")"  # x, y: already in name order
    if isinstance(a, SetA):
        return _set_key(a.items)
    if isinstance(a, Matrix):
        return "m[" + ";".join(",".join(key_of(x) for x in row) for row in a.rows) + "]"
    if isinstance(a, Ratio):
        return "r(" + ":".join(key_of(it) for it in a.items) + ")"
    if isinstance(a, Choice):
        return f"c:{a.letter}" + ("" if a.option is None else ":" + " ".join(a.option.lower().split()))
    assert isinstance(a, Text)
    return f"w:{a.text}"


def _set_key(items: tuple[Answer, ...]) -> str:
    keys = sorted({key_of(it) for it in items})
    if len(keys) == 1 and not isinstance(items[0], SetA):
        return keys[0]  # "{3}", "3, 3" and "3 or 3" are 3 (but a set of sets stays one)
    return "s{" + ",".join(keys) + "}"


def _interval_key(i: Interval) -> str:
    lo = "(" if _infinity_end(i.lo) is not None or not i.lo_closed else "["
    hi = ")" if _infinity_end(i.hi) is not None or not i.hi_closed else "]"
    return f"{lo}{key_of(i.lo)},{key_of(i.hi)}{hi}"


def _relation_key(rel: Relation) -> str:
    intervals = _as_intervals(rel)
    if intervals is not None:
        return key_of(Union(intervals))
    stated = _stated(rel)
    if stated is not None:
        keys = {key_of(v) for v in stated[1]}
        # "x = 3", "x \\in \\{3\\}", "x = 2+3 = 5", "2+3 = 5": the value they state (a chain that
        # does not hold keeps its shape)
        if len(keys) == 1:
            return keys.pop()
    sides = [key_of(p) for p in rel.parts]
    return "q(" + "".join(f"{k}{op}" for k, op in zip(sides, rel.ops, strict=False)) + sides[-1] + ")"


def _node_key(node: Node) -> str:
    """A canonical string of an expression tree: sums and products sorted, constant parts evaluated."""
    if node.op not in ("num", "sym", "const"):
        try:
            value = exact_value(node)
        except (TooCostly, ZeroDivisionError):
            value = None
        if value is not None:
            return str(value)
    if node.op == "num":
        return str(node.value)
    if node.op in ("sym", "const"):
        return node.name
    if node.op in ("add", "mul"):
        flat: list[str] = []
        stack = list(node.args)
        while stack:
            cur = stack.pop()
            if cur.op == node.op:
                stack.extend(cur.args)
            else:
                flat.append(_node_key(cur))
        return node.op + "(" + ",".join(sorted(flat)) + ")"
    name = f"{node.op}:{node.name}" if node.name else node.op
    return name + "(" + ",".join(_node_key(a) for a in node.args) + ")"

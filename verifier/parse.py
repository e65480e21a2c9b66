r"""Parsing: a normalised answer string -> one typed answer (:data:`Answer`).

Kinds: :class:`Number` (exact rational, with how it was written), :class:`Expr` (anything SymPy must
judge: ``\sqrt{2}``, ``x^2-1``), :class:`Relation` (``y=2x+1``, ``1<x\le 3``), :class:`Interval`,
:class:`Union`, :class:`TupleA` (ordered), :class:`SetA` (unordered: ``\{1,2\}`` and bare lists
``1, 2``), :class:`Matrix` (also evaluated arithmetic on literal matrices), :class:`Ratio` (``7:32``),
:class:`Choice` (a multiple-choice letter), :class:`Text` (with its closed vocabulary, if any), and
:class:`Alternatives` (``3 or 4``). Structure is read here at string level with bracket matching;
the leaves are numbers (evaluated exactly in process) or expressions (left for SymPy).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from fractions import Fraction

from verifier.mathparse import (
    MAX_DEPTH,
    Node,
    ParseError,
    TooCostly,
    check_cost,
    evaluate_matrices,
    exact_value,
    free_symbols,
    parse_expression,
)
from verifier.normalize import memoized


class Unparseable(ValueError):
    """The answer is not math or text this verifier reads (the message says why)."""


@dataclass(frozen=True)
class Number:
    value: Fraction
    text: str  # as written (after normalisation)
    decimal_places: int | None  # digits after the point when written as a decimal, else None
    percent: bool = False  # written with a percent sign (value is the number before the sign)
    base: int | None = None  # written with a base subscript (``101_2``: base 2, value 5); None: base ten


@dataclass(frozen=True)
class Expr:
    text: str  # normalised LaTeX / plain text
    node: Node | None  # the safe parser's tree; None when only latex2sympy can read it


@dataclass(frozen=True)
class Relation:
    parts: tuple[Answer, ...]  # operands, left to right (two for y=2x+1, three for 1<x<3)
    ops: tuple[str, ...]  # "=", "<", ">", "\\le", "\\ge", "\\ne", "\\in" between consecutive parts


@dataclass(frozen=True)
class Interval:
    lo: Answer
    hi: Answer
    lo_closed: bool
    hi_closed: bool


@dataclass(frozen=True)
class Union:
    parts: tuple[Interval, ...]


@dataclass(frozen=True)
class TupleA:
    items: tuple[Answer, ...]
    parenthesized: bool  # "(1, 2)" may also be an open interval
    # the name of each item when written "x = 4, y = 3" or "AB = 4, CD = 5" (then two such tuples are
    # compared name by name); None for a plain tuple
    names: tuple[str, ...] | None = None


@dataclass(frozen=True)
class SetA:
    items: tuple[Answer, ...]
    braces: bool  # written \{...\}; False for a bare list "1, 2" (a solution list)


@dataclass(frozen=True)
class Matrix:
    rows: tuple[tuple[Answer, ...], ...]


@dataclass(frozen=True)
class Choice:
    letter: str  # upper case A-J
    option: str | None  # the option text written after the letter: "(C) 12" -> "12"


@dataclass(frozen=True)
class Ratio:
    items: tuple[Answer, ...]  # "7:32": the terms in order, compared as written (7:32 is not 14:64)


@dataclass(frozen=True)
class Text:
    text: str  # lower case, words separated by one space, no punctuation
    # the closed vocabulary the whole text is a word of ("weekday", "month", "yes_no", "true_false",
    # "parity", "sign", ...): text is then its one canonical word, and two words of one vocabulary are
    # equal only when they are the same word (a mismatch is final); None for free text
    vocab: str | None = None


@dataclass(frozen=True)
class Alternatives:
    items: tuple[Answer, ...]  # "3 or 4": a hedge, unless the reference is itself a list


Answer = (
    Number
    | Expr
    | Relation
    | Interval
    | Union
    | TupleA
    | SetA
    | Matrix
    | Ratio
    | Choice
    | Text
    | Alternatives
)

_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = {")", "]", "}"}


def _split_top(s: str, seps: re.Pattern[str]) -> list[str]:
    """Split ``s`` at matches of ``seps`` that lie outside every bracket (``\\{`` counts as a bracket)."""
    parts: list[str] = []
    start = 0
    for m in _iter_top(s, seps):
        parts.append(s[start : m.start()])
        start = m.end()
    parts.append(s[start:])
    return parts


def max_depth(s: str) -> int:
    """Deepest bracket nesting in ``s`` (a linear scan; no recursion)."""
    depth = best = 0
    for ch in s:
        if ch in "([{":
            depth += 1
            best = max(best, depth)
        elif ch in ")]}":
            depth -= 1
    return best


_COMMA = re.compile(r",|;")
_COMMA_ONLY = re.compile(r",")
_SEMICOLON = re.compile(r";")
_COLON = re.compile(r":")
_OR = re.compile(r"\s+or\s+|\\lor\b|\\vee\b", re.IGNORECASE)
_AND = re.compile(r"\s+and\s+|\\land\b|\\wedge\b", re.IGNORECASE)
_CUP = re.compile(r"\\cup\b|\bU\b")
_REL = re.compile(r"\\le\b|\\ge\b|\\ne\b|\\in\b|\\approx\b|=|<|>")
_THOUSANDS = re.compile(r"^-?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?$")
_GROUPED_NUMBER = re.compile(r"(?<![\d,.])\d{1,3}(?:,\d{3})+(?:\.\d+)?(?![\d,])")
# a binary arithmetic operator (after a digit: "-" in "=-3" is a sign), and brackets (a tuple, interval, set)
_ARITHMETIC_OP = re.compile(r"(?<=\d)\s*(?:[-+*/×÷]|\\(?:times|cdot|div)\b)")
_BRACKET = re.compile(r"[()\[\]{}]")
_NUMBER = re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?%?$")
_CHOICE = re.compile(r"^\(?\s*([A-J])\s*\)?$|^\(([a-j])\)$")
# "(C) 12", "C. 12", and AMC's "\textbf{(C) }12" (normalised to "{(C) }12")
# "A (Yes)": a capital, then its option text in parentheses (words or a number: "C (x+1)" is a product)
_CHOICE_WITH_TEXT = re.compile(
    r"^\{?\s*\(([A-Ja-j])\)\s*\}?\s*[:.]?\s*(.+)$|^([A-J])[.:)]\s+(.+)$"
    r"|^([A-J])\s+\(((?:[A-Za-z]{2,}|-?\d+(?:\.\d+)?(?:%|°|\^\\circ)?)(?:[ ,.'-]*[A-Za-z0-9]+)*)\s*\)$",
    re.DOTALL,
)
_ANOTHER_CHOICE = re.compile(r"\(\s*[A-Ja-j]\s*\)")
# "(C) (D)": letters side by side, nothing else
_CHOICE_RUN = re.compile(r"^(?:\(\s*[A-J]\s*\)\s*){2,}$")
# option text that starts by joining another answer is no option text: "(C) or 12", "(C), (D)"
_JOINER_START = re.compile(r"^(?:[,;&/]|(?:or|and|nor)\b)", re.IGNORECASE)
_WORDS = re.compile(r"[A-Za-z]{4,}")
_COMMAND = re.compile(r"\\[A-Za-z]+")
# a plain word or words of two or more letters ("yes", "no", "odd") is text, not a product of symbols
_LETTERS_ONLY = re.compile(r"[A-Za-z]{2,}(?: [A-Za-z]+)*")
_MATH_WORDS = frozenset(
    {"sqrt", "frac", "cdot", "times", "infty", "pi", "sin", "cos", "tan", "log", "ln", "exp", "arcsin",
     "arccos", "arctan", "sinh", "cosh", "tanh", "begin", "end", "pmatrix", "bmatrix", "matrix", "vmatrix",
     "binom", "text", "theta", "alpha", "beta", "gamma", "delta", "lambda", "omega", "sigma", "phi", "left",
     "right", "dots", "cup", "cap", "emptyset", "varnothing", "mathbb", "sec", "csc", "cot", "choose", "over",
     "overline", "circ", "infin", "epsilon", "varepsilon", "varphi", "mu", "tau", "rho", "eta", "zeta",
     "neq", "leq", "geq", "pm", "mp", "div", "hat", "vec", "prime", "ldots", "cdots", "tfrac", "dfrac"}
)  # fmt: skip


@memoized
def parse_answer(s: str) -> Answer:
    """Parse one normalised answer. Raises :class:`Unparseable` (with the reason) or TooCostly.

    The answer kinds are immutable, so a result may be shared (see :func:`verifier.normalize.memoized`).
    """
    s = s.strip()
    if not s:
        raise Unparseable("empty answer")
    if max_depth(s) > MAX_DEPTH:
        raise TooCostly(f"brackets nested deeper than {MAX_DEPTH}")
    return _parse(s, 0)


def _parse(s: str, level: int) -> Answer:
    s = s.strip()
    if level > 20:
        raise TooCostly("structure nested too deeply")
    if not s:
        raise Unparseable("empty part")
    while s.startswith("{") and _matching(s, 0) == len(s) - 1:
        s = s[1:-1].strip()  # a group around the whole answer: {(C)} from \textbf{(C)}
        if not s:
            raise Unparseable("empty group")
    if _CHOICE_RUN.match(s):  # several letters: a set of choices, compared as a set
        return SetA(tuple(Choice(c, None) for c in re.findall(r"[A-J]", s)), braces=False)
    choice = _choice(s)
    if choice is not None:
        return choice
    if "\\begin" in s:
        matrix = _matrix_answer(s, level)
        if matrix is not None:
            return matrix
    reals_minus = _reals_minus(s, level)
    if reals_minus is not None:
        return reals_minus
    if (
        "," in s
        and not _BRACKET.search(s)
        and _ARITHMETIC_OP.search(s)
        and "," not in _GROUPED_NUMBER.sub("", s)
    ):
        s = s.replace(",", "")  # "14,507 + 213 = 14,720": every comma groups a number's thousands
    alternatives = [p for p in _split_top(s, _OR) if p.strip()]
    if len(alternatives) > 1:
        return Alternatives(tuple(_parse(p, level + 1) for p in alternatives))
    if _THOUSANDS.match(s):
        return _number(s.replace(",", ""))
    solutions = _labelled_solutions(s, level)
    if solutions is not None:
        return solutions
    parts = _split_top(s, _COMMA)
    if len(parts) == 1:
        parts = _split_top(s, _AND)
    if len(parts) > 1:
        return _list(parts, level)
    unions = _split_top(s, _CUP)
    if len(unions) > 1:
        intervals = []
        for p in unions:
            parsed = _parse(p, level + 1)
            if isinstance(parsed, TupleA) and parsed.parenthesized and len(parsed.items) == 2:
                parsed = Interval(parsed.items[0], parsed.items[1], False, False)
            if not isinstance(parsed, Interval):
                raise Unparseable("a union of things that are not intervals")
            intervals.append(parsed)
        return Union(tuple(intervals))
    if "\\pm" in s or "\\mp" in s:
        return _plus_minus(s, level)
    relation = _relation(s, level)
    if relation is not None:
        return relation
    ratio = _ratio(s, level)
    if ratio is not None:
        return ratio
    bracketed = _bracketed(s, level)
    if bracketed is not None:
        return bracketed
    return _leaf(s)


def _choice(s: str) -> Choice | None:
    m = _CHOICE.match(s)
    if m:
        return Choice((m.group(1) or m.group(2)).upper(), None)
    m = _CHOICE_WITH_TEXT.match(s)
    if m:
        letter = m.group(1) or m.group(3) or m.group(5)
        option = (m.group(2) or m.group(4) or m.group(6)).strip()
        if option.startswith(",") and not _ANOTHER_CHOICE.search(option):
            option = option[1:].strip()  # "(B), No": the letter, then its text after a comma
        if _JOINER_START.match(option) or _ANOTHER_CHOICE.search(option):
            return None  # "(A), (C)", "(C) or 12": several answers, not one letter with its text
        return Choice(letter.upper(), option or None)
    return None


def _list(parts: list[str], level: int) -> Answer:
    parts = [p for p in parts if p.strip()]
    if not parts:
        raise Unparseable("an empty list")
    first_rel = _REL.search(parts[0])
    # "x = 1, 2": one relation whose right side is the list of values
    if first_rel and first_rel.group() in ("=", "\\in") and not any(_REL.search(p) for p in parts[1:]):
        lhs = parts[0][: first_rel.start()]
        rhs = [parts[0][first_rel.end() :], *parts[1:]]
        if lhs.strip() and re.fullmatch(r"\s*[A-Za-z](?:_\{?\w+\}?)?\s*", lhs):
            items = tuple(_parse(p, level + 1) for p in rhs)
            return Relation((_leaf(lhs.strip()), SetA(items, braces=False)), ("=",))
    if len(parts) == 1:
        return _parse(parts[0], level + 1)
    items = tuple(_parse(p, level + 1) for p in parts)
    named = _named_coordinates(items)
    return named if named is not None else SetA(items, braces=False)


def _named_coordinates(items: tuple[Answer, ...]) -> TupleA | None:
    """``y = 3, x = 4`` -> the ordered tuple (4, 3): distinct variable names (``x``, ``x_1``), in
    alphabetical order; ``AB = 4, CD = 5`` -> (4, 5): names of segments, areas or ratios
    (:func:`label_name`) in the order written."""
    named = _names_and_values(items)
    if named is None:
        return None
    if all(is_symbol_name(n) for n, _ in named):
        named = sorted(named, key=lambda nv: nv[0])
    return TupleA(tuple(v for _, v in named), parenthesized=False, names=tuple(n for n, _ in named))


_SYMBOL_NAME = re.compile(r"[A-Za-z](?:_[A-Za-z0-9]+)?")


def is_symbol_name(name: str) -> bool:
    """A variable's name (``x``, ``x_1``, ``A``): named values of variables are put in name order, as
    coordinates are; other names (``AB``, ``\\frac{NO}{BO}``) keep the order they are written in."""
    return _SYMBOL_NAME.fullmatch(name) is not None


def _names_and_values(items: tuple[Answer, ...]) -> list[tuple[str, Answer]] | None:
    names: list[tuple[str, Answer]] = []
    for it in items:
        if not (isinstance(it, Relation) and it.ops == ("=",)):
            return None
        name = label_name(it.parts[0])
        if name is None:
            return None
        names.append((name, it.parts[1]))
    if len({n for n, _ in names}) != len(names):
        return None
    return names


# a name made of capital letters: a segment "AB", a point pair, an area "S_{MBCN}" (a subscripted symbol)
_CAPITALS = re.compile(r"[A-Z]{2,4}")


def label_name(a: Answer) -> str | None:
    """The name when ``a`` only names a quantity on the left of ``=``, else None: a symbol (``x``,
    ``a_n``, ``S_{MBCN}``), a capital letter read as a choice (``A``), a segment of capitals (``AB``),
    a quotient or product of such names (``\frac{NO}{BO}``) or a ratio of them (``S_{MBCN}:S``).
    ``f(x)`` and other labels with brackets are read by the comparison."""
    if isinstance(a, Choice) and a.option is None:
        return a.letter
    if isinstance(a, Ratio):
        names = [label_name(it) for it in a.items]
        return ":".join(n for n in names if n) if all(names) else None
    if not isinstance(a, Expr) or a.node is None:
        return None
    if a.node.op == "sym":
        return a.node.name
    stack = [a.node]
    while stack:
        cur = stack.pop()
        if cur.op in ("mul", "div"):
            stack.extend(cur.args)
        elif not (cur.op == "sym" and (cur.name[0].isupper() or "_" in cur.name)):
            return None
    return a.text.replace(" ", "")


def _labelled_solutions(s: str, level: int) -> SetA | None:
    """``p=5,q=2;p=7,q=2`` -> the solutions (5, 2) and (7, 2): parts separated by ``;``, each naming the
    same unknowns with ``,``. None when ``s`` is not written so."""
    groups = _split_top(s, _SEMICOLON)
    if len(groups) < 2:
        return None
    tuples: list[Answer] = []
    names: set[tuple[str, ...]] = set()
    for g in groups:
        try:
            items = tuple(_parse(p, level + 1) for p in _split_top(g, _COMMA_ONLY))
        except Unparseable:
            return None
        named = _names_and_values(items)
        if named is None or len(named) < 2:
            return None
        names.add(tuple(sorted(n for n, _ in named)))
        tuples.append(_named_coordinates(items) or TupleA((), parenthesized=False))
    return SetA(tuple(tuples), braces=False) if len(names) == 1 else None


# each \pm doubles the answer; more than this many are refused
MAX_PLUS_MINUS = 3


def _plus_minus(s: str, level: int) -> Answer:
    if s.count("\\pm") + s.count("\\mp") > MAX_PLUS_MINUS:
        raise TooCostly(f"more than {MAX_PLUS_MINUS} \\pm signs")
    i = s.find("\\pm")
    j = s.find("\\mp")
    k = i if j < 0 or (0 <= i < j) else j
    first = s[:k] + ("+" if k == i else "-") + s[k + 3 :]
    second = s[:k] + ("-" if k == i else "+") + s[k + 3 :]
    a, b = _parse(first, level + 1), _parse(second, level + 1)
    if isinstance(a, Relation) and isinstance(b, Relation) and a.parts[0] == b.parts[0] and a.ops == ("=",):
        return Relation((a.parts[0], SetA(_flat(a.parts[1]) + _flat(b.parts[1]), braces=False)), ("=",))
    return SetA(_flat(a) + _flat(b), braces=False)


def _flat(a: Answer) -> tuple[Answer, ...]:
    """The values of a bare list made by a further ``\\pm`` (1 \\pm 2 \\pm 3 is four values, not pairs)."""
    return a.items if isinstance(a, SetA) and not a.braces else (a,)


def _relation(s: str, level: int) -> Relation | None:
    ops = []
    pieces = []
    start = 0
    for m in _iter_top(s, _REL):
        pieces.append(s[start : m.start()])
        ops.append(m.group())
        start = m.end()
    if not ops:
        return None
    pieces.append(s[start:])
    if any(not p.strip() for p in pieces):
        raise Unparseable("a relation with an empty side")
    return Relation(tuple(_relation_side(p, level) for p in pieces), tuple(ops))


def _relation_side(piece: str, level: int) -> Answer:
    """One side of a relation; capitals alone (``AB`` in ``AB = 4``) name a segment, not a word."""
    name = piece.strip()
    if _CAPITALS.fullmatch(name):
        return Expr(name, Node("sym", name=name))
    sub = _SUBSCRIPTED_NAME.fullmatch(name)
    if sub is not None:  # "S_{MBCN}": a name, though its index reads like a word
        return Expr(name, Node("sym", name=f"{sub.group(1)}_{sub.group(2)}"))
    return _parse(piece, level + 1)


_SUBSCRIPTED_NAME = re.compile(r"([A-Za-z])_\{?([A-Za-z0-9]{1,8})\}?")


def _ratio(s: str, level: int) -> Ratio | None:
    """``7:32`` and ``S_{MBCN}:S`` -> a :class:`Ratio` of their terms; None without a top-level colon."""
    pieces = _split_top(s, _COLON)
    if len(pieces) < 2 or any(not p.strip() for p in pieces):
        return None
    try:
        items = tuple(_relation_side(p, level) for p in pieces)
    except Unparseable:
        return None
    if not all(isinstance(it, Number | Expr) for it in items):
        return None  # "Answer: 5", "3:45 PM": not a ratio; read as before
    return Ratio(items)


# "\mathbb{R}\setminus\{0\}", "\mathbb R - \{1, 2\}": the real line without a few numbers
_REALS_MINUS = re.compile(
    r"^(?:\\mathbb\s*\{?\s*R\s*\}?|\\R)\s*(?:\\setminus|\\backslash|-|\\smallsetminus)\s*\\\{(.*)\\\}$",
    re.DOTALL,
)


def _reals_minus(s: str, level: int) -> Union | None:
    r"""The real line without finitely many exact numbers, as the union of the open intervals between them
    (``\mathbb{R}\setminus\{0\}`` is (-oo, 0) U (0, oo)); None unless written so."""
    m = _REALS_MINUS.match(s)
    if m is None:
        return None
    items = [_parse(p, level + 1) for p in _split_top(m.group(1), _COMMA_ONLY) if p.strip()]
    if not items or not all(isinstance(it, Number) and it.base is None and not it.percent for it in items):
        return None
    points = sorted({it.value for it in items if isinstance(it, Number)})
    ends: list[Answer] = [_NEG_INF_LEAF, *(Number(v, str(v), None) for v in points), _POS_INF_LEAF]
    return Union(tuple(Interval(lo, hi, False, False) for lo, hi in itertools.pairwise(ends)))


def _iter_top(s: str, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """Non-empty matches of ``pattern`` that lie outside every bracket (``\\{`` counts as a bracket)."""
    out = []
    depth = 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            i += 2
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif depth == 0:
            m = pattern.match(s, i)
            if m and m.end() > i:
                out.append(m)
                i = m.end()
                continue
        i += 1
    return out


def _matching(s: str, open_at: int) -> int:
    """Index of the bracket closing the one at ``open_at`` (any of ([{ closes any of )]}), or -1."""
    depth = 0
    i = open_at
    while i < len(s):
        ch = s[i]
        if ch == "\\" and i + 1 < len(s) and s[i + 1] in "{}":
            depth += 1 if s[i + 1] == "{" else -1
            if depth == 0:
                return i
            i += 2
            continue
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    return -1


def _bracketed(s: str, level: int) -> Answer | None:
    if s.startswith("\\{"):
        close = _matching(s, 0)
        if close == len(s) - 2 and s.endswith("\\}"):
            inner = s[2:close].strip()
            if not inner:
                return SetA((), braces=True)
            built = _set_builder(inner, level)
            if built is not None:
                return built
            parts = [p for p in _split_top(inner, _COMMA)]
            return SetA(tuple(_parse(p, level + 1) for p in parts), braces=True)
        return None
    if not s or s[0] not in "([" or s[-1] not in ")]":
        return None
    if _matching(s, 0) != len(s) - 1:
        return None
    inner = s[1:-1]
    parts = _split_top(inner, _COMMA)
    if len(parts) == 1:
        if s[0] == "(" and s[-1] == ")":
            return _parse(inner, level + 1)
        return None  # "[x]": leave to the expression parser
    items = tuple(_parse(p, level + 1) for p in parts)
    if len(items) == 2 and (s[0] == "[" or s[-1] == "]"):
        return Interval(items[0], items[1], s[0] == "[", s[-1] == "]")
    if s[0] != "(" or s[-1] != ")":
        if s[0] == "[" and s[-1] == "]":
            return TupleA(items, parenthesized=False)
        raise Unparseable("mismatched brackets")
    return TupleA(items, parenthesized=True)


# "x \\mid x > 2", "x : x > 2", "x \\in \\mathbb{R} | x > 2": a variable, a bar or colon, a condition
_SET_BUILDER = re.compile(
    r"^([A-Za-z])\s*(?:\\in\s*\\mathbb\s*\{?\s*R\s*\}?\s*)?(?:\\mid(?![A-Za-z])|\||:)\s*(.+)$", re.DOTALL
)
_INEQUALITIES = frozenset({"<", ">", "\\le", "\\ge", "\\ne"})


def _set_builder(inner: str, level: int) -> Relation | None:
    """``\\{x \\mid x > 2\\}`` -> the inequality ``x > 2`` (the set of its solutions), or None unless the
    condition bounds the bare variable by constants (``1 < x \\le 3``; not ``x^2 > 4``): then it is read
    as before."""
    m = _SET_BUILDER.match(inner)
    if m is None:
        return None
    var = m.group(1)
    try:
        cond = _parse(m.group(2), level + 1)
    except Unparseable:
        return None
    if not isinstance(cond, Relation) or not set(cond.ops) <= _INEQUALITIES:
        return None
    bare = 0
    for part in cond.parts:
        if isinstance(part, Number):
            continue
        if not isinstance(part, Expr) or part.node is None:
            return None
        if part.node.op == "sym" and part.node.name == var:
            bare += 1
        elif free_symbols(part.node):
            return None
    return cond if bare == 1 else None


def _matrix(body: str, level: int) -> Matrix:
    rows_text = [r for r in re.split(r"\\\\", body) if r.strip()]
    if not rows_text:
        raise Unparseable("an empty matrix")
    rows = tuple(tuple(_parse(c, level + 1) for c in r.split("&")) for r in rows_text)
    if len({len(r) for r in rows}) != 1:
        raise Unparseable("matrix rows of different lengths")
    return Matrix(rows)


def _number(s: str) -> Number:
    pct = s.endswith("%")
    body = s[:-1].strip() if pct else s
    mantissa = body.lower().partition("e")[0]
    places = len(mantissa.partition(".")[2]) if "." in mantissa else None
    try:
        node = parse_expression(body)
    except ParseError as exc:
        raise Unparseable(str(exc)) from exc
    value = exact_value(node)
    if value is None:
        raise Unparseable(f"not a number: {s!r}")
    return Number(value, s, places, pct)


_MATRIX_LITERAL = re.compile(r"\\begin\{([pbBvV]?matrix|array)\}(?:\{[^{}]*\})?(.*?)\\end\{\1\}", re.DOTALL)
# what may stand between matrix literals: signs, products, scalars (digits, \frac, \cdot, brackets)
_MATRIX_GLUE = re.compile(r"[\s\d+\-*/^().{}]|\\(?:cdot|times|frac)(?![A-Za-z])")
# the most matrix literals in one answer
MAX_MATRICES = 8


def _matrix_answer(s: str, level: int) -> Matrix | None:
    r"""One matrix literal, or arithmetic on literals with exact entries (``2\begin{pmatrix}..\end{pmatrix}
    + \begin{pmatrix}..\end{pmatrix}``, products): evaluated exactly to one :class:`Matrix`.

    None when ``s`` holds no matrix literal at its top; Unparseable when the arithmetic is undefined
    (shapes that do not fit) or holds anything but numbers, signs, products and brackets.
    """
    found = list(_MATRIX_LITERAL.finditer(s))
    if not found:
        return None
    if len(found) == 1 and found[0].start() == 0 and found[0].end() == len(s):
        return _matrix(found[0].group(2), level)
    if len(found) > MAX_MATRICES:
        raise TooCostly(f"more than {MAX_MATRICES} matrices")
    if any(m.group(1) in ("vmatrix", "Vmatrix") for m in found):
        return None  # determinants and norms are numbers: not arithmetic on matrices
    glue = _MATRIX_LITERAL.sub(" ", s)
    if _MATRIX_GLUE.sub("", glue).strip():
        return None  # symbols or words around the matrices: not plain arithmetic on them
    literals = [_matrix(m.group(2), level) for m in found]
    values = []
    for mat in literals:
        entries = [x for row in mat.rows for x in row]
        if not all(isinstance(x, Number) and x.base is None and not x.percent for x in entries):
            raise Unparseable("arithmetic on matrices whose entries are not plain numbers")
        values.append(tuple(tuple(x.value for x in row if isinstance(x, Number)) for row in mat.rows))
    # each literal becomes the symbol M_k; the safe parser reads the arithmetic around them
    k = iter(range(len(found)))
    text = _MATRIX_LITERAL.sub(lambda _m: f" M_{{{next(k)}}} ", s)
    try:
        result = evaluate_matrices(parse_expression(text), values)
    except ParseError as exc:
        raise Unparseable(f"arithmetic on matrices: {exc}") from exc
    if not isinstance(result, tuple):
        raise Unparseable("arithmetic on matrices that gives a number")
    return Matrix(tuple(tuple(Number(v, str(v), None) for v in row) for row in result))


_ALL_REALS = re.compile(
    r"^(?:\\mathbb\s*\{?\s*R\s*\}?|\\R|(?:all|any)\s+real\s+numbers?|\\text\{all real numbers\})$",
    re.IGNORECASE,
)
_INF = Node("const", name="oo")
_NEG_INF_LEAF = Expr("-\\infty", Node("neg", (_INF,)))
_POS_INF_LEAF = Expr("\\infty", _INF)
# the empty set, in symbols or words: only ever equal to another empty set (never to 0)
_EMPTY_SET = re.compile(
    r"^(?:\\emptyset|\\varnothing|\\\{\s*\\\}|none|no\s+(?:real\s+)?solutions?)$", re.IGNORECASE
)


# "1112112_3", "A3_16": digits (the first a decimal digit) and a base subscript (normalised to no braces)
_BASED = re.compile(r"^([0-9][0-9A-Za-z]*)_\{?\s*(\d{1,2})\s*\}?$")


def _based_number(s: str) -> Number | None:
    """``101_2`` -> Number(5, base=2); None unless every digit exists in the base (2 to 36)."""
    m = _BASED.match(s)
    if m is None:
        return None
    digits, base = m.group(1), int(m.group(2))
    if not 2 <= base <= 36:
        return None
    try:
        value = int(digits, base)
    except ValueError:
        return None
    return Number(Fraction(value), digits, None, base=base)


def _leaf(s: str) -> Answer:
    s = s.strip()
    if _NUMBER.match(s):
        return _number(s)
    based = _based_number(s)
    if based is not None:
        return based
    if _ALL_REALS.match(s):
        # the real line, (-\infty, \infty)
        return Interval(Expr("-\\infty", Node("neg", (_INF,))), Expr("\\infty", _INF), False, False)
    if _EMPTY_SET.match(s):
        return SetA((), braces=True)
    pct = s.endswith("%")
    body = s[:-1].strip() if pct else s
    # words outside LaTeX command names: "\\overline" is not the word "overline"
    words = [w for w in _WORDS.findall(_COMMAND.sub(" ", body)) if w.lower() not in _MATH_WORDS]
    if words or (_LETTERS_ONLY.fullmatch(body) and body.lower() not in _MATH_WORDS and body != "oo"):
        return _text(s)
    try:
        node = parse_expression(body)
    except ParseError:
        node = None
    if node is not None:
        check_cost(node)
        try:
            value = exact_value(node)
        except ZeroDivisionError as exc:
            raise Unparseable("division by zero") from exc
        if value is not None:
            return Number(value, s, None, pct)
    if pct:
        raise Unparseable("a percent sign after an expression")
    if node is None and not re.search(r"\\[A-Za-z]", body):
        if re.fullmatch(r"[A-Za-z][A-Za-z ]*", body):
            return _text(s)
        raise Unparseable(f"cannot read {s!r} as math")
    return Expr(body, node)


# closed vocabularies: vocabulary -> {spelling: canonical word}. A one-word answer from one of them is
# compared as that word: another word of the vocabulary is a different answer, read by rule
_VOCABULARIES: dict[str, dict[str, str]] = {
    "weekday": {
        **{d: d for d in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")},
        "mon": "monday", "tue": "tuesday", "tues": "tuesday", "wed": "wednesday", "thu": "thursday",
        "thur": "thursday", "thurs": "thursday", "fri": "friday", "sat": "saturday", "sun": "sunday",
    },
    "month": {
        **{m: m for m in ("january", "february", "march", "april", "may", "june", "july", "august",
                          "september", "october", "november", "december")},
        "jan": "january", "feb": "february", "mar": "march", "apr": "april", "jun": "june", "jul": "july",
        "aug": "august", "sep": "september", "sept": "september", "oct": "october", "nov": "november",
        "dec": "december",
    },
    "yes_no": {"yes": "yes", "no": "no"},
    "true_false": {"true": "true", "false": "false"},
    "parity": {"odd": "odd", "even": "even"},
    "sign": {"positive": "positive", "negative": "negative"},
    "monotonicity": {"increasing": "increasing", "decreasing": "decreasing"},
    "convergence": {"convergent": "convergent", "converges": "convergent", "divergent": "divergent",
                    "diverges": "divergent"},
    "rationality": {"rational": "rational", "irrational": "irrational"},
    "primality": {"prime": "prime", "composite": "composite"},
    "finiteness": {"finite": "finite", "infinite": "infinite"},
}  # fmt: skip
_VOCABULARY_OF = {
    word: (vocab, canon) for vocab, words in _VOCABULARIES.items() for word, canon in words.items()
}


def _text(s: str) -> Text:
    words = re.findall(r"[A-Za-z0-9]+", s.lower())
    if not words:
        raise Unparseable("no words")
    if len(words) == 1 and words[0] in _VOCABULARY_OF:
        vocab, canon = _VOCABULARY_OF[words[0]]
        return Text(canon, vocab)
    return Text(" ".join(words))

"""What the parser read each side as: the kind names recorded on a verdict (:attr:`Verdict.kinds`).

The rule pipeline (:mod:`verifier.api`) records, for every pair it parsed, the kind of the answer and
of the reference as :func:`kind_of` names them. The LLM judge's gate (:mod:`verifier.judge.policy`)
reads these names and nothing else to tell a pair the rules compared between comparable kinds (a
mismatch there is final) from a pair the rules could not compare (a side not read, words against a
number, free text against free text). One parser, one reading: the gate never re-recognises kinds.

Names: ``number``, ``expression``, ``relation``, ``interval``, ``tuple``, ``set``, ``matrix``,
``ratio``, ``time`` (a two-term ratio written as a clock time, ``4:30``), ``alternatives``,
``text`` (free words), ``text:<vocabulary>`` (a word of a closed vocabulary, ``text:weekday``),
``letter C`` (choice C, its option not known) and ``letter C:<kind>`` (choice C whose option's content
is known, by the kind of that content; ``B (10)`` and ``A (potatoes)``, which the parser reads as a
product or as words, are ``letter B`` and ``letter A``: their content was not read). Any answer with
free words inside a structure (``\\text{one and a quarter}`` read as a list of words) is ``text``,
except a choice letter followed by words (``(C), sample A``), which is ``letter C``. A side that does
not read because of unbalanced braces (``yes}`` left of ``\\text{The answer is yes}``) is read once
stray closing braces go and open ones are closed.
"""

from __future__ import annotations

import re
from fractions import Fraction

from verifier.mathparse import TooCostly
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
    parse_answer,
)
from verifier.verdict import Status

Kinds = tuple[str | None, str | None]  # (the answer's kind, the reference's kind); None: not read

_NAMES: dict[type, str] = {
    Number: "number", Expr: "expression", Relation: "relation", Interval: "interval",
    Union: "interval", TupleA: "tuple", SetA: "set", Matrix: "matrix", Ratio: "ratio",
    Alternatives: "alternatives",
}  # fmt: skip
_MINUTES = re.compile(r"\s*[0-5]\d\s*")
_LETTER_THEN_CONTENT = re.compile(r"([A-J])\s+\((.*)\)", re.S)


def kind_of(a: Answer, options: tuple[tuple[str, str], ...] = ()) -> str:
    """The kind name of a parsed answer; ``options`` are the question's lettered options (normalised)."""
    if isinstance(a, Choice):
        content = a.option if a.option is not None else dict(options).get(a.letter)
        inner = _read(content) if content is not None else None
        letter = f"letter {a.letter}"
        return letter if inner is None or isinstance(inner, Choice) else f"{letter}:{kind_of(inner)}"
    if isinstance(a, Text):
        return "text" if a.vocab is None else f"text:{a.vocab}"
    if _letter_then_words(a):
        # "(C), sample A": the letter, then words the rules did not read as its option
        assert isinstance(a, SetA | TupleA) and isinstance(a.items[0], Choice)
        return f"letter {a.items[0].letter}"
    if _has_words(a):
        return "text"
    if isinstance(a, Ratio) and _is_clock(a):
        return "time"
    return _NAMES[type(a)]


def read_kinds(pred_norm: str, ref_norm: str, question: str | None = None) -> Kinds:
    """The kinds of a normalised answer and reference (None for a side the parser cannot read)."""
    # "B (10)", "A (potatoes)": the parser reads a product or words, so the rules did not read the
    # option; the letter is what the text names
    pred_letter = _LETTER_THEN_CONTENT.fullmatch(pred_norm.strip())
    ref_letter = _LETTER_THEN_CONTENT.fullmatch(ref_norm.strip())
    if pred_letter is not None or ref_letter is not None:
        pk, rk = read_kinds(
            "X" if pred_letter is not None else pred_norm,
            "X" if ref_letter is not None else ref_norm,
            question,
        )
        return (
            pk if pred_letter is None else f"letter {pred_letter.group(1)}",
            rk if ref_letter is None else f"letter {ref_letter.group(1)}",
        )
    pred, ref = _read_repaired(pred_norm), _read_repaired(ref_norm)
    options: tuple[tuple[str, str], ...] = ()
    if question and (isinstance(pred, Choice) or isinstance(ref, Choice)):
        from verifier.extract import question_options
        from verifier.normalize import normalize

        options = tuple((letter, normalize(text)) for letter, text in question_options(question))
    return (
        None if pred is None else kind_of(pred, options),
        None if ref is None else kind_of(ref, options),
    )


def _read(text: str) -> Answer | None:
    try:
        return parse_answer(text)
    except (Unparseable, TooCostly, ValueError, ArithmeticError, RecursionError):
        return None


def _read_repaired(text: str) -> Answer | None:
    """:func:`_read`, and for text with unbalanced braces that does not read (``yes}`` from
    ``\\text{The answer is yes}``), the reading once stray closing braces go and open ones are closed."""
    a = _read(text)
    if a is not None or text.count("{") == text.count("}"):
        return a
    kept, depth = [], 0
    for ch in text:
        if ch == "}":
            if depth == 0:
                continue
            depth -= 1
        elif ch == "{":
            depth += 1
        kept.append(ch)
    return _read("".join(kept) + "}" * depth)


def _letter_then_words(a: Answer) -> bool:
    return (
        isinstance(a, SetA | TupleA)
        and len(a.items) > 1
        and isinstance(a.items[0], Choice)
        and all(isinstance(x, Text) for x in a.items[1:])
    )


def read_number(text: str) -> Fraction | None:
    """The value of a text (normalised here) that the parser reads as one number, else None."""
    from verifier.normalize import normalize

    a = _read(normalize(text))
    return a.value if isinstance(a, Number) else None


def read_word(text: str) -> str | None:
    """The canonical word of a text (normalised here) that the parser reads as a word of a closed
    vocabulary (``True`` -> ``true``), else None."""
    from verifier.normalize import normalize

    a = _read(normalize(text))
    return a.text if isinstance(a, Text) and a.vocab is not None else None


def _has_words(a: Answer) -> bool:
    stack: list[Answer] = [a]
    while stack:
        cur = stack.pop()
        if isinstance(cur, Text):
            return True
        if isinstance(cur, Relation | Union):
            stack.extend(cur.parts)
        elif isinstance(cur, Interval):
            stack.extend((cur.lo, cur.hi))
        elif isinstance(cur, TupleA | SetA | Alternatives | Ratio):
            stack.extend(cur.items)
        elif isinstance(cur, Matrix):
            stack.extend(x for row in cur.rows for x in row)
    return False


def _is_clock(r: Ratio) -> bool:
    """``4:30``, ``16:05``: hours 0-24 and two-digit minutes (a time of day, not a ratio)."""
    if len(r.items) != 2 or not all(isinstance(x, Number) for x in r.items):
        return False
    hours, minutes = r.items
    assert isinstance(hours, Number) and isinstance(minutes, Number)
    return (
        hours.value.denominator == 1
        and 0 <= hours.value <= 24
        and _MINUTES.fullmatch(minutes.text) is not None
        and minutes.value < 60
        and minutes.value == Fraction(int(minutes.value))
    )


def read_safely(text_norm: str) -> bool:
    """Does the safe parser read this normalised text whole (numbers, or expressions with a tree, and
    structures of them)? False for words, for text only latex2sympy might read (``\\lim_{x \\to c} f(x)``)
    and for text no parser reads."""
    a = _read(text_norm)
    if a is None or _has_words(a):
        return False
    return not (isinstance(a, Expr) and a.node is None)


def vocabularies_in(text: str) -> set[str]:
    """The closed vocabularies (as :class:`Text` names them) that any single word of ``text`` belongs to:
    ``The function is odd`` -> {"parity"}."""
    found: set[str] = set()
    for word in set(re.findall(r"[A-Za-z]+", text)):
        a = _read(word)
        if isinstance(a, Text) and a.vocab is not None:
            found.add(a.vocab)
    return found


def compare_in_process(pred_text: str, ref_text: str) -> tuple[bool | None, Kinds]:
    """The rules' in-process comparison of two bare answers (normalised here), with their kinds:
    True (equal), False (different), or None when a side is not read or SymPy would be needed."""
    from verifier.compare import Context, NeedsSymbolic, compare
    from verifier.config import VerifyConfig
    from verifier.normalize import normalize

    pred_norm, ref_norm = normalize(pred_text), normalize(ref_text)
    kinds = read_kinds(pred_norm, ref_norm)
    if pred_norm == ref_norm:
        return True, kinds
    pred, ref = _read(pred_norm), _read(ref_norm)
    if pred is None or ref is None:
        return None, kinds
    try:
        outcome = compare(pred, ref, Context(VerifyConfig(), symbolic=False, rounding=False))
    except (NeedsSymbolic, TooCostly, Unparseable, ValueError, ArithmeticError, RecursionError):
        return None, kinds
    return outcome.status is Status.CORRECT, kinds

"""Normalisation: a list of small named rules applied in order to an extracted answer.

Each rule is a pure ``str -> str`` function with one job and its own test (tests/verifier/test_normalize.py).
The output is still LaTeX-ish text; :mod:`verifier.parse` reads structure from it. Policies that change
meaning (units, currency, degrees, percent) are decided here and documented in the README.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Rule:
    name: str
    apply: Callable[[str], str]
    doc: str


# the lowercase Greek letters from U+03B1 on ("" for omicron, final sigma and pi, which is a constant)
_GREEK = (
    "alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu",
    "nu", "xi", "", "", "rho", "", "sigma", "tau", "upsilon", "phi", "chi", "psi", "omega",
)  # fmt: skip
_UNICODE_MAP = {
    "\u2212": "-",  # minus sign
    "\u2013": "-",  # en dash
    "\u2014": "-",  # em dash
    "\u00d7": r"\times ",
    "\u22c5": r"\cdot ",
    "\u00b7": r"\cdot ",
    "\u00f7": r"\div ",
    "\u03c0": r"\pi ",
    "\u221a": r"\sqrt",
    "\u221e": r"\infty ",
    "\u2264": r"\le ",
    "\u2265": r"\ge ",
    "\u2260": r"\ne ",
    "\u00b1": r"\pm ",
    "\u222a": r"\cup ",
    "\u2229": r"\cap ",
    "\u00b0": r"^\circ ",
    "\u2208": r"\in ",
    "\u2248": r"\approx ",
    # Greek letters as variables ("y(τ) = 2"); π above is the constant
    **{chr(0x3B1 + i): f"\\{name} " for i, name in enumerate(_GREEK) if name},
}


# unicode superscript and subscript characters and what they stand for
_SUPERSCRIPTS = dict(
    zip(
        "\u2070\u00b9\u00b2\u00b3\u2074\u2075\u2076\u2077\u2078\u2079"
        "\u207a\u207b\u207c\u207d\u207e\u207f\u2071",
        "0123456789+-=()ni",
        strict=True,
    )
)
_SUBSCRIPTS = dict(
    zip(
        "\u2080\u2081\u2082\u2083\u2084\u2085\u2086\u2087\u2088\u2089\u208a\u208b\u208c\u208d\u208e"
        "\u2090\u2091\u2092\u2093\u2095\u2096\u2097\u2098\u2099\u209a\u209b\u209c",
        "0123456789+-=()aeoxhklmnpst",
        strict=True,
    )
)
_SUPERSCRIPT_RUN = re.compile(f"[{''.join(_SUPERSCRIPTS)}]+")
_SUBSCRIPT_RUN = re.compile(f"[{''.join(_SUBSCRIPTS)}]+")
# vulgar fractions: NFKC would give "1\u20442", and "2½" would read as 21/2
_VULGAR = re.compile("[\u00bc-\u00be\u2150-\u215e\u2189]")
_FRACTION_SLASH = "\u2044"


def _vulgar(m: re.Match[str]) -> str:
    num, _, den = unicodedata.normalize("NFKC", m.group()).partition(_FRACTION_SLASH)
    return f" \\frac{{{num}}}{{{den}}}"


# zero-width and invisible format characters: they render as nothing, so "1\u200b2" is 12
_INVISIBLE = re.compile("[\u00ad\u180e\u200b-\u200f\u2060-\u2064\ufeff]")


def invisible_characters(s: str) -> str:
    """Drop zero-width spaces and joiners, word joiners, soft hyphens and the BOM: ``1\u200b2`` -> ``12``."""
    return _INVISIBLE.sub("", s)


def unicode_symbols(s: str) -> str:
    """Full-width digits and letters to ASCII (NFKC); unicode minus, ×, ÷, π, √, ∞, ≤, ≥, ±, ° to LaTeX.

    Before NFKC (which would turn ``2⁷`` into ``27``): a run of superscripts is an exponent
    (``2⁷`` -> ``2^{7}``), a run of subscripts an index (``x₁`` -> ``x_{1}``), a vulgar fraction a
    ``\\frac`` after a space (``2½`` -> ``2 \\frac{1}{2}``, the mixed number 5/2), and the fraction
    slash ``⁄`` a plain ``/``.
    """
    s = _SUPERSCRIPT_RUN.sub(lambda m: "^{" + "".join(_SUPERSCRIPTS[c] for c in m.group()) + "}", s)
    s = _SUBSCRIPT_RUN.sub(lambda m: "_{" + "".join(_SUBSCRIPTS[c] for c in m.group()) + "}", s)
    s = _VULGAR.sub(_vulgar, s).replace(_FRACTION_SLASH, "/")
    s = "".join(_UNICODE_MAP.get(ch, ch) for ch in s)
    s = unicodedata.normalize("NFKC", s)
    return "".join(_UNICODE_MAP.get(ch, ch) for ch in s)


# "4.65 x 10^-34", "4.65x10^-34": a letter x between a number and a power of ten is a times sign
# (with a space on both sides or on neither: "2x 10^3" stays a product with x)
_X_TIMES_TEN = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?:\s+[xX]\s+|[xX])(?=10\s*\^)")


def x_times_ten(s: str) -> str:
    """``4.65 x 10^-34`` -> ``4.65 \\times 10^-34``: scientific notation typed with the letter x."""
    return _X_TIMES_TEN.sub(lambda m: m.group(1) + " \\times ", s)


def _group_end(s: str, i: int) -> int:
    """Index just past the brace group that starts at ``s[i]`` (``{`` ... ``}``), or past one token; -1
    when the group is not closed."""
    while i < len(s) and s[i].isspace():
        i += 1
    if i >= len(s):
        return -1
    if s[i] != "{":
        return i + 2 if s[i] == "\\" and i + 1 < len(s) else i + 1
    depth = 0
    for j in range(i, len(s)):
        depth += (s[j] == "{") - (s[j] == "}")
        if depth == 0:
            return j + 1
    return -1


_PHANTOM = re.compile(r"\\[hv]?phantom(?![A-Za-z])")


def phantom(s: str) -> str:
    r"""Drop ``\phantom{7}``, ``\hphantom{..}``, ``\vphantom{..}`` with their argument: they render
    as blank space, so ``\boxed{\phantom{7}}`` shows an empty box (no answer), not 7."""
    out = []
    pos = 0
    for m in _PHANTOM.finditer(s):
        if m.start() < pos:
            continue  # inside an argument already dropped
        end = _group_end(s, m.end())
        out.append(s[pos : m.start()])
        pos = len(s) if end < 0 else end
    out.append(s[pos:])
    return " ".join(part for part in out if part) if len(out) > 1 else s


_COLOR = re.compile(r"\\color\s*\{[A-Za-z!0-9 ]*\}|\\textcolor\s*\{[A-Za-z!0-9 ]*\}")


def color_commands(s: str) -> str:
    r"""``\color{red}{7}``, ``\textcolor{red}{7}``, ``\color{red} 7`` -> the content, ``{7}`` / ``7``.

    Policy: a colour keeps its content, whatever the colour: the content is visible in every colour
    but the page's own, and white-on-white is a rare trick that this rule does not try to read.
    """
    return _COLOR.sub("", s)


_CURRENCY = re.compile(r"\\\$|US\$|\u20ac|\u00a3|\u00a5|\\euro\b|\\pounds\b")


def currency(s: str) -> str:
    r"""Drop currency signs: ``\$5`` -> ``5``, ``€5`` -> ``5`` (the amount is the answer)."""
    return _CURRENCY.sub("", s)


_DELIMS = re.compile(r"\$\$?|\\\(|\\\)|\\\[|\\\]")


def math_delimiters(s: str) -> str:
    r"""Remove inline/display math delimiters: ``$...$``, ``$$...$$``, ``\(...\)``, ``\[...\]``."""
    return _DELIMS.sub(" ", s)


_SPACING = re.compile(
    r"(?<!\\)\\(?:,|;|:|>|\s|quad\b|qquad\b|displaystyle\b|textstyle\b|limits\b|nolimits\b|mathstrut\b)"
    r"|\\(?:hspace|vspace)\*?\{[^{}]*\}|~"
)
_NEGATIVE_SPACE = re.compile(r"(?<!\\)\\!")


def latex_spacing(s: str) -> str:
    r"""Spacing and display commands: ``\,`` ``\;`` ``\quad`` ``~`` ``\displaystyle`` become a space;
    the negative space ``\!`` becomes nothing (MATH writes ``10,\!000`` for ten thousand)."""
    return _SPACING.sub(" ", _NEGATIVE_SPACE.sub("", s))


_SIZING = re.compile(r"\\(?:left|right|[bB]ig{1,2}[lr]?|middle)(?![A-Za-z])\s*(\\?[.])?")


def left_right(s: str) -> str:
    r"""Remove sizing commands: ``\left(`` -> ``(``, ``\right.`` -> nothing, ``\bigl[`` -> ``[``."""

    return _SIZING.sub("", s)


_FRAC_VARIANTS = re.compile(r"\\[dtc]frac(?![A-Za-z])")


def frac_variants(s: str) -> str:
    r"""``\dfrac``, ``\tfrac``, ``\cfrac`` -> ``\frac``."""
    return _FRAC_VARIANTS.sub(r"\\frac", s)


_ALIASES = (
    (re.compile(r"\\leq(?:slant)?(?![A-Za-z])|<="), r"\\le "),
    (re.compile(r"\\geq(?:slant)?(?![A-Za-z])|>="), r"\\ge "),
    (re.compile(r"\\neq(?![A-Za-z])|!="), r"\\ne "),
    (re.compile(r"\\lbrace(?![A-Za-z])"), r"\\{"),
    (re.compile(r"\\rbrace(?![A-Za-z])"), r"\\}"),
    (re.compile(r"\\langle(?![A-Za-z])"), "("),
    (re.compile(r"\\rangle(?![A-Za-z])"), ")"),
    (
        re.compile(r"\\(?:infin|infinity)(?![A-Za-z])|(?<![\\A-Za-z])(?:infinity|inf|oo)(?![A-Za-z])"),
        r"\\infty ",
    ),
    (re.compile(r"\\(?:ldots|cdots|dots[bc]?)(?![A-Za-z])|\.\.\."), r"\\dots "),
    (
        re.compile(
            r"\\(?:mathrm|mathit|mathbf|mathsf|textbf|textit|textrm|emph|operatorname|mathnormal)\s*\{"
        ),
        "{",
    ),
    (re.compile(r"\\mbox\s*\{"), r"\\text{"),
    (re.compile(r"\\(?:textup|textnormal)\s*\{"), r"\\text{"),
    (re.compile(r"\\degree(?![A-Za-z])"), r"^\\circ "),
    (re.compile(r"\\varnothing(?![A-Za-z])|\\\{\s*\\\}|\u2205"), r"\\emptyset "),
)


def command_aliases(s: str) -> str:
    r"""One spelling per command: ``\leq``/``<=`` -> ``\le``, ``\lbrace`` -> ``\{``.

    Font commands keep their argument as a group (``\mathbf{x}`` -> ``{x}``); ``\mbox`` is ``\text``.
    """
    for pattern, repl in _ALIASES:
        s = pattern.sub(repl, s)
    return s


_TRIG_NAME = re.compile(
    r"(?<![A-Za-z])\\?(?:sin|cos|tan|sec|csc|cot)(?![A-Za-z])(?:\s*\^\s*(?:\{\s*\d+\s*\}|\d))?\s*"
)
_DEGREE_MARK = r"\s*(?:\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![A-Za-z]))"
# a number or one letter with a degree mark: "60^\circ", "x^{\circ}"
_DEGREE_QUANTITY = re.compile(r"(?<![\w.\\])(\d+(?:\.\d+)?|[A-Za-z])" + _DEGREE_MARK)
# the argument of "\cos 60^\circ" (no brackets): a signed number or letter with its degree mark
_BARE_DEGREE_ARGUMENT = re.compile(r"-?\s*(?:\d+(?:\.\d+)?|[A-Za-z])" + _DEGREE_MARK)
_IN_RADIANS = r"(\1\\cdot\\frac{\\pi}{180})"


def _bracket_end(s: str, i: int) -> int:
    """Index just past the bracket group opening at ``s[i]`` (any of ``({[`` closes any of ``)}]``), or -1."""
    depth = 0
    for j in range(i, len(s)):
        depth += (s[j] in "({[") - (s[j] in ")}]")
        if depth == 0:
            return j + 1
    return -1


def trig_degrees(s: str) -> str:
    r"""Degrees inside a trig argument are angles: ``\cos 60^\circ`` -> ``\cos (60\cdot\frac{\pi}{180})``.

    The argument is a bracket group after the function (``\sin(30^\circ)``, ``\tan{45^\circ}``; a
    number or letter with a degree mark inside it is converted) or a bare signed number or letter with
    its mark (``\sin^2 30^\circ``). Everywhere else the ``degrees`` rule drops the mark (``30^\circ`` is
    30), and a trig argument without a mark stays radians (``\cos 60``).
    """
    if "circ" not in s:
        return s
    out = []
    pos = 0
    for m in _TRIG_NAME.finditer(s):
        if m.start() < pos:
            continue  # inside an argument already converted
        start = m.end()
        if start < len(s) and s[start] in "({":
            end = _bracket_end(s, start)
            if end < 0:
                continue
            argument = _DEGREE_QUANTITY.sub(_IN_RADIANS, s[start:end])
        else:
            bare = _BARE_DEGREE_ARGUMENT.match(s, start)
            if bare is None:
                continue
            end = bare.end()
            argument = "(" + _DEGREE_QUANTITY.sub(_IN_RADIANS[1:-1], s[start:end]) + ")"
        out.append(s[pos:start])
        out.append(argument)
        pos = end
    out.append(s[pos:])
    return "".join(out)


_DEGREES = re.compile(r"\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![A-Za-z])|\\circ(?![A-Za-z])")


def degrees(s: str) -> str:
    r"""Drop degree marks: ``30^\circ`` and ``30^{\circ}`` -> ``30`` (policy: degrees are the number)."""
    return _DEGREES.sub(" ", s)


_PERCENT = re.compile(r"\\%|\s*\bpercent\b|\s*\\text\{\s*percent\s*\}")


def percent(s: str) -> str:
    r"""``25\%``, ``25 percent`` -> ``25%``: one marker that :mod:`verifier.parse` reads."""
    return _PERCENT.sub("%", s)


_BASE_TEN = re.compile(r"(?<![\w}])(\d+)_\{?10\}?(?!\d)")


_OTHER_BASE = re.compile(r"(?<![\w}])([0-9A-Fa-f]+)_\{\s*(\d{1,2})\s*\}")


def base_ten_subscript(s: str) -> str:
    r"""``11_{10}`` -> ``11`` (a base-10 subscript changes nothing); ``1011_{2}`` -> ``1011_2``.

    Numbers in other bases are compared as written, in this one spelling.
    """
    return _OTHER_BASE.sub(r"\1_\2", _BASE_TEN.sub(r"\1", s))


_THOUSANDS_BRACE = re.compile(r"(?<=\d)\s*\{\s*,\s*\}\s*(?=\d{3})|(?<=\d)\\!,\\!(?=\d{3})")


def thousands_braces(s: str) -> str:
    r"""``10{,}000`` -> ``10000`` (MATH's thousands separator); bare ``1,000`` is left to the parser."""
    return _THOUSANDS_BRACE.sub("", s)


_UNIT_WORDS = (
    "square units|sq units|square unit|units?|sq\\.? ?(?:ft|feet|in|inches|m|cm|meters?|units)|"
    "square (?:feet|foot|inches|inch|meters?|centimeters?|miles?|yards?|kilometers?)|"
    "cubic (?:feet|foot|inches|inch|meters?|centimeters?|units?|yards?)|"
    "(?:kilo|centi|milli)?(?:meters?|metres?|grams?|liters?|litres?)|"
    "km|cm|mm|ml|mL|kg|mg|ft|in|yd|mi|lbs?|oz|"
    "inch(?:es)?|feet|foot|yards?|miles?|pounds?|ounces?|gallons?|quarts?|pints?|cups?|"
    "seconds?|secs?|minutes?|mins?|hours?|hrs?|days?|weeks?|months?|years?|"
    "dollars?|cents?|euros?|"
    "degrees?|radians?|mph|km/h|m/s|"
    "people|persons?|students?|apples?|marbles?|cookies?|books?|pages?|"
    "ways|times|items?|pieces?|boxes?|coins?|tickets?"
)
# "miles per hour", "km/h": a unit, optionally per another unit
_UNIT = f"(?:{_UNIT_WORDS})(?:\\s*(?:per|/)\\s*(?:{_UNIT_WORDS}))?"
# single letters are units only inside \text{}: "15\text{ m}" is 15 metres, "15m" may be 15 times m
_TEXT_ONLY_UNITS = "m|g|s|h|l|L|min|sec|hr|yr|km/hr|m/s\\^2"
# in \text{} a unit may follow anything ("16\pi\text{ cm}^2"); written plainly, only a number or group
_UNIT_TEXT = re.compile(
    r"(?<=\S)\s*\\text\s*\{\s*(?P<unit>"
    + _UNIT
    + "|"
    + _TEXT_ONLY_UNITS
    + r")\s*\}(?:\s*\^\s*\{?\s*(?P<power>[23])\s*\}?)?\s*$"
)
_UNIT_PLAIN = re.compile(
    r"(?<=[\d}).%])\s*(?P<unit>" + _UNIT + r")(?:\s*\^\s*\{?\s*(?P<power>[23])\s*\}?)?\s*\.?\s*$"
)


# a unit set in a font command: "5\textbf{ cm}", "5\mathrm{cm}", "5\,\mathrm{m}^2"
_UNIT_IN_FONT = re.compile(
    r"\\(?:mathrm|textrm|textbf|mathbf|textit|mathit|textsf|mathsf|texttt|textnormal|operatorname)"
    r"\s*\{(?=\s*(?:" + _UNIT + "|" + _TEXT_ONLY_UNITS + r")\s*\})"
)


def unit_fonts(s: str) -> str:
    r"""A unit inside a font command is a unit: ``5\textbf{ cm}``, ``5\mathrm{cm}`` -> ``5\text{ cm}``.

    Only a known unit's whole argument is rewritten (``\mathrm{d}x`` and ``\mathbf{v}`` stay as they are),
    so the ``units`` rule then reads it as it reads ``\text{ cm}``.
    """
    return _UNIT_IN_FONT.sub(r"\\text{", s)


# any words after a number at the end are a label ("48 eggs", "9 \text{ sides}") unless one of them
# joins or computes: "3 or 4", "5 and 6", "2 sin" must stay as written
_NOT_LABELS = frozenset(
    {"or", "and", "not", "nor", "either", "to", "sin", "cos", "tan", "cot", "sec", "csc", "log", "ln",
     "exp", "sqrt", "pi", "mod", "choose", "over", "is", "are", "if", "then", "else", "but", "plus",
     "minus", "divided", "equals", "than", "less", "more", "per", "times", "out",
     "squared", "cubed", "hundred", "thousand", "million", "billion", "trillion", "dozen", "root", "roots",
     "reciprocal", "inverse", "factorial", "power"}
)  # fmt: skip
# a scale word multiplies the number before it: "45 thousand" is 45000 ("45 thousand dollars" too)
_SCALE_WORDS = {"dozen": 12, "hundred": 100, "thousand": 10**3, "million": 10**6, "billion": 10**9,
                "trillion": 10**12}  # fmt: skip
_SCALED = re.compile(r"^\s*(-?\d[\d,]*(?:\.\d+)?)\s+(" + "|".join(_SCALE_WORDS) + r")s?\b", re.IGNORECASE)
# a power word after a number is its power: "3 squared" is 3^2
_POWER_WORD = re.compile(r"(?<=\d)\s+(squared|cubed)\b", re.IGNORECASE)
# ... or changes the number's sign, direction or exactness: "5 below zero" is -5, "5 ft short" is -5 ft,
# "at least 5" is not 5. Such an answer is kept whole, so it never matches a bare number
_SIGN_WORDS = frozenset(
    {"below", "under", "negative", "minus", "fewer", "less", "short", "loss", "lost", "deficit", "debt",
     "owed", "owes", "down", "lower", "behind", "off", "not", "more", "than", "least", "most", "about",
     "approximately", "approx", "roughly", "nearly", "almost", "around"}
)  # fmt: skip
_LABEL_TEXT = re.compile(r"(?<=[\d}).%])\s*\\text\s*\{\s*([A-Za-z][A-Za-z' -]*?)\s*\}\s*$")
_LABEL_PLAIN = re.compile(r"(?<=\d)\s+((?:of\s+)?[A-Za-z][A-Za-z'-]{2,}(?:\s+[A-Za-z'-]+)*)\s*\.?\s*$")
# "18 (dollars)", "42 (rounded)": a parenthesised note after a number
_LABEL_PAREN = re.compile(r"(?<=[\d}])\s*\(\s*([A-Za-z][A-Za-z' -]{2,})\s*\)\s*\.?\s*$")


def _label_words_ok(words: str) -> bool:
    """Words that only label a number: none joins, computes or changes the sign, and none is a lone
    letter (a variable)."""
    split = [w for w in re.split(r"[\s-]+", words) if w]
    lower = [w.lower() for w in split]
    return not any(w in _NOT_LABELS or w in _SIGN_WORDS or (len(w) == 1 and w != "a") for w in lower)


def units(s: str) -> str:
    r"""Drop a trailing unit or label after a number: ``10\text{ cm}``, ``10 cm^2``, ``48 eggs`` -> ``10``.

    Known units (a fixed list, squared and "per" forms too) after a digit, brace, parenthesis or percent;
    and any trailing words after a number, unless a word joins or computes (``3 or 4``, ``2 sin``).
    """
    s = _scaled(s)
    s = _POWER_WORD.sub(lambda m: "^2" if m.group(1).lower() == "squared" else "^3", s)
    for _ in range(2):  # "5 \text{ cm}^2" and "12 square units" both in one pass each
        s = _UNIT_TEXT.sub("", s)
        s = _UNIT_PLAIN.sub("", s)
    for pattern in (_LABEL_TEXT, _LABEL_PLAIN, _LABEL_PAREN):
        m = pattern.search(s)
        if m and _label_words_ok(m.group(1)) and s[: m.start()].strip():
            s = s[: m.start()]
    return s


def _scaled(s: str) -> str:
    """``45 thousand`` -> ``45000``, ``2.5 million dollars`` -> ``2500000 dollars``: exact, in decimals."""
    m = _SCALED.match(s)
    if m is None:
        return s
    value = Decimal(m.group(1).replace(",", "")) * _SCALE_WORDS[m.group(2).lower()]
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text + s[m.end() :]


_TEXT_WRAPPER = re.compile(r"\\text\s*\{([^{}]*)\}")


def text_wrappers(s: str) -> str:
    r"""Unwrap ``\text{...}``: ``\text{(C)}`` -> ``(C)``, ``\text{Tuesday}`` -> ``Tuesday``."""
    prev = None
    while prev != s:
        prev = s
        s = _TEXT_WRAPPER.sub(lambda m: f" {m.group(1)} ", s)
    return s


_SHORTHAND_FRAC = re.compile(r"\\frac\s*(\d)\s*(\d)")
_SHORTHAND_FRAC_1 = re.compile(r"\\frac\s*(\d)\s*(?=\{)")
_SHORTHAND_FRAC_2 = re.compile(r"\\frac\s*(\{[^{}]*\})\s*(\d)")
_SHORTHAND_SQRT = re.compile(r"\\sqrt\s*(\d+|[A-Za-z])(?![A-Za-z])")


def latex_shorthand(s: str) -> str:
    r"""Brace the one-token arguments: ``\frac12`` -> ``\frac{1}{2}``, ``\sqrt2`` -> ``\sqrt{2}``."""
    s = _SHORTHAND_FRAC.sub(r"\\frac{\1}{\2}", s)
    s = _SHORTHAND_FRAC_1.sub(r"\\frac{\1}", s)
    s = _SHORTHAND_FRAC_2.sub(r"\\frac\1{\2}", s)
    return _SHORTHAND_SQRT.sub(r"\\sqrt{\1}", s)


_TRAILING = re.compile(r"[\s.,;:!?]+$")
_LEADING = re.compile(r"^[\s,;:]+")


_EMPHASIS = re.compile(r"^(\*{1,2}|`{1,3})(?=\S)(.+?)(?<=\S)\1$", re.DOTALL)


def markdown_emphasis(s: str) -> str:
    """``**18**``, ``*18*``, ```18``` -> ``18``: Markdown bold, italics or code around the whole answer."""
    s = s.strip()
    m = _EMPHASIS.match(s)
    return m.group(2) if m else s


def edge_punctuation(s: str) -> str:
    """Strip sentence punctuation at the ends: ``5.`` -> ``5``, ``: 5`` -> ``5`` (not ``5!``'s factorial).

    A trailing question mark stays, as one ``?`` at the very end (``3 ?.`` -> ``3?``): ``3?`` asks or
    hedges, and the verifier never accepts it as the answer 3.
    """
    if re.search(r"\d!\s*$", s):
        return _LEADING.sub("", s).rstrip()
    m = _TRAILING.search(s)
    tail = "?" if m is not None and "?" in m.group() else ""
    return _LEADING.sub("", _TRAILING.sub("", s)) + tail


def _brace_depths(s: str) -> tuple[int, int]:
    """(final depth, lowest depth) of the plain braces in ``s``; ``\\{`` and ``\\}`` do not count."""
    depth, low, _ = _brace_scan(s)
    return depth, low


def _brace_scan(s: str) -> tuple[int, int, list[int]]:
    """(final depth, lowest depth, positions of the groups left open) of the plain braces in ``s``."""
    depth = low = 0
    open_at: list[int] = []
    i = 0
    while i < len(s):
        ch = s[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "{":
            depth += 1
            open_at.append(i)
        elif ch == "}":
            depth -= 1
            if open_at:
                open_at.pop()
        low = min(low, depth)
        i += 1
    return depth, low, open_at


_BOX_OPENING = re.compile(r"\\(?:boxed|fbox)\s*$")


_TRAILING_CLOSERS = re.compile(r"\}[\s}]*$")


def unbalanced_braces(s: str) -> str:
    r"""Close what was left open, drop what closes nothing at the end: ``\sqrt{2`` -> ``\sqrt{2}``,
    ``\frac{1}{2}}}}`` -> ``\frac{1}{2}``.

    Only when the fix is unambiguous: groups opened and never closed are closed at the end; closing
    braces past the last open group are dropped only when they all stand at the very end after some
    group (``yes}`` keeps its brace). A ``\\boxed{`` or ``\\fbox{`` left open is never closed: a box
    cut off is no answer. Anything else (a ``}`` in the middle that closes nothing) is left for the
    parser to refuse.
    """
    if "{" not in s and "}" not in s:
        return s
    depth, low, open_at = _brace_scan(s)
    if low == 0 and depth > 0:
        if any(_BOX_OPENING.search(s, 0, i) for i in open_at):
            return s  # a box left open is a response cut off, never an answer
        return s + "}" * depth
    if depth < 0 and "{" in s:  # "yes}" is a cut-off sentence, not LaTeX with an extra brace
        m = _TRAILING_CLOSERS.search(s)
        if m is not None:
            extra = m.group().count("}") + depth  # closers that do close a group
            head = s[: m.start()] + "}" * extra
            if _brace_depths(head) == (0, 0):
                return head
    return s


_BOXED_WRAPPER = re.compile(r"^\\(?:boxed|fbox)\s*\{(.*)\}$", re.DOTALL)


def boxed_wrapper(s: str) -> str:
    r"""Unwrap a ``\boxed{...}`` that spans the whole answer (a reference written boxed)."""
    m = _BOXED_WRAPPER.match(s.strip())
    return m.group(1) if m and _balanced(m.group(1)) else s


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += (ch == "{") - (ch == "}")
        if depth < 0:
            return False
    return depth == 0


_SPACED_THOUSANDS = re.compile(r"^\s*-?\d{1,3}(?:\s+\d{3})+(?:\.\d+)?\s*$")


def thousands_spaces(s: str) -> str:
    r"""A whole answer of digit groups split by spaces (``1 000``, ``1\,000``) is one number: ``1000``."""
    return re.sub(r"\s+", "", s) if _SPACED_THOUSANDS.match(s) else s


_RATIO = re.compile(r"(?<=[\d}])\s*:\s*(?=[\d\\{])")


def ratio_colon(s: str) -> str:
    """``3 : 1`` -> ``3:1``: one spelling of a ratio (ratios are compared as written)."""
    return _RATIO.sub(":", s)


_REPEATING = re.compile(r"(?<![\d.])(\d*)\.(\d*)\s*\\overline\s*\{\s*(\d{1,12})\s*\}")


def repeating_decimals(s: str) -> str:
    r"""``0.\overline{3}`` -> ``\frac{1}{3}``, ``1.2\overline{45}`` -> ``\frac{137}{110}`` (exact)."""

    def repl(m: re.Match[str]) -> str:
        whole, fixed, rep = m.group(1) or "0", m.group(2), m.group(3)
        # x = whole.fixed(rep)(rep)...: x * 10^(f+r) - x * 10^f = whole.fixed rep - whole.fixed
        shift = 10 ** len(fixed)
        period = 10 ** len(rep) - 1
        numerator = (int(whole + fixed + rep) - int(whole + fixed)) if fixed or rep else 0
        value = Fraction(numerator, shift * period)
        return f"\\frac{{{value.numerator}}}{{{value.denominator}}}"

    return _REPEATING.sub(repl, s)


def whitespace(s: str) -> str:
    """Collapse runs of whitespace to one space and strip the ends."""
    return " ".join(s.split())


RULES: tuple[Rule, ...] = (
    Rule("invisible_characters", invisible_characters, "drop zero-width characters and soft hyphens"),
    Rule("unicode_symbols", unicode_symbols, "full-width and unicode math symbols to ASCII/LaTeX"),
    Rule("x_times_ten", x_times_ten, r"4.65 x 10^-34 -> 4.65 \times 10^-34"),
    Rule("phantom", phantom, r"drop \phantom{..} with its argument (it renders blank)"),
    Rule("color_commands", color_commands, r"\color{red}{7} -> {7}: colours keep their content"),
    Rule("markdown_emphasis", markdown_emphasis, "**18** -> 18"),
    Rule("currency", currency, r"drop \$, €, £ signs"),
    Rule("math_delimiters", math_delimiters, r"drop $ \( \) \[ \]"),
    Rule("unbalanced_braces", unbalanced_braces, r"\sqrt{2 -> \sqrt{2}; \frac{1}{2}}} -> \frac{1}{2}"),
    Rule("boxed_wrapper", boxed_wrapper, r"unwrap a whole-answer \boxed{}"),
    Rule("latex_spacing", latex_spacing, r"drop \, \! \; \quad ~ \displaystyle"),
    Rule("left_right", left_right, r"drop \left \right \big"),
    Rule("frac_variants", frac_variants, r"\dfrac \tfrac -> \frac"),
    Rule("unit_fonts", unit_fonts, r"5\mathrm{cm} -> 5\text{cm}: a unit in a font command"),
    Rule("command_aliases", command_aliases, r"\leq -> \le, \mathbf{x} -> {x}, ..."),
    Rule("trig_degrees", trig_degrees, r"\cos 60^\circ -> \cos (60\cdot\frac{\pi}{180})"),
    Rule("degrees", degrees, r"drop ^\circ"),
    Rule("percent", percent, r"\% -> %"),
    Rule("thousands_braces", thousands_braces, "10{,}000 -> 10000"),
    Rule("base_ten_subscript", base_ten_subscript, "11_{10} -> 11"),
    Rule("repeating_decimals", repeating_decimals, r"0.\overline{3} -> \frac{1}{3}"),
    Rule("units", units, r"drop a trailing unit: 10\text{ cm} -> 10"),
    Rule("text_wrappers", text_wrappers, r"\text{x} -> x"),
    Rule("latex_shorthand", latex_shorthand, r"\frac12 -> \frac{1}{2}, \sqrt2 -> \sqrt{2}"),
    Rule("edge_punctuation", edge_punctuation, "strip trailing . , ; and leading :"),
    Rule("ratio_colon", ratio_colon, "3 : 1 -> 3:1"),
    Rule("thousands_spaces", thousands_spaces, "1 000 -> 1000 (a whole answer of 3-digit groups)"),
    Rule("whitespace", whitespace, "collapse whitespace"),
)


# normalize, unit_of and parse_answer keep their results for the most recent short inputs: they are pure
# functions of a string, an RL batch grades one reference against N samples, and answer_key re-reads
# the answer verify has just read. Bounded: MEMO_SIZE entries of at most MEMO_MAX_CHARS characters
MEMO_SIZE = 4096
MEMO_MAX_CHARS = 2000


def memoized(fn: Callable[[str], T]) -> Callable[[str], T]:
    """``fn`` with its results kept for the last :data:`MEMO_SIZE` inputs up to :data:`MEMO_MAX_CHARS`
    characters (an exception is not kept: it is raised again on the next call)."""
    cached = functools.lru_cache(maxsize=MEMO_SIZE)(fn)

    @functools.wraps(fn)
    def call(s: str) -> T:
        return cached(s) if len(s) <= MEMO_MAX_CHARS else fn(s)

    return call


@memoized
def normalize(s: str) -> str:
    """Apply every rule of :data:`RULES` in order."""
    for rule in RULES:
        s = rule.apply(s)
    return s


# one name per unit of measure; count nouns ("apples", "ways") and the generic "units" have none
_CANONICAL_UNITS = {
    "mm": ("mm", "millimeter", "millimetre"),
    "cm": ("cm", "centimeter", "centimetre"),
    "m": ("m", "meter", "metre"),
    "km": ("km", "kilometer", "kilometre"),
    "in": ("in", "inch", "inche"),
    "ft": ("ft", "foot", "feet"),
    "yd": ("yd", "yard"),
    "mi": ("mi", "mile"),
    "mg": ("mg", "milligram"),
    "g": ("g", "gram"),
    "kg": ("kg", "kilogram"),
    "lb": ("lb", "pound"),
    "oz": ("oz", "ounce"),
    "mL": ("ml", "milliliter", "millilitre"),
    "L": ("l", "liter", "litre"),
    "gal": ("gallon",),
    "s": ("s", "sec", "second"),
    "min": ("min", "minute"),
    "h": ("h", "hr", "hour"),
    "day": ("day",),
    "week": ("week",),
    "month": ("month",),
    "year": ("yr", "year"),
    "dollar": ("dollar",),
    "cent": ("cent",),
    "euro": ("euro",),
    "degree": ("degree",),
    "radian": ("radian",),
    "mi/h": ("mph",),
}
# a currency sign or a degree mark is a unit too: "\$5" is 5 dollars, "€5" 5 euros, "30^\circ" 30 degrees
_SIGN_UNITS = (
    (re.compile(r"\\\$|US\$|\\dollar(?![A-Za-z])"), "dollar"),
    (re.compile(r"\u20ac|\\euro(?![A-Za-z])"), "euro"),
    (re.compile(r"\u00a3|\\pounds(?![A-Za-z])"), "GBP"),
    (re.compile(r"\u00a5"), "yen"),
    (re.compile(r"\^\s*\{?\s*\\circ|\u00b0|\\degree(?![A-Za-z])"), "degree"),
)
_UNIT_ALIASES = {alias: name for name, aliases in _CANONICAL_UNITS.items() for alias in aliases}
_BEFORE_UNITS = tuple(r for r in RULES[: [r.name for r in RULES].index("units")])


@memoized
def unit_of(s: str) -> str | None:
    r"""The unit of measure written after a number, in one spelling (``10\text{ centimeters}`` -> ``cm``,
    ``12 sq ft`` -> ``ft^2``, ``5 \text{ km/h}`` -> ``km/h``), or None (no unit, a count noun, "units").

    A currency sign or degree mark counts when no unit word follows: ``\$5`` -> ``dollar``, ``€5`` ->
    ``euro``, ``30^\circ`` -> ``degree``. The verifier drops units (the ``units`` rule) but refuses two
    different known units (policy: no conversion, so ``1 m`` is not ``100 cm``).
    """
    word = _unit_word(s)
    if word is not None:
        return word
    signs = {name for pattern, name in _SIGN_UNITS if pattern.search(s)}
    return signs.pop() if len(signs) == 1 else None


def _unit_word(s: str) -> str | None:
    if not re.search(r"[A-Za-z]", s):
        return None
    for rule in _BEFORE_UNITS:
        s = rule.apply(s)
    m = _UNIT_TEXT.search(s) or _UNIT_PLAIN.search(s)
    if m is None:
        return None
    words = m.group("unit").lower().replace(".", "")
    power = m.group("power")
    for prefix, exponent in (("square ", "2"), ("sq ", "2"), ("cubic ", "3")):
        if words.startswith(prefix):
            words, power = words[len(prefix) :], exponent
    names = []
    for word in re.split(r"\s*(?:per|/)\s*", words):
        word = word.strip()
        name = _UNIT_ALIASES.get(word) or _UNIT_ALIASES.get(word[:-1] if word.endswith("s") else word)
        if name is None:
            return None
        names.append(name)
    return "/".join(names) + (f"^{power}" if power else "")

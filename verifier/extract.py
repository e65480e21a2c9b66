r"""Extraction: find the final answer in a whole response (or a reference as datasets write it).

Only the last ``max_chars`` of a response are read, and only what follows its last ``</think>`` when
anything does. Order of preference (the last occurrence of each kind wins):

1. the last ``\boxed{...}`` / ``\fbox{...}`` (nested braces; boxes written side by side at the end,
   ``\boxed{3}, \boxed{5}``, are one multi-part answer; ``\boxed{3} or \boxed{5}`` is a hedge);
2. otherwise the last marker: ``#### 72`` (GSM8K), "the final answer is ...", "**Final Answer** ...",
   "Answer: ...", "the answer is ...", "the correct option is ...", "... is the answer";
3. otherwise the whole text, when it is one line, short or all math (a bare answer such as ``$\frac12$``),
   and not a sentence of prose (``I think it's 5.``: see :func:`is_prose`).

Anything else has no final answer: a number in the middle of the reasoning is never guessed. Every
scan is linear in the length of the text (no nested unbounded quantifiers, brace matching by a stack).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Extraction:
    answer: str  # the answer text, still unnormalised
    how: str  # "boxed", "gsm8k", "final_answer", "answer_marker", "bare", "reference"


# a bare (marker-less) response is taken as the answer only up to this many characters, on one line
BARE_MAX_CHARS = 80
# ... or up to this many when the line is all math: no word of three or more letters outside LaTeX commands
BARE_MATH_MAX_CHARS = 400
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
# boxes written side by side count as one multi-part answer when this little text separates them
_BOX_JOINER = re.compile(
    r"^\s*\$*\s*(?:,|;|\\text\{\s*(?:and|,)\s*\}|and|\\quad|\\qquad|\\,|\s)*\s*\$*\s*$", re.IGNORECASE
)
_BOX_OR = re.compile(r"^\s*\$*\s*(?:\\text\{\s*or\s*\}|or)\s*\$*\s*$", re.IGNORECASE)
_BOX_START = re.compile(r"\\(?:boxed|fbox)\s*(\{|(?=\S))")


_BARE_TOKEN = re.compile(r"[^\s$]+")
# the separators between side-by-side boxes are short; longer text ends the group (and bounds the regex)
_MAX_JOINER_CHARS = 40


def find_boxes(text: str) -> list[tuple[int, int, str]]:
    r"""The outermost ``\boxed``/``\fbox`` arguments as (start, end, content), in order, in one pass.

    Braces are matched with a stack (no recursion, linear time even for 10,000 nested or unclosed
    boxes). An unclosed box is skipped; a box inside a closed box is part of it. ``\boxed 5`` (no
    braces) takes the following token.
    """
    parent: dict[int, int | None] = {}  # box start -> start of the box it was opened in
    closed: dict[int, tuple[int, str]] = {}  # box start -> (end, content)
    stack: list[tuple[int, int, int]] = []  # (box start, content start, brace depth outside it)
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\":
            m = _BOX_START.match(text, i)
            if m is None:
                i += 2
                continue
            parent[i] = stack[-1][0] if stack else None
            if m.group(1) == "{":
                stack.append((i, m.end(), depth))
                depth += 1
                i = m.end()
                continue
            tok = _BARE_TOKEN.match(text, m.end())
            if tok is not None:
                closed[i] = (tok.end(), tok.group())
                i = tok.end()
            else:
                i = m.end()
            continue
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth = max(depth - 1, 0)
            if stack and stack[-1][2] == depth:
                start, content_start, _ = stack.pop()
                closed[start] = (i + 1, text[content_start:i])
        i += 1
    nested: dict[int, bool] = {}
    for start in sorted(parent):  # a parent always starts before its children
        up = parent[start]
        nested[start] = up is not None and (up in closed or nested[up])
    return [(start, end, content) for start, (end, content) in sorted(closed.items()) if not nested[start]]


def _last_boxed(text: str) -> str | None:
    boxes = find_boxes(text)
    if not boxes:
        return None
    group = [boxes[-1]]
    hedged = False
    for prev in reversed(boxes[:-1]):
        between = text[prev[1] : group[0][0]]
        if len(between) > _MAX_JOINER_CHARS:
            break
        if _BOX_JOINER.match(between):
            group.insert(0, prev)
        elif _BOX_OR.match(between):
            group.insert(0, prev)
            hedged = True
        else:
            break
    parts = [b[2].strip() for b in group]
    return (" or " if hedged else ", ").join(parts)


# markers; no two adjacent unbounded whitespace runs, so a long run of spaces cannot make them quadratic
_MARKERS = re.compile(
    r"(?P<gsm>^[ \t]*####[ \t]*)"
    r"|(?P<final>final\s+answer(?:\s*(?:is\b|:|=))?(?:\s*\*\*)?(?:\s*:)?)"
    r"|(?P<ans>(?<![A-Za-z])answer(?:\s*\*\*)?\s*(?:is\b(?:\s*\*\*)?(?:\s*:)?|:|=)(?:\s*\*\*)?)"
    r"|(?P<choice>(?:correct|right|best)\s+(?:answer\s+)?(?:option|choice)(?:\s+is\b|\s*:)(?:\s*\*\*)?)",
    re.IGNORECASE | re.MULTILINE,
)
# a math span; "\$" inside it is a dollar sign, not its end
_MATH_SPAN = re.compile(r"^\s*(\$\$?)((?:\\\$|[^$])+?)\1|^\s*\\\[(.+?)\\\]|^\s*\\\((.+?)\\\)", re.DOTALL)
# a period followed by a space or the end (a decimal point is followed by a digit), or a line break
_SENTENCE_END = re.compile(r"\.(?=\s|$)|\n")


def _after_marker(rest: str) -> str:
    """The answer that follows a marker: a leading math span, else the rest of the sentence."""
    rest = rest.lstrip(" \t*:")
    if rest.startswith("\n"):
        rest = rest.lstrip()  # "**Final Answer**\n\n$5$"
    rest = _OPTION_WORD.sub("", rest, count=1).lstrip(" \t*:")  # "option **B**", "choice (C)"
    m = _MATH_SPAN.match(rest)
    if m:
        return next(g for g in (m.group(2), m.group(3), m.group(4)) if g is not None)
    end = _SENTENCE_END.search(rest)
    line = rest[: end.start()] if end else rest
    clause = _CLAUSE.search(line)
    if clause:
        line = line[: clause.start()]
    line = line.strip().strip("*").strip()
    # in prose "the answer is 42!" ends with an exclamation mark; in math ($5!$, \boxed{5!}) it is n!
    return line[:-1].rstrip() if line.endswith("!") and not line.endswith("!!") else line


_OPTION_WORD = re.compile(r"^(?:option|choice)\s+(?=\S)", re.IGNORECASE)


# "3, since ..." / "3 because ...": the answer ends where an explanation begins
_CLAUSE = re.compile(
    r"(?:,\s*|(?<!\s)\s+)(?:since|because|as|which|where|given that|so that|due to)\b", re.IGNORECASE
)
# "So 5 is the answer." / "$\\frac23$ is the final answer": the tail is found first (linear), then the
# answer just before it, in a bounded window
_IS_THE_ANSWER = re.compile(r"(?<!\s)\s+is\s+(?:the|my|our)\s+(?:final\s+)?answer\b", re.IGNORECASE)
_BEFORE_TAIL = re.compile(r"(\$(?:\\\$|[^$\n])+\$|\\\((?:(?!\\\)).)+\\\)|[^\s$]+)$")
# how far after a marker (and before "is the answer") an answer is looked for
_WINDOW = 2000


def _last_marker(text: str) -> tuple[str, str] | None:
    """The answer after the last marker that has one, or before the last "is the answer"."""
    best: tuple[int, str, str] | None = None
    for m in reversed(list(_MARKERS.finditer(text))):
        answer = _after_marker(text[m.end() : m.end() + _WINDOW])
        if answer:
            how = {"gsm": "gsm8k", "final": "final_answer"}.get(m.lastgroup or "ans", "answer_marker")
            best = (m.start(), answer, how)
            break
    tails = list(_IS_THE_ANSWER.finditer(text))
    if tails and (best is None or tails[-1].start() > best[0]):
        tail = tails[-1]
        window = text[max(0, tail.start() - _WINDOW) : tail.start()]
        before = _BEFORE_TAIL.search(window)
        if before is not None:
            span = before.group(1)
            inner = _MATH_SPAN.match(span)
            answer = next((g for g in inner.groups()[1:] if g is not None), span) if inner else span
            best = (tail.start(), answer, "answer_marker")
    if best is None:
        return None
    return best[1], best[2]


_WHOLE_MATH = re.compile(
    r"^\s*(?:\$\$?((?:\\\$|[^$])+?)\$\$?|\\\[(.+?)\\\]|\\\((.+?)\\\))\s*\.?\s*$", re.DOTALL
)


def extract_answer(text: str, *, max_chars: int = 100_000) -> Extraction | None:
    """The final answer of a model response, or None when it states none. Looks at the last max_chars."""
    if len(text) > max_chars:
        text = text[-max_chars:]
    think_end = text.rfind("</think>")
    if think_end >= 0 and text[think_end + len("</think>") :].strip():
        # a reasoning model's answer follows its thinking; drafts inside the thinking do not count
        text = text[think_end + len("</think>") :]
    boxed = _last_boxed(text)
    if boxed is not None:
        return Extraction(boxed, "boxed")
    marked = _last_marker(text)
    if marked is not None:
        return Extraction(*marked)
    stripped = text.strip()
    if not stripped:
        return None
    m = _WHOLE_MATH.match(stripped) if len(stripped) <= _WINDOW else None
    if m:
        return Extraction(next(g for g in m.groups() if g is not None), "bare")
    if "\n" not in stripped and (
        (len(stripped) <= BARE_MAX_CHARS and not is_prose(stripped))
        or (len(stripped) <= BARE_MATH_MAX_CHARS and not _PROSE_WORD.search(stripped))
    ):
        return Extraction(stripped, "bare")
    return None


# words of a sentence, outside LaTeX command names and $...$ spans; "I" is the one one-letter word
_SENTENCE_WORD = re.compile(r"(?<![\\A-Za-z'])(?:[A-Za-z]{2,}(?:'[A-Za-z]+)?|I(?![A-Za-z']))")
_INLINE_MATH = re.compile(r"\$[^$]*\$")
# sentence punctuation: at the end (before closing quotes or brackets) or between two sentences
_SENTENCE_PUNCT = re.compile(r"[.!?][\"')\]]*\s*$|[.!?]\s+[A-Z]")
# pronouns and verbs that make a line a sentence about the answer rather than the answer itself
_SENTENCE_MARKERS = frozenset(
    {"i", "i'm", "i've", "i'd", "me", "my", "we", "we're", "we've", "our", "us", "you", "it", "it's", "this",
     "that", "there", "here", "is", "are", "was", "were", "be", "been", "am", "so", "let", "think", "guess",
     "believe", "get", "got", "gives", "give", "have", "has", "had", "compute", "calculate", "find", "found",
     "solve", "know", "thus", "therefore", "hence", "then", "because", "since", "maybe", "probably",
     "should", "would", "could", "will", "can", "must", "do", "does", "did"}
)  # fmt: skip
# this many words, with sentence punctuation and a pronoun or verb, make a line prose
_PROSE_MIN_WORDS = 3


def is_prose(line: str) -> bool:
    """A bare line that reads as a sentence, not an answer: ``I think it's 5.``, ``Let me compute. 2+3=5
    so we get 5 apples.`` A short answer is not prose: ``5``, ``x^2-1``, ``Tuesday``, ``No.``, ``(C) 12``,
    ``10 cm``, ``3 or 4``, ``All real numbers.`` (no pronoun or verb)."""
    plain = _INLINE_MATH.sub(" ", line)
    if not _SENTENCE_PUNCT.search(plain):
        return False
    words = [w.lower() for w in _SENTENCE_WORD.findall(plain)]
    return len(words) >= _PROSE_MIN_WORDS and any(w in _SENTENCE_MARKERS for w in words)


def extract_reference(ref: str, *, max_chars: int = 100_000) -> Extraction | None:
    r"""The reference answer: a boxed or ``####`` answer inside a worked solution, else the whole string."""
    if len(ref) > max_chars:
        ref = ref[-max_chars:]
    if not ref.strip():
        return None
    boxed = _last_boxed(ref)
    if boxed is not None:
        return Extraction(boxed, "boxed")
    gsm = re.search(r"^[ \t]*####[ \t]*(.+?)[ \t]*$", ref, re.MULTILINE)
    if gsm:
        return Extraction(gsm.group(1), "gsm8k")
    return Extraction(ref.strip(), "reference")


_OPTION_MARK = re.compile(r"(?:\\textbf\{|\\mathrm\{|\\text\{)?\(\s*([A-E])\s*\)\s*\}?")
_OPTION_LINE = re.compile(r"^\s*([A-E])[.):]\s+(.+?)\s*$", re.MULTILINE)
# an option longer than this is not an answer choice (and is never parsed)
_MAX_OPTION_CHARS = 200
_OPTION_END = re.compile(r"\\qquad|\\quad|\n|\$\s*$")


def question_options(question: str | None) -> tuple[tuple[str, str], ...]:
    r"""The lettered options of a multiple-choice question: ``(A) 10 (B) 12`` -> (("A", "10"), ("B", "12")).

    Reads AMC-style ``$\textbf{(A) }10\qquad\textbf{(B) }12$`` and one option per line (``A. 10``).
    Returns () unless the letters run A, B, ... without gaps (a stray "(C)" is not a choice list).
    """
    if not question:
        return ()
    text = question[-20_000:]
    marks = list(_OPTION_MARK.finditer(text))
    options: list[tuple[str, str]] = []
    for k, m in enumerate(marks):
        end = marks[k + 1].start() if k + 1 < len(marks) else len(text)
        body = text[m.end() : end]
        stop = _OPTION_END.search(body)
        body = body[: stop.start()] if stop else body
        options.append((m.group(1), body.strip().strip("$").strip()))
    if not _runs_from_a(options):
        options = [(m.group(1), m.group(2).strip().strip("$").strip()) for m in _OPTION_LINE.finditer(text)]
    if not _runs_from_a(options) or any(len(text) > _MAX_OPTION_CHARS for _, text in options):
        return ()
    return tuple(options)


def _runs_from_a(options: list[tuple[str, str]]) -> bool:
    letters = [letter for letter, _ in options]
    return (
        len(letters) >= 2
        and letters == [chr(ord("A") + k) for k in range(len(letters))]
        and all(text for _, text in options)
    )

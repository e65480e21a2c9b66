r"""Extraction: find the final answer in a whole response (or a reference as datasets write it).

One table, :data:`RECOGNIZERS`, names every convention real responses use to state a final answer,
in priority order. Each recognizer finds the *last* statement of its kind. A hit of a lower tier wins
over any hit of a higher tier; within a tier the statement that ends last in the text wins (a response
that corrects itself), ties going to the row listed first.

=================  ====  =============================================================================
name               tier  example
=================  ====  =============================================================================
``boxed``          0     ``\boxed{7}``, ``\fbox{7}``; boxes side by side are one multi-part answer
``minerva``        1     ``Final Answer: The final answer is $5$. I hope it is correct.``
``final_answer``   1     ``Final Answer: 5``, ``**Final Answer**\n\n$5$``,
                         ``Final Answer: The largest $n$ is 34.`` (a sentence: its last math span)
``choice``         1     ``the correct option is (B)``
``answer_is``      1     ``the answer is 5``, ``the answer (arabic numerals) is 45``,
                         ``the final answer to this problem is 5``, ``among A through E, the answer is D``
``answer_label``   1     ``Answer: 15``, ``**Answer:** 15``, ``Answer $9$``, ``Answer: \( 9 \)``
``answer_heading`` 1     ``# Answer\n\n42`` (PRM800K)
``gsm8k``          1     ``#### 72``, at a line start or after the reasoning
``json``           1     ``{"answer": "\\frac{1}{2}"}``, fenced or not; the last object wins
``answer_tag``     1     ``<answer>7</answer>`` (R1-style)
``is_the_answer``  1     ``So 5 is the answer.``
``a_line``         1     a last line ``A: 8`` of a few-shot transcript (not a list of lettered lines)
``conclusion``     2     a concluding last sentence, its last math span: ``Therefore, the total is $45$.``,
                         ``We find that $x \lt 3$.``, ``We add 5 and 7, therefore 12.``
``bare``           3     the whole text, when it is a short answer or all math, not a sentence of prose
=================  ====  =============================================================================

Only the last ``max_chars`` of a response are read; only what follows its last ``</think>`` when
anything does; and only what precedes its first chat-turn token (a raw decode that ran on, see
:func:`verifier.guards.split_turn`). A response cut off mid-expression or mid-sentence where it states
its answer has no answer (:func:`find_answer` says why). A number in the middle of the reasoning is
never guessed. Spelled-out numbers in an answer slot (``the answer is twelve``) are read as digits.

Speed: every scan is linear and runs in C (compiled patterns, ``str.rfind``/``in``); answer markers are
looked for in the tail first (the last statement is nearly always there), boxes only from the first
``\boxed`` on, brace matching visits only braces. A 4 KB response costs tens of microseconds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass

from verifier.guards import split_turn


@dataclass(frozen=True)
class Extraction:
    answer: str  # the answer text, still unnormalised
    how: str  # the recognizer's name (see RECOGNIZERS); "reference" for a reference read whole


@dataclass(frozen=True)
class Hit:
    """One recognizer's last statement in a text."""

    end: int  # where the statement ends in the text: the later of two hits in a tier wins
    answer: str
    answer_end: int  # where the answer itself ends (for the cut-off check)


@dataclass(frozen=True)
class Recognizer:
    name: str  # the convention's name: Extraction.how, VerifyConfig.answer_conventions
    tier: int  # priority: any hit of a lower tier wins over every hit of a higher one
    find: Callable[[str, str], Hit | None]  # (text, its lowercase) -> the last statement, or None
    example: str  # one response that states its answer this way


# ---------------------------------------------------------------------------------------------
# boxes

_BOX_TOKEN = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*(\{)?|\\[\\{}]|[{}]")
_BARE_TOKEN = re.compile(r"[^\s$]+")
# boxes written side by side count as one multi-part answer when this little text separates them
_BOX_JOINER = re.compile(
    r"^\s*\$*\s*(?:,|;|\\text\{\s*(?:and|,)\s*\}|and|\\quad|\\qquad|\\,|\s)*\s*\$*\s*$", re.IGNORECASE
)
_BOX_OR = re.compile(r"^\s*\$*\s*(?:\\text\{\s*or\s*\}|or)\s*\$*\s*$", re.IGNORECASE)
# the separators between side-by-side boxes are short; longer text ends the group
_MAX_JOINER_CHARS = 40


def find_boxes(text: str) -> list[tuple[int, int, str]]:
    r"""The outermost ``\boxed``/``\fbox`` arguments as (start, end, content), in order.

    An unclosed box is skipped; a box inside a closed box is part of it. ``\boxed 5`` (no braces)
    takes the following token. An escaped brace (``\{``) is not a brace. No loop over characters: the
    box commands are found with ``str.find``, and each box's braces are matched by a compiled pattern
    that visits only braces, inside that box. A text with many boxes takes one stack-based pass instead,
    so 10,000 nested or unclosed boxes stay linear.
    """
    starts = _box_starts(text)
    if len(starts) > _FEW_BOXES:
        return _find_boxes_one_pass(text, starts[0])
    spans: list[tuple[int, int, str]] = []
    for start in starts:
        closed = _close_box(text, start)
        if closed is not None:
            spans.append((start, *closed))
    # outermost: not inside an earlier closed box
    return [b for b in spans if not any(a[0] < b[0] < a[1] for a in spans)]


# up to this many box commands, each box is matched on its own; more take the one-pass scan
_FEW_BOXES = 16
_BRACE = re.compile(r"\\[\\{}]|[{}]")
_BOX_COMMAND = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])\s*(\{)?")


def _box_starts(text: str) -> list[int]:
    """Where every ``\boxed``/``\fbox`` command starts (not one escaped by a backslash before it)."""
    starts: list[int] = []
    for name in ("\\boxed", "\\fbox"):
        i = text.find(name)
        while i >= 0:
            if _BOX_COMMAND.match(text, i) and not _escaped(text, i):
                starts.append(i)
            i = text.find(name, i + 1)
    return sorted(starts)


def _escaped(text: str, i: int) -> bool:
    """The backslash at ``i`` is the second of a pair (``\\\\boxed`` is a line break, then text)."""
    j = i
    while j > 0 and text[j - 1] == "\\":
        j -= 1
    return (i - j) % 2 == 1


def _close_box(text: str, start: int) -> tuple[int, str] | None:
    """(end, content) of the box command at ``start``, or None when it is never closed."""
    m = _BOX_COMMAND.match(text, start)
    assert m is not None
    if m.group(1) is None:
        bare = _BARE_TOKEN.match(text, m.end())
        return None if bare is None else (bare.end(), bare.group())
    depth = 1
    for brace in _BRACE.finditer(text, m.end()):
        tok = brace.group()
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth -= 1
            if depth == 0:
                return brace.end(), text[m.end() : brace.start()]
    return None


def _find_boxes_one_pass(text: str, first: int) -> list[tuple[int, int, str]]:
    """:func:`find_boxes` for a text with many boxes: one stack-based pass from the first box."""
    parent: dict[int, int | None] = {}  # box start -> start of the box it was opened in
    closed: dict[int, tuple[int, str]] = {}  # box start -> (end, content)
    stack: list[tuple[int, int, int]] = []  # (box start, content start, brace depth outside it)
    depth = 0
    skip_to = 0  # the end of a brace-less box's token: commands inside it are part of it
    for m in _BOX_TOKEN.finditer(text, first):
        i = m.start()
        if i < skip_to:
            continue
        tok = m.group()
        if tok[1:2] in ("b", "f"):  # a box command
            parent[i] = stack[-1][0] if stack else None
            if m.group(1) is not None:
                stack.append((i, m.end(), depth))
                depth += 1
                continue
            bare = _BARE_TOKEN.match(text, m.end())
            if bare is not None:
                closed[i] = (bare.end(), bare.group())
                skip_to = bare.end()
            continue
        if tok == "{":
            depth += 1
        elif tok == "}":
            depth = max(depth - 1, 0)
            if stack and stack[-1][2] == depth:
                start, content_start, _ = stack.pop()
                closed[start] = (i + 1, text[content_start:i])
    nested: dict[int, bool] = {}
    for start in sorted(parent):  # a parent always starts before its children
        up = parent[start]
        nested[start] = up is not None and (up in closed or nested[up])
    return [(start, end, content) for start, (end, content) in sorted(closed.items()) if not nested[start]]


def _boxed(text: str, lower: str) -> Hit | None:
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
    if _NEGATED.search(lower, max(0, group[0][0] - 40), group[0][0]) or _hedged_box(lower, group[0][0]):
        return None  # "the answer is not \boxed{6}", "I guess it is \boxed{6}"
    parts = [b[2].strip() for b in group]
    end = group[-1][1]
    return Hit(end, (" or " if hedged else ", ").join(parts), end)


# a hedge earlier in a box's sentence: "I guess it is \boxed{6}", "maybe \boxed{6}"
_BOX_HEDGE = re.compile(r"\b(?:probably|maybe|perhaps|possibly|guess|not\s+sure|unsure)\b")
_BOX_SENTENCE = re.compile(r"[.!?。\n][^.!?。\n]*$")


def _hedged_box(lower: str, start: int) -> bool:
    before = lower[max(0, start - 60) : start]
    sentence = _BOX_SENTENCE.search(before)
    return _BOX_HEDGE.search(sentence.group() if sentence else before) is not None


# a negation just before a box or a value: "is not \boxed{6}", "isn't $6$"
_NEGATED = re.compile(r"\b(?:not|isn't|isnt|never|cannot\s+be|can't\s+be)\s*(?:equal\s+to\s*)?\$*\s*$")


# ---------------------------------------------------------------------------------------------
# the answer slot after a marker

# a math span; "\$" inside it is a dollar sign, not its end
_MATH_SPAN = re.compile(r"^\s*(\$\$?)((?:\\\$|[^$])+?)\1|^\s*\\\[(.+?)\\\]|^\s*\\\((.+?)\\\)", re.DOTALL)
# a period followed by a space or the end (a decimal point is followed by a digit), or a line break;
# not the period of an abbreviation before a number ("Rs. 750", "approx. 3.2") or a name ("Mr. Lee")
_SENTENCE_END = re.compile(
    r"\.(?=\s|$)(?!(?:(?<=\b[Rr]s\.)|(?<=\bapprox\.)|(?<=\bApprox\.))[ \t]?\d)"
    r"(?!(?:(?<=\bMr\.)|(?<=\bMrs\.)|(?<=\bMs\.)|(?<=\bDr\.)|(?<=\bSt\.))[ \t]?[A-Z])|\n|。"
)
# what may follow a leading math span in the slot and change what it says
_MORE_VALUES = re.compile(
    r"\s*,?\s*(or|and|或|和|,|;)\s*(?:possibly\s+|maybe\s+|perhaps\s+)?(?:\$|\\\(|\\\[|-?\d)"
)
_COMPARATIVE_REST = re.compile(
    r"\s*(?:less|more|fewer|greater|smaller|larger|bigger|higher|lower|times)\b", re.I
)
# a hedge anywhere in the sentence that holds the answer
_HEDGED_REST = re.compile(
    r"\b(?:not\s+sure|unsure|i\s+(?:guess|think\s+maybe)|probably|maybe|perhaps|possibly)\b|但是|不确定", re.I
)
_OPTION_WORD = re.compile(r"^(?:option|choice)\s+(?=\S)", re.IGNORECASE)
# "3, since ..." / "3 because ...": the answer ends where an explanation begins
_CLAUSE = re.compile(
    r"(?:,\s*|(?<!\s)\s+)(?:since|because|which|where"
    r"|as(?!\s+\S+\s*(?:(?:approaches|goes\s+to|tends\s+to)\b|(?:→|->|\\to)(?![A-Za-z])))"
    r"|given that|so that|due to)\b",
    re.IGNORECASE,
)  # (not a limit's "as x approaches 9")
# a Markdown bold span inside the slot (never an exponent "2**3": no letter or digit outside the marks)
_BOLD = re.compile(r"(?<![\w)])\*\*([^*\n]+?)\*\*(?![\w(])")
_BOLD_CLOSE = re.compile(r"(?<=\S)\*\*(?![\w(])")
_ELLIPSIS = re.compile(r"(?:\.{3,}|…)[ \t]*(?=\S)")
# how far after a marker an answer is looked for
_WINDOW = 2000


def _slot(text: str, start: int) -> tuple[str, int]:
    """The answer that follows a marker ending at ``start``: a leading math span, else the rest of the
    sentence; and where it ends in ``text``."""
    rest = text[start : start + _WINDOW]
    lead = len(rest) - len(rest.lstrip(" \t*:"))
    rest = rest[lead:]
    ellipsis = _ELLIPSIS.match(rest)  # "the answer is ... [1, 0, 1]"
    if ellipsis:
        lead += ellipsis.end()
        rest = rest[ellipsis.end() :]
    if rest.startswith("\n"):  # "**Final Answer**\n\n$5$"
        stripped = rest.lstrip()
        lead += len(rest) - len(stripped)
        rest = stripped
    option = _OPTION_WORD.match(rest)  # "option **B**", "choice (C)"
    if option:
        after = rest[option.end() :]
        stripped = after.lstrip(" \t*:")
        lead += option.end() + len(after) - len(stripped)
        rest = stripped
    end = _SENTENCE_END.search(rest)
    if _HEDGED_REST.search(rest[: end.start()] if end else rest):
        return "", start + lead  # "the answer is 6 but I'm not sure": a hedge states no answer
    m = _MATH_SPAN.match(rest)
    if m:
        inner = next(g for g in (m.group(2), m.group(3), m.group(4)) if g is not None)
        after = rest[m.end() :]
        after_end = _SENTENCE_END.search(after)
        tail = after[: after_end.start()] if after_end else after
        if _COMPARATIVE_REST.match(tail):
            return "", start + lead  # "$45$ less than the original": not the value itself
        more = _MORE_VALUES.match(tail)
        if more:  # "$6$ or $7$", "$6$ and $7$": the whole list, for the hedge and multi-part rules
            values = [
                inner,
                *(next(g for g in v.groups()[1:] if g is not None) for v in _VALUE.finditer(tail)),
            ]
            joiner = " or " if more.group(1) in ("or", "或") else ", "
            return joiner.join(v.strip() for v in values), start + lead + m.end() + len(tail)
        return inner, start + lead + m.end()
    line = rest[: end.start()] if end else rest
    clause = _CLAUSE.search(line)
    if clause:
        line = line[: clause.start()]
    limit = _LIMIT_CONDITION.search(line.lower())
    if limit is not None and not _STATES.search(line.lower(), limit.end()):
        line = line[: limit.start()]  # "3 as x approaches 2": the condition of a limit after its value
    stop = start + lead + len(line)
    line = _BOLD.sub(r"\1", line)  # "... is **18** feet"
    if text[max(0, start - 4) : start + lead].rstrip(" \t:").endswith("**"):
        # "is **(B)**, No": the bold opened before the slot closes in it
        line = _BOLD_CLOSE.sub("", line, count=1)
    line = line.strip().strip("*").strip()
    # in prose "the answer is 42!" ends with an exclamation mark; in math ($5!$, \boxed{5!}) it is n!
    answer = line[:-1].rstrip() if line.endswith("!") and not line.endswith("!!") else line
    return _spelled_out(answer), stop


_ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14, "fifteen": 15,
    "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
    "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}  # fmt: skip
_SCALES = {"hundred": 100, "thousand": 1000, "million": 10**6, "billion": 10**9}
_NUMBER_WORD = re.compile(r"[a-z]+")
_SPELLED = re.compile(
    r"^(?:(?:negative|minus)\s+)?(?:(?:" + "|".join([*_ONES, *_SCALES]) + r")(?:[\s-]+(?:and\s+)?|$))+$"
)


def cardinal_value(words: list[str]) -> int | None:
    """``["one", "hundred", "fifty"]`` -> 150; None unless every word is a cardinal word (or "and"
    between them); ``a dozen`` is 12, ``two dozen`` 24."""
    if words[:1] == ["a"] and words[1:2] in (["dozen"], ["hundred"], ["thousand"], ["million"]):
        words = words[1:]
    if not words or words[0] == "and" or words[-1] == "and":
        return None
    total = current = 0
    for word in words:
        if word in _ONES:
            current += _ONES[word]
        elif word in ("dozen", "dozens"):
            current = (current or 1) * 12
        elif word == "hundred":
            current = (current or 1) * 100
        elif word in _SCALES:
            total += (current or 1) * _SCALES[word]
            current = 0
        elif word != "and":
            return None
    return total + current


def _spelled_out(answer: str) -> str:
    """``twelve`` -> ``12``, ``one hundred fifty`` -> ``150``: an answer slot written out in words."""
    words = answer.lower().rstrip(".").strip()
    if not words or not words[0].isalpha() or _SPELLED.match(words) is None:
        return answer
    tokens = _NUMBER_WORD.findall(words)
    negative = tokens[0] in ("negative", "minus")
    value = cardinal_value(tokens[1:] if negative else tokens)
    if value is None:
        return answer
    return str(-value if negative else value)


# ---------------------------------------------------------------------------------------------
# markers: each pattern runs on the lowercased text; none has two adjacent unbounded runs

_MINERVA = re.compile(r"final\s+answer\s*:\s*the\s+final\s+answer\s+is\b\s*:?")
_FINAL = re.compile(r"final\s+answer(?:\s*\*\*)?\s*(?::|=|\n|\*\*|$)(?:\s*\*\*)?")
# "answer" [a parenthetical] [a few words: "to this problem", "for part (b)"] "is"
_ANSWER_IS = re.compile(
    r"answer(?:\s*\([^()\n]{1,40}\))?(?:\s+(?:to|for|of|in|on)\b[^.\n:;=$]{1,60}?)?"
    r"(?:\s*\*\*)?\s+is\b(?:\s*\*\*)?(?:\s*:)?(?:\s*\*\*)?"
)
_ANSWER_IS_ZH = re.compile(r"答案\s*(?:是|为|為)\s*[:：]?")
# the answer to a part is not the final answer; "whether the answer is", "if the answer is": not a statement
_PART_ANSWER = re.compile(r"answer\s+(?:to|for)\s+(?:the\s+)?(?:part|\(?[a-d]\)|question\s+\d|step)")
_NOT_A_STATEMENT = re.compile(
    r"\b(?:whether|if|suppose|supposing|assume|assuming|unless|check|not\s+sure|doubt|guess)\s+(?:that\s+)?"
    r"(?:the|my|our)?\s*(?:final\s+)?$"
)
# a plan's step that names the answer it will give: "3. Show the answer:" (a line's imperative)
_PLAN_STEP = re.compile(
    r"^[ \t*#]*(?:(?:step[ \t]*)?\d{1,2}[.):][ \t]*)?"
    r"(?:show|find|give|state|write|calculate|compute|get)[ \t]+(?:the[ \t]+)?(?:final[ \t]+)?$",
    re.MULTILINE,
)
_HEDGED_SLOT = re.compile(r"(?:probably|maybe|perhaps|likely|possibly|not|either)\b", re.IGNORECASE)
# "Answer: 5", "answer = 5"; or "Answer $9$" at a line start (the group is None then)
_ANSWER_LABEL = re.compile(r"answer(?:((?:\s*\*\*)?\s*[:=](?:\s*\*\*)?)|[ \t]+(?=\$|\\\(|\\\[))")
_LINE_LEAD = re.compile(r"[ \t*#]*")
_ANSWER_HEADING = re.compile(r"#{1,6}[ \t]*(?:final\s+)?answer[ \t:]*\n")
_GSM8K = re.compile(r"####[ \t]*(?=\S)")
_JSON_KEY = re.compile(r"\"(?:final[_ ]answer|answer)\"\s*:\s*")
_JSON_STRING = re.compile(r"\"((?:[^\"\\]|\\.){0,2000})\"", re.DOTALL)
_JSON_SCALAR = re.compile(r"[^,}\]\n]{1,200}")
_CHOICE = re.compile(
    r"(?:correct|right|best)\s+(?:answer\s+)?(?:option|choice)(?:\s+letter)?(?:\s+is\b|\s*:)(?:\s*\*\*)?"
)
# "So 5 is the answer." / "$\\frac23$ is the final answer": the tail first, then the answer before it
_IS_THE_ANSWER = re.compile(r"is\s+(?:the|my|our)\s+(?:final\s+)?answer\b")
_BEFORE_TAIL = re.compile(r"(\$(?:\\\$|[^$\n])+\$|\\\((?:(?!\\\)).)+\\\)|[^\s$]+)$")
# a Markdown heading or a step label after ####, not an answer: "#### Step 2: Find x"
_HEADING_WORDS = re.compile(r"[A-Za-z]{3,}\b[^\n]*?(?<![\\A-Za-z])[A-Za-z]{2,}")


def _last(pattern: re.Pattern[str], lower: str, accept: Callable[[re.Match[str]], Hit | None]) -> Hit | None:
    """The last match of ``pattern`` that ``accept`` turns into a hit. The tail is searched first (the
    last statement is nearly always there); the rest only when the tail has none."""
    tail_start = max(0, len(lower) - _WINDOW)
    tries = 0
    matches = list(pattern.finditer(lower, tail_start))
    for k in range(len(matches) - 1, -1, -1):
        hit = accept(matches[k])
        tries += 1
        if hit is not None and k > 0 and _stacked(lower, matches[k - 1], accept, hit, matches[k].start()):
            return None  # "The answer is (A).\n\nThe answer is (H).": a list of guesses, not an answer
        if hit is not None or tries >= _MAX_TRIES:
            return hit
    if tail_start:
        for m in reversed(list(pattern.finditer(lower, 0, tail_start + _WINDOW // 2))):
            if m.start() < tail_start:
                hit = accept(m)
                tries += 1
                if hit is not None or tries >= _MAX_TRIES:
                    return hit
    return None


def _stacked(
    lower: str, prev: re.Match[str], accept: Callable[[re.Match[str]], Hit | None], hit: Hit, start: int
) -> bool:
    """The statement before ``hit`` states a different answer with next to nothing in between."""
    before = accept(prev)
    if before is None or before.end > start or _same_numbers(before.answer, hit.answer):
        return False  # no statement, a slot that runs into this one, or the same value restated
    between = _WORD.findall(lower[before.end : start])
    return all(w in _LEAD_WORDS for w in between)


_LEADING_LETTER = re.compile(r"^\s*(?:\(\s*[A-J]\s*\)|[A-J]\))\s*")
_NUMBER_IN = re.compile(r"-?\d+(?:\.\d+)?")


def _same_numbers(a: str, b: str) -> bool:
    """Two statements of one value: the same text, the same option letter, or a value and then an option
    letter with the same numbers (after the last "="): "Weight of the truck = 40.8 tons" and "(A) 40.8"."""
    if a == b:
        return True
    la, lb = _LEADING_LETTER.match(a), _LEADING_LETTER.match(b)
    if la and lb:
        return la.group().strip(" ()") == lb.group().strip(" ()")  # one letter, or two ("(A) 5", "(B) 5")
    if not la and not lb:
        return False  # two values without a letter: "$x^2$" and "$2x$" are two guesses, whatever their digits
    na, nb = (
        _NUMBER_IN.findall(_LEADING_LETTER.sub("", x).rsplit("=", 1)[-1].replace(",", "")) for x in (a, b)
    )
    return bool(na) and na == nb


_WORD = re.compile(r"[a-z0-9]+")
# the words that may lead a statement: two statements with only these between them are a list of guesses
_LEAD_WORDS = frozenset({"the", "so", "thus", "therefore", "hence", "my", "our", "final", "correct"})
# the statements of one kind looked at, from the last, before a recognizer gives up (a response that
# writes "the answer is" hundreds of times without an answer is no answer, read in bounded time)
_MAX_TRIES = 32


def _slot_hit(text: str, m: re.Match[str]) -> Hit | None:
    answer, stop = _slot(text, m.end())
    return Hit(stop, answer, stop) if answer else None


def _minerva(text: str, lower: str) -> Hit | None:
    if "final" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        return _slot_hit(text, m)

    return _last(_MINERVA, lower, accept)


# a math span or a plain number: the values a sentence can state
_VALUE = re.compile(
    r"(\$\$?)((?:\\\$|[^$])+?)\1|\\\((.+?)\\\)|\\\[(.+?)\\\]"
    r"|([\[(]\s*-?\d[\d.]*(?:\s*,\s*-?\d[\d.]*)+\s*[\])])"  # a list or tuple of numbers: [0, 3, 5]
    r"|(?<![\w.])(-?\d+(?:\.\d+)?\s*(?:x|×|\*)\s*10\^\{?[-−]?\d+\}?)(?![\w.]*\d)"  # 4.65 x 10^-34
    r"|(?<![\w.])(-?\d+(?:,\d{3})*(?:\.\d+)?%?)(?![\w.]*\d)"
)
# a bound before a value: "at least 5", "nearly 5" state no value (an estimate, "about 2 inches", does)
_QUALIFIER = re.compile(
    r"\b(?:at\s+(?:least|most)|more\s+than|less\s+than|fewer\s+than|greater\s+than|up\s+to|over|under"
    r"|nearly|almost|close\s+to|between)\b|[<>≤≥]"
)
# an operation named before a value: the sentence states its result, not the value
_OPERATION = re.compile(
    r"\b(?:(?:square|cube|cubic|nth|\w+th)\s+root|root|square|cube|inverse|reciprocal|negative|opposite|half"
    r"|twice|double|triple|thrice|product|sum|difference|quotient|factorial|log(?:arithm)?|exponential"
    r"|absolute\s+value|power|multiple|percent|fraction)\s+of\b"
    r"|\b(?:twice|thrice|double|triple|half|minus|negative)\s*$"
)
# an operation or a scale named right after a value: "45 squared", "45 thousand"
_OPERATION_AFTER = re.compile(
    r"\s*(?:\$\s*)?(?:squared|cubed|factorial|percent\s+of|thousand|million|billion|hundred"
    r"|to\s+the\s+power"
    r"|(?:[a-z]+\s+)?below\s+zero|times\s+(?:as|larger|smaller|bigger|greater|the))\b"
)  # (or a relation to another value: "5 degrees below zero", "3 times as many")
# where a condition or an explanation begins
_CLAUSE_CUT = re.compile(
    r",\s*(?:assuming|so|where|if|since|because|given|when|provided)\b|\s(?:assuming|provided)\b"
)
_LIMIT_CONDITION = re.compile(
    r"\s(?:as|when)\s+(?:\$[^$]*\$|[^\s→]+)\s*"
    r"(?:(?:goes\s+to|approaches|tends\s+to)\b|(?:→|->|\\to)(?![A-Za-z]))"
)
# a word that starts an adjunct after the stated value: "310 ounces of sugar to make 8 batches"
# (a purpose or a condition: "to make", "if", "by buying", "from selling"; not "at a speed of 3",
# which may state the asked value itself)
_ADJUNCT = re.compile(
    r"\b(?:to|by|from|if|when|after|before)\s+[a-z]+ing\b|\b(?:to\s+(?!a\b|the\b)[a-z]+|if|when)\b"
    r"|\b(?:in|within|during|by|over)\s+(?:the\s+(?:first|last|past|next)|his|her|their|its)\b"
    r"|\b(?:in|within|during|by|over)\s*$"
    r"|^\s*[a-z]+(?:\s+[a-z]+)?\s+(?:that|who)\s"
    r"|\bof\s+[a-z]\s*(?:≤|≥|<|>|\\le|\\ge)\s*$"  # a range on the counted values: "20 values of x ≤ 100"
)  # (and a time: "in 3 weeks", "during his 5 day work week", "by her 10th birthday"; and a relative
# clause on the counted noun: "25 racks that have at least 0 ties")

_STRONG_HEDGE = re.compile(r"\b(?:probably|maybe|perhaps|might|could|possibly|likely|guess|either)\b|\?")
# a "$" that is a price, not math: "$18 every day" ("$18$" is math)
_CURRENCY = re.compile(r"\$(?=\s?\d[\d,]*(?:\.\d+)?(?![\d,.]*\$))")
_MATH_INSIDE = re.compile(r"\$[^$]*\$|\\\(.*?\\\)")


def _stated_value(sentence: str, *, marked: bool = False) -> str | None:
    r"""The one value a sentence states: the math span or number after its last verb that has one
    (``Janet makes $18 every day.`` -> 18, ``the perimeter is 2 * 9 = **18 feet**.`` -> 18,
    ``We find that $x \lt 3$.`` -> ``x \lt 3``). None for a hedge, a supposition, or two values
    stated (``Toulouse has 160 sheep, Charleston 80``). A value may be followed by an adjunct with
    values of its own (``Mason needs 310 ounces to make 8 batches``). ``marked``: the sentence follows
    an answer marker, so only a real hedge (``probably``), not a condition (``if``), voids it."""
    plain = _CURRENCY.sub("", sentence).replace("**", "")
    masked = _MATH_INSIDE.sub(lambda m: "$" + " " * (len(m.group()) - 2) + "$", plain).lower()
    if (_STRONG_HEDGE if marked else _HEDGE).search(masked):
        return None
    # what is stated: after the last "=" outside math (a chain of arithmetic), else after the first
    # verb that has a value after it, else the whole sentence
    clause = _CLAUSE_CUT.search(masked)
    if clause is not None:  # "6, assuming n = 7": what the sentence states comes before its condition
        plain, masked = plain[: clause.start()], masked[: clause.start()]
    limit = _LIMIT_CONDITION.search(masked)
    if (
        limit is not None
        and _VALUE.search(plain, 0, limit.start())
        and not _STATES.search(masked, limit.end())
    ):
        # "the probability goes to 0 as $n$ goes to infinity": the condition of a limit is no value
        plain, masked = plain[: limit.start()], masked[: limit.start()]
    equals = masked.rfind("=")
    if equals >= 0:
        cut = equals + 1
    else:
        cut = next((m.end() for m in _STATES.finditer(masked) if _VALUE.search(plain, m.end())), 0)
    values = list(_VALUE.finditer(plain, cut))
    if not values or _QUALIFIER.search(masked, cut, values[0].start()):
        return None  # nothing stated, or a bound ("at least 5"), not a value
    if _OPERATION.search(masked, cut, values[0].start()) or _OPERATION_AFTER.match(masked, values[0].end()):
        return None  # "the square root of 45", "45 squared": an operation on the value, not the value
    if len(values) > 1:
        between = masked[values[0].end() : values[1].start()]
        if "," in between or " and " in between or " or " in between or not _ADJUNCT.search(between):
            return None  # two values stated: "Toulouse has 160 sheep, Charleston has 80 sheep, ..."
    answer = next(g for g in values[0].groups()[1:] if g is not None)
    arithmetic = _ARITHMETIC.match(answer)  # "3 + 4 = 7": the result
    return arithmetic.group(1) if arithmetic else answer


def _final_answer(text: str, lower: str) -> Hit | None:
    if "final" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        if _MINERVA.match(lower, m.start()):
            return None  # "Final Answer: The final answer is ...": Minerva's line, read by its own row
        return _sentence_slot(_slot_hit(text, m))

    return _last(_FINAL, lower, accept)


def _sentence_slot(hit: Hit | None) -> Hit | None:
    """A slot that holds a sentence (``Final Answer: The largest $n$ is 34.``, ``Answer: Janet makes
    $18 every day.``) states the one value in it, or nothing."""
    if hit is None or not _is_sentence(hit.answer):
        return hit
    if len(hit.answer) > _MAX_SENTENCE_CHARS or _ANSWER_IS.search(hit.answer.lower()):
        return None  # too long, or "Answer: The final answer is ...", whose own row reads it
    value = _stated_value(hit.answer, marked=True)
    return hit if value is None else Hit(hit.end, value, hit.end)


def _is_sentence(answer: str) -> bool:
    """An answer slot that holds a sentence rather than an answer: three words or more outside math
    (``The largest $n$ is 34``, ``Mary put in 10 cups of flour``), or a word and an equals sign
    (``Total cost = $6 + $8 = $14``), or two words before its value (``Tommy raises $221``)."""
    plain = _INLINE_MATH.sub(" ", answer)
    words = len(_SENTENCE_WORD.findall(plain))
    if words >= 3 or (words >= 1 and "=" in plain):
        return True
    # two words before the value: "Tommy raises $221" (but "10 square units" is an answer with a unit)
    first = _VALUE.search(answer)
    return (
        words == 2
        and first is not None
        and _SENTENCE_WORD.search(answer, 0, first.start()) is not None
        and not _QUALIFIER.search(answer.lower(), 0, first.start())
    )


def _after_letter(lower: str, i: int) -> bool:
    """The match at ``i`` continues a word ("reanswer"): the patterns start with a literal, for speed,
    and check the word boundary here."""
    return i > 0 and "a" <= lower[i - 1] <= "z"


def _at_line_start(lower: str, i: int) -> bool:
    """Only spaces, ``*`` and ``#`` precede ``i`` on its line."""
    start = lower.rfind("\n", 0, i) + 1
    return _LINE_LEAD.fullmatch(lower, start, i) is not None


def _answer_is(text: str, lower: str) -> Hit | None:
    hits = [_answer_is_en(text, lower)]
    if "答案" in text:  # Chinese: "所以，答案是 (D) 55°。"
        hits.append(_last(_ANSWER_IS_ZH, lower, lambda m: _slot_hit(text, m)))
    found = [h for h in hits if h is not None]
    return max(found, key=lambda h: h.end) if found else None


def _answer_is_en(text: str, lower: str) -> Hit | None:
    if "answer" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        if _after_letter(lower, m.start()):
            return None
        before = max(0, m.start() - 40)
        if _PART_ANSWER.match(lower, m.start()) or _NOT_A_STATEMENT.search(lower, before, m.start()):
            return None
        hit = _slot_hit(text, m)
        if hit is None or _HEDGED_SLOT.match(hit.answer):
            return None  # "the answer is probably 5" states no answer
        return _sentence_slot(hit)

    return _last(_ANSWER_IS, lower, accept)


def _answer_label(text: str, lower: str) -> Hit | None:
    if "answer" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        if _after_letter(lower, m.start()) or (m.group(1) is None and not _at_line_start(lower, m.start())):
            return None
        before = max(0, m.start() - 40)
        line = max(before, lower.rfind("\n", 0, m.start()) + 1)
        if _NOT_A_STATEMENT.search(lower, before, m.start()):
            return None
        line_end = lower.find("\n", m.end())
        if (
            _PLAN_STEP.search(lower, line, m.start())
            and not lower[m.end() : None if line_end < 0 else line_end].strip()
        ):
            return None  # "3. Show the answer:" with nothing after it on its line (not "Show the answer: 5")
        return _sentence_slot(_slot_hit(text, m))

    return _last(_ANSWER_LABEL, lower, accept)


def _answer_heading(text: str, lower: str) -> Hit | None:
    if "#" not in lower or "answer" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        if not _at_line_start(lower, m.start()):
            return None
        rest = text[m.end() : m.end() + _WINDOW]
        body = rest.lstrip()
        lead = len(rest) - len(body)
        line = body.split("\n", 1)[0]
        span = _MATH_SPAN.match(line)
        if span:
            answer = next(g for g in (span.group(2), span.group(3), span.group(4)) if g is not None)
            stop = m.end() + lead + span.end()
        else:
            answer, stop = line.strip(), m.end() + lead + len(line)
        if not answer or is_prose(answer):
            return None
        return Hit(stop, _spelled_out(answer), stop)

    return _last(_ANSWER_HEADING, lower, accept)


def _gsm8k(text: str, lower: str) -> Hit | None:
    if "####" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        line = text[m.end() : m.end() + _WINDOW].split("\n", 1)[0]
        if _HEADING_WORDS.match(line.strip().lstrip("*")):  # "#### Step 2: Solve", a Markdown heading
            return None
        return _slot_hit(text, m)

    return _last(_GSM8K, lower, accept)


def _json_string(raw: str) -> str:
    r"""A JSON string body, read for LaTeX: ``\\`` is one backslash and ``\"`` a quote, but a single
    backslash before a letter stays (``\frac`` is LaTeX written unescaped, not a form feed)."""
    out: list[str] = []
    i = 0
    while True:
        j = raw.find("\\", i)
        if j < 0 or j + 1 >= len(raw):
            out.append(raw[i:])
            return "".join(out)
        out.append(raw[i:j])
        nxt = raw[j + 1]
        if nxt in '\\"/':
            out.append(nxt)
            i = j + 2
        elif nxt == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", raw[j + 2 : j + 6]):
            out.append(chr(int(raw[j + 2 : j + 6], 16)))
            i = j + 6
        else:
            out.append("\\")
            i = j + 1


def _json(text: str, lower: str) -> Hit | None:
    if '"' not in text:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        string = _JSON_STRING.match(text, m.end())
        if string is not None:
            answer = _json_string(string.group(1)).strip()
            stop = string.end()
        else:
            scalar = _JSON_SCALAR.match(text, m.end())
            if scalar is None:
                return None
            answer, stop = scalar.group().strip(), scalar.end()
            if answer in ("null", "true", "false") or answer.startswith(("{", "[")):
                return None
        inner = _WHOLE_MATH.match(answer)
        if inner:
            answer = next(g for g in inner.groups() if g is not None)
        return Hit(stop, _spelled_out(answer), stop) if answer else None

    return _last(_JSON_KEY, lower, accept)


_ANSWER_TAG = re.compile(r"<answer>[ \t\n]*")
_ANSWER_TAG_END = "</answer>"


def _answer_tag(text: str, lower: str) -> Hit | None:
    """``<answer>6</answer>``: the answer tag that R1-style prompts demand; the last closed one."""
    if "<answer>" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        close = lower.find(_ANSWER_TAG_END, m.end(), m.end() + _WINDOW)
        if close < 0:
            return None
        answer = text[m.end() : close].strip()
        math = _WHOLE_MATH.match(answer)
        if math:
            answer = next(g for g in math.groups() if g is not None)
        stop = close + len(_ANSWER_TAG_END)
        return _sentence_slot(Hit(stop, _spelled_out(answer), stop)) if answer else None

    return _last(_ANSWER_TAG, lower, accept)


def _one_json_object(text: str) -> bool:
    """The whole response is one JSON object (fenced or not) with an answer field: only that field
    is read, not an "answer is" inside its reasoning."""
    body = text.strip()
    if body[:1] not in ("{", "`"):
        return False
    if body.startswith("```"):
        body = body.partition("\n")[2].rstrip().removesuffix("```").strip()
    if not (body.startswith("{") and body.endswith("}")):
        return False
    try:
        obj = json.loads(body)
    except ValueError:
        return False
    return isinstance(obj, dict) and any(k in obj for k in ("answer", "final_answer", "final answer"))


def _choice(text: str, lower: str) -> Hit | None:
    if "option" not in lower and "choice" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        return _slot_hit(text, m)

    return _last(_CHOICE, lower, accept)


def _is_the_answer(text: str, lower: str) -> Hit | None:
    if "answer" not in lower:
        return None

    def accept(m: re.Match[str]) -> Hit | None:
        if m.start() == 0 or not lower[m.start() - 1].isspace():
            return None  # "... 5 is the answer" needs a space before "is"
        begin = max(0, m.start() - _WINDOW)
        window = text[begin : begin + len(lower[begin : m.start()].rstrip())]
        before = _BEFORE_TAIL.search(window)
        if before is None:
            return None
        if text[m.end() : m.end() + 4].lstrip(" *").startswith("?"):
            return None  # "So 45 is the answer?" asks
        span = before.group(1)
        inner = _MATH_SPAN.match(span)
        answer = next((g for g in inner.groups()[1:] if g is not None), span) if inner else span
        return Hit(m.end(), answer, m.start())

    return _last(_IS_THE_ANSWER, lower, accept)


_A_LINE = re.compile(r"[ \t]*a[ \t]*:[ \t]*(\S[^\n]*?)[ \t]*$")
# lettered lines (an option list, labelled points) make "A:" a label, not an answer
_LETTER_LINE = re.compile(r"(?:^|\n)[ \t]*[b-e][ \t]*[:)]", re.MULTILINE)


def _a_line(text: str, lower: str) -> Hit | None:
    body = lower.rstrip()
    start = body.rfind("\n") + 1
    m = _A_LINE.match(body, start)
    if m is None or _LETTER_LINE.search(lower, max(0, start - 500), start):
        return None
    answer = text[m.start(1) : m.end(1)].rstrip(".").strip()
    math = _WHOLE_MATH.match(answer)
    if math:
        answer = next(g for g in math.groups() if g is not None)
    if len(answer) > BARE_MAX_CHARS or is_prose(answer) or _is_sentence(answer):
        return None
    return Hit(m.end(1), _spelled_out(answer), m.end(1))


# ---------------------------------------------------------------------------------------------
# a concluding last sentence

# the last sentence: what follows the last sentence break (". ", "! ", a line break) before the end
_SENTENCE_BREAK = re.compile(
    r"(?:[.!?](?<![Mm]r\.)(?<![Mm]rs\.)(?<![Mm]s\.)(?<![Dd]r\.)(?<![Ss]t\.)(?<!vs\.)(?:\s+|\s*\*\*\s*)|\n)(?=\S)"
)  # (an abbreviation's period, "Mrs. Hilt", breaks no sentence)
_CONCLUDES = re.compile(
    r"^[*\s]*(?:therefore|thus|so|hence|consequently|in\s+conclusion|in\s+summary|in\s+total|finally"
    r"|overall|altogether|this\s+(?:gives|means|yields|shows)|which\s+gives"
    r"|we\s+(?:find|get|obtain|conclude|have\s+found|see|have))\b"
)
# a conclusion that hedges, supposes or negates is no statement of an answer
_HEDGE = re.compile(
    r"\b(?:probably|maybe|perhaps|might|may|could|possibly|likely|guess|if|whether|suppose|assume"
    r"|assuming|unless|not|either|should|or|check|try|let|but|keep|continue)\b|\bwe\s+(?:still\s+)?need\b"
    r"|\bneed\s+to\s+(?:find|check|show|prove|compute|calculate|determine|solve|consider|verify)\b|\?"
)
_STATES = re.compile(
    r"\b(?:is|are|was|were|equals?|gives?|get|obtain|find|found|have|has|becomes?|totals|costs|makes?"
    r"|earns?|needs?|sells?|spends?|spent|pays?|paid|remains?|left|made|ended|saved?|saves|bought|sold"
    r"|will|took|takes|uses|used|weighs|measures|jumped|walked|traveled|travelled|ran)\b|="
)
_MAX_SENTENCE_CHARS = 400


# "Therefore, the shortest path is:\n\n[0, 3, 5]": a concluding sentence whose value is the next line
_VALUE_LINE = re.compile(
    r"\n[ \t]*(\$[^$\n]+\$|\\\[.+?\\\]|\[[^\[\]\n]{1,80}\]|\([^()\n]{1,80}\)|-?\d[\d,]*(?:\.\d+)?%?)[ \t.]*$"
)


def _conclusion(text: str, lower: str) -> Hit | None:
    body = _without_pleasantries(text, lower)
    value_line = _VALUE_LINE.search(body)
    if value_line is not None:
        before = body[: value_line.start()].rstrip()
        lead = before[before.rfind("\n") + 1 :]
        if before.endswith(":") and _CONCLUDES.match(lead.lower()) and not _HEDGE.search(lead.lower()):
            answer = value_line.group(1)
            return Hit(
                value_line.end(1), answer[1:-1] if answer.startswith("$") else answer, value_line.end(1)
            )
    finished = body.endswith((".", "!", "$", "*")) or body[-1:].isdigit()
    window_start = max(0, len(body) - _MAX_SENTENCE_CHARS)
    start = window_start
    for m in _SENTENCE_BREAK.finditer(body, window_start, len(body) - 1):
        start = m.end()
    if start == window_start and window_start > 0:
        return None  # a sentence longer than the window is not a plain conclusion
    low = lower[start : len(body)]
    # the last line of a longer text, standing on its own as a statement ("He has 44 quilt blocks.")
    line_start = body.rfind("\n") + 1
    own_line = (
        # more lines, a pleasantry after it, or the whole response is this one sentence of prose
        (
            line_start > 0
            or len(body) < len(text.rstrip())
            or (
                start == 0
                and body.endswith(".")
                and len(_PROSE_WORD.findall(_INLINE_MATH.sub(" ", body))) >= 3
                and _COPULA.search(lower, 0, len(body)) is not None  # "The lowest accuracy ... is 1."
            )
        )
        and _LIST_MARK.fullmatch(body, line_start, start) is not None
        and len(body) - start <= _MAX_LINE_STATEMENT
        and len(_SENTENCE_WORD.findall(_INLINE_MATH.sub(" ", body[start:]))) >= 2
        and _STATES.search(_INLINE_MATH.sub(" ", lower[start : len(body)])) is not None
    )
    if not finished and not own_line:
        return None  # a conclusion is a finished sentence; a cut-off one states nothing
    # "We add 5 and 7, therefore 12.": a last clause that is only the result
    clauses = list(_CLAUSE_OPENER.finditer(low))
    clause = clauses[-1] if clauses else None
    if clause is not None and _ONLY_RESULT.match(low, clause.end()):
        start += clause.start(1)
    elif not _CONCLUDES.match(low) and not own_line:
        return None  # neither a conclusion nor the last line standing on its own
    sentence = body[start:]
    if _ANSWER_IS.search(low) or _ANSWER_LABEL.search(low):
        return None  # "The answer is 13.": its marker's recognizer read it (or found it a list of guesses)
    value = _stated_value(sentence)
    return None if value is None else Hit(len(body), value, len(body))


# what may precede a last line's statement: nothing, or a list mark ("2. ", "- ")
_LIST_MARK = re.compile(r"[ \t]*(?:(?:\d{1,2}[.)]|[-*•])[ \t]+)?")
# the verb of a one-sentence response that states a value ("X is 1.", not "Jane gives away 12 apples.")
_COPULA = re.compile(r"\b(?:is|are|was|were|equals?)\b")
# a last line longer than this is not read as a statement on its own
_MAX_LINE_STATEMENT = 200


# closing pleasantries after the answer ("I hope this helps!", "Is there anything else ...?")
_PLEASANTRY = re.compile(
    r"(?:i\s+hope\s+(?:this|that|it)\s+(?:helps|is\s+(?:helpful|clear))|hope\s+(?:this|that)\s+helps"
    r"|let\s+me\s+know|is\s+there\s+anything\s+else|do\s+you\s+have\s+(?:any\s+)?other\s+questions"
    r"|feel\s+free\s+to\s+ask|happy\s+to\s+help)[^\n]*$"
)


def _without_pleasantries(text: str, lower: str) -> str:
    """The text without the closing pleasantries that follow its last statement."""
    body = text.rstrip()
    for _ in range(3):
        m = _PLEASANTRY.search(lower, max(0, len(body) - 300), len(body))
        if m is None:
            break
        starts = [s.end() for s in re.finditer(r"(?:^|\n|[.!?]\s+)", lower[: m.start()])]
        body = body[: starts[-1] if starts else 0].rstrip()
    return body


# a concluding clause after a comma or semicolon: ", therefore 12."
_CLAUSE_OPENER = re.compile(r"[,;]\s*((?:therefore|thus|hence|so)\b,?)")
# after the opener, nothing but the result: "therefore 12.", "thus, $\\frac12$."
_ONLY_RESULT = re.compile(r"[\s,]*(?:\$[^$]*\$|\$|\\\(.+?\\\)|-?\d[\d,]*(?:\.\d+)?%?)[\s.!*]*$")
# a chain of arithmetic on numbers ending in its result: "16 - 3 - 4 = 9"
_ARITHMETIC = re.compile(r"^(?:[\d\s.,+\-*/(){}^]|\\[A-Za-z]+)*?=\s*([^=]+?)\s*$")


# ---------------------------------------------------------------------------------------------
# the whole text as a bare answer

# a bare (marker-less) response is taken as the answer only up to this many characters, on one line
BARE_MAX_CHARS = 80
# ... or up to this many when the line is all math: no word of three or more letters outside LaTeX commands
BARE_MATH_MAX_CHARS = 400
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
_WHOLE_MATH = re.compile(
    r"^\s*(?:\$\$?((?:\\\$|[^$])+?)\$\$?|\\\[(.+?)\\\]|\\\((.+?)\\\))\s*\.?\s*$", re.DOTALL
)


def _bare(text: str, lower: str) -> Hit | None:
    stripped = text.strip()
    if not stripped:
        return None
    m = _WHOLE_MATH.match(stripped) if len(stripped) <= _WINDOW else None
    if m:
        return Hit(len(text), next(g for g in m.groups() if g is not None), len(text))
    if "\n" not in stripped and (
        (len(stripped) <= BARE_MAX_CHARS and not is_prose(stripped))
        or (len(stripped) <= BARE_MATH_MAX_CHARS and not _PROSE_WORD.search(stripped))
    ):
        return Hit(len(text), stripped, len(text))
    return None


# ---------------------------------------------------------------------------------------------
# the table

RECOGNIZERS: tuple[Recognizer, ...] = (
    Recognizer("boxed", 0, _boxed, "so the total is $\\boxed{7}$."),
    Recognizer("minerva", 1, _minerva, "Final Answer: The final answer is $7$. I hope it is correct."),
    Recognizer("final_answer", 1, _final_answer, "**Final Answer**\n\n$7$"),
    Recognizer("choice", 1, _choice, "Of 5, 6, 7 and 8, the correct option is 7."),
    Recognizer("answer_is", 1, _answer_is, "Therefore, the answer (arabic numerals) is 7."),
    Recognizer("answer_label", 1, _answer_label, "Answer: $7$"),
    Recognizer("answer_heading", 1, _answer_heading, "3 + 4 = 7.\n\n# Answer\n\n7"),
    Recognizer("gsm8k", 1, _gsm8k, "3 + 4 = 7\n#### 7"),
    Recognizer("json", 1, _json, '```json\n{"reasoning": "3 + 4", "answer": "7"}\n```'),
    Recognizer("answer_tag", 1, _answer_tag, "<think>3 + 4 = 7</think>\n<answer>7</answer>"),
    Recognizer("is_the_answer", 1, _is_the_answer, "So 7 is the answer."),
    Recognizer("a_line", 1, _a_line, "Q: What is 3 + 4?\nA: 7"),
    Recognizer("conclusion", 2, _conclusion, "We add 3 and 4. Therefore, the total is $7$."),
    Recognizer("bare", 3, _bare, "$7$"),
)
CONVENTIONS: frozenset[str] = frozenset(r.name for r in RECOGNIZERS)
_CONCLUSION = next(r for r in RECOGNIZERS if r.name == "conclusion")


# ---------------------------------------------------------------------------------------------
# a response cut off where it states its answer

# a text that stops inside math: an operator, an opening bracket or command, a dangling backslash
_OPEN_END = re.compile(
    r"(?:[+/=^_{(\[,\\]|\\(?:[dt]?frac|sqrt|left|boxed|text|mathrm|cdot|times|div|pm|le|ge|leq|geq))\s*$"
)
# a text that stops on a word no sentence ends with
_DANGLING = re.compile(
    r"(?<![\\$])\b(?:is|are|was|were|be|the|an|of|to|and|or|which|that|with|by|for|from|then|than|because"
    r"|since|we|get|gives|equals|into|its|their|our)\s*$",
    re.IGNORECASE,
)
_CLOSING_PHRASE = re.compile(r"i\s+hope\s+(?:it|this)\s+is\s+correct|hope\s+(?:this|that|it)\s+helps")
_ENDS_A_SENTENCE = re.compile(r"[.!?)\]}$*\"'`>|\d%]\s*$")
_TAIL_WORDS = re.compile(r"[A-Za-z]{2,}")


def cut_off(text: str, answer_end: int) -> str | None:
    """Why the response reads as cut off where it states its answer (ending at ``answer_end``), or None.

    Cut off mid-expression: the text stops on an operator, an open bracket, an unclosed ``$`` or brace.
    Cut off mid-sentence: it stops on a word no sentence ends with, or after the answer three words or
    more run to the end without punctuation. Wherever the answer is: a response that ran out of tokens
    while it was still checking its answer may have been about to revise it.
    """
    body = text.rstrip()
    paragraph = body.rfind("\n\n")
    last = body[max(paragraph, 0) :]
    if _OPEN_END.search(last) or _unclosed_math(last):
        return "the response is cut off mid-expression"
    if _DANGLING.search(last):
        return "the response is cut off mid-sentence"
    tail = body[max(answer_end, paragraph) :]
    if (
        len(_TAIL_WORDS.findall(tail)) >= 3
        and not _ENDS_A_SENTENCE.search(tail)
        and not _CLOSING_PHRASE.search(tail.lower())
    ):
        return "the response is cut off mid-sentence"
    return None


# an opening "$" of math (not a price): followed by a command or a letter, never closed
_OPEN_DOLLAR = re.compile(r"\$(?:\\[A-Za-z]|[A-Za-z(])[^$]*$")


def _unclosed_math(paragraph: str) -> bool:
    dollars = paragraph.count("$") - paragraph.count("\\$")
    if dollars % 2 and _OPEN_DOLLAR.search(paragraph):
        return True
    if paragraph.count("\\(") > paragraph.count("\\)") or paragraph.count("\\[") > paragraph.count("\\]"):
        return True
    if _CLOSED_MATH_END.search(paragraph):
        return False  # "$\boxed{\sqrt{2}$": a brace left open inside math that was closed is a typo
    opened = paragraph.count("{") - paragraph.count("\\{")
    closed = paragraph.count("}") - paragraph.count("\\}")
    return opened > closed


# a paragraph that ends by closing its math: "$...$", "\(...\)", "\[...\]", then punctuation
_CLOSED_MATH_END = re.compile(r"(?:\$|\\\)|\\\])[\s.!]*$")


# ---------------------------------------------------------------------------------------------
# entry points


@dataclass(frozen=True)
class Reading:
    """What :func:`find_answer` read: the answer, or why there is none."""

    extraction: Extraction | None
    reason: str  # why there is no answer ("" when there is one)
    runon: str = ""  # what followed the response's first chat-turn token (see guards.split_turn)


NO_STATEMENT = "the response states no final answer"


def _lowercase(text: str) -> str:
    lower = text.lower()
    if len(lower) != len(text):  # a few characters lowercase to two ("İ"): keep offsets aligned
        lower = "".join(ch.lower()[:1] or ch for ch in text)
    return lower


# A few-shot decode that ran on into a recap of every question of the prompt: "Now, let's summarize all
# the answers:\nThe answer is A.\nThe answer is H. ..." (the demonstrations' answers, then this one's).
_RECAP = re.compile(
    r"\n[ \t]*now,?[ \t]+(?:let'?s[ \t]*)?(?:(?:summari[sz](?:e|ing)|consider(?:ing)?|combin(?:e|ing))[ \t]+"
    r"all[ \t]+the[ \t]+(?:questions(?:[ \t]+and[ \t]+answers)?|(?:above[ \t]+)?answers(?:[ \t]+above)?)"
    r"(?=[ \t]*[,:\n])|总结以上答案)",
    re.IGNORECASE,
)
# what a recap may hold, line by line: nothing (cut off), an announcement, the list of answers (cut off
# anywhere in it); each line is matched on its own (no pattern over several lines: no backtracking)
_RECAP_HEAD_REST = re.compile(
    r"[ \t]*[,:：]?[ \t]*(?:the[ \t]+final[ \t]+answer[ \t]+is[ \t]*:?)?[ \t]*", re.I
)
_RECAP_LINE = re.compile(r"[ \t]*(?:\d{1,2}[.)].*|the[ \t]+answer[ \t]+is[ \t]+\(?[a-j]\)?\.?[ \t]*)?", re.I)


def _only_recap(rest: str) -> bool:
    """What follows a recap's heading holds nothing but the recap."""
    first, *lines = rest.split("\n")
    return _RECAP_HEAD_REST.fullmatch(first) is not None and all(
        _RECAP_LINE.fullmatch(line) is not None for line in lines
    )


def response_text(text: str, *, max_chars: int = 100_000) -> tuple[str, str]:
    """The part of a response that states its answer (its last ``max_chars``, after its last
    ``</think>`` when anything follows, before its first chat-turn token and before a few-shot recap of
    every question's answer), and the run-on from that token on ("" when there is none)."""
    if len(text) > max_chars:
        text = text[-max_chars:]
    think_end = text.rfind("</think>")
    if think_end >= 0 and text[think_end + len("</think>") :].strip():
        # a reasoning model's answer follows its thinking; drafts inside the thinking do not count
        text = text[think_end + len("</think>") :]
    text, runon = split_turn(text)
    if "all the" in text or "以上答案" in text:
        for recap in _RECAP.finditer(text):
            if _only_recap(text[recap.end() :]):
                return text[: recap.start()], runon
    return text, runon


def find_answer(
    text: str, *, max_chars: int = 100_000, conventions: Collection[str] | None = None
) -> Reading:
    """The final answer of a model response, by the first tier of :data:`RECOGNIZERS` that finds one,
    or why there is none. ``conventions`` limits the recognizers to those names (strict mode)."""
    text, runon = response_text(text, max_chars=max_chars)
    if not text.strip():
        return Reading(None, NO_STATEMENT, runon)
    lower = _lowercase(text)
    if (conventions is None or "json" in conventions) and _one_json_object(text):
        conventions = ("json",)  # a response that is one JSON object states its answer in that field
    best: tuple[Recognizer, Hit] | None = None
    for recognizer in RECOGNIZERS:
        if best is not None and recognizer.tier > best[0].tier:
            break
        if conventions is not None and recognizer.name not in conventions:
            continue
        hit = recognizer.find(text, lower)
        if hit is not None and (best is None or hit.end > best[1].end):
            best = (recognizer, hit)
    if best is not None and best[0].tier == 0:
        best = _later_statement(text, lower, best, conventions)
    if (
        best is not None
        and best[0].tier == 1
        and _is_sentence(best[1].answer)
        and (conventions is None or _CONCLUSION.name in conventions)
    ):
        # "Answer: There are 5 birds and 6 storks. Therefore, there is 1 more stork.": a marked sentence
        # that states no single value gives way to a concluding sentence after it that does
        later = _CONCLUSION.find(text, lower)
        if later is not None and later.end > best[1].end:
            best = (_CONCLUSION, later)
    if best is None:
        return Reading(None, NO_STATEMENT, runon)
    recognizer, hit = best
    # a bare answer is the whole (short) text, not a long response that ran out of tokens
    why = cut_off(text, hit.answer_end) if recognizer.name != "bare" else None
    if why is not None:
        return Reading(None, why, runon)
    if recognizer.name != "bare" and _revised(text, hit):
        return Reading(None, "the response revises its answer after stating it", runon)
    return Reading(Extraction(hit.answer, recognizer.name), "", runon)


def _plain_value(answer: str) -> str:
    """An answer without its box, dollar signs and spaces, to tell two statements of it apart."""
    inner = answer.strip()
    for _ in range(2):
        boxed = _BOXED_WHOLE.match(inner)
        if boxed is None:
            break
        inner = boxed.group(1)
    return re.sub(r"[\s$]", "", inner).rstrip(".")


_BOXED_WHOLE = re.compile(r"^\\(?:boxed|fbox)\s*\{(.*)\}$", re.DOTALL)


def _later_statement(
    text: str, lower: str, best: tuple[Recognizer, Hit], conventions: Collection[str] | None
) -> tuple[Recognizer, Hit]:
    """A box followed by a later explicit statement of another answer ("\\boxed{6} ... The correct
    answer is 7."): the later statement is the response's last word."""
    later: tuple[Recognizer, Hit] | None = None
    for recognizer in RECOGNIZERS:
        if recognizer.tier != 1 or (conventions is not None and recognizer.name not in conventions):
            continue
        hit = recognizer.find(text, lower)
        if hit is not None and hit.end > best[1].end and (later is None or hit.end > later[1].end):
            later = (recognizer, hit)
    if (
        later is not None
        and _STATES_A_VALUE.match(later[1].answer)
        and _plain_value(later[1].answer) != _plain_value(best[1].answer)
    ):
        return later
    return best


# a later statement replaces a box only when it states a value ("The correct answer is 7"), not when it
# talks about the answer ("the answer is correct since ...", "the answer is reasonable")
_STATES_A_VALUE = re.compile(r"\s*(?:[-−$\\(\[{\d.]|\*\*|[A-J](?![a-z]))")


# a revision after the answer: "Wait, I made an error", "No, it is 7", "Actually, ...", "但是", or a second
# statement of a different answer ("\boxed{8}. The answer is 9."): the answer before it is withdrawn
_REVISION = re.compile(
    r"\b(?:no,?\s+wait|wait|actually|hmm,?\s+no|correction|i\s+made\s+an?\s+(?:error|mistake)|rechecking"
    r"|recompute|on\s+second\s+thought|oops|i\s+was\s+wrong|that'?s\s+wrong|mistake"
    r"|let\s+(?:me|us)\s+(?:double[-\s]?check|re-?check|verify)"
    r"|the\s+(?:correct|right|actual)\s+answer\s+is"
    r"|the\s+(?:final\s+)?answer\s+is(?=\s*(?:[-$\\(\d]|\*\*)))\b|(?<![a-z])no\s*,|但是|不对|应该是",
    re.IGNORECASE,
)


def _revised(text: str, hit: Hit) -> bool:
    """After its answer the response revises it: a revision word, then another value last."""
    after = text[hit.end : hit.end + _WINDOW]
    revision = _REVISION.search(after)
    if revision is None:
        return False
    values = list(_VALUE.finditer(_CURRENCY.sub("", after[revision.end() :])))
    if not values:
        return False
    last = next(g for g in values[-1].groups()[1:] if g is not None)
    return _plain_value(last) != _plain_value(hit.answer)


def extract_answer(
    text: str, *, max_chars: int = 100_000, conventions: Collection[str] | None = None
) -> Extraction | None:
    """The final answer of a model response, or None when it states none (see :func:`find_answer`)."""
    return find_answer(text, max_chars=max_chars, conventions=conventions).extraction


# ---------------------------------------------------------------------------------------------
# prose

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


# ---------------------------------------------------------------------------------------------
# references and multiple-choice options

_REF_GSM8K = re.compile(r"^[ \t]*####[ \t]*(.+?)[ \t]*$", re.MULTILINE)


def extract_reference(ref: str, *, max_chars: int = 100_000) -> Extraction | None:
    r"""The reference answer: a boxed or ``####`` answer inside a worked solution, else the whole string."""
    if len(ref) > max_chars:
        ref = ref[-max_chars:]
    if not ref.strip():
        return None
    boxed = _boxed(ref, ref)
    if boxed is not None:
        return Extraction(boxed.answer, "boxed")
    gsm = _REF_GSM8K.search(ref) if "####" in ref else None
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

"""Guards that run before any parsing: text aimed at the grader, and where a raw decode's turn ends.

This module is the ONE set of injection patterns: :func:`grader_injection` screens whole responses
(:mod:`verifier.api`), and :mod:`verifier.judge.policy` screens the answers it would show a judge with
the same patterns. One prefiltered pass: ``str.find`` locates each pattern's trigger words in the
lowercased text, and the pattern runs only in a short window around each occurrence, so an ordinary
4 KB solution costs a few microseconds however often it says "correct".

The cost guards on math itself (power towers, huge exponents and factorials, deep nesting, too many
tokens) live next to the parser that reads the tree: :func:`verifier.mathparse.check_cost`,
:data:`verifier.mathparse.MAX_DEPTH`, and the string guards of :func:`verifier.symbolic.latex_to_sympy`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Injection:
    name: str  # what the text does, as a verdict's reason names it
    # lowercase words every match contains; the pattern runs only around their occurrences
    triggers: tuple[str, ...]
    pattern: re.Pattern[str]  # run on the lowercased text
    # a match starts at most this many characters before a trigger and ends at most this many after
    before: int
    after: int


# Each pattern is an instruction to a grader, never part of a solution. A response containing one
# is never correct, whatever its answer (a reward model must not pay for trying to game it).
INJECTIONS: tuple[Injection, ...] = (
    Injection(
        "ignore previous instructions",
        ("ignore", "disregard", "forget", "override"),
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?"
            r"(?:previous|prior|above|earlier|preceding|former|grading|system)\s+"
            r"(?:instructions?|prompts?|rules?|directions?|guidelines?|messages?)"
        ),
        0,
        120,
    ),
    Injection(
        "asks to be marked correct",
        ("correct", "right", "true", "equivalent", "valid", "full mark"),
        re.compile(
            r"\b(?:mark|grade|score|rate|label|judge|treat|count|consider|accept)\s+"
            r"(?:this|it|me|my\s+(?:answer|response|solution)|the\s+(?:answer|response|solution)"
            r"|this\s+(?:answer|response|solution))\s+(?:as\s+)?(?:being\s+)?"
            r"(?:correct|right|true|equivalent|valid|full\s+marks?)\b"
        ),
        100,
        20,
    ),
    Injection(
        "addresses the grader",
        ("grader", "judge", "verifier", "evaluator", "reviewer"),
        re.compile(
            r"\b(?:dear|attention|note\s+to\s+(?:the\s+)?)\s*(?:grader|judge|verifier|evaluator|reviewer)\b"
            r"|\byou\s+are\s+(?:a|an|the)\s+(?:grader|judge|verifier|evaluator)\b"
            r"|\b(?:grader|judge|verifier|evaluator)\s*[:,]\s*(?:please\s+)?(?:output|return|say|mark|answer)\b"
        ),
        40,
        60,
    ),
    Injection(
        "dictates the verdict",
        ("regardless", "no matter", "for this"),
        re.compile(
            r"\b(?:output|return|respond\s+with|reply\s+with|answer\s+with|say|print)\s*[\"'`]?"
            r"(?:correct|equivalent|true|yes|1\.0)[\"'`]?\s+(?:regardless|no\s+matter|for\s+this)"
        ),
        60,
        20,
    ),
)

# Chat-template tokens. A raw decode that ran on past its answer ends in one (``<|im_end|>``, or a new
# ``<|im_start|>user`` turn); the response is what comes before the first of them. A turn token before
# the answer is a turn forged inside the response: an injection (:mod:`verifier.api` decides).
CHAT_TURN = re.compile(
    r"<\|im_start\|>|<\|im_end\|>|<\|start_header_id\|>|<\|eot_id\|>|<\|end_of_text\|>|<\|endoftext\|>"
    r"|<\|(?:system|user|assistant|end)\|>|\[/?INST\]|<｜(?:User|Assistant|end▁of▁sentence)｜>|</s>"
)
_TURN_PREFILTER = ("<|", "[INST]", "[/INST]", "</s>", "<｜")
# a role header that opens a raw decode: "<|im_start|>assistant\n",
# "<|start_header_id|>assistant<|end_header_id|>"
_LEADING_HEADER = re.compile(
    r"\s*(?:<\|im_start\|>\s*assistant\b|<\|start_header_id\|>\s*assistant\s*<\|end_header_id\|>"
    r"|<\|assistant\|>|<｜Assistant｜>)\s*"
)
# words that, in text after the response's turn ended, speak to or about the grader
_GRADER_WORDS = re.compile(
    r"\b(?:grader|grading|graded|grade|judge|verifier|evaluator|reviewer|reward|score|full\s+marks?"
    r"|accept|mark\s+(?:this|it|me|as)|correct|equivalent|instructions?)\b"
)


def grader_injection(text: str) -> str | None:
    """The name of the first grader-directed instruction found in ``text``, or None.

    Chat-turn tokens are not judged here (a run-on decode ends in them): see :func:`split_turn`.
    """
    lower = text.lower()
    for injection in INJECTIONS:
        for trigger in injection.triggers:
            at = lower.find(trigger)
            while at >= 0:
                if at > 0 and (lower[at - 1].isalnum() or lower[at - 1] == "\\"):
                    at = lower.find(trigger, at + 1)
                    continue  # inside a word or a LaTeX command ("bright", "\\right"): every match
                    # has its trigger as a whole word
                start = max(0, at - injection.before)
                while start > 0 and lower[start - 1].isalnum():  # begin the window at a word start
                    start -= 1
                if injection.pattern.search(lower, start, at + len(trigger) + injection.after):
                    return injection.name
                at = lower.find(trigger, at + 1)
    return None


def split_turn(text: str) -> tuple[str, str]:
    """(the response, what follows its turn): the text before the first chat-turn token, and the rest
    from that token on ("" when there is none). A leading assistant role header is skipped."""
    if not any(t in text for t in _TURN_PREFILTER):
        return text, ""
    header = _LEADING_HEADER.match(text)
    offset = header.end() if header else 0
    m = CHAT_TURN.search(text, offset)
    if m is None:
        return text[offset:], ""
    return text[offset : m.start()], text[m.start() :]


def addresses_grader(text: str) -> bool:
    """Text outside the response (after its turn ended) that speaks to or about the grader."""
    return _GRADER_WORDS.search(CHAT_TURN.sub(" ", text).lower()) is not None

"""Guards that run before any parsing: text aimed at the grader.

The cost guards on math itself (power towers, huge exponents and factorials, deep nesting, too many
tokens) live next to the parser that reads the tree: :func:`verifier.mathparse.check_cost`,
:data:`verifier.mathparse.MAX_DEPTH`, and the string guards of :func:`verifier.symbolic.latex_to_sympy`.
"""

from __future__ import annotations

import re

# Each pattern is an instruction to a grader, never part of a solution. A response containing one
# is never correct, whatever its answer (a reward model must not pay for trying to game it).
_INJECTIONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "ignore previous instructions",
        re.compile(
            r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+)?(?:the\s+|your\s+)?"
            r"(?:previous|prior|above|earlier|preceding|former|grading|system)\s+"
            r"(?:instructions?|prompts?|rules?|directions?|guidelines?|messages?)",
            re.IGNORECASE,
        ),
    ),
    (
        "asks to be marked correct",
        re.compile(
            r"\b(?:mark|grade|score|rate|label|judge|treat|count|consider|accept)\s+"
            r"(?:this|it|me|my\s+(?:answer|response|solution)|the\s+(?:answer|response|solution)"
            r"|this\s+(?:answer|response|solution))\s+(?:as\s+)?(?:being\s+)?"
            r"(?:correct|right|true|equivalent|valid|full\s+marks?)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "addresses the grader",
        re.compile(
            r"\b(?:dear|attention|note\s+to\s+(?:the\s+)?)\s*(?:grader|judge|verifier|evaluator|reviewer)\b"
            r"|\byou\s+are\s+(?:a|an|the)\s+(?:grader|judge|verifier|evaluator)\b"
            r"|\b(?:grader|judge|verifier|evaluator)\s*[:,]\s*(?:please\s+)?(?:output|return|say|mark|answer)\b",
            re.IGNORECASE,
        ),
    ),
    (
        "dictates the verdict",
        re.compile(
            r"\b(?:output|return|respond\s+with|reply\s+with|answer\s+with|say|print)\s*[\"'`]?"
            r"(?:correct|equivalent|true|yes|1\.0)[\"'`]?\s+(?:regardless|no\s+matter|for\s+this)",
            re.IGNORECASE,
        ),
    ),
    (
        # a new turn opened inside the response; an end-of-turn token alone (<|im_end|>, <|eot_id|>)
        # is how raw decodes end, not an injection
        "chat-template turn",
        re.compile(
            r"<\|im_start\|>|<\|start_header_id\|>|\[INST\]|<\|(?:system|user|assistant)\|>",
        ),
    ),
)


def grader_injection(text: str) -> str | None:
    """The name of the first grader-directed instruction found in ``text``, or None."""
    for name, pattern in _INJECTIONS:
        if pattern.search(text):
            return name
    return None

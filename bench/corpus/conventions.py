r"""A simple classifier of how a response states its final answer, for reporting only.

It is deliberately independent of the verifier's extraction (it must not share its blind spots): an
ordered list of patterns over the response's tail; the first that matches names the convention.
"""

from __future__ import annotations

import re

TAIL = 600  # characters from the end that decide

_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("json", re.compile(r"\"(?:final_)?answer\"\s*:\s*[\"\d\[{-]", re.I)),
    ("boxed", re.compile(r"\\(?:boxed|fbox)\s*\{")),
    ("minerva", re.compile(r"Final Answer\s*:", re.I)),
    ("# answer", re.compile(r"^#\s*Answer\s*$", re.M)),
    ("####", re.compile(r"####\s*\S")),
    (
        "the answer is",
        re.compile(
            r"\banswer\b(?:\s*\([^)]{0,40}\))?(?:\s+to\s+[^.\n]{0,60})?\s+(?:is|will be|would be)\b", re.I
        ),
    ),
    ("answer:", re.compile(r"(?:^|\n)\s*\**(?:final\s+)?answer\**\s*[:：]", re.I)),
    ("A: line", re.compile(r"(?:^|\n)A:\s*\S")),
    ("bold", re.compile(r"\*\*[^*\n]{1,40}\*\*[^\n*]{0,80}$")),
)


def classify(response: str) -> str:
    """The convention name of ``response`` (see _RULES); "bare" for a short answer alone,
    "sentence" for an answer stated in a concluding sentence, "none" for an empty response."""
    text = response.strip()
    if not text:
        return "none"
    if len(text) <= 30 and "\n" not in text and len(text.split()) <= 3:
        return "bare"
    tail = text[-TAIL:]
    for name, pattern in _RULES:
        if pattern.search(tail):
            return name
    return "sentence"

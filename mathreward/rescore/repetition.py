"""A response stuck in a loop: its text ends in the same passage written again and again.

A generation that degenerates repeats one passage until the length limit: a phrase, a line, or a
whole block of lines. :func:`is_repetitive` looks at the end of the response, in words (runs of
non-space characters), for a period of 1 to ``MAX_PERIOD`` words that repeats back to back at least
``MIN_REPEATS`` times and covers at least ``MIN_WORDS`` words; or for one non-empty line repeated
``MIN_REPEATS`` times in a row anywhere. A list, a table or a proof that reuses words without
repeating a whole passage end to end is not flagged.
"""

from __future__ import annotations

__all__ = ["MAX_PERIOD", "MIN_REPEATS", "MIN_WORDS", "is_repetitive"]

MAX_PERIOD = 64  # the longest repeated passage looked for, in words
MIN_REPEATS = 4  # how many times back to back it must occur
MIN_WORDS = 24  # how many words the repeats must cover together (so "no no no no" is not a loop)
_TAIL_WORDS = 2048  # only the end of a response is searched


def _tail_loop(words: list[str]) -> bool:
    n = len(words)
    for period in range(1, min(MAX_PERIOD, n // MIN_REPEATS) + 1):
        unit = words[n - period :]
        repeats = 1
        while (repeats + 1) * period <= n:
            start = n - (repeats + 1) * period
            if words[start : start + period] != unit:
                break
            repeats += 1
        if repeats >= MIN_REPEATS and repeats * period >= MIN_WORDS:
            return True
    return False


def _line_loop(text: str) -> bool:
    run, last = 0, None
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        run = run + 1 if line == last else 1
        last = line
        if run >= MIN_REPEATS and len(line.split()) * run >= MIN_WORDS:
            return True
    return False


def is_repetitive(response: object) -> bool:
    """True when the response ends in a passage repeated back to back (see the module docstring)."""
    if not isinstance(response, str):
        return False
    words = response.split()[-_TAIL_WORDS:]
    return _tail_loop(words) or _line_loop(response)

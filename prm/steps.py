"""``split_steps``: cut a solution that arrives as one string into reasoning steps.

Modes:

- ``blank_lines``: steps are separated by blank lines (the Qwen/ProcessBench convention).
- ``step_k``: a step starts at each line that opens with a "Step k" marker (``Step 1:``,
  ``**Step 2.**``, ``## Step 3``); text before the first marker is a step of its own.
- ``lines``: each non-empty line is a step.
- ``auto``: ``step_k`` when the text has at least two markers, else ``blank_lines`` when that gives
  at least two steps, else ``lines``.

In every mode a display-math block (``$$ ... $$``, ``\\[ ... \\]``, ``\\begin{..} ... \\end{..}``)
is never cut in two, steps are stripped of surrounding whitespace, and empty steps are dropped.
"""

from __future__ import annotations

import re
from typing import Literal

SplitMode = Literal["auto", "blank_lines", "step_k", "lines"]
MODES: tuple[str, ...] = ("auto", "blank_lines", "step_k", "lines")

_BLANK_LINE = re.compile(r"\n[ \t]*\n\s*")
_STEP_MARKER = re.compile(
    r"^[ \t]*(?:#{1,6}[ \t]*)?(?:\*\*)?[ \t]*step[ \t]*\d+", re.IGNORECASE | re.MULTILINE
)
_BEGIN = re.compile(r"\\begin\{([^}]*)\}")
_END = re.compile(r"\\end\{([^}]*)\}")


def _open_math(text: str) -> bool:
    """True when ``text`` leaves a display-math block open."""
    if text.count("$$") % 2:
        return True
    if text.count("\\[") > text.count("\\]"):
        return True
    return len(_BEGIN.findall(text)) > len(_END.findall(text))


def _merge_open_math(pieces: list[str], joiner: str) -> list[str]:
    out: list[str] = []
    buf: str | None = None
    for piece in pieces:
        buf = piece if buf is None else buf + joiner + piece
        if not _open_math(buf):
            out.append(buf)
            buf = None
    if buf is not None:
        out.append(buf)
    return out


def _clean(pieces: list[str]) -> list[str]:
    return [p.strip() for p in pieces if p.strip()]


def _by_blank_lines(text: str) -> list[str]:
    return _clean(_merge_open_math(_BLANK_LINE.split(text.strip()), "\n\n"))


def _by_lines(text: str) -> list[str]:
    return _clean(_merge_open_math(text.split("\n"), "\n"))


def _by_step_k(text: str) -> list[str]:
    starts = [m.start() for m in _STEP_MARKER.finditer(text)]
    if not starts:
        return _clean([text])
    bounds = [0, *starts] if starts[0] > 0 else starts
    pieces = [text[a:b] for a, b in zip(bounds, [*bounds[1:], len(text)], strict=True)]
    return _clean(_merge_open_math(pieces, ""))


def split_steps(text: str, mode: SplitMode = "auto") -> list[str]:
    """Split ``text`` into steps (see the module docstring for the modes); ``[]`` for blank text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if mode not in MODES:
        raise ValueError(f"unknown split mode {mode!r}; choose one of {', '.join(MODES)}")
    text = text.replace("\r\n", "\n")
    if mode == "blank_lines":
        return _by_blank_lines(text)
    if mode == "lines":
        return _by_lines(text)
    if mode == "step_k":
        return _by_step_k(text)
    if len(_STEP_MARKER.findall(text)) >= 2:
        return _by_step_k(text)
    by_blank = _by_blank_lines(text)
    if len(by_blank) >= 2:
        return by_blank
    return _by_lines(text)

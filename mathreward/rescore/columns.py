"""Which columns hold the reference, the question and the responses, and the checks on each row.

Two layouts are known, and the first good row tells which one a file uses when none is given:

- ``verl``: the layout of verl's data preprocessing and ``main_generation`` output:
  reference ``reward_model.ground_truth``, question ``extra_info.question`` (else the last user turn of
  the chat in ``prompt``), responses ``responses``, id ``extra_info.index``, source ``data_source``.
- ``plain``: reference ``answer``, question ``problem`` (or ``question``), responses ``responses``
  (or ``response``), id ``id``, source ``source`` (or ``data_source``).

Every column can be set by hand; a set column overrides the layout's default for that column only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mathreward.rescore.io import MISSING, get_path

# layout -> role -> candidate dotted paths, the first present in the probed row wins
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "verl": {
        "reference": ("reward_model.ground_truth",),
        "question": ("extra_info.question", "prompt"),
        "responses": ("responses", "response"),
        "id": ("extra_info.index", "index", "id"),
        "source": ("data_source",),
    },
    "plain": {
        "reference": ("answer", "reference", "ground_truth"),
        "question": ("problem", "question", "prompt"),
        "responses": ("responses", "response"),
        "id": ("id", "idx", "index"),
        "source": ("source", "data_source"),
    },
}
ROLES: tuple[str, ...] = ("reference", "question", "responses", "id", "source")
REQUIRED: tuple[str, ...] = ("reference", "responses")
# the command-line flag that names each role's column
FLAGS: dict[str, str] = {
    "reference": "--ref-col",
    "question": "--question-col",
    "responses": "--responses-col",
    "id": "--id-col",
    "source": "--source-col",
}


class ColumnError(Exception):
    """The columns cannot be resolved: the message lists what is missing and what the file has."""


@dataclass(frozen=True)
class Columns:
    """The resolved dotted path of each role (None: the file has no such column)."""

    layout: str
    reference: str
    responses: str
    question: str | None
    id: str | None
    source: str | None

    def describe(self) -> str:
        parts = [f"{role}={getattr(self, role) or '-'}" for role in ROLES]
        return f"layout {self.layout}: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"layout": self.layout, **{role: getattr(self, role) for role in ROLES}}


def _first_present(row: Mapping[str, Any], candidates: tuple[str, ...]) -> str | None:
    for path in candidates:
        if get_path(row, path) is not MISSING:
            return path
    return None


def column_paths(row: Mapping[str, Any], depth: int = 3) -> list[str]:
    """The dotted paths a row holds: its columns and, inside nested records, their fields."""
    out: list[str] = []
    for key, value in row.items():
        out.append(str(key))
        if depth > 1 and isinstance(value, Mapping):
            out.extend(f"{key}.{sub}" for sub in column_paths(value, depth - 1))
    return out


def resolve_columns(
    row: Mapping[str, Any], layout: str = "auto", overrides: Mapping[str, str | None] | None = None
) -> Columns:
    """Resolve each role's column against one sample row (the first readable row of the file).

    A column named by hand must be in that row: a misspelt name is an error that lists the columns found,
    not a run that rejects every row.
    """
    named: dict[str, str] = {k: v for k, v in (overrides or {}).items() if v}
    unknown = set(named) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown column roles: {sorted(unknown)}")
    absent = [f"{FLAGS[role]} {path}" for role, path in named.items() if get_path(row, path) is MISSING]
    if absent:
        raise ColumnError(
            f"no such column: {'; '.join(absent)}; the first row has columns {', '.join(column_paths(row))}"
        )
    if layout == "auto":
        if get_path(row, "reward_model.ground_truth") is not MISSING:
            layout = "verl"
        elif named.get("reference") or _first_present(row, LAYOUTS["plain"]["reference"]):
            layout = "plain"
        else:
            raise ColumnError(
                "cannot tell the layout: no `reward_model.ground_truth` (verl) and no `answer` (plain) "
                f"column; the first row has columns {sorted(row)}; name the reference with --ref-col"
            )
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {sorted(LAYOUTS)} or auto")
    resolved: dict[str, str | None] = {}
    for role in ROLES:
        if role in named:
            resolved[role] = named[role]
        else:
            resolved[role] = _first_present(row, LAYOUTS[layout][role])
    missing = [r for r in REQUIRED if resolved[r] is None]
    if missing:
        wanted = "; ".join(f"{r}: one of {', '.join(LAYOUTS[layout][r])}" for r in missing)
        raise ColumnError(
            f"layout {layout}: the first row has no column for {wanted} (columns: {sorted(row)}); "
            "set them with --ref-col / --responses-col"
        )
    return Columns(
        layout=layout,
        reference=resolved["reference"] or "",
        responses=resolved["responses"] or "",
        question=resolved["question"],
        id=resolved["id"],
        source=resolved["source"],
    )


@dataclass(frozen=True)
class Problem:
    """One checked input row: what rescoring needs from it."""

    index: int  # 0-based row number in the input
    id: Any  # the row's id column, or the row number when there is none
    reference: str
    question: str | None
    responses: tuple[str, ...]
    single: bool  # the row holds one response (a string), not a list
    source: str | None


def _question_text(value: Any) -> str | None:
    """A question string; a chat (list of {role, content}) gives its last user turn."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        for turn in reversed(value):
            if isinstance(turn, dict) and turn.get("role") == "user" and isinstance(turn.get("content"), str):
                return str(turn["content"])
    return None


def parse_problem(index: int, row: Mapping[str, Any], cols: Columns) -> Problem | str:
    """The row's Problem, or the reason it is rejected (missing reference, wrong types, no responses)."""
    ref = get_path(row, cols.reference)
    if ref is MISSING:
        return f"missing reference: no column {cols.reference}"
    if ref is None:
        return f"missing reference: {cols.reference} is null"
    if isinstance(ref, bool) or not isinstance(ref, str | int | float):
        return f"reference {cols.reference} is of type {type(ref).__name__}; expected a string or a number"
    ref_text = str(ref)
    if not ref_text.strip():
        return f"missing reference: {cols.reference} is empty"

    resp = get_path(row, cols.responses)
    if resp is MISSING or resp is None:
        return f"missing responses: no value in {cols.responses}"
    if isinstance(resp, str):
        responses: tuple[str, ...] = (resp,)
        single = True
    elif isinstance(resp, list | tuple):
        if not resp:
            return f"{cols.responses} is an empty list"
        for i, r in enumerate(resp):
            if not isinstance(r, str):
                return f"{cols.responses}[{i}] is of type {type(r).__name__}; expected a string"
        responses = tuple(resp)
        single = False
    else:
        return f"{cols.responses} is of type {type(resp).__name__}; expected a string or a list of strings"

    question = _question_text(get_path(row, cols.question)) if cols.question else None
    row_id = get_path(row, cols.id) if cols.id else MISSING
    src = get_path(row, cols.source) if cols.source else MISSING
    return Problem(
        index=index,
        id=index if row_id is MISSING or row_id is None else row_id,
        reference=ref_text,
        question=question,
        responses=responses,
        single=single,
        source=None if src is MISSING or src is None else str(src),
    )

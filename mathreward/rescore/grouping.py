"""Answer grouping for maj@k: the distinct answers of one problem, joined when ``verify`` says equal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# answers compared pairwise (with verify) per problem to group them for maj@k; beyond, exact strings
MAX_GROUPED_ANSWERS = 32


def _answer_key(answer: str | None) -> str | None:
    if answer is None:
        return None
    key = answer.strip()
    return key or None


def plan_groups(
    answers: Sequence[str | None], correct: Sequence[bool]
) -> tuple[list[str], list[tuple[int, int]]]:
    """The distinct wrong answers of one problem, and the index pairs among them to compare with verify.

    Correct answers all equal the reference, so they form one group without any comparison.
    """
    uniques: list[str] = []
    seen: set[str] = set()
    for a, c in zip(answers, correct, strict=True):
        key = _answer_key(a)
        if c or key is None or key in seen:
            continue
        seen.add(key)
        uniques.append(key)
    m = min(len(uniques), MAX_GROUPED_ANSWERS)
    pairs = [(i, j) for i in range(m) for j in range(i + 1, m)]
    return uniques, pairs


def assign_groups(
    answers: Sequence[str | None],
    correct: Sequence[bool],
    uniques: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    same: Sequence[bool],
) -> list[int | None]:
    """Each response's answer group id (0, 1, ... in order of first appearance; None: no answer)."""
    parent = list(range(len(uniques)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for (i, j), eq in zip(pairs, same, strict=True):
        if eq:
            ri, rj = find(i), find(j)
            if ri != rj:
                parent[max(ri, rj)] = min(ri, rj)
    unique_index = {u: i for i, u in enumerate(uniques)}
    ids: dict[Any, int] = {}
    out: list[int | None] = []
    for a, c in zip(answers, correct, strict=True):
        key = _answer_key(a)
        if c:
            root: Any = "correct"
        elif key is None:
            out.append(None)
            continue
        else:
            root = find(unique_index[key])
        out.append(ids.setdefault(root, len(ids)))
    return out

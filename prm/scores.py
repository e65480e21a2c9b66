"""``StepScores``: one solution's per-step probabilities, with each step's span in the solution text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Aggregate = Literal["min", "prod", "last", "mean"]
AGGREGATES: tuple[str, ...] = ("min", "prod", "last", "mean")

STEP_JOINER = "\n\n"  # the text between two steps in ``StepScores.solution``


@dataclass(frozen=True)
class StepScores:
    """Scores of one solution's steps.

    ``scores[i]`` is the PRM's probability that step ``i`` is correct; ``spans[i]`` is the
    ``[start, end)`` character span of step ``i`` in ``solution`` (the steps joined by ``"\\n\\n"``),
    so ``solution[start:end]`` is the step's text exactly as it was given.

    ``kind="outcome"`` (an outcome reward model): one raw reward in ``scores``, spanning the whole
    solution. ``token_ids``/``token_scores`` (when asked for): the response's tokens and the head
    read at each of them.
    """

    scores: tuple[float, ...]
    spans: tuple[tuple[int, int], ...]
    solution: str
    kind: Literal["process", "outcome"] = "process"
    token_ids: tuple[int, ...] | None = None
    token_scores: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if len(self.scores) != len(self.spans):
            raise ValueError(f"{len(self.scores)} scores but {len(self.spans)} spans")
        for start, end in self.spans:
            if not 0 <= start <= end <= len(self.solution):
                raise ValueError(f"span ({start}, {end}) outside a solution of {len(self.solution)} chars")
        if (self.token_ids is None) != (self.token_scores is None) or (
            self.token_ids is not None and len(self.token_ids) != len(self.token_scores or ())
        ):
            raise ValueError("token_ids and token_scores go together, one score per token")

    @classmethod
    def from_steps(cls, steps: Sequence[str], scores: Sequence[float], **extra: Any) -> StepScores:
        """Join ``steps`` with ``"\\n\\n"`` and record where each one lands (``extra``: the other fields)."""
        if len(steps) != len(scores):
            raise ValueError(f"{len(steps)} steps but {len(scores)} scores")
        spans = []
        pos = 0
        for i, step in enumerate(steps):
            if i:
                pos += len(STEP_JOINER)
            spans.append((pos, pos + len(step)))
            pos += len(step)
        return cls(tuple(float(s) for s in scores), tuple(spans), STEP_JOINER.join(steps), **extra)

    @property
    def steps(self) -> tuple[str, ...]:
        """Each step's text (``solution[start:end]``)."""
        return tuple(self.solution[a:b] for a, b in self.spans)

    def __len__(self) -> int:
        return len(self.scores)

    def aggregate(self, how: Aggregate = "min") -> float:
        """One number for the solution: the ``min``, ``prod``, ``mean`` or ``last`` step score."""
        if how not in AGGREGATES:
            raise ValueError(f"unknown aggregate {how!r}; choose one of {', '.join(AGGREGATES)}")
        if not self.scores:
            raise ValueError("cannot aggregate a solution with no steps")
        if how == "min":
            return min(self.scores)
        if how == "prod":
            return math.prod(self.scores)
        if how == "last":
            return self.scores[-1]
        return math.fsum(self.scores) / len(self.scores)

    def first_error(self, threshold: float = 0.5) -> int:
        """ProcessBench's rule: index of the first step scored below ``threshold``; -1 when none is."""
        for i, s in enumerate(self.scores):
            if s < threshold:
                return i
        return -1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        out: dict[str, Any] = {
            "scores": list(self.scores),
            "spans": [list(s) for s in self.spans],
            "solution": self.solution,
        }
        if self.kind != "process":
            out["kind"] = self.kind
        if self.token_ids is not None:
            out["token_ids"] = list(self.token_ids)
            out["token_scores"] = list(self.token_scores or ())
        return out

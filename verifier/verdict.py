"""The result of one verification: truthy exactly when the prediction is correct, and says why."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace
from typing import Any


class Status(str, enum.Enum):
    """What the verifier concluded. Only ``CORRECT`` is truthy in a :class:`Verdict`."""

    CORRECT = "correct"
    INCORRECT = "incorrect"
    NO_ANSWER = "no_answer"  # the response states no final answer
    UNPARSEABLE = "unparseable"  # an answer was found but could not be read as math or text
    TIMEOUT = "timeout"  # the comparison overran its time or memory limit
    ERROR = "error"  # a bug or bad input; the reason says which


class Method(str, enum.Enum):
    """Which stage decided."""

    STRING = "string"  # normalised strings are equal (or a choice letter, a text answer)
    NUMERIC = "numeric"  # both sides are plain numbers
    SYMBOLIC = "symbolic"  # SymPy proved or refuted equivalence of expressions
    STRUCTURAL = "structural"  # tuples, sets, intervals, matrices, equations, relations
    JUDGE = "judge"  # the LLM second opinion overturned the rules
    NONE = "none"  # nothing decided (no answer, unparseable, timeout, error)


@dataclass(frozen=True)
class JudgeInfo:
    """What the LLM second opinion said, when it was consulted."""

    model: str  # the judge model's name
    label: str | None  # "equivalent" | "not_equivalent" | "invalid_answer" | None when unavailable
    available: bool  # False when the judge was down, slow or answered garbage (the rule verdict stands)
    detail: str = ""  # a short note: the error when unavailable, "cached" when answered from the cache


@dataclass(frozen=True)
class Verdict:
    """One graded pair. ``bool(verdict)`` is True exactly when ``status`` is ``CORRECT``."""

    status: Status
    method: Method
    pred_answer: str | None  # the final answer extracted from the prediction (None if none was found)
    ref_answer: str | None  # the reference answer after extraction (``#### 72`` -> ``72``)
    reason: str  # one human-readable line
    elapsed_s: float = 0.0  # wall time of the whole call, seconds
    judge: JudgeInfo | None = field(default=None)  # set when the second opinion was consulted
    # the canonical key of pred_answer (verifier.answer_key): answers the rules call equal share it
    # ("1,027"/"1027", "\frac12"/"0.5", "x=3"/"3"); every majority vote groups by it. None: no answer
    answer_key: str | None = None
    # what the parser read each side as (answer, reference), named by verifier.kinds.kind_of ("number",
    # "relation", "text:weekday", "letter C", ...; None for a side it could not read); None when the
    # pair is correct or was decided before parsing. The judge's gate reads this, never its own recognisers
    kinds: tuple[str | None, str | None] | None = None

    def __bool__(self) -> bool:
        return self.status is Status.CORRECT

    @property
    def correct(self) -> bool:
        return self.status is Status.CORRECT

    def with_elapsed(self, elapsed_s: float) -> Verdict:
        return replace(self, elapsed_s=elapsed_s)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (used by the CLI, the service and the rescoring output)."""
        out: dict[str, Any] = {
            "correct": self.correct,
            "status": self.status.value,
            "method": self.method.value,
            "pred_answer": self.pred_answer,
            "ref_answer": self.ref_answer,
            "answer_key": self.answer_key,
            "reason": self.reason,
            "elapsed_s": round(self.elapsed_s, 6),
        }
        if self.judge is not None:
            out["judge"] = {
                "model": self.judge.model,
                "label": self.judge.label,
                "available": self.judge.available,
                "detail": self.judge.detail,
            }
        return out

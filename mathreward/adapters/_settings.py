"""Reward settings shared by every adapter: what right, wrong, no-answer and badly formatted answers earn.

The outcomes of one graded response, and their rewards:

- ``correct``: the final answer is right: ``correct`` (+1 by default);
- ``incorrect``: wrong, unreadable, a timeout, or a bad item (a missing reference): ``incorrect`` (-1);
- ``no_answer``: the response states no final answer: ``no_answer`` (the incorrect reward unless set;
  0 is the usual choice);
- ``format``: in the strict format mode only, the response states its final answer outside a box
  (right or wrong): ``format_violation`` (the incorrect reward unless set).

Where the settings come from, the first that has a value wins:

1. keyword arguments, where the trainer passes them: verl's ``reward_kwargs``, the fields of a TRL
   reward instance, the query parameters of the HTTP routes;
2. environment variables, for trainers that call with no keywords (OpenRLHF's
   ``reward_func(queries, prompts, labels)``, slime's ``rm(args, sample)``): see :data:`ENV_VARS`;
3. the defaults of :class:`RewardSettings`.

A value that does not read as a finite number (or, for the format mode, as a yes/no) raises
``ValueError`` naming where it came from: a typo must not train a policy on the default.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from verifier.extract import extract_answer
from verifier.verdict import Status, Verdict

__all__ = [
    "ENV_VARS",
    "Graded",
    "MissingLabelsError",
    "RewardSettings",
    "check_labels",
    "follows_format",
]

# keyword argument -> environment variable
ENV_VARS: dict[str, str] = {
    "correct_reward": "MATHREWARD_CORRECT_REWARD",  # reward of a right final answer
    "incorrect_reward": "MATHREWARD_INCORRECT_REWARD",  # reward of a wrong answer (and of a bad item)
    "no_answer_reward": "MATHREWARD_NO_ANSWER_REWARD",  # reward of a response with no final answer
    "format_reward": "MATHREWARD_FORMAT_REWARD",  # reward of an unboxed answer in the strict format mode
    "strict_format": "MATHREWARD_STRICT_FORMAT",  # 1/true/yes: only a boxed final answer counts
}
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off", ""})


def _number(value: Any, source: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{source}={value!r} is not a number")
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source}={value!r} is not a number") from None
    if not math.isfinite(out):
        raise ValueError(f"{source}={value!r} is not finite")
    return out


def _flag(value: Any, source: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError(f"{source}={value!r} is not one of 1/0, true/false, yes/no, on/off")


@dataclass(frozen=True)
class RewardSettings:
    """The reward of each outcome, and whether only a boxed final answer counts."""

    correct: float = 1.0  # a right final answer
    incorrect: float = -1.0  # a wrong one, and every verdict that is not right (timeout, error, ...)
    no_answer: float | None = None  # no final answer stated; None: the incorrect reward
    format_violation: float | None = None  # strict mode, answer outside a box; None: the incorrect reward
    strict_format: bool = False  # only a final answer in \boxed{} counts (a format reward)

    @classmethod
    def resolve(
        cls, kwargs: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None
    ) -> RewardSettings:
        """Settings from keyword arguments, else the ``MATHREWARD_*`` environment, else the defaults."""
        env = os.environ if env is None else env
        raw: dict[str, tuple[Any, str]] = {}
        for key, var in ENV_VARS.items():
            value = env.get(var)
            if value is not None and value.strip() != "":
                raw[key] = (value, f"environment variable {var}")
        for key in ENV_VARS:
            if kwargs is not None and kwargs.get(key) is not None:
                raw[key] = (kwargs[key], key)
        out: dict[str, Any] = {}
        for key, field_name in (
            ("correct_reward", "correct"),
            ("incorrect_reward", "incorrect"),
            ("no_answer_reward", "no_answer"),
            ("format_reward", "format_violation"),
        ):
            if key in raw:
                out[field_name] = _number(*raw[key])
        if "strict_format" in raw:
            out["strict_format"] = _flag(*raw["strict_format"])
        return cls(**out)

    def outcome(self, verdict: Verdict, format_ok: bool) -> str:
        """``correct`` | ``incorrect`` | ``no_answer`` | ``format`` (see the module docstring)."""
        if verdict.status is Status.NO_ANSWER:
            return "no_answer"
        if self.strict_format and not format_ok and verdict.status is not Status.ERROR:
            return "format"
        return "correct" if verdict.correct else "incorrect"

    def reward_of(self, outcome: str) -> float:
        if outcome == "correct":
            return self.correct
        if outcome == "no_answer" and self.no_answer is not None:
            return self.no_answer
        if outcome == "format" and self.format_violation is not None:
            return self.format_violation
        return self.incorrect

    def grade(self, verdict: Verdict, response: Any) -> Graded:
        format_ok = follows_format(response)
        outcome = self.outcome(verdict, format_ok)
        return Graded(verdict, outcome, self.reward_of(outcome), format_ok)

    def grade_all(self, verdicts: Sequence[Verdict], responses: Sequence[Any]) -> list[Graded]:
        return [self.grade(v, r) for v, r in zip(verdicts, responses, strict=True)]


@dataclass(frozen=True)
class Graded:
    """One response's verdict, its outcome under the settings, and the reward that follows."""

    verdict: Verdict
    outcome: str  # correct | incorrect | no_answer | format
    reward: float
    format_ok: bool  # the final answer is boxed, or there is none (whatever the mode)


def follows_format(response: Any) -> bool:
    """True when the response's final answer is in ``\\boxed{}``, or when it states none (that is the
    no-answer outcome, not a format violation)."""
    # not VerifyConfig.answer_conventions=("boxed",): that makes an unboxed answer NO_ANSWER, and the
    # adapters keep a format violation its own outcome (its own reward); the recognizer's name decides
    if not isinstance(response, str):
        return True
    found = extract_answer(response)
    return found is None or found.how == "boxed"


class MissingLabelsError(ValueError):
    """Every reference of a batch is missing: the trainer is reading the wrong dataset field."""


def _missing(label: Any) -> bool:
    return label is None or (isinstance(label, str) and not label.strip())


def check_labels(labels: Sequence[Any], hint: str) -> None:
    """Raise :class:`MissingLabelsError` when every label of a non-empty batch is missing (None or
    blank); ``hint`` says where the trainer reads them. One missing label is that item's own error."""
    if len(labels) and all(_missing(x) for x in labels):
        raise MissingLabelsError(
            f"all {len(labels)} references of this batch are missing (None or empty): {hint}"
        )

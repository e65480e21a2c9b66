"""TRL: reward functions for ``GRPOTrainer(reward_funcs=[...])``.

How GRPOTrainer calls them (``trl/trainer/grpo_trainer.py::_calculate_rewards``, TRL 1.x):
``reward_func(prompts=..., completions=..., completion_ids=..., **reward_kwargs)``, all keyword
arguments, where ``reward_kwargs`` holds every dataset column except prompt/completion (so a
``solution`` column arrives as ``solution=[...]``) plus ``trainer_state``, ``log_extra`` and
``log_metric``. Completions are strings, or for a conversational dataset lists of message dicts
(``[{"role": "assistant", "content": ...}]``). It expects one float per completion; ``None``
becomes NaN, which means "no reward from this function for this completion" (the other reward
functions still count). Functions for which ``is_async_callable`` holds are awaited together on
the trainer's own event loop thread. The trainer names each function by ``__name__``.

- :func:`accuracy_reward` / :func:`accuracy_reward_async` / :class:`AccuracyReward`: the reward
  settings' value (:mod:`mathreward.adapters._settings`: +1 right, -1 otherwise by default; no
  answer and, in the strict format mode, an unboxed answer have their own values when set) against
  the ``solution`` column; ``None`` when the reference itself is unusable (missing, not text, or
  yields no answer), as TRL's own ``accuracy_reward`` does. A batch whose references are all
  missing raises.
- :func:`step_reward` / :func:`step_reward_async`: the process reward model's verdict on the
  reasoning, one float per completion: the minimum over steps of P(step correct) by default
  (a solution is as good as its worst step; ``aggregate`` = min | prod | last | mean). GRPOTrainer
  takes a scalar per completion, so the per-step scores are aggregated here; ``None`` when the
  completion has no steps or the PRM refuses it (too long).

Names: GRPOTrainer logs each function under ``trl.trainer.utils.get_callable_name`` (``__name__``;
a ``functools.partial`` under the wrapped function's name), and two functions with one name
overwrite each other's metrics. The module functions are ``accuracy_reward``,
``accuracy_reward_async``, ``step_reward``, ``step_reward_async``; the instances are named by their
``name`` field (``mathreward_accuracy`` ... by default), so several configured copies log apart.

Configuration: the module-level functions read the ``MATHREWARD_*`` settings, ``MATHREWARD_SERVER``
(grade through a server) and, for step rewards, ``MATHREWARD_PRM_MODEL`` (a local PRM directory);
:class:`AccuracyReward` and :class:`StepReward` instances carry their own settings (a field left at
None reads the environment). All of them pickle cleanly (TRL forwards reward functions to spawned
rollout workers).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mathreward.adapters._backend import (
    StepResult,
    averify_many,
    score_steps_many,
    verify_many,
)
from mathreward.adapters._settings import RewardSettings
from mathreward.adapters._text import message_text, prompt_question
from verifier.verdict import Status, Verdict

__all__ = [
    "AccuracyReward",
    "AsyncAccuracyReward",
    "AsyncStepReward",
    "StepReward",
    "accuracy_reward",
    "accuracy_reward_async",
    "step_reward",
    "step_reward_async",
]



def _reference_unusable(verdict: Verdict) -> bool:
    """The reference, not the response, is why there is no grade: it is missing, empty, not text,
    or unreadable (the verifier's reason names "reference" then)."""
    if verdict.status not in (Status.ERROR, Status.UNPARSEABLE, Status.NO_ANSWER):
        return False
    if re.search(r"\breference\b", verdict.reason):
        return True
    return verdict.status is not Status.ERROR and not verdict.ref_answer


def _prompts_for(prompts: Sequence[Any] | None, n: int) -> list[str | None]:
    if prompts is None:
        return [None] * n
    return [prompt_question(p) for p in prompts]


@dataclass(frozen=True)
class AccuracyReward:
    """A configured :func:`accuracy_reward` with a name of its own:
    ``GRPOTrainer(reward_funcs=[AccuracyReward(name="acc_strict", strict_format=True)])``.

    GRPOTrainer logs each reward function under its ``__name__`` (``rewards/<name>/mean``), so two
    functions with one name overwrite each other's metrics: give each configured copy its own
    ``name``. A setting left at None is read from ``MATHREWARD_*`` at call time, else its default.
    """

    name: str = "mathreward_accuracy"  # the metric name GRPOTrainer logs this reward under
    correct: float | None = None  # reward of a right final answer (default +1)
    incorrect: float | None = None  # reward of a wrong one (default -1)
    no_answer: float | None = None  # reward when no final answer is stated (default: the incorrect reward)
    format_violation: float | None = None  # strict mode, answer outside a box (default: incorrect)
    strict_format: bool | None = None  # only a boxed final answer counts (default False)
    server: str | None = None  # "host:port" of a mathreward server; None: MATHREWARD_SERVER or in process
    reference_column: str = "solution"  # the dataset column holding the reference answer

    @property
    def __name__(self) -> str:  # read by TRL's get_callable_name
        return self.name

    def settings(self) -> RewardSettings:
        return RewardSettings.resolve(
            {
                "correct_reward": self.correct,
                "incorrect_reward": self.incorrect,
                "no_answer_reward": self.no_answer,
                "format_reward": self.format_violation,
                "strict_format": self.strict_format,
            }
        )

    def _args(self, completions: Sequence[Any], kwargs: dict[str, Any]) -> tuple[list[Any], list[Any]]:
        if self.reference_column not in kwargs:
            raise TypeError(
                f"{self.name} needs the dataset column {self.reference_column!r} "
                f"(got columns: {sorted(k for k in kwargs if not k.startswith('log_'))})"
            )
        refs = list(kwargs[self.reference_column])
        return [message_text(c) for c in completions], refs

    def _finish(self, texts: list[Any], verdicts: Sequence[Verdict], log_extra: Any) -> list[float | None]:
        graded = self.settings().grade_all(verdicts, texts)
        if callable(log_extra):
            log_extra(f"{self.name}_outcome", [g.outcome for g in graded])
            log_extra(f"{self.name}_pred", [v.pred_answer or "" for v in verdicts])
        return [None if _reference_unusable(g.verdict) else g.reward for g in graded]

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        texts, refs = self._args(completions, kwargs)
        questions = _prompts_for(kwargs.get("prompts"), len(texts))
        verdicts = verify_many(texts, refs, questions, server=self.server, label_hint=self._hint())
        return self._finish(texts, verdicts, kwargs.get("log_extra"))

    def _hint(self) -> str:
        return f"{self.name} reads them from the dataset column {self.reference_column!r}"


@dataclass(frozen=True)
class AsyncAccuracyReward(AccuracyReward):
    """:class:`AccuracyReward` awaited on the trainer's event loop."""

    name: str = "mathreward_accuracy_async"

    async def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:  # type: ignore[override]
        texts, refs = self._args(completions, kwargs)
        questions = _prompts_for(kwargs.get("prompts"), len(texts))
        verdicts = await averify_many(texts, refs, questions, server=self.server, label_hint=self._hint())
        return self._finish(texts, verdicts, kwargs.get("log_extra"))


def _accuracy_settings(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "correct": kwargs.get("correct_reward"),
        "incorrect": kwargs.get("incorrect_reward"),
        "no_answer": kwargs.get("no_answer_reward"),
        "format_violation": kwargs.get("format_reward"),
        "strict_format": kwargs.get("strict_format"),
        "server": kwargs.get("server"),
    }


def accuracy_reward(completions: Sequence[Any], solution: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """The settings' reward for each completion against its ``solution`` (+1 right, -1 otherwise by
    default), ``None`` when the solution itself is unusable. Completions are strings or chat messages.

    Settings come from ``MATHREWARD_*``; a ``functools.partial`` may pass them as keywords
    (``correct_reward``, ``incorrect_reward``, ``no_answer_reward``, ``format_reward``,
    ``strict_format``, ``server``), but TRL names a partial after this function: for two
    configurations in one trainer use :class:`AccuracyReward` instances with distinct names.
    """
    reward = AccuracyReward(**_accuracy_settings("accuracy_reward", kwargs))
    return reward(completions, solution=solution, **kwargs)


async def accuracy_reward_async(
    completions: Sequence[Any], solution: Sequence[Any], **kwargs: Any
) -> list[float | None]:
    """:func:`accuracy_reward` for TRL's async reward path (runs off the event loop)."""
    reward = AsyncAccuracyReward(**_accuracy_settings("accuracy_reward_async", kwargs))
    return await reward(completions, solution=solution, **kwargs)


# ----------------------------------------------------------------------------- step rewards


@dataclass(frozen=True)
class StepReward:
    """A configured :func:`step_reward`: ``StepReward(prm_model="/models/prm", aggregate="min")``."""

    name: str = "mathreward_step"  # the metric name GRPOTrainer logs this reward under
    aggregate: str = "min"  # min | prod | last | mean over the steps' P(step correct)
    server: str | None = None  # "host:port"; None: MATHREWARD_SERVER, else a local PRM
    prm_model: str | None = None  # local PRM directory; None: MATHREWARD_PRM_MODEL
    split_mode: str = "auto"  # how a completion is cut into steps (prm.split_steps)

    @property
    def __name__(self) -> str:  # read by TRL's get_callable_name
        return self.name

    def __post_init__(self) -> None:
        from prm.scores import AGGREGATES  # here, not at import: importing the adapters stays light

        if self.aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}, got {self.aggregate!r}")

    def _items(
        self, prompts: Sequence[Any] | None, completions: Sequence[Any]
    ) -> list[tuple[str, list[str]]]:
        from prm import split_steps

        questions = _prompts_for(prompts, len(completions))
        items: list[tuple[str, list[str]]] = []
        for question, completion in zip(questions, completions, strict=True):
            text = message_text(completion)
            steps = split_steps(text, mode=self.split_mode) if isinstance(text, str) else []  # type: ignore[arg-type]
            items.append((question or "", steps))
        return items

    def _finish(self, results: Sequence[StepResult], log_extra: Any) -> list[float | None]:
        if callable(log_extra):
            log_extra(f"{self.name}_scores", [list(r.scores.scores) if r.scores else [] for r in results])
        return [r.aggregate(self.aggregate) for r in results]

    def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
        items = self._items(kwargs.get("prompts"), completions)
        results = score_steps_many(items, server=self.server, prm_model=self.prm_model)
        return self._finish(results, kwargs.get("log_extra"))


@dataclass(frozen=True)
class AsyncStepReward(StepReward):
    """:class:`StepReward` awaited on the trainer's event loop (the PRM runs in a worker thread)."""

    name: str = "mathreward_step_async"

    async def __call__(self, completions: Sequence[Any], **kwargs: Any) -> list[float | None]:  # type: ignore[override]
        import asyncio

        items = self._items(kwargs.get("prompts"), completions)
        results = await asyncio.to_thread(
            score_steps_many, items, server=self.server, prm_model=self.prm_model
        )
        return self._finish(results, kwargs.get("log_extra"))


def _step_settings(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "aggregate": kwargs.get("aggregate", "min"),
        "server": kwargs.get("server"),
        "prm_model": kwargs.get("prm_model"),
        "split_mode": kwargs.get("split_mode", "auto"),
    }


def step_reward(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """The PRM's minimum step score for each completion (see the module docstring).

    ``aggregate``, ``server``, ``prm_model`` and ``split_mode`` keywords configure it, e.g.
    ``functools.partial(step_reward, prm_model="/models/prm")``.
    """
    return StepReward(**_step_settings("step_reward", kwargs))(completions, **kwargs)


async def step_reward_async(completions: Sequence[Any], **kwargs: Any) -> list[float | None]:
    """:func:`step_reward` for TRL's async reward path."""
    return await AsyncStepReward(**_step_settings("step_reward_async", kwargs))(completions, **kwargs)

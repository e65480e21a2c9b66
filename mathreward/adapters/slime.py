"""slime: the reward for ``--rm-type remote_rm --rm-url http://host:port/slime/reward --reward-key score``,
or for ``--custom-rm-path mathreward.adapters.slime.reward_func``.

How slime calls a reward (``slime/rollout/rm_hub/__init__.py``):

- ``remote_rm`` POSTs ``{"prompt": sample.prompt, "response": sample.response, "label": sample.label}``
  and keeps the whole JSON answer as ``sample.reward``; ``--reward-key score`` then reads
  ``sample.reward["score"]`` wherever a scalar is needed.
- ``--custom-rm-path module.function`` is loaded with ``load_function`` (a dotted path) and awaited
  as ``rm(args, sample, **kwargs)``; with ``--group-rm`` it is awaited once per group as
  ``rm(args, samples, **kwargs)`` and returns one reward per sample.

Every answer is a dict: ``score`` (1.0 / 0.0 by default), ``acc``, ``pred``, ``status``, ``method``
and ``reason``. ``sample.prompt`` may be a string or a list of chat messages; the question for the
verifier is the string or the last user message. A missing or non-text label gets ``status="error"``
and the incorrect score, never an exception that would stop the rollout.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mathreward.adapters._backend import RewardValues, VerifyFn, averify_many
from mathreward.adapters._text import prompt_question
from verifier.verdict import Verdict

__all__ = ["ascore_samples", "batched_reward_func", "result_dict", "reward_func"]


def result_dict(verdict: Verdict, values: RewardValues) -> dict[str, Any]:
    """slime's reward dict; ``--reward-key score`` reads ``score``."""
    return {
        "score": values.of(verdict),
        "acc": verdict.correct,
        "pred": verdict.pred_answer or "",
        "status": verdict.status.value,
        "method": verdict.method.value,
        "reason": verdict.reason,
    }


async def ascore_samples(
    prompts: Sequence[Any],
    responses: Sequence[Any],
    labels: Sequence[Any],
    *,
    server: str | None = None,
    values: RewardValues | None = None,
    engine: VerifyFn | None = None,
    max_item_chars: int | None = None,
) -> list[dict[str, Any]]:
    """One reward dict per (prompt, response, label), in order (``engine``: see ``averify_many``)."""
    verdicts = await averify_many(
        list(responses),
        list(labels),
        [prompt_question(p) for p in prompts],
        server=server,
        engine=engine,
        max_item_chars=max_item_chars,
    )
    return [result_dict(v, values or RewardValues()) for v in verdicts]


async def reward_func(args: Any, sample: Any, **kwargs: Any) -> dict[str, Any]:
    """``--custom-rm-path mathreward.adapters.slime.reward_func``: one sample's reward dict."""
    [result] = await ascore_samples(
        [getattr(sample, "prompt", None)],
        [getattr(sample, "response", None)],
        [getattr(sample, "label", None)],
        server=kwargs.get("server"),
        values=RewardValues.from_kwargs(kwargs),
    )
    return result


async def batched_reward_func(args: Any, samples: Sequence[Any], **kwargs: Any) -> list[dict[str, Any]]:
    """``--group-rm --custom-rm-path mathreward.adapters.slime.batched_reward_func``: a group at once."""
    return await ascore_samples(
        [getattr(s, "prompt", None) for s in samples],
        [getattr(s, "response", None) for s in samples],
        [getattr(s, "label", None) for s in samples],
        server=kwargs.get("server"),
        values=RewardValues.from_kwargs(kwargs),
    )

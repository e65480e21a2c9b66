"""slime: the reward for ``--rm-type remote_rm --rm-url http://host:port/slime/reward --reward-key score``,
or for ``--custom-rm-path mathreward.adapters.slime.reward_func``.

slime is not on PyPI; the calling convention was read from THUDM/slime at commit
624b824a898ab0ec1fcb4d373004c7f3852bf515 (``slime/rollout/rm_hub/__init__.py``,
``slime/utils/misc.py::load_function``, ``slime/utils/types.py::Sample``):

- ``remote_rm`` POSTs ``{"prompt": sample.prompt, "response": sample.response, "label": sample.label}``
  to ``args.rm_url`` as written (query parameters included) and keeps the whole JSON answer as
  ``sample.reward``; ``--reward-key score`` then reads ``sample.reward["score"]``.
- ``async_rm(args, sample)`` loads ``--custom-rm-path module.function`` with ``load_function`` (a
  dotted path) and awaits ``rm(args, sample)``; with ``--group-rm``, ``batched_async_rm(args,
  samples)`` awaits ``rm(args, samples)`` once per group, one reward per sample. The rollout passes no
  keyword arguments, so the settings come from the ``MATHREWARD_*`` environment variables
  (:mod:`mathreward.adapters._settings`), or from the URL's query parameters for ``remote_rm``.

Every answer is a dict: ``score`` (the settings' reward), ``acc``, ``pred``, ``status``, ``method``,
``outcome`` and ``reason``. ``sample.prompt`` may be a string or a list of chat messages; the
question for the verifier is the string or the last user message. A missing or non-text label gets
``status="error"`` and the incorrect score; a group whose labels are all missing raises.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mathreward.adapters._backend import VerifyFn, averify_many
from mathreward.adapters._settings import Graded, RewardSettings
from mathreward.adapters._text import prompt_question

__all__ = ["ascore_samples", "batched_reward_func", "result_dict", "reward_func"]


_LABEL_HINT = "slime reads them from the dataset field named by --label-key"


def result_dict(graded: Graded) -> dict[str, Any]:
    """slime's reward dict; ``--reward-key score`` reads ``score``."""
    verdict = graded.verdict
    return {
        "score": graded.reward,
        "acc": verdict.correct,
        "pred": verdict.answer_key or "",  # the canonical answer key: equal answers vote together
        "status": verdict.status.value,
        "method": verdict.method.value,
        "outcome": graded.outcome,  # correct | incorrect | no_answer | format
        "reason": verdict.reason,
    }


async def ascore_samples(
    prompts: Sequence[Any],
    responses: Sequence[Any],
    labels: Sequence[Any],
    *,
    server: str | None = None,
    settings: RewardSettings | None = None,
    engine: VerifyFn | None = None,
    max_item_chars: int | None = None,
) -> list[dict[str, Any]]:
    """One reward dict per (prompt, response, label), in order (``engine``: see ``averify_many``)."""
    responses = list(responses)
    verdicts = await averify_many(
        responses,
        list(labels),
        [prompt_question(p) for p in prompts],
        server=server,
        engine=engine,
        max_item_chars=max_item_chars,
        label_hint=_LABEL_HINT,
    )
    graded = (settings or RewardSettings.resolve()).grade_all(verdicts, responses)
    return [result_dict(g) for g in graded]


async def reward_func(args: Any, sample: Any, **kwargs: Any) -> dict[str, Any]:
    """``--custom-rm-path mathreward.adapters.slime.reward_func``: one sample's reward dict.

    slime awaits ``rm(args, sample)``: settings from ``MATHREWARD_*`` (keywords, for a direct call, win).
    """
    [result] = await ascore_samples(
        [getattr(sample, "prompt", None)],
        [getattr(sample, "response", None)],
        [getattr(sample, "label", None)],
        server=kwargs.get("server"),
        settings=RewardSettings.resolve(kwargs),
    )
    return result


async def batched_reward_func(args: Any, samples: Sequence[Any], **kwargs: Any) -> list[dict[str, Any]]:
    """``--group-rm --custom-rm-path mathreward.adapters.slime.batched_reward_func``: a group at once."""
    return await ascore_samples(
        [getattr(s, "prompt", None) for s in samples],
        [getattr(s, "response", None) for s in samples],
        [getattr(s, "label", None) for s in samples],
        server=kwargs.get("server"),
        settings=RewardSettings.resolve(kwargs),
    )

"""verl: a reward module to name in ``reward.custom_reward_function.path``.

Tested with verl 0.9.1 (``tests/mathreward/test_adapters_verl.py`` composes verl's own
``ppo_trainer`` config with the lines ``mathreward adapters`` prints and runs verl's reward loop).
What verl does with it (``verl/trainer/ppo/reward.py``, ``verl/experimental/reward_loop/``):

- ``get_custom_reward_fn`` reads ``config.reward.custom_reward_function.{path,name,reward_kwargs}``
  (the top-level ``custom_reward_function.*`` keys of older releases still compose but are ignored
  by ``main_ppo``), executes this file under a module name of its own, and merges ``reward_kwargs``
  into every call's keyword arguments;
- the reward loop's managers (``reward.reward_manager.name``: ``naive``, ``dapo``, ...) call it once
  per sample: ``compute_score(data_source=, solution_str=, ground_truth=, extra_info=)``, awaiting it
  on the worker's event loop when it is a coroutine function (``compute_score_async``), else in a
  thread. A dict result must carry ``score``; every key goes to ``reward_extra_info`` and must be
  present, with one type, in every row of a batch (``pred`` feeds maj@N in validation).

Rows whose ``data_source`` is not a math source are passed to verl's own
``verl.utils.reward_score.default_compute_score`` (code, QA, ...): see :func:`is_math_source`.

Settings (``mathreward.adapters._settings``) come from ``reward_kwargs``
(``+reward.custom_reward_function.reward_kwargs.incorrect_reward=-1``), else ``MATHREWARD_*``
environment variables; ``server`` grades through a ``mathreward serve`` server (or
``MATHREWARD_SERVER``); ``math_sources`` adds data sources to grade (``"*"``: every row). Other
keyword arguments verl passes (``reward_router_address``, ``sandbox_fusion_url``...) go only to
verl's default scorer.

Absolute imports only: verl executes this file under another module name.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from typing import Any

from mathreward.adapters._backend import averify_many, verify_many
from mathreward.adapters._settings import ENV_VARS, Graded, RewardSettings

__all__ = ["DEFAULT_MATH_SOURCES", "compute_score", "compute_score_async", "is_math_source", "score_dict"]

ENV_MATH_SOURCES = "MATHREWARD_MATH_SOURCES"  # comma-separated data sources to grade besides the defaults
# the data sources verl's own default scorer grades as math (verl/utils/reward_score/__init__.py)
DEFAULT_MATH_SOURCES = frozenset(
    {
        "openai/gsm8k",
        "lighteval/MATH",
        "DigitalLearningGmbH/MATH-lighteval",
        "HuggingFaceH4/MATH-500",
        "math_dapo",
        "math",
        "math_dapo_reasoning",
        "numina_aops_forum",
        "numina_synthetic_math",
        "numina_amc_aime",
        "numina_synthetic_amc",
        "numina_cn_k12",
        "numina_olympiads",
    }
)
_MATH_PREFIXES = ("aime",)  # verl grades every data source starting with "aime" as math
# keywords this module reads; the rest are verl's and go only to its default scorer
_OWN_KWARGS = frozenset({"server", "math_sources", *ENV_VARS})
_LABEL_HINT = "verl reads them from each row's reward_model.ground_truth"


def _extra_sources(kwargs: Mapping[str, Any]) -> set[str]:
    value = kwargs.get("math_sources")
    if value is None:
        value = os.environ.get(ENV_MATH_SOURCES, "")
    if isinstance(value, str):
        return {s.strip() for s in value.split(",") if s.strip()}
    return {str(s) for s in value}


def is_math_source(data_source: Any, kwargs: Mapping[str, Any] | None = None) -> bool:
    """Whether a row is graded here: its ``data_source`` is one verl grades as math, or one named in
    ``math_sources`` / ``MATHREWARD_MATH_SOURCES`` (``"*"`` names every source)."""
    extra = _extra_sources(kwargs or {})
    if "*" in extra:
        return True
    source = str(data_source)
    return source in DEFAULT_MATH_SOURCES or source.startswith(_MATH_PREFIXES) or source in extra


def score_dict(graded: Graded) -> dict[str, Any]:
    """verl's result dict: the same keys and value types for every sample."""
    verdict = graded.verdict
    return {
        "score": graded.reward,  # the reward verl places on the last response token
        "acc": verdict.correct,  # True when the final answer is right (whatever its format)
        "pred": verdict.answer_key or "",  # the canonical answer key: verl's maj@N votes on it
        "status": verdict.status.value,  # correct | incorrect | no_answer | unparseable | timeout | error
        "method": verdict.method.value,  # which stage decided
        "outcome": graded.outcome,  # correct | incorrect | no_answer | format: which reward was given
        "format_ok": graded.format_ok,  # the final answer is boxed (or there is none)
    }


def _question(extra_info: Any) -> str | None:
    if isinstance(extra_info, Mapping):
        for key in ("question", "problem", "query"):
            value = extra_info.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _verl_default(
    data_source: Any, solution_str: Any, ground_truth: Any, extra_info: Any, kwargs: Mapping[str, Any]
) -> dict[str, Any]:
    """verl's own scorer for a row that is not math, in this module's dict shape (one shape per batch)."""
    from verl.utils.reward_score import default_compute_score

    theirs = {k: v for k, v in kwargs.items() if k not in _OWN_KWARGS}
    try:
        result = default_compute_score(data_source, solution_str, ground_truth, extra_info, **theirs)
    except NotImplementedError as exc:
        raise NotImplementedError(
            f"{exc}; to grade this data source as math with mathreward, add it to "
            f"+reward.custom_reward_function.reward_kwargs.math_sources or {ENV_MATH_SOURCES}"
        ) from exc
    score = float(result["score"]) if isinstance(result, Mapping) else float(result)
    acc = bool(result.get("acc", score > 0)) if isinstance(result, Mapping) else score > 0
    pred = result.get("pred") if isinstance(result, Mapping) else None
    return {
        "score": score,
        "acc": acc,
        "pred": pred if isinstance(pred, str) else "",
        "status": "verl_default",
        "method": "verl_default",
        "outcome": "verl_default",
        "format_ok": True,
    }


def compute_score(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Grade one response against its reference: ``{"score", "acc", "pred", "status", "method",
    "outcome", "format_ok"}``; a row that is not math goes to verl's own scorer."""
    if not is_math_source(data_source, kwargs):
        return _verl_default(data_source, solution_str, ground_truth, extra_info, kwargs)
    settings = RewardSettings.resolve(kwargs)
    [verdict] = verify_many(
        [solution_str],
        [ground_truth],
        [_question(extra_info)],
        server=kwargs.get("server"),
        label_hint=_LABEL_HINT,
    )
    return score_dict(settings.grade(verdict, solution_str))


async def compute_score_async(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`compute_score` for verl's reward loop, awaited on its event loop (never blocks it)."""
    if not is_math_source(data_source, kwargs):
        return await asyncio.to_thread(
            _verl_default, data_source, solution_str, ground_truth, extra_info, kwargs
        )
    settings = RewardSettings.resolve(kwargs)
    [verdict] = await averify_many(
        [solution_str],
        [ground_truth],
        [_question(extra_info)],
        server=kwargs.get("server"),
        label_hint=_LABEL_HINT,
    )
    return score_dict(settings.grade(verdict, solution_str))

"""verl: a reward module to name in ``custom_reward_function.path``.

verl loads this file by path (``importlib.util.spec_from_file_location("custom_module", path)`` in
``verl/trainer/ppo/reward.py::get_custom_reward_fn``), takes the function named by
``custom_reward_function.name`` and merges ``custom_reward_function.reward_kwargs`` into every
call's keyword arguments. Its reward managers call it as:

- naive / dapo / prime (one sample): ``compute_score(data_source=..., solution_str=...,
  ground_truth=..., extra_info=...)``; a dict result must carry ``score``; every other key goes to
  ``reward_extra_info`` (``pred`` feeds maj@N in validation; string values are skipped by the
  metrics, numbers are averaged, so each key keeps one type across samples);
- batch (``reward_model.reward_manager=batch``): ``compute_score_batch(data_sources=...,
  solution_strs=..., ground_truths=..., extra_infos=...)`` returning one result per sample;
- the async reward loop (``verl/experimental/reward_loop``): awaits the function when
  ``inspect.iscoroutinefunction`` says it is one: name ``compute_score_async`` there.

Each function grades in this process by default, or through a ``mathreward serve`` server when
``server="host:port"`` is in the keyword arguments (``+custom_reward_function.reward_kwargs.server=...``)
or ``MATHREWARD_SERVER`` is set. ``correct_reward`` / ``incorrect_reward`` keyword arguments set the
reward values (1.0 / 0.0 by default, like verl's own math scorers). Other keyword arguments verl
passes (``strict_box_verify``, ``reward_router_address``, ``sandbox_fusion_url``...) are ignored.

Absolute imports only: verl executes this file under another module name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from mathreward.adapters._backend import RewardValues, averify_many, verify_many
from verifier.verdict import Verdict

__all__ = ["compute_score", "compute_score_async", "compute_score_batch", "score_dict"]


def score_dict(verdict: Verdict, values: RewardValues) -> dict[str, Any]:
    """verl's result dict: the same keys and value types for every sample."""
    return {
        "score": values.of(verdict),  # the reward verl places on the last response token
        "acc": verdict.correct,  # True when the final answer is right
        "pred": verdict.pred_answer or "",  # the extracted answer, for maj@N ("" when none)
        "status": verdict.status.value,  # correct | incorrect | no_answer | unparseable | timeout | error
        "method": verdict.method.value,  # which stage decided
    }


def _question(extra_info: Any) -> str | None:
    if isinstance(extra_info, Mapping):
        for key in ("question", "problem", "query"):
            value = extra_info.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def compute_score(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """Grade one response against its reference: ``{"score", "acc", "pred", "status", "method"}``."""
    values = RewardValues.from_kwargs(kwargs)
    [verdict] = verify_many(
        [solution_str], [ground_truth], [_question(extra_info)], server=kwargs.get("server")
    )
    return score_dict(verdict, values)


async def compute_score_async(
    data_source: Any,
    solution_str: Any,
    ground_truth: Any,
    extra_info: Any = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """:func:`compute_score` for verl's async reward loop (never blocks the event loop)."""
    values = RewardValues.from_kwargs(kwargs)
    [verdict] = await averify_many(
        [solution_str], [ground_truth], [_question(extra_info)], server=kwargs.get("server")
    )
    return score_dict(verdict, values)


def compute_score_batch(
    data_sources: Sequence[Any],
    solution_strs: Sequence[Any],
    ground_truths: Sequence[Any],
    extra_infos: Sequence[Any] | None = None,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Grade a batch (verl's ``BatchRewardManager``): one dict per sample, in order.

    The sequences may be lists or numpy object arrays, as verl passes them; a bad sample (a
    missing reference, say) gets its own ``status="error"`` result and the rest are graded.
    """
    values = RewardValues.from_kwargs(kwargs)
    solutions = list(solution_strs)
    infos = list(extra_infos) if extra_infos is not None else [None] * len(solutions)
    verdicts = verify_many(
        solutions, list(ground_truths), [_question(info) for info in infos], server=kwargs.get("server")
    )
    return [score_dict(v, values) for v in verdicts]

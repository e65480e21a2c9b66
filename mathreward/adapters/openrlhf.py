"""OpenRLHF: ``--remote_rm_url`` pointing at this file, or at ``POST /get_reward`` of the server.

How OpenRLHF calls a remote reward (``openrlhf/utils/remote_rm_utils.py`` and the single-turn
agent executor in ``openrlhf/utils/agent.py``):

- HTTP: ``POST {"query": [...], "prompts": [...], "labels": [...]}`` where each query is
  ``tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)``: the prompt text, the
  response, and whatever special tokens the decoder kept; labels come from ``--label_key``. It
  reads ``rewards`` from the answer (and, in recent versions, ``scores`` and ``extra_logs``).
- File: ``--remote_rm_url /path/to/reward_func.py`` loads the file by path and calls
  ``reward_func(queries, prompts, labels)`` (wrapped in ``ray.remote``), expecting a dict with
  ``rewards`` (a tensor, for the advantages), ``scores`` (a 0-1 tensor, for dynamic filtering) and
  ``extra_logs`` (a dict of tensors, logged to wandb).

The response is the query with the prompt removed (see :func:`mathreward.adapters._text.response_from_query`
for the fallbacks when the prompt is not a prefix). ``rewards`` are the configured values (1.0 /
0.0 by default; ``correct_reward`` / ``incorrect_reward`` keywords); ``scores`` are 1.0 / 0.0 for
a correct / other answer; ``extra_logs`` holds per-sample ``acc``, ``no_answer``, ``verify_error``
and ``prompt_stripped``. A bad item (a missing label, a non-text query) gets the incorrect reward
and its own ``status="error"`` in ``items``; the rest of the batch is graded.

Absolute imports only: OpenRLHF executes this file under the module name ``reward_func``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mathreward.adapters._backend import RewardValues, VerifyFn, averify_many, verify_many
from mathreward.adapters._text import response_from_query
from verifier.verdict import Status, Verdict

__all__ = ["ascore_queries", "reward_func", "score_queries"]


def _split(
    queries: Sequence[Any], prompts: Sequence[Any] | None
) -> tuple[list[Any], list[str | None], list[str]]:
    responses: list[Any] = []
    questions: list[str | None] = []
    how: list[str] = []
    for i, query in enumerate(queries):
        prompt = prompts[i] if prompts is not None else None
        prompt = prompt if isinstance(prompt, str) else None
        if isinstance(query, str):
            response, found = response_from_query(query, prompt)
        else:
            response, found = query, "invalid"
        responses.append(response)
        questions.append(prompt)
        how.append(found)
    return responses, questions, how


def _answer(verdicts: Sequence[Verdict], how: Sequence[str], values: RewardValues) -> dict[str, Any]:
    acc = [1.0 if v.correct else 0.0 for v in verdicts]
    return {
        "rewards": [values.of(v) for v in verdicts],
        "scores": acc,
        "extra_logs": {
            "acc": acc,
            "no_answer": [1.0 if v.status is Status.NO_ANSWER else 0.0 for v in verdicts],
            "verify_error": [1.0 if v.status in (Status.TIMEOUT, Status.ERROR) else 0.0 for v in verdicts],
            "prompt_stripped": [1.0 if h in ("prefix", "found") else 0.0 for h in how],
        },
        "items": [
            {
                "status": v.status.value,
                "method": v.method.value,
                "pred": v.pred_answer or "",
                "reason": v.reason,
                "response_from": h,  # prefix | found | whole | invalid (see the module docstring)
            }
            for v, h in zip(verdicts, how, strict=True)
        ],
    }


def _check_lengths(
    queries: Sequence[Any], prompts: Sequence[Any] | None, labels: Sequence[Any] | None
) -> None:
    for name, seq in (("prompts", prompts), ("labels", labels)):
        if seq is not None and len(seq) != len(queries):
            raise ValueError(f"{name} has {len(seq)} items but query has {len(queries)}")


def score_queries(
    queries: Sequence[Any],
    prompts: Sequence[Any] | None,
    labels: Sequence[Any] | None,
    *,
    server: str | None = None,
    values: RewardValues | None = None,
) -> dict[str, Any]:
    """OpenRLHF's reward answer as JSON-ready lists (what ``POST /get_reward`` returns)."""
    _check_lengths(queries, prompts, labels)
    responses, questions, how = _split(queries, prompts)
    refs = list(labels) if labels is not None else [None] * len(responses)
    verdicts = verify_many(responses, refs, questions, server=server)
    return _answer(verdicts, how, values or RewardValues())


async def ascore_queries(
    queries: Sequence[Any],
    prompts: Sequence[Any] | None,
    labels: Sequence[Any] | None,
    *,
    server: str | None = None,
    values: RewardValues | None = None,
    engine: VerifyFn | None = None,
    max_item_chars: int | None = None,
) -> dict[str, Any]:
    """:func:`score_queries` for an event loop (``engine`` / ``max_item_chars``: see ``averify_many``)."""
    _check_lengths(queries, prompts, labels)
    responses, questions, how = _split(queries, prompts)
    refs = list(labels) if labels is not None else [None] * len(responses)
    verdicts = await averify_many(
        responses, refs, questions, server=server, engine=engine, max_item_chars=max_item_chars
    )
    return _answer(verdicts, how, values or RewardValues())


def reward_func(
    queries: Sequence[Any], prompts: Sequence[Any], labels: Sequence[Any], **kwargs: Any
) -> dict[str, Any]:
    """OpenRLHF's file form: ``{"rewards": tensor, "scores": tensor, "extra_logs": {name: tensor}}``.

    Grades in this process, or through a server given as ``server=`` or ``MATHREWARD_SERVER``.
    Tensors when torch is importable (it always is inside OpenRLHF), plain lists otherwise.
    """
    answer = score_queries(
        queries, prompts, labels, server=kwargs.get("server"), values=RewardValues.from_kwargs(kwargs)
    )
    try:
        import torch
    except ImportError:
        return answer
    return {
        "rewards": torch.tensor(answer["rewards"], dtype=torch.float32),
        "scores": torch.tensor(answer["scores"], dtype=torch.float32),
        "extra_logs": {k: torch.tensor(v, dtype=torch.float32) for k, v in answer["extra_logs"].items()},
    }

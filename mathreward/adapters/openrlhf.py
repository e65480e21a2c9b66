"""OpenRLHF: ``--reward.remote_url`` pointing at this file, or at ``POST /get_reward`` of the server.

Tested with OpenRLHF 0.11.2 (``tests/mathreward/test_adapters_openrlhf.py`` runs its
``SingleTurnAgentExecutor`` on both forms). How OpenRLHF calls a remote reward
(``openrlhf/utils/agent.py::SingleTurnAgentExecutor``; the flags are ``--reward.remote_url`` and
``--data.label_key`` since 0.10.2):

- HTTP: ``POST {"query": [...], "prompts": [...], "labels": [...]}`` where each query is
  ``tokenizer.decode(prompt_ids + response_ids, skip_special_tokens=False)``: the prompt text, the
  response, and whatever special tokens the decoder kept; labels come from ``--data.label_key``. It
  reads ``rewards``, ``scores`` (``rewards`` when absent) and ``extra_logs`` from the answer.
- File: ``--reward.remote_url /path/to/reward_func.py`` executes the file as module ``reward_func``
  and calls ``reward_func(queries, prompts, labels)``, positionally and with no keyword arguments,
  one query per call in a thread; it reads the same three keys.

Settings: OpenRLHF passes none, so the file form reads the ``MATHREWARD_*`` environment variables
(:mod:`mathreward.adapters._settings`); the HTTP route takes them as query parameters
(``/get_reward?no_answer_reward=0&strict_format=1``). A batch whose labels are all missing raises
(``--data.label_key`` names a field the data does not have).

The response is the query with the prompt removed (see :func:`mathreward.adapters._text.response_from_query`
for the fallbacks when the prompt is not a prefix). ``rewards`` are the settings' rewards;
``scores`` are 1.0 / 0.0 for a right / other answer (for dynamic filtering); ``extra_logs`` holds
per-sample ``acc``, ``no_answer``, ``format_violation``, ``verify_error`` and ``prompt_stripped``.
A bad item (a missing label, a non-text query) gets the incorrect reward and its own
``status="error"`` in ``items``; the rest of the batch is graded.

Absolute imports only: OpenRLHF executes this file under the module name ``reward_func``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mathreward.adapters._backend import VerifyFn, averify_many, verify_many
from mathreward.adapters._settings import Graded, RewardSettings
from mathreward.adapters._text import response_from_query
from verifier.verdict import Status

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


_LABEL_HINT = "OpenRLHF reads them from the dataset field named by --data.label_key"


def _answer(graded: Sequence[Graded], how: Sequence[str]) -> dict[str, Any]:
    acc = [1.0 if g.verdict.correct else 0.0 for g in graded]
    return {
        "rewards": [g.reward for g in graded],
        "scores": acc,
        "extra_logs": {
            "acc": acc,
            "no_answer": [1.0 if g.outcome == "no_answer" else 0.0 for g in graded],
            "format_violation": [1.0 if g.outcome == "format" else 0.0 for g in graded],
            "verify_error": [
                1.0 if g.verdict.status in (Status.TIMEOUT, Status.ERROR) else 0.0 for g in graded
            ],
            "prompt_stripped": [1.0 if h in ("prefix", "found") else 0.0 for h in how],
        },
        "items": [
            {
                "status": g.verdict.status.value,
                "method": g.verdict.method.value,
                "outcome": g.outcome,
                "pred": g.verdict.answer_key or "",  # the canonical answer key: equal answers vote together
                "reason": g.verdict.reason,
                "response_from": h,  # prefix | found | whole | invalid (see the module docstring)
            }
            for g, h in zip(graded, how, strict=True)
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
    settings: RewardSettings | None = None,
) -> dict[str, Any]:
    """OpenRLHF's reward answer as JSON-ready lists (what ``POST /get_reward`` returns)."""
    _check_lengths(queries, prompts, labels)
    responses, questions, how = _split(queries, prompts)
    refs = list(labels) if labels is not None else [None] * len(responses)
    verdicts = verify_many(responses, refs, questions, server=server, label_hint=_LABEL_HINT)
    return _answer((settings or RewardSettings.resolve()).grade_all(verdicts, responses), how)


async def ascore_queries(
    queries: Sequence[Any],
    prompts: Sequence[Any] | None,
    labels: Sequence[Any] | None,
    *,
    server: str | None = None,
    settings: RewardSettings | None = None,
    engine: VerifyFn | None = None,
    max_item_chars: int | None = None,
) -> dict[str, Any]:
    """:func:`score_queries` for an event loop (``engine`` / ``max_item_chars``: see ``averify_many``)."""
    _check_lengths(queries, prompts, labels)
    responses, questions, how = _split(queries, prompts)
    refs = list(labels) if labels is not None else [None] * len(responses)
    verdicts = await averify_many(
        responses,
        refs,
        questions,
        server=server,
        engine=engine,
        max_item_chars=max_item_chars,
        label_hint=_LABEL_HINT,
    )
    return _answer((settings or RewardSettings.resolve()).grade_all(verdicts, responses), how)


def reward_func(
    queries: Sequence[Any], prompts: Sequence[Any], labels: Sequence[Any], **kwargs: Any
) -> dict[str, Any]:
    """OpenRLHF's file form: ``{"rewards": tensor, "scores": tensor, "extra_logs": {name: tensor}}``.

    OpenRLHF calls it positionally with no keywords: the settings come from ``MATHREWARD_*``
    (keywords, for a direct call, win). Grades in this process, or through a server given as
    ``server=`` or ``MATHREWARD_SERVER``. Tensors when torch is importable (it always is inside
    OpenRLHF), plain lists otherwise.
    """
    answer = score_queries(
        queries, prompts, labels, server=kwargs.get("server"), settings=RewardSettings.resolve(kwargs)
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

"""Messages <-> engine objects, both directions (the server and the clients share these)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mathreward._proto import common_pb2, process_reward_pb2, verify_pb2
from verifier.group import answer_key
from verifier.verdict import JudgeInfo, Method, Status, Verdict

if TYPE_CHECKING:
    from prm import StepScores

_STATUS_TO_PB = {
    Status.CORRECT: verify_pb2.VERIFICATION_STATUS_CORRECT,
    Status.INCORRECT: verify_pb2.VERIFICATION_STATUS_INCORRECT,
    Status.NO_ANSWER: verify_pb2.VERIFICATION_STATUS_NO_ANSWER,
    Status.UNPARSEABLE: verify_pb2.VERIFICATION_STATUS_UNPARSEABLE,
    Status.TIMEOUT: verify_pb2.VERIFICATION_STATUS_TIMEOUT,
    Status.ERROR: verify_pb2.VERIFICATION_STATUS_ERROR,
}
_STATUS_FROM_PB = {v: k for k, v in _STATUS_TO_PB.items()}
_METHOD_TO_PB = {
    Method.STRING: verify_pb2.VERIFICATION_METHOD_STRING,
    Method.NUMERIC: verify_pb2.VERIFICATION_METHOD_NUMERIC,
    Method.SYMBOLIC: verify_pb2.VERIFICATION_METHOD_SYMBOLIC,
    Method.STRUCTURAL: verify_pb2.VERIFICATION_METHOD_STRUCTURAL,
    Method.JUDGE: verify_pb2.VERIFICATION_METHOD_JUDGE,
    Method.NONE: verify_pb2.VERIFICATION_METHOD_NONE,
}
_METHOD_FROM_PB = {v: k for k, v in _METHOD_TO_PB.items()}

SPLIT_MODES: dict[process_reward_pb2.SplitMode.ValueType, str] = {
    process_reward_pb2.SPLIT_MODE_UNSPECIFIED: "auto",
    process_reward_pb2.SPLIT_MODE_AUTO: "auto",
    process_reward_pb2.SPLIT_MODE_BLANK_LINES: "blank_lines",
    process_reward_pb2.SPLIT_MODE_STEP_K: "step_k",
    process_reward_pb2.SPLIT_MODE_LINES: "lines",
}
SPLIT_MODE_TO_PB = {name: value for value, name in SPLIT_MODES.items() if value != 0}
AGGREGATIONS: dict[process_reward_pb2.Aggregation.ValueType, str] = {
    process_reward_pb2.AGGREGATION_UNSPECIFIED: "min",
    process_reward_pb2.AGGREGATION_MIN: "min",
    process_reward_pb2.AGGREGATION_PROD: "prod",
    process_reward_pb2.AGGREGATION_LAST: "last",
    process_reward_pb2.AGGREGATION_MEAN: "mean",
}
AGGREGATION_TO_PB = {name: value for value, name in AGGREGATIONS.items() if value != 0}


def verdict_to_pb(verdict: Verdict, item_id: str) -> verify_pb2.VerifyResult:
    out = verify_pb2.VerifyResult(
        id=item_id,
        correct=verdict.correct,
        status=_STATUS_TO_PB[verdict.status],
        method=_METHOD_TO_PB[verdict.method],
        reason=verdict.reason,
        elapsed_s=verdict.elapsed_s,
    )
    if verdict.pred_answer is not None:
        out.pred_answer = verdict.pred_answer
    if verdict.ref_answer is not None:
        out.ref_answer = verdict.ref_answer
    if verdict.judge is not None:
        judge = out.judge
        judge.model = verdict.judge.model
        judge.available = verdict.judge.available
        judge.detail = verdict.judge.detail
        if verdict.judge.label is not None:
            judge.label = verdict.judge.label
    return out


def error_result(item_id: str, error: common_pb2.ItemError) -> verify_pb2.VerifyResult:
    """The result of an item that was not verified: status ERROR, the reason and the error say why."""
    return verify_pb2.VerifyResult(
        id=item_id,
        correct=False,
        status=verify_pb2.VERIFICATION_STATUS_ERROR,
        method=verify_pb2.VERIFICATION_METHOD_NONE,
        reason=error.message,
        error=error,
    )


def verdict_from_pb(result: verify_pb2.VerifyResult) -> Verdict:
    judge = None
    if result.HasField("judge"):
        judge = JudgeInfo(
            model=result.judge.model,
            label=result.judge.label if result.judge.HasField("label") else None,
            available=result.judge.available,
            detail=result.judge.detail,
        )
    pred_answer = result.pred_answer if result.HasField("pred_answer") else None
    return Verdict(
        status=_STATUS_FROM_PB.get(result.status, Status.ERROR),
        method=_METHOD_FROM_PB.get(result.method, Method.NONE),
        pred_answer=pred_answer,
        ref_answer=result.ref_answer if result.HasField("ref_answer") else None,
        reason=result.reason,
        elapsed_s=result.elapsed_s,
        judge=judge,
        # the key is a pure function of the extracted answer: recomputed here, the wire stays as it is
        answer_key=answer_key(pred_answer),
    )


def step_scores_to_pb(
    scores: StepScores, item_id: str, *, aggregation: str, threshold: float
) -> process_reward_pb2.ScoreStepsResult:
    return process_reward_pb2.ScoreStepsResult(
        id=item_id,
        scores=list(scores.scores),
        spans=[common_pb2.CharSpan(start=a, end=b) for a, b in scores.spans],
        solution=scores.solution,
        aggregate=scores.aggregate(aggregation),  # type: ignore[arg-type]
        first_error_index=scores.first_error(threshold),
    )


def step_scores_from_pb(result: process_reward_pb2.ScoreStepsResult) -> StepScores:
    from prm import StepScores

    return StepScores(
        scores=tuple(result.scores),
        spans=tuple((s.start, s.end) for s in result.spans),
        solution=result.solution,
    )


def spans_in(text: str, steps: list[str]) -> list[tuple[int, int]] | None:
    """Each step's [start, end) in ``text``, found in order; None when a step is not found after the last."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for step in steps:
        start = text.find(step, pos)
        if start < 0:
            return None
        spans.append((start, start + len(step)))
        pos = start + len(step)
    return spans

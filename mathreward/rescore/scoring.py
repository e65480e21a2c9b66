"""Phase 1's unit of work: one chunk of rows graded (verdicts, answer groups, step scores)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mathreward.backend import Backend, StepItem, StepResult
from mathreward.rescore import io as rio
from mathreward.rescore.columns import Columns, Problem, parse_problem
from mathreward.rescore.errors import RescoreError
from mathreward.rescore.schema import RESPONSE_COLUMNS
from verifier.group import group_answers

log = logging.getLogger("mathreward.rescore")


def _response_values(verdicts: Sequence[Any]) -> dict[str, list[Any]]:
    cols: dict[str, list[Any]] = {name: [] for name in RESPONSE_COLUMNS if name != "answer_group"}
    for v in verdicts:
        cols["correct"].append(bool(v.correct))
        cols["status"].append(v.status.value)
        cols["method"].append(v.method.value)
        cols["extracted_answer"].append(v.pred_answer)
        cols["verify_reason"].append(v.reason)
        judge = None
        if v.judge is not None:
            judge = v.judge.label if v.judge.available and v.judge.label else "unavailable"
        cols["judge"].append(judge)
    return cols


@dataclass
class ChunkResult:
    rows: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    responses: int
    max_n: int
    prm_failures: int = 0


def score_chunk(
    raw_rows: Sequence[rio.RawRow],
    cols: Columns,
    engine: Backend,
    score_steps: Callable[[Sequence[StepItem]], list[StepResult]] | None,
    *,
    list_mode: bool | None,
    aggregate: str = "min",
) -> ChunkResult:
    """Grade one chunk: verdicts, answer groups, step scores, as rows with the per-response columns added.

    ``list_mode`` forces lists (True) or scalars (False) on every row, as a Parquet schema needs; None
    follows each row (a JSONL row with one response string gets scalars). ``score_steps`` scores
    (question, response) items (None: no step scores); ``aggregate`` makes one score per response.
    """
    problems: list[tuple[dict[str, Any], Problem]] = []
    rejects: list[dict[str, Any]] = []
    for raw in raw_rows:
        if raw.row is None:
            rejects.append({"row": raw.index, "id": None, "reason": raw.error, "data": None})
            continue
        parsed = parse_problem(raw.index, raw.row, cols)
        if isinstance(parsed, str):
            rejects.append(
                {"row": raw.index, "id": _id_of(raw.row, cols, raw.index), "reason": parsed, "data": raw.row}
            )
            continue
        if list_mode is not None and parsed.single == list_mode:
            want = "a list of strings" if list_mode else "a string"
            rejects.append(
                {
                    "row": raw.index,
                    "id": parsed.id,
                    "data": raw.row,
                    "reason": f"{cols.responses} must be {want} in this file",
                }
            )
            continue
        problems.append((raw.row, parsed))

    pairs = [(r, p.reference) for _, p in problems for r in p.responses]
    questions = [p.question for _, p in problems for _ in p.responses]
    verdicts = engine.verify_batch(pairs, questions) if pairs else []
    if len(verdicts) != len(pairs):
        raise RescoreError(f"the verifier returned {len(verdicts)} verdicts for {len(pairs)} pairs")

    # per problem: its slice of verdicts; answers grouped for maj@k by the verifier's one grouping
    # (canonical answer keys, every correct answer in one group), as prm.select_best and verl group
    per_problem: list[dict[str, list[Any]]] = []
    pos = 0
    for _, p in problems:
        vals = _response_values(verdicts[pos : pos + len(p.responses)])
        pos += len(p.responses)
        vals["answer_group"] = group_answers(vals["extracted_answer"], correct=vals["correct"])
        per_problem.append(vals)

    prm_failures = 0
    if score_steps is not None:
        items: list[StepItem] = [(p.question or "", r) for _, p in problems for r in p.responses]
        results = score_steps(items) if items else []
        pos = 0
        for vals, (_, p) in zip(per_problem, problems, strict=True):
            vals["step_scores"], vals["prm_score"] = [], []
            for r in results[pos : pos + len(p.responses)]:
                if r.scores is None:
                    prm_failures += 1
                    log.debug("row %s: no step scores: %s", p.id, r.error)
                    vals["step_scores"].append(None)
                    vals["prm_score"].append(None)
                else:
                    vals["step_scores"].append(list(r.scores.scores))
                    vals["prm_score"].append(r.aggregate(aggregate))
            pos += len(p.responses)

    rows: list[dict[str, Any]] = []
    for (row, p), vals in zip(problems, per_problem, strict=True):
        out = dict(row)
        for name, values in vals.items():
            out.pop(name, None)
            out[name] = values[0] if p.single else values
        rows.append(out)
    return ChunkResult(
        rows=rows,
        rejects=rejects,
        responses=len(pairs),
        max_n=max((len(p.responses) for _, p in problems), default=0),
        prm_failures=prm_failures,
    )


def _id_of(row: dict[str, Any], cols: Columns, index: int) -> Any:
    if cols.id is None:
        return index
    v = rio.get_path(row, cols.id)
    return index if v is rio.MISSING else v

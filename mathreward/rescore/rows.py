"""Phase 2's unit of work: one graded row gets its per-problem metrics, is counted, and filtered."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from mathreward.rescore import io as rio
from mathreward.rescore.accuracy import Summary
from mathreward.rescore.columns import Columns
from mathreward.rescore.difficulty import difficulty_bucket
from mathreward.rescore.errors import RescoreError
from mathreward.rescore.filters import FilterOptions, keep_problem, select_responses
from mathreward.rescore.repetition import is_repetitive
from mathreward.rescore.schema import PRM_COLUMNS, RESPONSE_COLUMNS

if TYPE_CHECKING:
    from mathreward.rescore.exports import Exporter


def default_ks(max_n: int) -> tuple[int, ...]:
    """1, the powers of two below n, and n."""
    ks = {1, max_n} if max_n >= 1 else {1}
    k = 2
    while k < max_n:
        ks.add(k)
        k *= 2
    return tuple(sorted(ks))


def _as_list(value: Any, single: bool) -> list[Any]:
    if single:
        return [value]
    return list(value) if value is not None else []


def _set_path(row: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of row with the value at a dotted path replaced (dicts on the way are copied)."""
    head, _, rest = path.partition(".")
    out = dict(row)
    if not rest:
        out[head] = value
    else:
        inner = out.get(head)
        if not isinstance(inner, dict):
            raise RescoreError(f"cannot filter responses at {path}: {head} is not a nested record")
        out[head] = _set_path(inner, rest, value)
    return out


def finish_row(
    row: dict[str, Any],
    *,
    cols: Columns | None,
    ks: Sequence[int],
    with_prm: bool,
    summary: Summary,
    filters: FilterOptions,
    exporter: Exporter | None = None,
) -> dict[str, Any] | None:
    """Add the per-problem metrics to a graded row, count it in the summary, apply the filters.

    Also added: each response's ``repetition`` flag (stuck in a loop) and the problem's
    ``difficulty`` bucket. The ``exporter``, when given, sees every row before the filters.
    Returns the row to write (responses possibly filtered), or None when the filters drop it.
    """
    if "correct" not in row:
        raise RescoreError("the row has no `correct` column: is this file rescored?")
    single = not isinstance(row["correct"], list | tuple)
    correct = [bool(c) for c in _as_list(row["correct"], single)]
    n = len(correct)

    def per_response(name: str, default: Any = None) -> list[Any]:
        if name not in row:
            return [default] * n
        return _as_list(row[name], single)

    groups = per_response("answer_group")
    prm_scores = per_response("prm_score") if with_prm else None
    source = None
    if cols is not None and cols.source is not None:
        s = rio.get_path(row, cols.source)
        source = None if s is rio.MISSING or s is None else str(s)
    statuses = [str(s) for s in per_response("status", "unknown")]
    m = summary.add_problem(
        correct=correct,
        groups=groups,
        statuses=statuses,
        methods=[str(s) for s in per_response("method", "unknown")],
        judged=[j is not None for j in per_response("judge")],
        prm_scores=prm_scores,
        source=source,
    )
    out = dict(row)
    out["num_correct"] = m["num_correct"]
    out["pass_rate"] = m["pass_rate"]
    out["difficulty"] = difficulty_bucket(m["num_correct"], n)
    responses = rio.get_path(row, cols.responses) if cols is not None else rio.MISSING
    texts = _as_list(responses, single) if responses is not rio.MISSING else [None] * n
    repetition = [is_repetitive(t) for t in texts] if len(texts) == n else [False] * n
    out["repetition"] = repetition[0] if single else repetition
    for k in ks:
        out[f"pass@{k}"] = m.get(f"pass@{k}")
    for k in ks:
        out[f"maj@{k}"] = m.get(f"maj@{k}")
    if with_prm:
        out["prm_best_correct"] = m["prm_best_correct"]
    if exporter is not None:
        exporter.add(out, correct, repetition, groups, statuses)
    if not filters.active:
        return out
    if not keep_problem(Fraction(m["num_correct"], n) if n else 0, groups, filters, m["num_correct"]):
        return None
    keep = select_responses(correct, filters)
    if not keep:
        return None
    if len(keep) == n:
        return out
    if cols is None:
        raise RescoreError("response filters need the responses column")
    # only list rows reach here: a single-response row keeps its one response or is dropped
    responses = rio.get_path(out, cols.responses)
    out = _set_path(out, cols.responses, [responses[i] for i in keep])
    for name in (*RESPONSE_COLUMNS, "repetition", *(PRM_COLUMNS if with_prm else ())):
        if name in out and isinstance(out[name], list):
            out[name] = [out[name][i] for i in keep]
    return out

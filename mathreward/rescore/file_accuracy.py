"""The summary of an already rescored file, recomputed from its per-response columns."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from mathreward.rescore import io as rio
from mathreward.rescore.accuracy import Summary
from mathreward.rescore.columns import ColumnError, Columns, resolve_columns
from mathreward.rescore.errors import RescoreError
from mathreward.rescore.filters import FilterOptions
from mathreward.rescore.rows import default_ks, finish_row

log = logging.getLogger("mathreward.rescore")


def metrics_of_file(
    path: Path,
    *,
    ks: Sequence[int] | None = None,
    layout: str = "auto",
    column_overrides: dict[str, str | None] | None = None,
) -> Summary:
    """The summary of an already rescored file, recomputed from its per-response columns."""
    fmt = rio.detect_format(path)
    first = next((r.row for chunk in rio.iter_chunks(path, fmt, 64) for r in chunk if r.row), None)
    if first is None:
        raise RescoreError(f"{path} has no readable row")
    if "correct" not in first:
        raise RescoreError(f"{path} has no `correct` column: rescore it first (mathreward rescore)")
    try:
        cols: Columns | None = resolve_columns(first, layout, column_overrides)
    except (ColumnError, ValueError) as e:  # the source column only labels the per-source accuracy
        log.info("columns not resolved (%s); no per-source accuracy", e)
        cols = None
    with_prm = "prm_score" in first
    max_n = 0
    for chunk in rio.iter_chunks(path, fmt, 1024):
        for r in chunk:
            if r.row is not None:
                c = r.row.get("correct")
                max_n = max(max_n, len(c) if isinstance(c, list | tuple) else 1)
    summary = Summary(ks=tuple(sorted(set(ks))) if ks else default_ks(max_n))
    bad = 0
    for chunk in rio.iter_chunks(path, fmt, 1024):
        for r in chunk:
            if r.row is None or "correct" not in r.row:
                bad += 1
                continue
            finish_row(
                r.row, cols=cols, ks=summary.ks, with_prm=with_prm, summary=summary, filters=FilterOptions()
            )
    summary.rejected = bad
    return summary

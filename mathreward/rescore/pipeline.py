"""Phase 1: grade the chunks from the checkpoint on, a few at a time, committed strictly in order."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TextIO

from mathreward.backend import Backend, StepItem, StepResult
from mathreward.rescore import io as rio
from mathreward.rescore.columns import Columns
from mathreward.rescore.options import RescoreOptions
from mathreward.rescore.progress import Progress
from mathreward.rescore.scoring import ChunkResult, score_chunk
from mathreward.rescore.state import RunState

if TYPE_CHECKING:
    import pyarrow as pa

# chunks graded at once: the next chunk keeps the verifier's workers busy while one finishes
PIPELINE_DEPTH = 2


def one_at_a_time(scorer: Backend, split_mode: str) -> Callable[[Sequence[StepItem]], list[StepResult]]:
    """The scorer's step scoring, which the pipeline's threads take turns on (one model, one batch)."""
    lock = threading.Lock()

    def score_steps(items: Sequence[StepItem]) -> list[StepResult]:
        with lock:
            return scorer.score_steps_batch(items, split_mode=split_mode)

    return score_steps


def commit_chunk(
    state: RunState,
    cp: dict[str, Any],
    rows: int,
    res: ChunkResult,
    p_schema: pa.Schema | None,
    scoring_s: float,
) -> dict[str, Any]:
    """Write the next chunk's part (and its rejects), then the checkpoint that counts it; the new checkpoint.

    Whatever grades the chunks (threads here, Ray actors), they are committed through this, in order."""
    i = cp["chunks_done"]
    if state.part_ext == "jsonl":
        rio.write_jsonl_part(state.part(i), res.rows)
    else:
        assert p_schema is not None
        rio.write_parquet_part(state.part(i), res.rows, p_schema)
    if res.rejects:
        rio.write_jsonl_part(state.rejects_part(i), res.rejects)
    cp = {**cp, "chunks_done": i + 1, "rows_done": cp["rows_done"] + rows,
          "responses": cp["responses"] + res.responses,
          "rejected": cp["rejected"] + len(res.rejects), "max_n": max(cp["max_n"], res.max_n),
          "prm_failures": cp["prm_failures"] + res.prm_failures, "scoring_s": scoring_s}
    state.save(cp)
    return cp


def score_all(
    opts: RescoreOptions,
    cols: Columns,
    engine: Backend,
    scorer: Backend | None,
    state: RunState,
    cp: dict[str, Any],
    in_fmt: rio.Format,
    list_mode: bool | None,
    p_schema: pa.Schema | None,
    total: int,
    stream: TextIO,
    on_chunk: Callable[[int], None] | None,
) -> dict[str, Any]:
    """Phase 1: grade the chunks from the checkpoint on, PIPELINE_DEPTH at a time, committed in order.

    Chunks overlap so that the verifier's workers stay busy while a chunk waits for its slowest pair,
    writes its part or scores its steps; parts and checkpoints are still written strictly in order.
    An explicit ``--workers N`` is shared between the chunks in flight (N=4: 2 + 2; N=1: no overlap).
    """

    def chunks() -> Iterator[list[rio.RawRow]]:
        for chunk in rio.iter_chunks(opts.input, in_fmt, int(cp["chunk_size"]), start=cp["rows_done"]):
            if opts.limit is not None:
                chunk = [r for r in chunk if r.index < opts.limit]
                if not chunk:
                    return
            yield chunk

    shared = one_at_a_time(scorer, opts.step_mode) if scorer is not None else None
    lanes = engine.split(PIPELINE_DEPTH)  # chunk i uses lanes[i % depth]: --workers holds in total
    depth = len(lanes)
    progress = Progress(total, cp["rows_done"], opts.progress, opts.log_every_s, stream)
    base_s, t_start = float(cp["scoring_s"]), time.monotonic()
    pending: deque[tuple[list[rio.RawRow], Future[ChunkResult]]] = deque()
    source = chunks()
    pool = ThreadPoolExecutor(max_workers=depth, thread_name_prefix="rescore-chunk")
    try:
        while True:
            while len(pending) < depth:
                chunk = next(source, None)
                if chunk is None:
                    break
                lane = lanes[(cp["chunks_done"] + len(pending)) % depth]
                fut = pool.submit(
                    score_chunk, chunk, cols, lane, shared, list_mode=list_mode, aggregate=opts.prm_aggregate
                )
                pending.append((chunk, fut))
            if not pending:
                break
            chunk, fut = pending.popleft()
            res = fut.result()
            cp = commit_chunk(state, cp, len(chunk), res, p_schema, base_s + time.monotonic() - t_start)
            progress.update(len(chunk), res.responses)
            if on_chunk is not None:
                on_chunk(cp["chunks_done"])
    finally:
        for _, fut in pending:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        progress.close()
    return cp

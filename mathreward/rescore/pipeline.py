"""Phase 1: grade the chunks from the checkpoint on, a few at a time, committed strictly in order."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
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


@dataclass
class Phase1:
    """One run's phase 1, whatever grades its chunks (threads here, Ray actors): what it reads, where its
    parts go, and the one commit step through which every graded chunk passes, in order."""

    opts: RescoreOptions
    cols: Columns
    state: RunState
    in_fmt: rio.Format
    list_mode: bool | None  # lists (True) or scalars (False) on every row, as a Parquet schema needs
    p_schema: pa.Schema | None  # the part files' schema (None: JSONL parts)
    total: int  # rows this run rescores, for the progress line
    stream: TextIO
    on_chunk: Callable[[int], None] | None = None  # called with the chunks done after each commit
    progress: Progress | None = field(default=None, init=False)
    _base_s: float = field(default=0.0, init=False)  # scoring seconds before this run (a resumed one)
    _t0: float = field(default=0.0, init=False)  # when this run started grading (time.monotonic)

    def start(self, cp: dict[str, Any]) -> None:
        """Start the progress line and the clock, from the checkpoint ``cp``."""
        opts = self.opts
        self.progress = Progress(self.total, cp["rows_done"], opts.progress, opts.log_every_s, self.stream)
        self._base_s, self._t0 = float(cp["scoring_s"]), time.monotonic()

    def commit(self, cp: dict[str, Any], rows: int, res: ChunkResult) -> dict[str, Any]:
        """Write the next chunk's part (and its rejects), then the checkpoint that counts it; the new one."""
        i, state = cp["chunks_done"], self.state
        if state.part_ext == "jsonl":
            rio.write_jsonl_part(state.part(i), res.rows)
        else:
            assert self.p_schema is not None
            rio.write_parquet_part(state.part(i), res.rows, self.p_schema)
        if res.rejects:
            rio.write_jsonl_part(state.rejects_part(i), res.rejects)
        cp = {
            **cp,
            "chunks_done": i + 1,
            "rows_done": cp["rows_done"] + rows,
            "responses": cp["responses"] + res.responses,
            "rejected": cp["rejected"] + len(res.rejects),
            "max_n": max(cp["max_n"], res.max_n),
            "prm_failures": cp["prm_failures"] + res.prm_failures,
            "scoring_s": self._base_s + time.monotonic() - self._t0,
        }
        state.save(cp)
        if self.progress is not None:
            self.progress.update(rows, res.responses)
        if self.on_chunk is not None:
            self.on_chunk(i + 1)
        return cp

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()


def score_all(run: Phase1, cp: dict[str, Any], engine: Backend, scorer: Backend | None) -> dict[str, Any]:
    """Phase 1: grade the chunks from the checkpoint on, PIPELINE_DEPTH at a time, committed in order.

    Chunks overlap so that the verifier's workers stay busy while a chunk waits for its slowest pair,
    writes its part or scores its steps; parts and checkpoints are still written strictly in order.
    An explicit ``--workers N`` is shared between the chunks in flight (N=4: 2 + 2; N=1: no overlap).
    """
    opts, cols, list_mode = run.opts, run.cols, run.list_mode

    def chunks() -> Iterator[list[rio.RawRow]]:
        for chunk in rio.iter_chunks(opts.input, run.in_fmt, int(cp["chunk_size"]), start=cp["rows_done"]):
            if opts.limit is not None:
                chunk = [r for r in chunk if r.index < opts.limit]
                if not chunk:
                    return
            yield chunk

    shared = one_at_a_time(scorer, opts.step_mode) if scorer is not None else None
    lanes = engine.split(PIPELINE_DEPTH)  # chunk i uses lanes[i % depth]: --workers holds in total
    depth = len(lanes)
    run.start(cp)
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
            cp = run.commit(cp, len(chunk), fut.result())
    finally:
        for _, fut in pending:
            fut.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
        run.close()
    return cp

"""The engines as the service drives them: never on the event loop, bounded, cancellable.

- :class:`VerifyEngine` cuts a request into chunks and runs ``verifier.verify_batch`` on each chunk in a
  thread pool (the SymPy work itself runs in the verifier's sandbox processes). A cancelled or expired
  call's chunks that have not started are dropped; at most one chunk per thread is still finishing.
- :class:`PRMEngine` loads the weights in the background and puts a dynamic batcher in front of the
  model: solutions from concurrent calls wait up to ``max_wait_ms`` for each other and go to
  ``score_batch`` together, up to ``max_batch_tokens`` (estimated) and ``max_batch_items`` per batch.
  Solutions of a cancelled call are skipped when the next batch is formed.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import enum
import functools
import logging
import queue
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mathreward.service.config import BatcherConfig, ServerConfig, ServiceLimits
from mathreward.service.errors import FailedPrecondition, ResourceExhausted, Unavailable
from mathreward.service.prometheus import Metrics
from verifier.config import VerifyConfig
from verifier.verdict import Status, Verdict

if TYPE_CHECKING:
    from prm import ProcessRewardModel, StepScores

log = logging.getLogger("mathreward.server")


class DaemonExecutor(concurrent.futures.Executor):
    """A fixed set of daemon threads running submitted calls in order.

    Unlike ``ThreadPoolExecutor``, whose threads the interpreter joins at exit, a server whose grace
    has run out can exit while a thread still waits on a long verify_batch chunk (its sandbox workers
    are stopped at exit): shutdown is bounded by the grace, not by the slowest chunk.
    """

    def __init__(self, threads: int, name: str) -> None:
        self._work: queue.SimpleQueue[tuple[concurrent.futures.Future[Any], Callable[[], Any]] | None] = (
            queue.SimpleQueue()
        )
        self._closed = False
        self._lock = threading.Lock()
        self._pending: set[concurrent.futures.Future[Any]] = set()
        self._threads = [
            threading.Thread(target=self._loop, name=f"{name}-{k}", daemon=True)
            for k in range(max(1, threads))
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            self._pending.add(future)
        self._work.put((future, functools.partial(fn, *args, **kwargs)))
        return future

    def _loop(self) -> None:
        while (job := self._work.get()) is not None:
            future, call = job
            with self._lock:
                self._pending.discard(future)
            if not future.set_running_or_notify_cancel():
                continue
            try:
                result = call()
            except BaseException as exc:  # the caller gets it from the future
                future.set_exception(exc)
            else:
                future.set_result(result)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pending, self._pending = self._pending, set()
        if cancel_futures:
            for future in pending:
                future.cancel()
        for _ in self._threads:
            self._work.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


class _Admission:
    """Counts the items admitted to one engine and refuses (or, for streams, holds back) what would
    exceed the queue depth."""

    def __init__(self, engine: str, limits: ServiceLimits, metrics: Metrics) -> None:
        self._engine = engine
        self.limit = limits.max_queue_depth
        self._gauge = metrics.queue_depth.labels(engine=engine)
        self._room = asyncio.Event()
        self.depth = 0

    def admit(self, n: int) -> None:
        if self.depth + n > self.limit:
            raise ResourceExhausted(
                f"the {self._engine} queue is full ({self.depth} items waiting, limit {self.limit}, "
                f"this call adds {n}); retry later"
            )
        self.depth += n
        self._gauge.set(self.depth)

    async def wait_admit(self, n: int) -> None:
        """Admit ``n`` items once there is room for them (backpressure for streams)."""
        if n > self.limit:
            raise ResourceExhausted(f"{n} items at once, over the {self._engine} queue depth of {self.limit}")
        while self.depth + n > self.limit:
            self._room.clear()
            await self._room.wait()
        self.admit(n)

    def release(self, n: int) -> None:
        self.depth -= n
        self._gauge.set(self.depth)
        self._room.set()


def _verify_chunk(
    pairs: list[tuple[str, str]], questions: list[str | None], config: VerifyConfig, workers: int | None
) -> list[Verdict]:
    from verifier import verify_batch

    return verify_batch(pairs, questions=questions, config=config, workers=workers)


class VerifyEngine:
    """``verify_batch`` off the event loop, in chunks, with admission control."""

    def __init__(self, config: ServerConfig, metrics: Metrics) -> None:
        self._workers = config.verify_workers
        self._chunk = max(1, config.verify_chunk_items)
        self._metrics = metrics
        self._executor = DaemonExecutor(config.verify_threads, "mathreward-verify")
        self.admission = _Admission("verify", config.limits, metrics)

    async def warm_up(self, config: VerifyConfig) -> None:
        """One symbolic comparison, so the sandbox pool is started before the first call needs it."""
        await self._run([("\\frac{2}{4}", "1/2")], [None], config)

    async def verify(
        self,
        pairs: Sequence[tuple[str, str]],
        questions: Sequence[str | None],
        config: VerifyConfig,
        *,
        wait: bool = False,
    ) -> list[Verdict]:
        """The verdicts of ``pairs`` in order. Cancel the awaiting task to drop the chunks not yet started.

        A full queue is RESOURCE_EXHAUSTED, or with ``wait`` a wait for room (what a stream does).
        """
        out: list[Verdict | None] = [None] * len(pairs)
        async for start, verdicts in self.verify_chunks(pairs, questions, config, wait=wait):
            out[start : start + len(verdicts)] = verdicts
        return [v for v in out if v is not None]

    async def verify_chunks(
        self,
        pairs: Sequence[tuple[str, str]],
        questions: Sequence[str | None],
        config: VerifyConfig,
        chunk_items: int | None = None,
        *,
        wait: bool = False,
    ) -> AsyncIterator[tuple[int, list[Verdict]]]:
        """(offset, verdicts) of each chunk as it finishes; admits all of ``pairs`` first (or refuses;
        with ``wait``, waits for room)."""
        n = len(pairs)
        if wait:
            await self.admission.wait_admit(n)
        else:
            self.admission.admit(n)
        size = chunk_items or self._chunk
        if n > size:  # spread the batch evenly over the chunks, so no chunk is a straggler
            chunks = -(-n // size)
            size = -(-n // chunks)
        tasks: dict[asyncio.Future[list[Verdict]], int] = {}
        try:
            for start in range(0, n, size):
                stop = min(n, start + size)
                task: asyncio.Future[list[Verdict]] = asyncio.ensure_future(
                    self._run(list(pairs[start:stop]), list(questions[start:stop]), config)
                )
                tasks[task] = start
            pending = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    yield tasks[task], task.result()
        finally:
            for task in tasks:
                task.cancel()
            self.admission.release(n)

    async def _run(
        self, pairs: list[tuple[str, str]], questions: list[str | None], config: VerifyConfig
    ) -> list[Verdict]:
        future = self._executor.submit(_verify_chunk, pairs, questions, config, self._workers)
        started = time.perf_counter()
        try:
            verdicts = await asyncio.wrap_future(future)
        except asyncio.CancelledError:
            if future.cancel():  # never started: the work is dropped
                self._metrics.cancelled_items.labels(engine="verify").inc(len(pairs))
            raise
        self._metrics.engine_latency.labels(engine="verify").observe(time.perf_counter() - started)
        self._metrics.batch_size.labels(engine="verify").observe(len(pairs))
        for verdict in verdicts:
            if verdict.status is Status.TIMEOUT:
                self._metrics.timeouts.labels(kind="verify").inc()
            if verdict.judge is not None:
                available = verdict.judge.available and verdict.judge.label is not None
                self._metrics.judge_calls.labels(
                    outcome=verdict.judge.label if available else "unavailable"
                ).inc()
        return verdicts

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


class PRMState(str, enum.Enum):
    ABSENT = "absent"  # no --prm-model given
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"  # loading raised; ``PRMEngine.error`` says why


@dataclass
class _Job:
    question: str
    steps: list[str]
    tokens: int
    future: asyncio.Future[StepScores]


def estimate_tokens(question: str, steps: Sequence[str]) -> int:
    """A cheap upper-side estimate of a solution's token count (about 3 characters a token, plus tags)."""
    chars = len(question) + sum(len(s) for s in steps)
    return chars // 3 + 2 * len(steps) + 16


class PRMEngine:
    """The process reward model, loaded in the background, behind a dynamic batcher."""

    def __init__(self, config: ServerConfig, metrics: Metrics) -> None:
        self._config = config
        self._batcher: BatcherConfig = config.batcher
        self._metrics = metrics
        self.state = PRMState.ABSENT if config.prm_model is None else PRMState.LOADING
        self.error = ""
        self.model: ProcessRewardModel | None = None
        self.admission = _Admission("prm", config.limits, metrics)
        # one thread: one model batch at a time, in order
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="mathreward-prm"
        )
        self._jobs: collections.deque[_Job] = collections.deque()
        self._wake = asyncio.Event()
        self._loop_task: asyncio.Task[None] | None = None

    @property
    def format(self) -> str:
        return str(getattr(self.model, "format", "")) if self.model is not None else ""

    async def load(self) -> None:
        """Load the weights off the event loop; on success start the batcher. Never raises."""
        path = self._config.prm_model
        if path is None:
            return
        started = time.perf_counter()
        try:
            self.model = await asyncio.get_running_loop().run_in_executor(
                self._executor,
                functools.partial(
                    _load_model,
                    str(path),
                    self._config.prm_format,
                    self._config.prm_device,
                    self._config.prm_dtype,
                ),
            )
        except Exception as exc:  # any failure leaves the verifier serving; the reason is kept for callers
            self.state = PRMState.FAILED
            self.error = f"loading the PRM from {path} failed: {type(exc).__name__}: {exc}"
            log.error("%s", self.error)
            return
        self.state = PRMState.READY
        self._metrics.prm_ready.set(1)
        self._loop_task = asyncio.ensure_future(self._batch_loop())
        log.info("PRM %s (%s) loaded in %.1f s", path, self.format, time.perf_counter() - started)

    def check_ready(self) -> None:
        if self.state is PRMState.READY:
            return
        if self.state is PRMState.LOADING:
            raise Unavailable("the PRM weights are still loading; retry shortly (see grpc.health.v1)")
        if self.state is PRMState.FAILED:
            raise FailedPrecondition(self.error)
        raise FailedPrecondition("no process reward model is loaded (start the server with --prm-model PATH)")

    async def score(self, items: Sequence[tuple[str, list[str]]]) -> list[StepScores | BaseException]:
        """Scores of each (question, steps), in order; an item the model refuses gets its exception."""
        self.check_ready()
        self.admission.admit(len(items))
        loop = asyncio.get_running_loop()
        jobs = [_Job(q, steps, estimate_tokens(q, steps), loop.create_future()) for q, steps in items]
        self._jobs.extend(jobs)
        self._wake.set()
        try:
            return list(await asyncio.gather(*(job.future for job in jobs), return_exceptions=True))
        finally:
            for job in jobs:
                job.future.cancel()  # a no-op for those answered; the batcher skips the rest
            self.admission.release(len(items))

    async def _next_batch(self) -> list[_Job]:
        loop = asyncio.get_running_loop()
        while not self._jobs:
            self._wake.clear()
            await self._wake.wait()
        batch: list[_Job] = []
        tokens = 0
        until = loop.time() + self._batcher.max_wait_ms / 1000
        while len(batch) < self._batcher.max_batch_items:
            if self._jobs:
                job = self._jobs[0]
                if job.future.done():  # cancelled by its call
                    self._jobs.popleft()
                    self._metrics.cancelled_items.labels(engine="prm").inc()
                    continue
                if batch and tokens + job.tokens > self._batcher.max_batch_tokens:
                    break
                batch.append(self._jobs.popleft())
                tokens += job.tokens
                continue
            remaining = until - loop.time()
            if remaining <= 0:
                break
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except asyncio.TimeoutError:
                break
        self._metrics.batch_tokens.observe(tokens)
        return batch

    async def _batch_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._next_batch()
            if not batch:
                continue
            started = time.perf_counter()
            results = await loop.run_in_executor(
                self._executor, _score_isolating, self.model, [(j.question, j.steps) for j in batch]
            )
            self._metrics.engine_latency.labels(engine="prm").observe(time.perf_counter() - started)
            self._metrics.batch_size.labels(engine="prm").observe(len(batch))
            for job, result in zip(batch, results, strict=True):
                if job.future.done():
                    continue
                if isinstance(result, BaseException):
                    job.future.set_exception(result)
                else:
                    job.future.set_result(result)

    async def close(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        while self._jobs:  # solutions still waiting for a batch: their calls are answered, not left hanging
            job = self._jobs.popleft()
            if not job.future.done():
                job.future.set_exception(Unavailable("the server shut down before this item was scored"))
        self._executor.shutdown(wait=False, cancel_futures=True)


def _load_model(path: str, fmt: str, device: str, dtype: str) -> ProcessRewardModel:
    from prm import ProcessRewardModel

    return ProcessRewardModel.from_pretrained(path, format=fmt, device=device, dtype=dtype)


def _score_isolating(model: Any, items: list[tuple[str, list[str]]]) -> list[Any]:
    """``score_batch`` with each bad item's error in its place; if the batch still raises, each item alone."""
    try:
        return list(model.score_batch(items, return_errors=True))
    except Exception:  # not an input error of one item: find out which item it belongs to
        out: list[Any] = []
        for question, steps in items:
            try:
                out.append(model.score(question, steps))
            except Exception as exc:  # this item's own error, returned to its caller as an ItemError
                out.append(exc)
        return out

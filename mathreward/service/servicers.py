"""The three services, kept thin: check the request, call an engine, convert; errors leave through
:func:`mathreward.service.errors.status_for` in :func:`_rpc`."""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

from mathreward._proto import (
    common_pb2,
    process_reward_pb2,
    process_reward_pb2_grpc,
    reward_pb2,
    reward_pb2_grpc,
    verify_pb2,
    verify_pb2_grpc,
)
from mathreward.service.budget import ByteBudget, StreamHold
from mathreward.service.convert import (
    AGGREGATIONS,
    SPLIT_MODES,
    error_result,
    spans_in,
    step_scores_to_pb,
    verdict_to_pb,
)
from mathreward.service.engines import PRMState
from mathreward.service.errors import InvalidArgument, OverBudget, ServiceError, item_error, status_for
from mathreward.service.state import ServerState
from verifier.verdict import Verdict

Req = TypeVar("Req")
Resp = TypeVar("Resp")
Handler = Callable[[Any, Req, grpc.aio.ServicerContext], Awaitable[Resp]]

_OPTION_FIELDS = ("timeout_s", "float_rel_tol", "allow_rounded_decimals", "percent_matches_fraction")


@dataclass(frozen=True)
class Undecodable:
    """What a request's bytes became when they were not a valid message (e.g. a string field that is
    not UTF-8): the handler answers INVALID_ARGUMENT instead of gRPC's opaque INTERNAL."""

    message_type: str  # the message the bytes should have been
    error: str  # the parser's complaint

    def invalid(self, field: str = "request") -> InvalidArgument:
        return InvalidArgument(f"not a valid {self.message_type} message: {self.error}", field=field)


@dataclass(frozen=True)
class OverBudgetRequest:
    """What a request's bytes became when the server's in-flight byte budget had no room for them: they
    are not even parsed, and the handler answers RESOURCE_EXHAUSTED."""

    size: int  # the request's bytes

    def error(self, budget: ByteBudget) -> OverBudget:
        try:
            budget.reserve(self.size)
        except OverBudget as exc:
            return exc
        budget.release(self.size)  # room was made meanwhile; still refused, it was never parsed
        return OverBudget(f"the server had no room for this request's {self.size} bytes; retry")


def _lenient(message_class: Any, budget: ByteBudget | None = None) -> Callable[[bytes], Any]:
    def parse(data: bytes) -> Any:
        if budget is not None and len(data) > budget.limit - budget.used:
            return OverBudgetRequest(len(data))
        try:
            return message_class.FromString(data)
        except Exception as exc:  # DecodeError, or a string field that is not UTF-8
            return Undecodable(message_class.DESCRIPTOR.full_name, f"{type(exc).__name__}: {exc}")

    return parse


def add_service(server: grpc.aio.Server, servicer: Any, service: Any, module: Any) -> None:
    """Register ``servicer`` for ``service`` (a ServiceDescriptor of ``module``), as the generated
    ``add_*Servicer_to_server`` does, but with request parsing that never fails the call opaquely and
    that does not parse a request the server's byte budget has no room for."""
    budget = servicer.state.budget
    handlers = {}
    for method in service.methods:
        request_class = getattr(module, method.input_type.name)
        response_class = getattr(module, method.output_type.name)
        kind = {
            (False, False): grpc.unary_unary_rpc_method_handler,
            (False, True): grpc.unary_stream_rpc_method_handler,
            (True, False): grpc.stream_unary_rpc_method_handler,
            (True, True): grpc.stream_stream_rpc_method_handler,
        }[(method.client_streaming, method.server_streaming)]
        handlers[method.name] = kind(
            getattr(servicer, method.name),
            request_deserializer=_lenient(request_class, budget),
            response_serializer=response_class.SerializeToString,
        )
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service.full_name, handlers),))


class _CallMetrics:
    """Counts one call once: in flight while it runs, then its final code and latency.

    ``done`` is called before ``context.abort``: abort sends the status at once, and a scrape taken
    by a client that has its answer must already count the call.
    """

    def __init__(self, state: ServerState, method: str) -> None:
        self._metrics = state.metrics
        self._method = method
        self._started = time.perf_counter()
        self._done = False
        self._metrics.in_flight.labels(method=method).inc()

    def done(self, code: grpc.StatusCode) -> None:
        if self._done:
            return
        self._done = True
        self._metrics.in_flight.labels(method=self._method).dec()
        self._metrics.requests.labels(method=self._method, code=code.name).inc()
        self._metrics.latency.labels(method=self._method).observe(time.perf_counter() - self._started)


def _rpc(method: str) -> Callable[[Handler[Req, Resp]], Handler[Req, Resp]]:
    """Wraps a unary handler: draining check, deadline, metrics, and the one error-to-status mapping."""

    def wrap(fn: Handler[Req, Resp]) -> Handler[Req, Resp]:
        @functools.wraps(fn)
        async def handler(self: Any, request: Req, context: grpc.aio.ServicerContext) -> Resp:
            state: ServerState = self.state
            metrics = state.metrics
            code = grpc.StatusCode.OK
            call = _CallMetrics(state, method)
            held = 0
            try:
                state.check_accepting()
                if isinstance(request, Undecodable):
                    raise request.invalid()
                if isinstance(request, OverBudgetRequest):
                    raise request.error(state.budget)
                held = state.budget.reserve(request.ByteSize(), "request")  # type: ignore[attr-defined]
                remaining = context.time_remaining()
                if remaining is None:
                    return await fn(self, request, context)
                return await asyncio.wait_for(fn(self, request, context), max(remaining, 0.0))
            except asyncio.CancelledError:  # the client went away, or gRPC enforced the deadline
                code = _cancelled_code(context, metrics)
                raise
            except Exception as exc:  # every error leaves as a status, never as a dead server
                code, message = status_for(exc)
                if code is grpc.StatusCode.DEADLINE_EXCEEDED:
                    metrics.timeouts.labels(kind="deadline").inc()
                call.done(code)
                await context.abort(code, message)
                raise  # unreachable: abort raises
            finally:
                state.budget.release(held)
                call.done(code)

        return handler

    return wrap


def _cancelled_code(context: grpc.aio.ServicerContext, metrics: Any) -> grpc.StatusCode:
    """Why a handler was cancelled: its deadline passed (counted as a timeout), or the client cancelled."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        metrics.timeouts.labels(kind="deadline").inc()
        return grpc.StatusCode.DEADLINE_EXCEEDED
    return grpc.StatusCode.CANCELLED


def verify_overrides(options: verify_pb2.VerifyOptions) -> dict[str, Any]:
    """The fields of ``options`` that are set, by VerifyConfig name."""
    return {fd.name: value for fd, value in options.ListFields() if fd.name in _OPTION_FIELDS}


def _verify_item_error(state: ServerState, item: verify_pb2.VerifyItem, where: str) -> ServiceError | None:
    if not item.reference.strip():
        return InvalidArgument("is empty; a reference answer is required", field=f"{where}.reference")
    chars = len(item.id) + len(item.prediction) + len(item.reference) + len(item.question)
    return state.item_chars_error(chars, where)


def _outcome(verdict: Verdict) -> str:
    return verdict.status.value


class VerifyServicer(verify_pb2_grpc.VerifyServiceServicer):
    def __init__(self, state: ServerState) -> None:
        self.state = state

    @_rpc("Verify")
    async def Verify(
        self, request: verify_pb2.VerifyRequest, context: grpc.aio.ServicerContext
    ) -> verify_pb2.VerifyResponse:
        state = self.state
        state.check_items(len(request.items))
        config = state.verify_config_for(verify_overrides(request.options))
        results: list[verify_pb2.VerifyResult | None] = [None] * len(request.items)
        todo: list[int] = []
        for i, item in enumerate(request.items):
            err = _verify_item_error(state, item, f"items[{i}]")
            if err is not None:
                results[i] = error_result(item.id, item_error(err, f"items[{i}]"))
                state.metrics.items.labels(method="Verify", outcome="invalid").inc()
            else:
                todo.append(i)
        if todo:
            items = request.items
            verdicts = await state.verify.verify(
                [(items[i].prediction, items[i].reference) for i in todo],
                [items[i].question if items[i].HasField("question") else None for i in todo],
                config,
            )
            for i, verdict in zip(todo, verdicts, strict=True):
                results[i] = verdict_to_pb(verdict, items[i].id)
                state.metrics.items.labels(method="Verify", outcome=_outcome(verdict)).inc()
        return verify_pb2.VerifyResponse(results=[r for r in results if r is not None])

    async def VerifyStream(
        self,
        request_iterator: AsyncIterator[verify_pb2.VerifyStreamRequest],
        context: grpc.aio.ServicerContext,
    ) -> AsyncIterator[verify_pb2.VerifyStreamResponse]:
        method = "VerifyStream"
        state = self.state
        metrics = state.metrics
        code = grpc.StatusCode.OK
        call = _CallMetrics(state, method)
        stream = _VerifyStream(state)
        try:
            state.check_accepting()
            async for response in stream.run(request_iterator):
                yield response
        except asyncio.CancelledError:  # the client went away, or gRPC enforced the deadline
            code = _cancelled_code(context, metrics)
            raise
        except Exception as exc:  # every error leaves as a status, never as a dead server
            code, message = status_for(exc)
            call.done(code)
            await context.abort(code, message)
        finally:
            await stream.close()
            call.done(code)


class _Window:
    """Items of one stream read and not yet sent; the reader waits for room (backpressure)."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._room = asyncio.Event()

    async def acquire(self, n: int) -> None:
        while self.free < n:
            self._room.clear()
            await self._room.wait()
        self.free -= n

    def release(self, n: int) -> None:
        self.free += n
        self._room.set()


_DONE = object()


@dataclass
class _Failed:
    """A chunk's error, carried to the sending side so the call ends with its status."""

    error: BaseException


class _VerifyStream:
    """One VerifyStream call: a reader task admits items as the window allows, results go out as they
    finish, and every item read is either sent back or the call ends with a status.

    The window counts an item from the moment it is read until its result has been handed to gRPC
    (errors included), so a client that never reads stops the reader after ``max_stream_in_flight``
    items; each message's bytes are held on the server's budget until its last item is sent. Chunks
    wait for room in the engine queue instead of failing (the stream slows down, it loses nothing).
    """

    CHUNK = 16  # items per verify_batch call in a stream: small, so results flow out early

    def __init__(self, state: ServerState) -> None:
        self.state = state
        limits = state.config.limits
        self.out: asyncio.Queue[Any] = asyncio.Queue()
        self.window = _Window(limits.max_stream_in_flight)
        self.chunk = max(1, min(self.CHUNK, limits.max_stream_in_flight, limits.max_queue_depth))
        self.tasks: set[asyncio.Task[None]] = set()
        self.holds: set[StreamHold] = set()
        self.reader: asyncio.Task[None] | None = None
        self.read = 0  # items read
        self.sent = 0  # items whose result was handed to gRPC

    async def run(
        self, requests: AsyncIterator[verify_pb2.VerifyStreamRequest]
    ) -> AsyncIterator[verify_pb2.VerifyStreamResponse]:
        self.reader = asyncio.ensure_future(self._read(requests))
        self.reader.add_done_callback(lambda _t: self.out.put_nowait(_DONE))
        while True:
            entry = await self.out.get()
            if entry is _DONE:
                self.reader.result()  # re-raises the reader's error, if any
                if self.sent != self.read:  # never end short in silence
                    raise ServiceError(f"the stream answered {self.sent} of the {self.read} items it read")
                return
            if isinstance(entry, _Failed):
                raise entry.error
            response, hold = entry
            yield response
            self.sent += 1
            self.window.release(1)
            hold.done()
            if hold.finished:
                self.holds.discard(hold)

    def _put(self, index: int, result: verify_pb2.VerifyResult, hold: StreamHold) -> None:
        self.out.put_nowait((verify_pb2.VerifyStreamResponse(index=index, result=result), hold))

    async def _read(self, requests: AsyncIterator[verify_pb2.VerifyStreamRequest]) -> None:
        state = self.state
        config = None
        async for number, request in _enumerate(requests):
            if isinstance(request, Undecodable):
                raise request.invalid(f"message {number}")
            if isinstance(request, OverBudgetRequest):
                raise request.error(state.budget)
            if config is None:
                config = state.verify_config_for(verify_overrides(request.options), "options")
            elif request.HasField("options"):
                raise InvalidArgument(
                    f"may only be set on the first message of a stream (message {number})", field="options"
                )
            if len(request.items) > state.config.limits.max_items:
                state.check_items(len(request.items), f"message {number}: items")
            hold = StreamHold(state.budget, request.ByteSize())
            self.holds.add(hold)
            chunk: list[tuple[int, verify_pb2.VerifyItem]] = []
            for item in request.items:
                await self.window.acquire(1)
                index = self.read
                self.read += 1
                hold.add()
                err = _verify_item_error(state, item, f"items[{index}]")
                if err is not None:
                    self._put(index, error_result(item.id, item_error(err, f"items[{index}]")), hold)
                    state.metrics.items.labels(method="VerifyStream", outcome="invalid").inc()
                    continue
                chunk.append((index, item))
                if len(chunk) == self.chunk:
                    self._launch(chunk, config, hold)
                    chunk = []
            if chunk:
                self._launch(chunk, config, hold)
            hold.read_all()
            if hold.finished:
                self.holds.discard(hold)
            del request  # the message lives on only as long as its items do
        while self.tasks:
            await asyncio.gather(*self.tasks)

    def _launch(self, chunk: list[tuple[int, verify_pb2.VerifyItem]], config: Any, hold: StreamHold) -> None:
        task = asyncio.ensure_future(self._verify(chunk, config, hold))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _verify(
        self, chunk: list[tuple[int, verify_pb2.VerifyItem]], config: Any, hold: StreamHold
    ) -> None:
        try:
            verdicts = await self.state.verify.verify(
                [(item.prediction, item.reference) for _, item in chunk],
                [item.question if item.HasField("question") else None for _, item in chunk],
                config,
                wait=True,
            )
        except Exception as exc:  # the call ends with this error's status (never a silent gap)
            self.out.put_nowait(_Failed(exc))
            return
        for (index, item), verdict in zip(chunk, verdicts, strict=True):
            self._put(index, verdict_to_pb(verdict, item.id), hold)
            self.state.metrics.items.labels(method="VerifyStream", outcome=_outcome(verdict)).inc()

    async def close(self) -> None:
        tasks = [t for t in (self.reader, *self.tasks) if t is not None]
        for task in tasks:
            task.cancel()  # a no-op for those done
        await asyncio.gather(*tasks, return_exceptions=True)  # retrieves every task's error
        for hold in self.holds:
            hold.release_all()
        self.holds.clear()


async def _enumerate(items: AsyncIterator[Any]) -> AsyncIterator[tuple[int, Any]]:
    n = 0
    async for item in items:
        yield n, item
        n += 1


def _steps_of(item: process_reward_pb2.ScoreStepsItem, where: str) -> list[str]:
    """The steps of one ScoreSteps item; raises the ServiceError that makes it unscorable."""
    which = item.WhichOneof("solution")
    if which is None:
        raise InvalidArgument("set either steps or text", field=f"{where}.solution")
    if which == "text":
        return _split(item.text, item.split_mode, f"{where}.split_mode", f"{where}.text")
    steps = list(item.steps.steps)
    if not steps:
        raise InvalidArgument("holds no steps", field=f"{where}.steps")
    for k, step in enumerate(steps):
        if not step.strip():
            raise InvalidArgument("is empty", field=f"{where}.steps.steps[{k}]")
    return steps


def _split(text: str, mode: Any, mode_field: str, text_field: str) -> list[str]:
    """``text`` cut into steps by a SplitMode; raises InvalidArgument for an unknown mode or no steps."""
    from prm import split_steps

    if mode not in SPLIT_MODES:
        raise InvalidArgument(f"unknown split mode {mode}", field=mode_field)
    steps = split_steps(text, SPLIT_MODES[mode])  # type: ignore[arg-type]
    if not steps:
        raise InvalidArgument("holds no steps to score", field=text_field)
    return steps


class ProcessRewardServicer(process_reward_pb2_grpc.ProcessRewardServiceServicer):
    def __init__(self, state: ServerState) -> None:
        self.state = state

    @_rpc("ScoreSteps")
    async def ScoreSteps(
        self, request: process_reward_pb2.ScoreStepsRequest, context: grpc.aio.ServicerContext
    ) -> process_reward_pb2.ScoreStepsResponse:
        state = self.state
        state.prm.check_ready()
        state.check_items(len(request.items))
        if request.aggregation not in AGGREGATIONS:
            raise InvalidArgument(f"unknown aggregation {request.aggregation}", field="aggregation")
        aggregation = AGGREGATIONS[request.aggregation]
        threshold = request.error_threshold if request.HasField("error_threshold") else 0.5
        if not 0.0 <= threshold <= 1.0:
            raise InvalidArgument(f"must be in [0, 1], got {threshold}", field="error_threshold")
        results: list[process_reward_pb2.ScoreStepsResult | None] = [None] * len(request.items)
        todo: list[tuple[int, str, list[str]]] = []
        for i, item in enumerate(request.items):
            where = f"items[{i}]"
            chars = len(item.id) + len(item.question) + len(item.text) + sum(len(s) for s in item.steps.steps)
            try:
                too_big = state.item_chars_error(chars, where)
                if too_big is not None:
                    raise too_big
                todo.append((i, item.question, _steps_of(item, where)))
            except ServiceError as err:
                results[i] = process_reward_pb2.ScoreStepsResult(id=item.id, error=item_error(err, where))
                state.metrics.items.labels(method="ScoreSteps", outcome="invalid").inc()
        if todo:
            scored = await state.prm.score([(q, steps) for _, q, steps in todo])
            for (i, _, _), out in zip(todo, scored, strict=True):
                item_id = request.items[i].id
                if isinstance(out, BaseException):
                    results[i] = process_reward_pb2.ScoreStepsResult(
                        id=item_id, error=item_error(out, f"items[{i}]")
                    )
                    state.metrics.items.labels(method="ScoreSteps", outcome="error").inc()
                else:
                    results[i] = step_scores_to_pb(out, item_id, aggregation=aggregation, threshold=threshold)
                    state.metrics.items.labels(method="ScoreSteps", outcome="scored").inc()
        return process_reward_pb2.ScoreStepsResponse(
            results=[r for r in results if r is not None], model_format=state.prm.format
        )


class RewardServicer(reward_pb2_grpc.RewardServiceServicer):
    def __init__(self, state: ServerState) -> None:
        self.state = state

    @_rpc("Score")
    async def Score(
        self, request: reward_pb2.ScoreRequest, context: grpc.aio.ServicerContext
    ) -> reward_pb2.ScoreResponse:
        state = self.state
        state.check_items(len(request.items))
        good_reward = request.correct_reward if request.HasField("correct_reward") else 1.0
        bad_reward = request.incorrect_reward if request.HasField("incorrect_reward") else -1.0
        for name, value in (("correct_reward", good_reward), ("incorrect_reward", bad_reward)):
            if not math.isfinite(value):
                raise InvalidArgument(f"must be a finite number, got {value}", field=name)
        if request.split_mode not in SPLIT_MODES:
            raise InvalidArgument(f"unknown split mode {request.split_mode}", field="split_mode")
        config = state.verify_config_for(verify_overrides(request.verify_options), "verify_options")
        with_steps = not request.outcome_only and state.prm.state is PRMState.READY

        results = [reward_pb2.ScoreResult(id=item.id, reward=bad_reward) for item in request.items]
        verify_todo: list[int] = []
        step_todo: list[tuple[int, list[str]]] = []
        for i, item in enumerate(request.items):
            where = f"items[{i}]"
            err: ServiceError | None
            if not item.reference.strip():
                err = InvalidArgument("is empty; a reference answer is required", field=f"{where}.reference")
            else:
                err = state.item_chars_error(
                    len(item.id) + len(item.prompt) + len(item.response) + len(item.reference), where
                )
            if err is not None:
                error = item_error(err, where)
                results[i].error.CopyFrom(error)
                results[i].verdict.CopyFrom(error_result(item.id, error))
                state.metrics.items.labels(method="Score", outcome="invalid").inc()
                continue
            verify_todo.append(i)
            if with_steps:
                try:
                    step_todo.append(
                        (i, _split(item.response, request.split_mode, "split_mode", f"{where}.response"))
                    )
                except ServiceError as step_err:
                    results[i].step_error.CopyFrom(item_error(step_err, where))

        items = request.items
        verify_call = state.verify.verify(
            [(items[i].response, items[i].reference) for i in verify_todo],
            [items[i].prompt or None for i in verify_todo],
            config,
        )
        step_call = (
            state.prm.score([(items[i].prompt, steps) for i, steps in step_todo]) if step_todo else None
        )
        verdicts, scored = await asyncio.gather(verify_call, step_call or _none())
        for i, verdict in zip(verify_todo, verdicts, strict=True):
            results[i].verdict.CopyFrom(verdict_to_pb(verdict, items[i].id))
            results[i].reward = good_reward if verdict.correct else bad_reward
            state.metrics.items.labels(method="Score", outcome=_outcome(verdict)).inc()
        for (i, steps), out in zip(step_todo, scored or [], strict=True):
            if isinstance(out, BaseException):
                results[i].step_error.CopyFrom(item_error(out, f"items[{i}]"))
                continue
            results[i].step_rewards.extend(out.scores)
            spans = spans_in(items[i].response, steps)
            if spans is not None:
                results[i].step_spans.extend(common_pb2.CharSpan(start=a, end=b) for a, b in spans)
        return reward_pb2.ScoreResponse(results=results, step_rewards_included=with_steps)


async def _none() -> None:
    return None

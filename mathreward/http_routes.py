"""HTTP routes for the trainers that POST JSON: OpenRLHF (``/get_reward``) and slime (``/slime/reward``).

``mathreward serve --http-port PORT`` starts this app inside the gRPC server's process and event
loop, on the server's own verifier engine, limits, bearer token and Prometheus metrics. It can
also run alone: with no engine it grades through :func:`mathreward.backend.process_backend`, the
seam the adapters choose through (in this process, or a ``MATHREWARD_SERVER`` server).

Routes:

- ``POST /get_reward``: ``{"query": [...], "prompts": [...], "labels": [...]}`` (``prompts`` and
  ``labels`` may be omitted) -> ``{"rewards", "scores", "extra_logs", "items"}`` as
  :func:`mathreward.adapters.openrlhf.score_queries` documents.
- ``POST /slime/reward``: ``{"prompt", "response", "label"}`` -> ``{"score", "acc", "pred", "status",
  "method", "reason"}``; a JSON list of such objects gets a list of answers.
- ``GET /health``: ``{"status": "SERVING"}``, or 503 ``NOT_SERVING`` while the server drains.

Reward settings (:mod:`mathreward.adapters._settings`): per request with query parameters
(``/get_reward?no_answer_reward=0&strict_format=1``), so a trainer's URL carries its own scale;
what the URL leaves out comes from the server's ``MATHREWARD_*`` environment, else the defaults
(+1 right, -1 otherwise). A batch whose labels are all missing is a 400.

Errors are JSON ``{"error": message}``, and every answer is counted in the metrics under the gRPC
status name of its HTTP status: 400 for a body that is not JSON (or nested deeper than JSON decoding
allows) or not the expected shape (the message names the field), 401 without the bearer token (when
the server has one; a malformed Authorization header is a missing token), 408 for a body not received
within the body timeout, 413 for a body over the message size or more items than the item limit, 429
when the verifier's queue is full (the message says how many items wait), 503 while draining, when the
server's in-flight request bytes are at their limit, or for a call cut at the end of the shutdown grace.
A bad *item* (a missing label, a non-text response, an item over the character limit) is not an error
of the request: it gets the incorrect reward and its own ``status="error"``, and the rest of the batch
is answered. Connections: request line and headers must arrive within the header timeout, an idle
keep-alive connection is closed after the keep-alive timeout (``HttpTimeouts``; docs/serving/limits.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import ssl
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_server import Server

from mathreward.adapters._backend import VerifyFn
from mathreward.adapters._settings import ENV_VARS, MissingLabelsError, RewardSettings
from mathreward.adapters.openrlhf import ascore_queries
from mathreward.adapters.slime import ascore_samples
from mathreward.backend import process_backend
from mathreward.service.auth import TokenChecker
from mathreward.service.config import HttpTimeouts, default_of
from mathreward.service.errors import OverBudget
from verifier.verdict import Verdict

if TYPE_CHECKING:
    from mathreward.service.budget import ByteBudget
    from mathreward.service.prometheus import Metrics
    from mathreward.service.state import ServerState

__all__ = ["HttpLimits", "drain_http", "make_http_app", "start_http"]

log = logging.getLogger("mathreward.http")

OPENRLHF_PATH = "/get_reward"
SLIME_PATH = "/slime/reward"
HEALTH_PATH = "/health"

# the gRPC status name each HTTP status is counted under, so one dashboard covers both protocols
_CODE_NAMES = {
    200: "OK",
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    408: "DEADLINE_EXCEEDED",
    413: "RESOURCE_EXHAUSTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
# the HTTP status of an engine's call-level error, by its gRPC status name (``ServiceError.code``)
_HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "RESOURCE_EXHAUSTED": 429,
    "UNAVAILABLE": 503,
    "FAILED_PRECONDITION": 503,
    "DEADLINE_EXCEEDED": 504,
}


@dataclass(frozen=True)
class HttpLimits:
    """What one HTTP request may ask for (``mathreward serve`` passes its ``ServiceLimits`` values)."""

    max_message_bytes: int = 32 * 1024 * 1024  # largest request body, bytes (413 above)
    max_items: int = 4096  # items in one request (413 above)
    max_item_chars: int = 200_000  # characters in one item, all its text fields together (item error above)
    # pairs of concurrent requests merged into one engine call: at most this many, waiting at most
    # coalesce_wait_ms for company (0 items: no merging)
    coalesce_items: int = 64
    coalesce_wait_ms: float = 2.0
    # reading a request's body once its headers are in, seconds (408 above)
    body_timeout_s: float = default_of(HttpTimeouts, "body_s")

    @classmethod
    def from_service(cls, limits: Any, timeouts: HttpTimeouts | None = None) -> HttpLimits:
        """The same limits as a ``mathreward.service.config.ServiceLimits`` (and ``HttpTimeouts``)."""
        return cls(
            max_message_bytes=limits.max_message_bytes,
            max_items=limits.max_items,
            max_item_chars=limits.max_item_chars,
            body_timeout_s=cls.body_timeout_s if timeouts is None else timeouts.body_s,
        )


class _Coalescer:
    """Merges the pairs of concurrent requests into one engine call.

    slime POSTs one sample per request, and OpenRLHF's agent executor one query per request, many at
    a time; graded one by one, each pays an engine round trip of its own. Pairs that arrive within
    ``max_wait_s`` of the first waiting one (or until ``max_items`` are waiting) go to the engine
    together, and each request gets its own slice of the verdicts back. A call-level engine error
    (a full queue, say) is every merged request's error.
    """

    def __init__(self, engine: VerifyFn, max_items: int, max_wait_s: float) -> None:
        self._engine = engine
        self._max_items = max_items
        self._max_wait_s = max_wait_s
        self._pending: list[
            tuple[list[tuple[str, str]], list[str | None], asyncio.Future[list[Verdict]]]
        ] = []
        self._count = 0
        self._timer: asyncio.TimerHandle | None = None
        self._running: set[asyncio.Task[None]] = set()

    async def __call__(self, pairs: list[tuple[str, str]], questions: list[str | None]) -> list[Verdict]:
        if len(pairs) >= self._max_items:
            return await self._engine(pairs, questions)
        if self._count + len(pairs) > self._max_items:
            self._flush()  # merged batches never exceed max_items
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Verdict]] = loop.create_future()
        self._pending.append((pairs, questions, future))
        self._count += len(pairs)
        if self._count >= self._max_items:
            self._flush()
        elif self._timer is None:
            self._timer = loop.call_later(self._max_wait_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._count = self._pending, [], 0
        if batch:
            task = asyncio.ensure_future(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _run(
        self, batch: list[tuple[list[tuple[str, str]], list[str | None], asyncio.Future[list[Verdict]]]]
    ) -> None:
        pairs = [pair for part, _, _ in batch for pair in part]
        questions = [q for _, qs, _ in batch for q in qs]
        try:
            verdicts = await self._engine(pairs, questions)
        except asyncio.CancelledError:  # the engine was shut down: every merged request is answered
            _fail_all(batch, _shut_down())
            raise
        except Exception as exc:
            if len(batch) > 1 and getattr(getattr(exc, "code", None), "name", "") == "RESOURCE_EXHAUSTED":
                # refused together, perhaps only because they were merged: each asks alone and gets the
                # answer that is true of itself
                await asyncio.gather(*(self._alone(part, qs, future) for part, qs, future in batch))
                return
            _fail_all(batch, exc)  # the call's error is each merged request's error
            return
        offset = 0
        for part, _, future in batch:
            if not future.done():  # a request whose client went away is cancelled; the rest are answered
                future.set_result(verdicts[offset : offset + len(part)])
            offset += len(part)

    async def _alone(
        self, pairs: list[tuple[str, str]], questions: list[str | None], future: asyncio.Future[list[Verdict]]
    ) -> None:
        if future.done():
            return
        try:
            verdicts = await self._engine(pairs, questions)
        except asyncio.CancelledError:
            _fail_all([(pairs, questions, future)], _shut_down())
            raise
        except Exception as exc:
            _fail_all([(pairs, questions, future)], exc)
            return
        if not future.done():
            future.set_result(verdicts)

    def cancel(self) -> None:
        """Shut down: merged requests not yet answered get UNAVAILABLE, the engine calls are cancelled."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._pending, self._count = self._pending, [], 0
        _fail_all(batch, _shut_down())
        for task in self._running:
            task.cancel()


def _shut_down() -> Exception:
    from mathreward.service.errors import Unavailable

    return Unavailable("the server shut down before this call was answered; retry on another replica")


def _fail_all(
    batch: list[tuple[list[tuple[str, str]], list[str | None], asyncio.Future[list[Verdict]]]],
    exc: BaseException,
) -> None:
    for _, _, future in batch:
        if not future.done():
            future.set_exception(exc)


def _retrieve(task: asyncio.Task[Any]) -> None:
    """Mark a work task's outcome as seen: when its call was cancelled, nobody else awaits it."""
    if not task.cancelled():
        task.exception()


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _settings(request: web.Request) -> RewardSettings:
    given = {key: request.query[key] for key in ENV_VARS if key in request.query}
    try:
        return RewardSettings.resolve(given)
    except ValueError as exc:
        raise _BadRequest(400, f"query parameter {exc}") from None


async def _json_body(request: web.Request, timeout_s: float) -> Any:
    try:
        raw = await asyncio.wait_for(request.read(), timeout_s)
    except web.HTTPRequestEntityTooLarge:
        raise _BadRequest(413, f"request body over the limit of {request.client_max_size} bytes") from None
    except asyncio.TimeoutError:
        raise _BadRequest(408, f"the request body did not arrive within {timeout_s:g} s") from None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _BadRequest(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise _BadRequest(400, "the body is JSON nested too deeply to decode") from None


def _optional_list(body: Mapping[str, Any], key: str) -> list[Any] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list):
        raise _BadRequest(400, f"field {key!r} must be a list, got {type(value).__name__}")
    return value


def _check_items(n: int, limits: HttpLimits) -> None:
    if n > limits.max_items:
        raise _BadRequest(413, f"{n} items in one request, over the limit of {limits.max_items}")


class _Routes:
    def __init__(
        self,
        engine: VerifyFn | None,
        limits: HttpLimits,
        token_check: Callable[[str | bytes | None], bool] | None,
        metrics: Metrics | None,
        is_serving: Callable[[], bool] | None,
        budget: ByteBudget | None,
    ) -> None:
        self.engine = engine
        self.limits = limits
        self.token_check = token_check
        self.metrics = metrics
        self.is_serving = is_serving
        self.budget = budget
        self.in_flight: set[asyncio.Task[tuple[Any, list[str]]]] = set()  # work of calls being answered
        self.cut_tasks: set[asyncio.Task[tuple[Any, list[str]]]] = set()  # cut by ``cut``
        self.coalescer: _Coalescer | None = None

    def _authorized(self, request: web.Request) -> bool:
        if self.token_check is None:
            return True
        return self.token_check(request.headers.get("Authorization"))

    async def _handle(
        self, request: web.Request, work: Callable[[web.Request], Awaitable[tuple[Any, list[str]]]]
    ) -> web.Response:
        method = request.path
        started = time.perf_counter()
        if self.metrics is not None:
            self.metrics.in_flight.labels(method=method).inc()
        statuses: list[str] = []
        try:
            response = await self._answer(request, work, statuses)
        except asyncio.CancelledError:  # the client went away: its work was stopped
            if self.metrics is not None:
                self.metrics.requests.labels(method=method, code="CANCELLED").inc()
            raise
        finally:
            if self.metrics is not None:
                self.metrics.in_flight.labels(method=method).dec()
        if self.metrics is not None:
            code = _CODE_NAMES.get(response.status, str(response.status))
            self.metrics.requests.labels(method=method, code=code).inc()
            self.metrics.latency.labels(method=method).observe(time.perf_counter() - started)
            for status in statuses:
                self.metrics.items.labels(method=method, outcome=status).inc()
        return response

    async def _answer(
        self,
        request: web.Request,
        work: Callable[[web.Request], Awaitable[tuple[Any, list[str]]]],
        statuses: list[str],
    ) -> web.Response:
        if not self._authorized(request):
            if self.metrics is not None:
                self.metrics.auth_failures.inc()
            return _error(401, "missing or wrong bearer token (Authorization: Bearer <token>)")
        if self.is_serving is not None and not self.is_serving():
            return _error(503, "the server is draining; retry on another replica")
        held = 0
        task: asyncio.Task[tuple[Any, list[str]]] | None = None
        try:
            if self.budget is not None:
                size = request.content_length
                held = self.budget.reserve(
                    self.limits.max_message_bytes
                    if size is None
                    else min(size, self.limits.max_message_bytes),
                    "request body",
                )
            task = asyncio.ensure_future(work(request))
            task.add_done_callback(
                _retrieve
            )  # a client gone mid-body fails the read as the call is cancelled
            self.in_flight.add(task)
            try:
                answer, item_statuses = await asyncio.shield(task)
            finally:
                self.in_flight.discard(task)
                if not task.done():  # the client went away: stop the work
                    task.cancel()
        except _BadRequest as exc:
            response = _error(exc.status, str(exc))
            if exc.status == 408:
                response.force_close()
            return response
        except MissingLabelsError as exc:
            return _error(400, str(exc))
        except asyncio.CancelledError:
            if task is not None and task in self.cut_tasks:  # cut at the end of the shutdown grace
                self.cut_tasks.discard(task)
                return _error(503, "the server shut down before this call was answered; retry")
            raise
        except Exception as exc:  # an engine's call-level error (full queue, draining): its own status
            if isinstance(exc, OverBudget):
                return _error(503, str(exc))  # this replica holds all the request bytes it may; try another
            name = getattr(getattr(exc, "code", None), "name", "")
            if name in _HTTP_STATUS:
                return _error(_HTTP_STATUS[name], str(exc))
            log.exception("internal error on %s", request.path)
            return _error(500, f"internal error: {type(exc).__name__}")
        finally:
            if self.budget is not None:
                self.budget.release(held)
        statuses.extend(item_statuses)
        return web.json_response(answer)

    def cut(self) -> None:
        """End of the shutdown grace: every call still being worked on is answered 503."""
        for task in list(self.in_flight):
            self.cut_tasks.add(task)
            task.cancel()

    async def openrlhf(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._openrlhf)

    async def _openrlhf(self, request: web.Request) -> tuple[Any, list[str]]:
        body = await _json_body(request, self.limits.body_timeout_s)
        if not isinstance(body, dict):
            raise _BadRequest(400, f"the body must be a JSON object, got {type(body).__name__}")
        queries = _optional_list(body, "query")
        if queries is None:
            raise _BadRequest(400, "field 'query' is required: a list of prompt+response strings")
        prompts = _optional_list(body, "prompts")
        labels = _optional_list(body, "labels")
        for key, seq in (("prompts", prompts), ("labels", labels)):
            if seq is not None and len(seq) != len(queries):
                raise _BadRequest(400, f"field {key!r} has {len(seq)} items but 'query' has {len(queries)}")
        _check_items(len(queries), self.limits)
        settings = _settings(request)
        answer = await ascore_queries(
            queries,
            prompts,
            labels,
            settings=settings,
            engine=self.engine,
            max_item_chars=self.limits.max_item_chars,
        )
        return answer, [item["status"] for item in answer["items"]]

    async def slime(self, request: web.Request) -> web.Response:
        return await self._handle(request, self._slime)

    async def _slime(self, request: web.Request) -> tuple[Any, list[str]]:
        body = await _json_body(request, self.limits.body_timeout_s)
        single = isinstance(body, dict)
        samples = [body] if single else body
        if not isinstance(samples, list):
            raise _BadRequest(
                400, f"the body must be a JSON object or a list of objects, got {type(body).__name__}"
            )
        for i, sample in enumerate(samples):
            if not isinstance(sample, dict):
                where = "the body" if single else f"item {i}"
                raise _BadRequest(400, f"{where} must be an object with prompt, response, label")
        _check_items(len(samples), self.limits)
        settings = _settings(request)
        results = await ascore_samples(
            [s.get("prompt") for s in samples],
            [s.get("response") for s in samples],
            [s.get("label") for s in samples],
            settings=settings,
            engine=self.engine,
            max_item_chars=self.limits.max_item_chars,
        )
        statuses = [r["status"] for r in results]
        return (results[0] if single else results), statuses

    async def health(self, request: web.Request) -> web.Response:
        if self.is_serving is not None and not self.is_serving():
            return web.json_response({"status": "NOT_SERVING"}, status=503)
        return web.json_response({"status": "SERVING"})


def _state_engine(state: ServerState) -> VerifyFn:
    async def verify(pairs: list[tuple[str, str]], questions: list[str | None]) -> list[Verdict]:
        return await state.verify.verify(pairs, questions, state.config.verify_config)

    return verify


ROUTES_KEY = web.AppKey("mathreward_routes", _Routes)


def make_http_app(
    state: ServerState | None = None,
    *,
    engine: VerifyFn | None = None,
    limits: HttpLimits | None = None,
    token: str | None = None,
    metrics: Metrics | None = None,
    is_serving: Callable[[], bool] | None = None,
) -> web.Application:
    """The aiohttp app of the trainer routes.

    ``state``: a running server's :class:`~mathreward.service.state.ServerState`; the routes then
    grade on its verifier engine (one queue and admission limit for HTTP and gRPC), with its
    limits, bearer token, byte budget, metrics and draining flag. Without it (or to override a part
    of it): ``engine`` grades clean pairs (None: this process's
    :func:`~mathreward.backend.process_backend`, in process off the event loop, or the
    ``MATHREWARD_SERVER`` server when one is set); ``token`` requires ``Authorization: Bearer
    <token>`` on the POST routes; ``metrics`` counts requests, items and latency (method label = the
    path); ``is_serving`` returning False makes the routes answer 503.
    """
    token_check: Callable[[str | bytes | None], bool] | None = TokenChecker(token).check if token else None
    budget = None
    if state is not None:
        engine = engine or _state_engine(state)
        limits = limits or HttpLimits.from_service(state.config.limits, state.config.http_timeouts)
        if token_check is None and state.token is not None:
            token_check = state.token.check
        metrics = metrics or state.metrics
        budget = state.budget
        if is_serving is None:
            is_serving = lambda: not state.draining  # noqa: E731
    limits = limits or HttpLimits()
    engine = engine or process_backend().averify_batch  # the backend seam's choice, as the adapters'
    coalescer = None
    if limits.coalesce_items > 1:
        engine = coalescer = _Coalescer(engine, limits.coalesce_items, limits.coalesce_wait_ms / 1000)
    routes = _Routes(engine, limits, token_check, metrics, is_serving, budget)
    routes.coalescer = coalescer
    app = web.Application(client_max_size=limits.max_message_bytes)
    app[ROUTES_KEY] = routes
    app.router.add_post(OPENRLHF_PATH, routes.openrlhf)
    app.router.add_post(SLIME_PATH, routes.slime)
    app.router.add_get(HEALTH_PATH, routes.health)
    return app


class _HeaderTimedHandler(RequestHandler):
    """aiohttp's connection handler with a limit on receiving one request's line and headers: the
    timer starts at the first byte of a request and the connection is closed if the headers are not
    complete when it fires (a body has its own limit, an idle connection aiohttp's keep-alive one)."""

    __slots__ = ("_header_s", "_header_timer")

    def __init__(self, *args: Any, header_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_s = header_timeout
        self._header_timer: asyncio.TimerHandle | None = None

    def data_received(self, data: bytes) -> None:
        requests = self._request_count
        super().data_received(data)
        if self._request_count != requests:  # a request's headers are complete
            self._stop_header_timer()
        elif self._header_timer is None and not self._request_in_progress and not self._messages:
            self._header_timer = self._loop.call_later(self._header_s, self._headers_late)

    def _headers_late(self) -> None:
        self._header_timer = None
        if not self._request_in_progress and not self._messages:
            self.force_close()

    def _stop_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_header_timer()
        super().connection_lost(exc)


class _HeaderTimedServer(Server):
    header_timeout_s = 10.0

    def __call__(self) -> RequestHandler:
        return _HeaderTimedHandler(
            self, loop=self._loop, header_timeout=self.header_timeout_s, **self._kwargs
        )


class _Runner(web.AppRunner):
    def __init__(self, app: web.Application, header_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._header_timeout_s = header_timeout_s

    async def _make_server(self) -> Server:
        server = await super()._make_server()
        server.__class__ = _HeaderTimedServer  # same object and state, its connections time their headers
        server.header_timeout_s = self._header_timeout_s  # type: ignore[attr-defined]
        return server


async def start_http(
    app: web.Application,
    host: str,
    port: int,
    *,
    timeouts: HttpTimeouts | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (0: a free port) in the running loop; returns the runner and port.

    ``timeouts``: header and keep-alive limits of each connection (the body's is ``HttpLimits``);
    ``ssl_context``: serve HTTPS. Stop it with :func:`drain_http` or ``await runner.cleanup()``.
    """
    timeouts = timeouts or HttpTimeouts()
    runner = _Runner(
        app,
        timeouts.header_s,
        access_log=None,
        keepalive_timeout=timeouts.keepalive_s,
        handler_cancellation=True,  # a client that goes away stops its call's work
        # after answering a request whose body was not read (401, 408, 413), read and drop what keeps
        # coming for at most this long before closing (aiohttp's default is 10 s)
        lingering_time=1.0,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port, ssl_context=ssl_context)
    await site.start()
    return runner, int(runner.addresses[0][1])


async def drain_http(runner: web.AppRunner, grace_s: float) -> None:
    """Stop the HTTP routes within ``grace_s``: calls in flight get until then to be answered, the rest
    are answered 503; merged engine calls are resolved; then the listener and connections close.
    (New calls are refused with 503 by the draining flag before this is called.)"""
    routes = runner.app[ROUTES_KEY]
    loop = asyncio.get_running_loop()
    until = loop.time() + grace_s
    while routes.in_flight and loop.time() < until:
        await asyncio.wait(set(routes.in_flight), timeout=until - loop.time())
    routes.cut()
    if routes.coalescer is not None:
        routes.coalescer.cancel()
    await asyncio.sleep(0)  # let cut handlers write their 503
    await runner.shutdown()
    await runner.cleanup()

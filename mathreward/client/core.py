"""The client core: every option, the channel's configuration, and each call built once.

:class:`ClientCore` holds the options and turns each public method's arguments into a :class:`Call` (the
requests to send, the RPC, the deadline, how the answers make the result). :class:`~mathreward.Client`
and :class:`~mathreward.AsyncClient` differ only in how they send a Call: their public methods are made
from the core's by :func:`blocking` and :func:`awaiting`, so each method's arguments, checks and
documentation are written once.

The channel carries a service config: round-robin over every address the target resolves to, and a
retry policy (``retryPolicy``: UNAVAILABLE retried with exponential backoff and jitter, by gRPC itself,
on any replica) for every method of the project's services and health.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar, overload

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mathreward._proto import (
    process_reward_pb2,
    process_reward_pb2_grpc,
    reward_pb2,
    reward_pb2_grpc,
    verify_pb2,
    verify_pb2_grpc,
)
from mathreward.client.errors import ItemError, StreamIncomplete, status_error
from mathreward.client.targets import channel_target
from mathreward.service.convert import (
    AGGREGATION_TO_PB,
    SPLIT_MODE_TO_PB,
    step_scores_from_pb,
    verdict_from_pb,
)
from verifier.verdict import Verdict

if TYPE_CHECKING:
    from mathreward.client.aio import AsyncClient
    from mathreward.client.sync import Client
    from prm import StepScores

T = TypeVar("T")
S = TypeVar("S")
A = TypeVar("A")
P = ParamSpec("P")

# the services whose methods the retry policy covers
SERVICES = (
    "mathreward.v1.VerifyService",
    "mathreward.v1.ProcessRewardService",
    "mathreward.v1.RewardService",
    "grpc.health.v1.Health",
)
MAX_RETRIES = 4  # gRPC's retry policy allows 5 attempts at most
# Retried, on any replica: UNAVAILABLE (down, draining, unreachable), and CANCELLED as a server ends the
# calls it holds when it stops. Every RPC here is a pure function of its request, so a retry is safe; a
# call that the client itself cancels, or whose deadline passes, is never retried.
RETRYABLE = ("UNAVAILABLE", "CANCELLED")


@dataclass(frozen=True)
class Reward:
    """What ``RewardService.Score`` says about one rollout; ``float(reward)`` is the outcome reward."""

    reward: float  # correct_reward when the answer is right, incorrect_reward otherwise
    verdict: Verdict  # the verifier's verdict on the final answer
    step_rewards: tuple[float, ...] = ()  # P(step correct) per step of the response; () without a PRM
    step_spans: tuple[tuple[int, int], ...] = ()  # [start, end) of each step in the response
    error: ItemError | None = None  # set when the item was refused (reward is then incorrect_reward)
    step_error: ItemError | None = None  # set when only the step rewards failed

    def __float__(self) -> float:
        return self.reward


@dataclass(frozen=True)
class Call(Generic[T]):
    """One public method's work: the unary RPC, its requests (one per batch chunk), how the answers read."""

    rpc: str  # "Verify", "ScoreSteps", "Score", "Check"
    requests: tuple[Any, ...]
    read: Callable[[list[Any]], T]
    timeout: float | None  # deadline of each request, seconds (None: none)


@dataclass
class StreamCall:
    """One VerifyStream call: the request messages (pulled lazily) and the check that every item came back."""

    requests: Iterator[verify_pb2.VerifyStreamRequest]
    timeout: float | None
    sent: int = 0  # items handed to gRPC so far
    done_sending: bool = False  # the request iterator is exhausted
    seen: set[int] = field(default_factory=set)

    def answer(self, response: verify_pb2.VerifyStreamResponse) -> tuple[int, Verdict]:
        index = int(response.index)
        if index in self.seen or index >= self.sent:
            raise StreamIncomplete(f"the server answered item {index} twice or before it was sent", 0)
        self.seen.add(index)
        return index, verdict_from_pb(response.result)

    def finish(self) -> None:
        """Raise :class:`StreamIncomplete` unless every item sent was answered."""
        if not self.done_sending:
            raise StreamIncomplete(
                f"the stream ended after {len(self.seen)} answers, before all the items were sent", 0
            )
        missing = self.sent - len(self.seen)
        if missing:
            first = sorted(set(range(self.sent)) - self.seen)[:5]
            raise StreamIncomplete(
                f"the stream ended with {missing} of {self.sent} items unanswered (first: {first})", missing
            )


def _read(path_or_bytes: bytes | str | Path | None) -> bytes | None:
    if path_or_bytes is None or isinstance(path_or_bytes, bytes):
        return path_or_bytes
    return Path(path_or_bytes).read_bytes()


def _seconds(x: float) -> str:
    return f"{x:.6f}s"  # a protobuf Duration in JSON


def service_config(retries: int, backoff_s: float, max_backoff_s: float, wait_for_ready: bool) -> str:
    """The channel's service config: round-robin, and the retry policy on UNAVAILABLE."""
    method: dict[str, Any] = {"name": [{"service": s} for s in SERVICES], "waitForReady": wait_for_ready}
    if retries:
        method["retryPolicy"] = {
            "maxAttempts": retries + 1,
            "initialBackoff": _seconds(backoff_s),
            "maxBackoff": _seconds(max_backoff_s),
            "backoffMultiplier": 2,
            "retryableStatusCodes": list(RETRYABLE),
        }
    return json.dumps({"loadBalancingConfig": [{"round_robin": {}}], "methodConfig": [method]})


@contextlib.contextmanager
def mapped_errors(rpc: str) -> Iterator[None]:
    """grpc's errors raised inside become the client's :class:`~mathreward.client.errors.StatusError`."""
    try:
        yield
    except grpc.RpcError as exc:
        raise status_error(exc, rpc) from exc


def _chunks(n: int, size: int) -> list[range]:
    return [range(start, min(n, start + size)) for start in range(0, n, size)]


def _one(results: list[T | ItemError]) -> T:
    (result,) = results
    if isinstance(result, ItemError):
        raise result
    return result


def _verdicts(responses: list[verify_pb2.VerifyResponse]) -> list[Verdict]:
    return [verdict_from_pb(r) for response in responses for r in response.results]


def _step_scores(responses: list[process_reward_pb2.ScoreStepsResponse]) -> list[StepScores | ItemError]:
    return [
        ItemError.from_pb(r.error) if r.HasField("error") else step_scores_from_pb(r)
        for response in responses
        for r in response.results
    ]


def _rewards(responses: list[reward_pb2.ScoreResponse]) -> list[Reward]:
    return [
        Reward(
            reward=r.reward,
            verdict=verdict_from_pb(r.verdict),
            step_rewards=tuple(r.step_rewards),
            step_spans=tuple((s.start, s.end) for s in r.step_spans),
            error=ItemError.from_pb(r.error) if r.HasField("error") else None,
            step_error=ItemError.from_pb(r.step_error) if r.HasField("step_error") else None,
        )
        for response in responses
        for r in response.results
    ]


def _one_reward(responses: list[reward_pb2.ScoreResponse]) -> Reward:
    (reward,) = _rewards(responses)
    if reward.error is not None:
        raise reward.error
    return reward


def _status_name(responses: list[health_pb2.HealthCheckResponse]) -> str:
    (response,) = responses
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))


class public(Generic[P, S, A]):
    """A public method of both clients, declared once on the core from the builder of its call.

    ``client.verify(...)`` builds the call with the builder and hands it to the client's send path
    (``send``, a method name): :class:`~mathreward.Client`'s returns the result, and
    :class:`~mathreward.AsyncClient`'s is a coroutine (or an async iterator, for a stream). So each
    method's arguments, checks and documentation are written once; the sending alone differs.
    """

    def __init__(
        self, build: Callable[Concatenate[Any, P], Any], send: str, returns: str | None = None
    ) -> None:
        self.build = build
        self.send = send
        self.__name__ = build.__name__.lstrip("_")
        self.__doc__ = build.__doc__
        signature = inspect.signature(build)
        built = str(signature.return_annotation)  # "Call[list[Verdict]]": the client returns what it holds
        if returns is None and built.startswith("Call[") and built.endswith("]"):
            returns = built[len("Call[") : -1]
        self.__signature__ = signature.replace(
            return_annotation=returns or built
        )  # what help() and the API docs show: the builder's arguments

    def __call__(self, client: Any, /, *args: Any, **kwargs: Any) -> Any:
        """``Client.verify(client, ...)``, as with any method looked up on the class."""
        return self.__get__(client)(*args, **kwargs)

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> public[P, S, A]: ...
    @overload
    def __get__(self, obj: AsyncClient, owner: type | None = None) -> Callable[P, A]: ...
    @overload
    def __get__(self, obj: Client, owner: type | None = None) -> Callable[P, S]: ...
    def __get__(self, obj: Any, owner: Any = None) -> Any:
        if obj is None:
            return self
        build, send = self.build, getattr(obj, self.send)

        def method(*args: Any, **kwargs: Any) -> Any:
            return send(build(obj, *args, **kwargs))

        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            return await send(build(obj, *args, **kwargs))

        bound: Any = coroutine if inspect.iscoroutinefunction(send) else method
        bound.__name__ = bound.__qualname__ = self.__name__
        bound.__doc__ = self.__doc__
        bound.__signature__ = self.__signature__.replace(
            parameters=list(self.__signature__.parameters.values())[1:]
        )
        return bound


def unary(build: Callable[Concatenate[Any, P], Call[T]]) -> public[P, T, Coroutine[Any, Any, T]]:
    """A method that sends unary calls (``_send``)."""
    return public(build, "_send")


def stream(
    build: Callable[Concatenate[Any, P], StreamCall],
) -> public[P, Iterator[tuple[int, Verdict]], AsyncIterator[tuple[int, Verdict]]]:
    """A method that runs a stream (``_stream``) and yields its answers."""
    return public(build, "_stream", "Iterator[tuple[int, Verdict]] (AsyncClient: AsyncIterator[...])")


class ClientCore:
    """Every option of a client, its channel, and the calls built from each method's arguments.

    ``target``: ``host:port``; several replicas as a list or joined by commas (``10.0.0.1:50051,
    10.0.0.2:50051``), or a DNS name with several addresses (``dns:///rm.internal:50051``): calls go
    round-robin, and a call retried on UNAVAILABLE may land on another replica. ``token``: sent as
    ``authorization: Bearer <token>``. TLS: ``tls=True`` with the system roots, or ``root_certs`` (PEM
    bytes or a path) for a private CA; ``client_cert`` and ``client_key`` for mutual TLS; ``server_name``
    overrides the name checked in the server's certificate. ``timeout``: default deadline per request,
    seconds (None: none). ``retries``: extra attempts on UNAVAILABLE (0 to 4, gRPC's limit), after
    ``backoff_s`` doubling up to ``max_backoff_s`` with jitter. ``wait_for_ready``: a call waits (within
    its deadline) for a replica to be reachable instead of failing at once when none is. ``batch_items``:
    items per request when a batch method is given more (at most the server's ``--max-items``).
    """

    _grpc: Any = grpc  # the module whose channels this client uses: grpc, or grpc.aio

    def __init__(
        self,
        target: str | Sequence[str],
        *,
        token: str | None = None,
        tls: bool = False,
        root_certs: bytes | str | Path | None = None,
        client_cert: bytes | str | Path | None = None,
        client_key: bytes | str | Path | None = None,
        server_name: str | None = None,
        timeout: float | None = 60.0,
        retries: int = MAX_RETRIES,
        backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        wait_for_ready: bool = False,
        batch_items: int = 1024,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        if (client_cert is None) != (client_key is None):
            raise ValueError("client_cert and client_key go together (mutual TLS)")
        if batch_items < 1:
            raise ValueError("batch_items must be >= 1")
        if not 0 <= retries <= MAX_RETRIES:
            raise ValueError(f"retries must be 0 to {MAX_RETRIES} (gRPC's retry policy allows 5 attempts)")
        if backoff_s <= 0 or max_backoff_s < backoff_s:
            raise ValueError("backoff_s must be > 0 and max_backoff_s >= backoff_s")
        self.target = channel_target(target)
        self.timeout = timeout
        self.batch_items = batch_items
        self._metadata = (("authorization", f"Bearer {token}"),) if token else None
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", max_message_bytes),
            ("grpc.max_send_message_length", max_message_bytes),
            ("grpc.enable_retries", 1),
            ("grpc.service_config", service_config(retries, backoff_s, max_backoff_s, wait_for_ready)),
            ("grpc.service_config_disable_resolution", 1),  # DNS TXT records do not override ours
        ]
        if self.target.authority is not None:
            options.append(("grpc.default_authority", self.target.authority))
        if server_name is not None:
            options.append(("grpc.ssl_target_name_override", server_name))
        if tls or root_certs is not None or client_cert is not None:
            creds = grpc.ssl_channel_credentials(
                root_certificates=_read(root_certs),
                private_key=_read(client_key),
                certificate_chain=_read(client_cert),
            )
            self._channel = self._grpc.secure_channel(self.target.target, creds, options=options)
        else:
            self._channel = self._grpc.insecure_channel(self.target.target, options=options)
        verify = verify_pb2_grpc.VerifyServiceStub(self._channel)
        health = health_pb2_grpc.HealthStub(self._channel)
        self._rpcs: dict[str, Any] = {
            "Verify": verify.Verify,
            "VerifyStream": verify.VerifyStream,
            "ScoreSteps": process_reward_pb2_grpc.ProcessRewardServiceStub(self._channel).ScoreSteps,
            "Score": reward_pb2_grpc.RewardServiceStub(self._channel).Score,
            "Check": health.Check,
            "Watch": health.Watch,
        }

    def _call_options(self, timeout: float | None) -> dict[str, Any]:
        return {"timeout": timeout, "metadata": self._metadata}

    def _deadline(self, timeout: float | None) -> float | None:
        return self.timeout if timeout is None else timeout

    # ---- the calls: each public method's arguments to a Call ------------------------------------------

    def _verify_batch(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        questions: Sequence[str | None] | None = None,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> Call[list[Verdict]]:
        """One Verdict per (response, reference) pair, in order (the shape of :func:`verifier.verify_batch`).

        ``options`` are VerifyOptions fields (``timeout_s``, ``float_rel_tol``, ...); ``timeout`` is the
        deadline of each request (one per ``batch_items`` pairs)."""
        if questions is not None and len(questions) != len(pairs):
            raise ValueError(f"questions has {len(questions)} entries for {len(pairs)} pairs")
        requests = []
        for part in _chunks(len(pairs), self.batch_items):
            request = verify_pb2.VerifyRequest(options=verify_pb2.VerifyOptions(**(options or {})))
            for i, k in enumerate(part):
                item = request.items.add(id=str(i), prediction=pairs[k][0], reference=pairs[k][1])
                question = questions[k] if questions is not None else None
                if question is not None:
                    item.question = question
            requests.append(request)
        return Call("Verify", tuple(requests), _verdicts, self._deadline(timeout))

    def _verify(
        self,
        pred: str,
        ref: str,
        *,
        question: str | None = None,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> Call[Verdict]:
        """The verdict on one pair (the shape of :func:`verifier.verify`)."""
        call = self._verify_batch([(pred, ref)], questions=[question], timeout=timeout, options=options)
        return Call(call.rpc, call.requests, lambda rs: _verdicts(rs)[0], call.timeout)

    def _score_steps_batch(
        self,
        items: Sequence[tuple[str, Sequence[str] | str]],
        *,
        aggregation: str = "min",
        error_threshold: float = 0.5,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> Call[list[StepScores | ItemError]]:
        """StepScores per (question, steps) item, in order; a refused item is its :class:`ItemError`.

        An item's steps may also be the whole solution text, cut into steps by ``split_mode``."""
        requests = []
        for part in _chunks(len(items), self.batch_items):
            request = process_reward_pb2.ScoreStepsRequest(
                aggregation=AGGREGATION_TO_PB[aggregation], error_threshold=error_threshold
            )
            for i, k in enumerate(part):
                question, solution = items[k]
                item = request.items.add(id=str(i), question=question)
                if isinstance(solution, str):
                    item.text = solution
                    item.split_mode = SPLIT_MODE_TO_PB[split_mode]
                else:
                    item.steps.steps.extend(solution)
            requests.append(request)
        return Call("ScoreSteps", tuple(requests), _step_scores, self._deadline(timeout))

    def _score_steps(
        self,
        question: str,
        steps: Sequence[str] | str,
        *,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> Call[StepScores]:
        """Step scores of one solution (the shape of ``ProcessRewardModel.score``); ``steps`` may also be
        the whole solution text, cut by ``split_mode``. Raises :class:`ItemError` if the server refuses it."""
        call = self._score_steps_batch([(question, steps)], split_mode=split_mode, timeout=timeout)
        return Call(call.rpc, call.requests, lambda rs: _one(_step_scores(rs)), call.timeout)

    def _score_batch(
        self,
        items: Sequence[tuple[str, str, str]],
        *,
        correct_reward: float = 1.0,
        incorrect_reward: float = -1.0,
        outcome_only: bool = False,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> Call[list[Reward]]:
        """Rewards of (prompt, response, reference) rollouts, in order."""
        requests = []
        for part in _chunks(len(items), self.batch_items):
            request = reward_pb2.ScoreRequest(
                correct_reward=correct_reward,
                incorrect_reward=incorrect_reward,
                outcome_only=outcome_only,
                split_mode=SPLIT_MODE_TO_PB[split_mode],
            )
            for i, k in enumerate(part):
                prompt, response, reference = items[k]
                request.items.add(id=str(i), prompt=prompt, response=response, reference=reference)
            requests.append(request)
        return Call("Score", tuple(requests), _rewards, self._deadline(timeout))

    def _score(
        self,
        prompt: str,
        response: str,
        reference: str,
        *,
        correct_reward: float = 1.0,
        incorrect_reward: float = -1.0,
        outcome_only: bool = False,
        timeout: float | None = None,
    ) -> Call[Reward]:
        """The reward of one rollout; raises :class:`ItemError` if the server refuses it."""
        call = self._score_batch(
            [(prompt, response, reference)],
            correct_reward=correct_reward,
            incorrect_reward=incorrect_reward,
            outcome_only=outcome_only,
            timeout=timeout,
        )
        return Call(call.rpc, call.requests, _one_reward, call.timeout)

    def _health(self, service: str = "", *, timeout: float | None = None) -> Call[str]:
        """``SERVING`` / ``NOT_SERVING`` / ``SERVICE_UNKNOWN`` for a service name ("" is the whole server)."""
        request = health_pb2.HealthCheckRequest(service=service)
        return Call("Check", (request,), _status_name, self._deadline(timeout))

    def _verify_stream(
        self,
        pairs: Iterable[tuple[str, str]],
        *,
        chunk_items: int = 64,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> StreamCall:
        """(index, Verdict) for each pair as the server finishes it (any order), over one VerifyStream call.

        ``pairs`` is read lazily; ``timeout`` bounds the whole stream. Raises :class:`StreamIncomplete` if
        the stream ends before every pair sent was answered."""
        if chunk_items < 1:
            raise ValueError("chunk_items must be >= 1")

        def requests() -> Iterator[verify_pb2.VerifyStreamRequest]:
            message = verify_pb2.VerifyStreamRequest(options=verify_pb2.VerifyOptions(**(options or {})))
            for pred, ref in pairs:
                message.items.add(id=str(call.sent), prediction=pred, reference=ref)
                call.sent += 1
                if len(message.items) >= chunk_items:
                    yield message
                    message = verify_pb2.VerifyStreamRequest()
            if message.items or message.HasField("options"):
                yield message
            call.done_sending = True

        call = StreamCall(requests(), self._deadline(timeout))
        return call

    def _watch(self, service: str, timeout: float) -> tuple[health_pb2.HealthCheckRequest, dict[str, Any]]:
        """The Watch request that :meth:`wait_ready` reads until SERVING, and its call options: it waits
        for a replica to be reachable, within ``timeout``."""
        options = {**self._call_options(timeout), "wait_for_ready": True}
        return health_pb2.HealthCheckRequest(service=service), options

    # the public methods, one declaration each for both clients
    verify = unary(_verify)
    verify_batch = unary(_verify_batch)
    verify_stream = stream(_verify_stream)
    score_steps = unary(_score_steps)
    score_steps_batch = unary(_score_steps_batch)
    score = unary(_score)
    score_batch = unary(_score_batch)
    health = unary(_health)


def serving(response: health_pb2.HealthCheckResponse) -> bool:
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


def not_ready(service: str, timeout: float, cause: BaseException | None = None) -> TimeoutError:
    what = f"service {service!r}" if service else "the server"
    return TimeoutError(f"{what} not SERVING after {timeout:g} s" + (f": {cause}" if cause else ""))


@contextlib.contextmanager
def watching(service: str, timeout: float, responses: Any) -> Iterator[None]:
    """Reading a health Watch: its errors mapped, its deadline a TimeoutError, the call cancelled after."""
    try:
        with mapped_errors("Watch"):
            yield
    except TimeoutError as exc:
        raise not_ready(service, timeout, exc) from exc
    finally:
        responses.cancel()

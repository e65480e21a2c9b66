"""Clients of the gRPC service with the shapes of the Python functions.

    from mathreward import Client

    with Client("localhost:50051") as client:
        verdict = client.verify("... so the answer is $\\boxed{\\frac12}$", "0.5")     # a Verdict
        verdicts = client.verify_batch([(pred, ref), ...])                           # list[Verdict]
        scores = client.score_steps(question, steps)                                 # a StepScores
        reward = client.score(prompt, response, reference)                           # a Reward

:class:`AsyncClient` has the same methods as coroutines. Every call has a deadline (``timeout``, seconds)
and is retried with exponential backoff while the server answers UNAVAILABLE (draining, restarting,
PRM still loading) and the deadline allows. Other errors raise :class:`grpc.RpcError` (status code and
details from the server); an item the server refused inside a batch raises :class:`ItemError` from the
single-item methods, and is an ERROR verdict in ``verify_batch``.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mathreward._proto import (
    common_pb2,
    process_reward_pb2,
    process_reward_pb2_grpc,
    reward_pb2,
    reward_pb2_grpc,
    verify_pb2,
    verify_pb2_grpc,
)
from mathreward.service.convert import (
    AGGREGATION_TO_PB,
    SPLIT_MODE_TO_PB,
    step_scores_from_pb,
    verdict_from_pb,
)
from verifier.verdict import Verdict

if TYPE_CHECKING:
    from prm import StepScores

__all__ = ["AsyncClient", "Client", "ItemError", "Reward"]

T = TypeVar("T")
_RETRYABLE = frozenset({grpc.StatusCode.UNAVAILABLE})


class ItemError(Exception):
    """The server refused one item of a batch (the call itself succeeded)."""

    def __init__(self, code: str, field: str, message: str) -> None:
        self.code = code  # "INVALID_ARGUMENT", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "INTERNAL"
        self.field = field  # the request field at fault, e.g. "items[0].steps"
        self.message = message
        super().__init__(f"{code}: {message}")

    @classmethod
    def from_pb(cls, error: common_pb2.ItemError) -> ItemError:
        name = common_pb2.ItemErrorCode.Name(error.code).removeprefix("ITEM_ERROR_CODE_")
        return cls(name, error.field, error.message)


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


# ---- request building and response reading, shared by both clients ---------------------------------


def _verify_request(
    pairs: Sequence[tuple[str, str]], questions: Sequence[str | None] | None, options: dict[str, Any] | None
) -> verify_pb2.VerifyRequest:
    if questions is not None and len(questions) != len(pairs):
        raise ValueError(f"questions has {len(questions)} entries for {len(pairs)} pairs")
    request = verify_pb2.VerifyRequest(options=verify_pb2.VerifyOptions(**(options or {})))
    for i, (pred, ref) in enumerate(pairs):
        item = request.items.add(id=str(i), prediction=pred, reference=ref)
        question = questions[i] if questions is not None else None
        if question is not None:
            item.question = question
    return request


def _score_steps_request(
    items: Sequence[tuple[str, Sequence[str] | str]], aggregation: str, threshold: float, split_mode: str
) -> process_reward_pb2.ScoreStepsRequest:
    request = process_reward_pb2.ScoreStepsRequest(
        aggregation=AGGREGATION_TO_PB[aggregation], error_threshold=threshold
    )
    for i, (question, solution) in enumerate(items):
        item = request.items.add(id=str(i), question=question)
        if isinstance(solution, str):
            item.text = solution
            item.split_mode = SPLIT_MODE_TO_PB[split_mode]
        else:
            item.steps.steps.extend(solution)
    return request


def _score_request(
    items: Sequence[tuple[str, str, str]],
    correct_reward: float,
    incorrect_reward: float,
    outcome_only: bool,
    split_mode: str,
) -> reward_pb2.ScoreRequest:
    request = reward_pb2.ScoreRequest(
        correct_reward=correct_reward,
        incorrect_reward=incorrect_reward,
        outcome_only=outcome_only,
        split_mode=SPLIT_MODE_TO_PB[split_mode],
    )
    for i, (prompt, response, reference) in enumerate(items):
        request.items.add(id=str(i), prompt=prompt, response=response, reference=reference)
    return request


def _step_scores(results: Iterable[process_reward_pb2.ScoreStepsResult]) -> list[StepScores | ItemError]:
    return [ItemError.from_pb(r.error) if r.HasField("error") else step_scores_from_pb(r) for r in results]


def _rewards(response: reward_pb2.ScoreResponse) -> list[Reward]:
    return [
        Reward(
            reward=r.reward,
            verdict=verdict_from_pb(r.verdict),
            step_rewards=tuple(r.step_rewards),
            step_spans=tuple((s.start, s.end) for s in r.step_spans),
            error=ItemError.from_pb(r.error) if r.HasField("error") else None,
            step_error=ItemError.from_pb(r.step_error) if r.HasField("step_error") else None,
        )
        for r in response.results
    ]


def _one(results: list[T | ItemError]) -> T:
    (result,) = results
    if isinstance(result, ItemError):
        raise result
    return result


def _read(path_or_bytes: bytes | str | Path | None) -> bytes | None:
    if path_or_bytes is None or isinstance(path_or_bytes, bytes):
        return path_or_bytes
    return Path(path_or_bytes).read_bytes()


@dataclass(frozen=True)
class _Settings:
    target: str
    token: str | None
    tls: bool
    root_certs: bytes | None
    client_cert: bytes | None
    client_key: bytes | None
    timeout: float | None
    retries: int
    backoff_s: float
    max_backoff_s: float
    batch_items: int
    options: tuple[tuple[str, Any], ...]

    def metadata(self) -> tuple[tuple[str, str], ...] | None:
        return (("authorization", f"Bearer {self.token}"),) if self.token else None

    def credentials(self) -> grpc.ChannelCredentials | None:
        if not (self.tls or self.root_certs or self.client_cert):
            return None
        return grpc.ssl_channel_credentials(
            root_certificates=self.root_certs, private_key=self.client_key, certificate_chain=self.client_cert
        )

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter."""
        return random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2**attempt))

    def deadline(self, timeout: float | None) -> float | None:
        t = self.timeout if timeout is None else timeout
        return None if t is None or math.isinf(t) else time.monotonic() + t


def _settings(
    target: str,
    *,
    token: str | None,
    tls: bool,
    root_certs: bytes | str | Path | None,
    client_cert: bytes | str | Path | None,
    client_key: bytes | str | Path | None,
    timeout: float | None,
    retries: int,
    backoff_s: float,
    max_backoff_s: float,
    batch_items: int,
    max_message_bytes: int,
    server_name: str | None,
) -> _Settings:
    if (client_cert is None) != (client_key is None):
        raise ValueError("client_cert and client_key go together (mutual TLS)")
    if batch_items < 1 or retries < 0:
        raise ValueError("batch_items must be >= 1 and retries >= 0")
    options: list[tuple[str, Any]] = [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        # replicas: every address the target resolves to ("dns:///rm:50051", or
        # "ipv4:10.0.0.1:50051,10.0.0.2:50051") gets calls in turn
        ("grpc.lb_policy_name", "round_robin"),
    ]
    if server_name is not None:
        options.append(("grpc.ssl_target_name_override", server_name))
    return _Settings(
        target,
        token,
        tls,
        _read(root_certs),
        _read(client_cert),
        _read(client_key),
        timeout,
        retries,
        backoff_s,
        max_backoff_s,
        batch_items,
        tuple(options),
    )


def _chunks(n: int, size: int) -> Iterator[range]:
    for start in range(0, n, size):
        yield range(start, min(n, start + size))


class Client:
    """A blocking client; thread-safe (one channel, shared by the threads that use it).

    ``target``: ``host:port``, or several replicas (``ipv4:10.0.0.1:50051,10.0.0.2:50051``, or a DNS
    name with several addresses), called round-robin; a retried call may land on another replica.
    ``token``: sent as ``authorization: Bearer <token>``. TLS: ``tls=True`` with the system roots, or
    ``root_certs`` (PEM bytes or a path) for a private CA; ``client_cert`` and ``client_key`` for
    mutual TLS; ``server_name`` overrides the name checked in the server's certificate.
    ``timeout``: default deadline per call, seconds (None: no deadline). ``retries``: extra attempts on
    UNAVAILABLE, ``backoff_s`` doubling up to ``max_backoff_s``. ``batch_items``: items per request when
    a batch method is given more (keep it at or below the server's ``--max-items``).
    """

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certs: bytes | str | Path | None = None,
        client_cert: bytes | str | Path | None = None,
        client_key: bytes | str | Path | None = None,
        server_name: str | None = None,
        timeout: float | None = 60.0,
        retries: int = 5,
        backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        batch_items: int = 1024,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._s = _settings(
            target,
            token=token,
            tls=tls,
            root_certs=root_certs,
            client_cert=client_cert,
            client_key=client_key,
            timeout=timeout,
            retries=retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            batch_items=batch_items,
            max_message_bytes=max_message_bytes,
            server_name=server_name,
        )
        creds = self._s.credentials()
        options = list(self._s.options)
        self._channel = (
            grpc.insecure_channel(target, options=options)
            if creds is None
            else grpc.secure_channel(target, creds, options=options)
        )
        self._verify = verify_pb2_grpc.VerifyServiceStub(self._channel)
        self._prm = process_reward_pb2_grpc.ProcessRewardServiceStub(self._channel)
        self._reward = reward_pb2_grpc.RewardServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def _call(self, method: Callable[..., T], request: Any, timeout: float | None) -> T:
        deadline = self._s.deadline(timeout)
        attempt = 0
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return method(request, timeout=remaining, metadata=self._s.metadata())
            except grpc.RpcError as exc:
                code = exc.code() if isinstance(exc, grpc.Call) else None
                delay = self._s.delay(attempt)
                if (
                    code not in _RETRYABLE
                    or attempt >= self._s.retries
                    or (deadline is not None and time.monotonic() + delay >= deadline)
                ):
                    raise
            time.sleep(delay)
            attempt += 1

    def verify(
        self,
        pred: str,
        ref: str,
        *,
        question: str | None = None,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> Verdict:
        """The verdict on one pair (the shape of :func:`verifier.verify`)."""
        return self.verify_batch([(pred, ref)], questions=[question], timeout=timeout, options=options)[0]

    def verify_batch(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        questions: Sequence[str | None] | None = None,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> list[Verdict]:
        """One Verdict per pair, in order (the shape of :func:`verifier.verify_batch`); ``options`` are
        VerifyOptions fields (``timeout_s``, ``float_rel_tol``, ...). ``timeout`` is per request."""
        out: list[Verdict] = []
        for part in _chunks(len(pairs), self._s.batch_items):
            qs = None if questions is None else [questions[i] for i in part]
            request = _verify_request([pairs[i] for i in part], qs, options)
            response = self._call(self._verify.Verify, request, timeout)
            out.extend(verdict_from_pb(r) for r in response.results)
        return out

    def verify_stream(
        self,
        pairs: Iterable[tuple[str, str]],
        *,
        chunk_items: int = 64,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> Iterator[tuple[int, Verdict]]:
        """(index, Verdict) for each pair as the server finishes it (any order), over one VerifyStream call.

        Not retried (a stream may be half answered); ``timeout`` bounds the whole stream."""

        def requests() -> Iterator[verify_pb2.VerifyStreamRequest]:
            message = verify_pb2.VerifyStreamRequest(options=verify_pb2.VerifyOptions(**(options or {})))
            for index, (pred, ref) in enumerate(pairs):
                message.items.add(id=str(index), prediction=pred, reference=ref)
                if len(message.items) >= chunk_items:
                    yield message
                    message = verify_pb2.VerifyStreamRequest()
            if message.items or message.HasField("options"):
                yield message

        t = self._s.timeout if timeout is None else timeout
        for response in self._verify.VerifyStream(requests(), timeout=t, metadata=self._s.metadata()):
            yield response.index, verdict_from_pb(response.result)

    def score_steps(
        self,
        question: str,
        steps: Sequence[str] | str,
        *,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> StepScores:
        """Step scores of one solution (the shape of ``ProcessRewardModel.score``); ``steps`` may also be the
        whole solution text, cut by ``split_mode``. Raises :class:`ItemError` if the server refuses it."""
        return _one(self.score_steps_batch([(question, steps)], split_mode=split_mode, timeout=timeout))

    def score_steps_batch(
        self,
        items: Sequence[tuple[str, Sequence[str] | str]],
        *,
        aggregation: str = "min",
        error_threshold: float = 0.5,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> list[StepScores | ItemError]:
        """StepScores per (question, steps-or-text) item, in order; a refused item is its ItemError."""
        out: list[StepScores | ItemError] = []
        for part in _chunks(len(items), self._s.batch_items):
            request = _score_steps_request([items[i] for i in part], aggregation, error_threshold, split_mode)
            out.extend(_step_scores(self._call(self._prm.ScoreSteps, request, timeout).results))
        return out

    def score(
        self,
        prompt: str,
        response: str,
        reference: str,
        *,
        correct_reward: float = 1.0,
        incorrect_reward: float = -1.0,
        outcome_only: bool = False,
        timeout: float | None = None,
    ) -> Reward:
        """The reward of one rollout; raises :class:`ItemError` if the server refuses it."""
        (reward,) = self.score_batch(
            [(prompt, response, reference)],
            correct_reward=correct_reward,
            incorrect_reward=incorrect_reward,
            outcome_only=outcome_only,
            timeout=timeout,
        )
        if reward.error is not None:
            raise reward.error
        return reward

    def score_batch(
        self,
        items: Sequence[tuple[str, str, str]],
        *,
        correct_reward: float = 1.0,
        incorrect_reward: float = -1.0,
        outcome_only: bool = False,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> list[Reward]:
        """Rewards of (prompt, response, reference) rollouts, in order."""
        out: list[Reward] = []
        for part in _chunks(len(items), self._s.batch_items):
            request = _score_request(
                [items[i] for i in part], correct_reward, incorrect_reward, outcome_only, split_mode
            )
            out.extend(_rewards(self._call(self._reward.Score, request, timeout)))
        return out

    def health(self, service: str = "", *, timeout: float | None = None) -> str:
        """``SERVING`` / ``NOT_SERVING`` / ``SERVICE_UNKNOWN`` for a service name ("" is the whole server)."""
        request = health_pb2.HealthCheckRequest(service=service)
        response = self._call(self._health.Check, request, timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    def wait_ready(self, service: str = "", *, timeout: float = 60.0, poll_s: float = 0.05) -> None:
        """Block until ``service`` reports SERVING (e.g. the PRM has loaded); TimeoutError after timeout."""
        until = time.monotonic() + timeout
        while True:
            try:
                if self.health(service, timeout=max(0.01, until - time.monotonic())) == "SERVING":
                    return
            except grpc.RpcError:
                if time.monotonic() >= until:
                    raise
            if time.monotonic() >= until:
                raise TimeoutError(f"{service or 'the server'} not SERVING after {timeout} s")
            time.sleep(poll_s)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncClient:
    """The asyncio client: the methods of :class:`Client` as coroutines (same arguments)."""

    def __init__(
        self,
        target: str,
        *,
        token: str | None = None,
        tls: bool = False,
        root_certs: bytes | str | Path | None = None,
        client_cert: bytes | str | Path | None = None,
        client_key: bytes | str | Path | None = None,
        server_name: str | None = None,
        timeout: float | None = 60.0,
        retries: int = 5,
        backoff_s: float = 0.05,
        max_backoff_s: float = 2.0,
        batch_items: int = 1024,
        max_message_bytes: int = 64 * 1024 * 1024,
    ) -> None:
        self._s = _settings(
            target,
            token=token,
            tls=tls,
            root_certs=root_certs,
            client_cert=client_cert,
            client_key=client_key,
            timeout=timeout,
            retries=retries,
            backoff_s=backoff_s,
            max_backoff_s=max_backoff_s,
            batch_items=batch_items,
            max_message_bytes=max_message_bytes,
            server_name=server_name,
        )
        creds = self._s.credentials()
        options = list(self._s.options)
        self._channel = (
            grpc.aio.insecure_channel(target, options=options)
            if creds is None
            else grpc.aio.secure_channel(target, creds, options=options)
        )
        self._verify = verify_pb2_grpc.VerifyServiceStub(self._channel)
        self._prm = process_reward_pb2_grpc.ProcessRewardServiceStub(self._channel)
        self._reward = reward_pb2_grpc.RewardServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    async def _call(self, method: Callable[..., Any], request: Any, timeout: float | None) -> Any:
        deadline = self._s.deadline(timeout)
        attempt = 0
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                return await method(request, timeout=remaining, metadata=self._s.metadata())
            except grpc.aio.AioRpcError as exc:
                delay = self._s.delay(attempt)
                if (
                    exc.code() not in _RETRYABLE
                    or attempt >= self._s.retries
                    or (deadline is not None and time.monotonic() + delay >= deadline)
                ):
                    raise
            await asyncio.sleep(delay)
            attempt += 1

    async def verify(
        self,
        pred: str,
        ref: str,
        *,
        question: str | None = None,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> Verdict:
        return (
            await self.verify_batch([(pred, ref)], questions=[question], timeout=timeout, options=options)
        )[0]

    async def verify_batch(
        self,
        pairs: Sequence[tuple[str, str]],
        *,
        questions: Sequence[str | None] | None = None,
        timeout: float | None = None,
        options: dict[str, Any] | None = None,
    ) -> list[Verdict]:
        out: list[Verdict] = []
        for part in _chunks(len(pairs), self._s.batch_items):
            qs = None if questions is None else [questions[i] for i in part]
            request = _verify_request([pairs[i] for i in part], qs, options)
            response = await self._call(self._verify.Verify, request, timeout)
            out.extend(verdict_from_pb(r) for r in response.results)
        return out

    async def score_steps(
        self,
        question: str,
        steps: Sequence[str] | str,
        *,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> StepScores:
        return _one(await self.score_steps_batch([(question, steps)], split_mode=split_mode, timeout=timeout))

    async def score_steps_batch(
        self,
        items: Sequence[tuple[str, Sequence[str] | str]],
        *,
        aggregation: str = "min",
        error_threshold: float = 0.5,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> list[StepScores | ItemError]:
        out: list[StepScores | ItemError] = []
        for part in _chunks(len(items), self._s.batch_items):
            request = _score_steps_request([items[i] for i in part], aggregation, error_threshold, split_mode)
            out.extend(_step_scores((await self._call(self._prm.ScoreSteps, request, timeout)).results))
        return out

    async def score(
        self,
        prompt: str,
        response: str,
        reference: str,
        *,
        correct_reward: float = 1.0,
        incorrect_reward: float = -1.0,
        outcome_only: bool = False,
        timeout: float | None = None,
    ) -> Reward:
        (reward,) = await self.score_batch(
            [(prompt, response, reference)],
            correct_reward=correct_reward,
            incorrect_reward=incorrect_reward,
            outcome_only=outcome_only,
            timeout=timeout,
        )
        if reward.error is not None:
            raise reward.error
        return reward

    async def score_batch(
        self,
        items: Sequence[tuple[str, str, str]],
        *,
        correct_reward: float = 1.0,
        incorrect_reward: float = -1.0,
        outcome_only: bool = False,
        split_mode: str = "auto",
        timeout: float | None = None,
    ) -> list[Reward]:
        out: list[Reward] = []
        for part in _chunks(len(items), self._s.batch_items):
            request = _score_request(
                [items[i] for i in part], correct_reward, incorrect_reward, outcome_only, split_mode
            )
            out.extend(_rewards(await self._call(self._reward.Score, request, timeout)))
        return out

    async def health(self, service: str = "", *, timeout: float | None = None) -> str:
        request = health_pb2.HealthCheckRequest(service=service)
        response = await self._call(self._health.Check, request, timeout)
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    async def close(self) -> None:
        await self._channel.close(None)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

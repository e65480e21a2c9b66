"""The clients against real servers on loopback: the retry policy, deadlines, the exception tree, streams
that end short, and several replicas (round-robin, one stopped mid-run)."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from mathreward import AsyncClient, Client, Reward
from mathreward._proto import verify_pb2, verify_pb2_grpc
from mathreward.client import (
    BadRequest,
    NotReady,
    StatusError,
    StreamIncomplete,
    Timeout,
    Unauthenticated,
    Unreachable,
)
from mathreward.client.core import service_config
from mathreward.client.targets import channel_target
from tests.mathreward.service_helpers import ServerThread, server_config

# pairs only the SymPy sandbox decides (tens of ms each): a call of them outlasts a short deadline
# (verifier.algebra decides polynomial identities such as "(x+1)^2" in process in microseconds)
HARD = [(f"\\sin^2(x+{k})+\\cos^2(x+{k})", "1") for k in range(1, 1001)]
OK_VERIFY = 'mathreward_requests_total{code="OK",method="Verify"}'


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _served(server: ServerThread, line: str = OK_VERIFY) -> float:
    page = server.metrics()
    return float(page.split(line + " ")[1].split()[0]) if line + " " in page else 0.0


def test_import_mathreward_is_light():
    code = "import sys, mathreward; print(sorted(m for m in ('grpc', 'torch', 'sympy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_public_surface_is_pinned():
    import mathreward.client

    assert sorted(mathreward.client.__all__) == [
        "AsyncClient",
        "BadRequest",
        "Cancelled",
        "Client",
        "ClientError",
        "ItemError",
        "LimitExceeded",
        "NotReady",
        "Reward",
        "ServerFault",
        "StatusError",
        "StreamIncomplete",
        "Timeout",
        "Unauthenticated",
        "Unreachable",
        "Unsupported",
    ]
    for name in (
        "verify",
        "verify_batch",
        "verify_stream",
        "score_steps",
        "score_steps_batch",
        "score",
        "score_batch",
        "health",
        "wait_ready",
        "close",
    ):
        assert callable(getattr(Client, name)) and callable(getattr(AsyncClient, name)), name
        assert getattr(Client, name).__doc__, name  # documented once, on the core, for both


# ---- a deliberately faulty peer: the real gRPC service definition, answering as a broken server would ----


class FaultyVerify(verify_pb2_grpc.VerifyServiceServicer):
    """Verify: UNAVAILABLE for the first ``fail_first`` calls, then a verdict. VerifyStream: reads every
    item but answers only the first ``answer_at_most``, then ends the stream with OK."""

    def __init__(self, fail_first: int = 0, answer_at_most: int = 0) -> None:
        self.fail_first = fail_first
        self.answer_at_most = answer_at_most
        self.calls = 0

    def Verify(self, request: Any, context: Any) -> Any:
        self.calls += 1
        if self.calls <= self.fail_first:
            context.abort(grpc.StatusCode.UNAVAILABLE, "restarting")
        result = verify_pb2.VerifyResult(id=request.items[0].id)
        return verify_pb2.VerifyResponse(results=[result])

    def VerifyStream(self, requests: Any, context: Any) -> Iterator[Any]:
        items = [item for request in requests for item in request.items]
        for index, item in enumerate(items[: self.answer_at_most]):
            yield verify_pb2.VerifyStreamResponse(index=index, result=verify_pb2.VerifyResult(id=item.id))


@pytest.fixture
def faulty() -> Iterator[Any]:
    servers: list[grpc.Server] = []

    def start(servicer: FaultyVerify) -> str:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        verify_pb2_grpc.add_VerifyServiceServicer_to_server(servicer, server)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        return f"127.0.0.1:{port}"

    yield start
    for server in servers:
        server.stop(grace=None)


# ---- retries: declared in the channel's service config ------------------------------------------------


def test_retries_come_from_the_service_config_policy(faulty):
    config = json.loads(service_config(retries=2, backoff_s=0.01, max_backoff_s=0.05, wait_for_ready=False))
    policy = config["methodConfig"][0]["retryPolicy"]
    assert policy["maxAttempts"] == 3 and "UNAVAILABLE" in policy["retryableStatusCodes"]
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]

    twice = FaultyVerify(fail_first=2)
    with Client(faulty(twice), retries=2, backoff_s=0.01, max_backoff_s=0.05, timeout=10) as c:
        c.verify("1", "1")  # gRPC itself retried: the third attempt answered
    assert twice.calls == 3

    thrice = FaultyVerify(fail_first=3)
    with (
        Client(faulty(thrice), retries=2, backoff_s=0.01, max_backoff_s=0.05, timeout=10) as c,
        pytest.raises(Unreachable) as exc,
    ):
        c.verify("1", "1")
    assert thrice.calls == 3 and exc.value.details() == "restarting"

    with pytest.raises(ValueError, match="retries must be 0 to 4"):
        Client("127.0.0.1:1", retries=5)


def test_wait_for_ready_waits_for_a_server_that_starts_late():
    port = _free_port()
    result: dict[str, object] = {}

    def call() -> None:
        with Client(f"127.0.0.1:{port}", timeout=30, wait_for_ready=True) as c:
            result["verdict"] = c.verify("\\boxed{4}", "4")

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)  # the call finds nobody listening, and waits
    assert "verdict" not in result
    server = ServerThread(server_config(port=port)).start()
    try:
        caller.join(timeout=30)
        assert result["verdict"]
    finally:
        server.stop()


def test_no_retry_without_budget_and_on_other_errors(start_server):
    with Client(f"127.0.0.1:{_free_port()}", timeout=5, retries=0) as c, pytest.raises(Unreachable) as exc:
        c.verify("1", "1")
    assert isinstance(exc.value, ConnectionError) and isinstance(exc.value, grpc.RpcError)
    assert exc.value.code() is grpc.StatusCode.UNAVAILABLE

    server = start_server(server_config())
    with Client(server.target, timeout=30) as c, pytest.raises(BadRequest) as bad:
        c.verify("1", "1", options={"timeout_s": -1.0})
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT and bad.value.rpc == "Verify"
    page = server.metrics()
    assert 'mathreward_requests_total{code="INVALID_ARGUMENT",method="Verify"} 1.0' in page  # tried once


def test_deadline_per_call(start_server):
    from mathreward.server import ServiceLimits

    # small chunks on few threads: what a cut call leaves running (the chunks already started) is a few
    # items, so the next call is answered at once even on a loaded machine (64 x 8 SymPy items: 20 s)
    config = server_config(limits=ServiceLimits(max_items=2000), verify_chunk_items=4, verify_threads=2)
    server = start_server(config)
    with Client(server.target, timeout=60) as c:
        started = time.monotonic()
        with pytest.raises(Timeout) as exc:
            c.verify_batch(HARD, timeout=0.3)
        assert isinstance(exc.value, TimeoutError)
        assert exc.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED
        assert time.monotonic() - started < 10
        assert c.verify("1", "1", timeout=30)


# ---- the exception tree --------------------------------------------------------------------------------


def test_status_codes_map_to_the_exception_tree_in_both_clients(start_server):
    server = start_server(server_config(token="s3cret"))

    def check(exc: BaseException, kind: type[StatusError], code: grpc.StatusCode) -> None:
        assert type(exc) is kind and exc.code() is code  # type: ignore[attr-defined]
        assert isinstance(exc.__cause__, grpc.RpcError) and not isinstance(exc.__cause__, StatusError)

    with Client(server.target, token="wrong", timeout=30) as c, pytest.raises(StatusError) as exc:
        c.verify("1", "1")
    check(exc.value, Unauthenticated, grpc.StatusCode.UNAUTHENTICATED)
    with Client(server.target, token="s3cret", timeout=30) as c:
        with pytest.raises(StatusError) as exc:
            c.score_steps("q", ["a step"])  # the server has no PRM
        check(exc.value, NotReady, grpc.StatusCode.FAILED_PRECONDITION)
        assert c.health() == "SERVING"

    async def async_calls() -> list[BaseException]:
        errors: list[BaseException] = []
        async with AsyncClient(server.target, token="wrong", timeout=30) as c:
            try:
                await c.verify("1", "1")
            except StatusError as e:
                errors.append(e)
        async with AsyncClient(server.target, token="s3cret", timeout=30) as c:
            try:
                await c.verify("1", "1", options={"timeout_s": -1.0})
            except StatusError as e:
                errors.append(e)
            assert await c.verify("\\boxed{2}", "2")
        return errors

    unauthenticated, bad = asyncio.run(async_calls())
    check(unauthenticated, Unauthenticated, grpc.StatusCode.UNAUTHENTICATED)
    check(bad, BadRequest, grpc.StatusCode.INVALID_ARGUMENT)


def test_reward_reads_as_a_float(start_server):
    server = start_server(server_config())
    with Client(server.target) as c:
        reward = c.score("1+1?", "\\boxed{2}", "2", correct_reward=0.5)
    assert isinstance(reward, Reward) and float(reward) == 0.5


# ---- streams -------------------------------------------------------------------------------------------


def test_a_stream_that_ends_short_raises_in_both_clients(faulty, start_server):
    target = faulty(FaultyVerify(answer_at_most=3))
    pairs = [("1", "1")] * 10
    got: list[int] = []
    with Client(target, timeout=30) as c, pytest.raises(StreamIncomplete) as exc:
        for index, _ in c.verify_stream(pairs, chunk_items=4):
            got.append(index)
    assert got == [0, 1, 2] and exc.value.missing == 7 and "7 of 10" in str(exc.value)

    async def read() -> StreamIncomplete:
        async with AsyncClient(target, timeout=30) as c:
            with pytest.raises(StreamIncomplete) as exc:
                async for _ in c.verify_stream(pairs):
                    pass
            return exc.value

    assert asyncio.run(read()).missing == 7

    server = start_server(server_config())  # the real server answers every item, in both clients
    with Client(server.target, timeout=60) as c:
        answered = sorted(i for i, _ in c.verify_stream([("\\boxed{2}", "2")] * 50, chunk_items=8))
    assert answered == list(range(50))

    async def read_all() -> list[int]:
        async with AsyncClient(server.target, timeout=60) as c:
            return sorted([i async for i, _ in c.verify_stream([("\\boxed{2}", "2")] * 20, chunk_items=8)])

    assert asyncio.run(read_all()) == list(range(20))


# ---- several addresses ---------------------------------------------------------------------------------


def test_targets_for_one_or_several_addresses():
    assert channel_target("rm.internal:50051").target == "rm.internal:50051"  # DNS: every address it has
    assert channel_target("dns:///rm.internal:50051").target == "dns:///rm.internal:50051"
    several = channel_target(["127.0.0.1:1", "127.0.0.2:2"])
    assert several.target == "ipv4:127.0.0.1:1,127.0.0.2:2" and several.authority == "127.0.0.1:1"
    assert channel_target("127.0.0.1:1, 127.0.0.2:2") == several
    assert channel_target("[::1]:1,[::1]:2").target == "ipv6:[::1]:1,[::1]:2"
    assert channel_target(["localhost:1", "localhost:2"]).target.startswith(("ipv4:127.0.0.1:1,", "ipv6:"))
    with pytest.raises(ValueError, match="host:port"):
        channel_target(["127.0.0.1:1", "nohostport"])


def test_round_robin_over_replicas(start_server):
    servers = [start_server(server_config()) for _ in range(2)]
    with Client([s.target for s in servers], timeout=30) as c:
        for _ in range(10):
            assert c.verify("\\boxed{2}", "2")
    for server in servers:
        assert _served(server) >= 3  # both replicas took a share


def test_a_draining_replica_is_retried_on_another(start_server):
    draining, healthy = start_server(server_config()), start_server(server_config())
    draining.state.draining = True  # what SIGTERM sets first: new calls are UNAVAILABLE there
    with Client(f"127.0.0.1:{draining.port},127.0.0.1:{healthy.port}", timeout=30) as c:
        assert all(c.verify("\\boxed{2}", "2") for _ in range(10))
    assert 'mathreward_requests_total{code="UNAVAILABLE",method="Verify"}' in draining.metrics()


def test_one_replica_stopped_mid_run_loses_no_call(start_server):
    first, second = start_server(server_config()), start_server(server_config())
    stopped = threading.Event()

    def stop_first() -> None:
        first.stop(grace=1.0)
        stopped.set()

    answers = []
    with Client([first.target, second.target], timeout=30) as c:
        for i in range(60):
            if i == 20:
                assert _served(first) >= 5 and _served(second) >= 5
                threading.Thread(target=stop_first).start()
            if i == 40:
                assert stopped.wait(30)
            answers.append(c.verify("\\boxed{2}", "2"))

        async def after_stop() -> list[bool]:
            async with AsyncClient(f"{first.target},{second.target}", timeout=30) as ac:
                return [bool(await ac.verify("\\boxed{2}", "2")) for _ in range(10)]

        assert all(asyncio.run(after_stop()))
    assert len(answers) == 60 and all(answers)
    assert _served(second) >= 40  # the rest went to the replica left

"""The clients against a real server: retries on UNAVAILABLE, deadlines, no retry on other errors."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time

import grpc
import pytest

from mathreward import Client, Reward
from tests.mathreward.service_helpers import ServerThread, server_config

HARD = [(f"(x+{k})^2", f"x^2+{2 * k}x+{k * k}") for k in range(1, 1001)]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_import_mathreward_is_light():
    code = "import sys, mathreward; print(sorted(m for m in ('grpc', 'torch', 'sympy') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_retries_unavailable_until_the_server_is_up():
    port = _free_port()
    result: dict[str, object] = {}

    def call() -> None:
        with Client(f"127.0.0.1:{port}", timeout=30, retries=100, max_backoff_s=0.2) as c:
            result["verdict"] = c.verify("\\boxed{4}", "4")

    caller = threading.Thread(target=call)
    caller.start()
    time.sleep(0.5)  # the first attempts find nobody listening
    assert "verdict" not in result
    server = ServerThread(server_config(port=port)).start()
    try:
        caller.join(timeout=30)
        assert result["verdict"]
    finally:
        server.stop()


def test_no_retry_without_budget_and_on_other_errors(start_server):
    with Client(f"127.0.0.1:{_free_port()}", timeout=5, retries=0) as c, pytest.raises(grpc.RpcError) as exc:
        c.verify("1", "1")
    assert exc.value.code() is grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]

    server = start_server(server_config())
    with Client(server.target, timeout=30, retries=5) as c, pytest.raises(grpc.RpcError) as exc:
        c.verify("1", "1", options={"timeout_s": -1.0})
    assert exc.value.code() is grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    page = server.metrics()
    assert 'mathreward_requests_total{code="INVALID_ARGUMENT",method="Verify"} 1.0' in page  # tried once


def test_deadline_per_call(start_server):
    from mathreward.server import ServiceLimits

    server = start_server(server_config(limits=ServiceLimits(max_items=2000)))
    with Client(server.target, timeout=60) as c:
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as exc:
            c.verify_batch(HARD, timeout=0.3)
        assert exc.value.code() is grpc.StatusCode.DEADLINE_EXCEEDED  # type: ignore[attr-defined]
        assert time.monotonic() - started < 10
        assert c.verify("1", "1", timeout=30)


def test_reward_reads_as_a_float(start_server):
    server = start_server(server_config())
    with Client(server.target) as c:
        reward = c.score("1+1?", "\\boxed{2}", "2", correct_reward=0.5)
    assert isinstance(reward, Reward) and float(reward) == 0.5


def test_round_robin_over_replicas(start_server):
    servers = [start_server(server_config()) for _ in range(2)]
    target = "ipv4:" + ",".join(f"127.0.0.1:{s.port}" for s in servers)
    with Client(target, timeout=30) as c:
        for _ in range(10):
            assert c.verify("\\boxed{2}", "2")
    for server in servers:
        served = server.metrics()
        assert 'mathreward_requests_total{code="OK",method="Verify"}' in served
        count = float(served.split('mathreward_requests_total{code="OK",method="Verify"} ')[1].split()[0])
        assert count >= 3  # both replicas took a share


def test_a_draining_replica_is_retried_on_another(start_server):
    draining, healthy = start_server(server_config()), start_server(server_config())
    draining.state.draining = True  # what SIGTERM sets first: new calls are UNAVAILABLE there
    target = f"ipv4:127.0.0.1:{draining.port},127.0.0.1:{healthy.port}"
    with Client(target, timeout=30, retries=5) as c:
        assert all(c.verify("\\boxed{2}", "2") for _ in range(10))
    assert 'mathreward_requests_total{code="UNAVAILABLE",method="Verify"}' in draining.metrics()

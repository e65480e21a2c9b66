"""SIGTERM on a real ``mathreward serve`` process: health NOT_SERVING, new calls UNAVAILABLE, every
in-flight call answered in full, exit status 0."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from mathreward import Client

ROOT = Path(__file__).resolve().parents[2]
HARD = [(f"(x+{k})^2", f"x^2+{2 * k}x+{k * k}") for k in range(1, 201)]
QUESTION = "what is the sum of 1 and 1"
STEPS = ["we add 1 and 1", "so the sum is 2", "the answer is 2"]


def _count(metrics_port: int, *prefixes: str) -> float:
    with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as response:
        page = response.read().decode()
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines() if line.startswith(prefixes))


def _arrived(metrics_port: int) -> float:
    """Calls the server has received: those in flight plus those already answered."""
    return _count(metrics_port, "mathreward_in_flight_requests{", "mathreward_requests_total{")


def test_sigterm_drains_without_losing_an_in_flight_call(tiny_prm, tmp_path):
    command = [
        sys.executable, "-m", "mathreward", "serve", "--port", "0", "--metrics-port", "0",
        "--prm-model", str(tiny_prm), "--prm-device", "cpu", "--prm-dtype", "float32",
        "--workers", "2", "--grace", "60", "--drain-delay", "3", "--log-level", "WARNING",
    ]  # fmt: skip
    stderr = (tmp_path / "stderr").open("w")
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr, text=True)
    try:
        assert proc.stdout is not None
        started = json.loads(proc.stdout.readline())
        assert started["event"] == "serving" and started["port"] > 0
        target = f"127.0.0.1:{started['port']}"
        with Client(target, timeout=120) as client, ThreadPoolExecutor(5) as pool:
            client.wait_ready("", timeout=120)
            calls = [pool.submit(client.verify_batch, HARD) for _ in range(3)]
            calls += [pool.submit(client.score_steps_batch, [(QUESTION, STEPS)] * 40) for _ in range(2)]
            until = time.monotonic() + 30
            while _arrived(started["metrics_port"]) < len(calls):
                assert time.monotonic() < until, "the calls never reached the server"
                time.sleep(0.02)
            in_flight_at_sigterm = _count(started["metrics_port"], "mathreward_in_flight_requests{")
            proc.send_signal(signal.SIGTERM)

            with Client(target, timeout=10, retries=0) as late:
                until = time.monotonic() + 30
                while True:  # health reads NOT_SERVING (or the listener is already closed)
                    try:
                        if late.health() == "NOT_SERVING":
                            break
                    except grpc.RpcError as exc:
                        assert exc.code() is grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]
                        break
                    assert time.monotonic() < until
                    time.sleep(0.01)
                try:
                    late.verify("1", "1")
                    raise AssertionError("a draining server accepted a new call")
                except grpc.RpcError as exc:
                    assert exc.code() is grpc.StatusCode.UNAVAILABLE  # type: ignore[attr-defined]

            for call in calls[:3]:
                verdicts = call.result(timeout=120)
                assert len(verdicts) == len(HARD) and all(v.correct for v in verdicts)
            for call in calls[3:]:
                scores = call.result(timeout=120)
                assert len(scores) == 40 and all(len(s.scores) == 3 for s in scores)
        assert proc.wait(timeout=90) == 0, (tmp_path / "stderr").read_text()
        assert in_flight_at_sigterm >= 1  # the drain had calls to wait for
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()


def test_serve_refuses_a_taken_port_with_a_clear_error():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "mathreward", "serve", "--port", str(port), "--log-level", "ERROR"],
            cwd=ROOT, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr

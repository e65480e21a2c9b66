r"""Measure what the server's limits bound, against a real ``mathreward serve`` on loopback.

Each row runs the same hostile load twice: with the limit as shipped (or as the row sets it) and with
the limit effectively off (``--max-inflight-bytes`` 1 GiB; the stream window at 100,000 items), and
prints the server process's memory and what the clients saw:

- budget: 12 Verify calls of 6.4 MiB each, each sent once the previous reached its handler, on one
  sandbox worker; peak RSS growth of the server process (VmHWM) and the calls answered / refused.
- stream: 3 VerifyStreams of 12,000 items of 8 KiB that never read an answer; RSS growth of the
  server once the clients stopped advancing, and the items the server took.
- shutdown: SIGTERM with 3 Verify calls, 2 streams and 4 HTTP calls in flight, ``--grace 2``;
  seconds from SIGTERM to exit, and what each call got.

    .venv/bin/python -m bench.serve_limits [--only budget|stream|shutdown]
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc

from mathreward._proto import verify_pb2, verify_pb2_grpc
from tests.mathreward.abuse import test_abuse_shutdown as shutdown_test
from tests.mathreward.abuse import test_abuse_streams as streams_test
from tests.mathreward.abuse.helpers import metric, serve

MIB = 1024 * 1024


def budget(tmp: Path, inflight: int) -> str:
    pad = "we compute it step by step. " * 2400
    request = verify_pb2.VerifyRequest(
        items=[
            verify_pb2.VerifyItem(prediction=pad + f"\\boxed{{{k}}}", reference=str(k)) for k in range(100)
        ]
    )
    args = ("--workers", "1", "--max-message-bytes", str(8 * MIB), "--max-inflight-bytes", str(inflight))
    options = [("grpc.max_send_message_length", 64 * MIB)]
    with serve(tmp, *args) as server, grpc.insecure_channel(server.target, options=options) as channel:
        stub = verify_pb2_grpc.VerifyServiceStub(channel)
        stub.Verify(verify_pb2.VerifyRequest(items=[verify_pb2.VerifyItem(prediction="1", reference="1")]))
        before = server.peak_rss()
        calls = []
        for k in range(12):
            calls.append(stub.Verify.future(request, timeout=600))
            while True:
                page = server.metrics()
                done = metric(page, "mathreward_requests_total", method="Verify")
                if metric(page, "mathreward_in_flight_requests", method="Verify") + done >= k + 2:
                    break
                time.sleep(0.01)
        outcomes = Counter(_outcome(call) for call in calls)
        grown = (server.peak_rss() - before) / MIB
    return f"peak RSS +{grown:.0f} MiB; {dict(outcomes)}"


def _outcome(call: grpc.Future) -> str:
    try:
        call.result()
    except grpc.RpcError as exc:
        return exc.code().name  # type: ignore[attr-defined, no-any-return]
    return "OK"


def stream(tmp: Path, window: int) -> str:
    args = ("--workers", "1", "--max-stream-in-flight", str(window), "--max-item-chars", str(16384))
    with serve(tmp, *args) as server, grpc.insecure_channel(server.target) as channel:
        stub = verify_pb2_grpc.VerifyServiceStub(channel)
        list(stub.VerifyStream(streams_test._requests(20), timeout=60))
        before = server.rss()
        senders = [streams_test._Sender(12_000, 100, 8192) for _ in range(3)]
        calls = [stub.VerifyStream(sender, timeout=600) for sender in senders]
        streams_test._wait_until_still(senders)
        grown = (server.rss() - before) / MIB
        taken = [s.sent for s in senders]
        for call in calls:
            call.cancel()
    return f"RSS +{grown:.0f} MiB; items taken {taken} of 12000 each"


def shutdown(tmp: Path) -> str:
    grace = shutdown_test.GRACE
    args = ("--workers", "1", "--http-port", "0", "--grace", str(grace))
    with serve(tmp, *args) as server, grpc.insecure_channel(server.target) as channel:
        stub = verify_pb2_grpc.VerifyServiceStub(channel)
        assert server.http_port is not None
        with ThreadPoolExecutor(10) as pool:
            calls = [pool.submit(shutdown_test._grpc_call, stub) for _ in range(3)]
            calls += [pool.submit(shutdown_test._grpc_stream, stub) for _ in range(2)]
            calls += [pool.submit(shutdown_test._http_call, server.http_port) for _ in range(4)]
            while metric(server.metrics(), "mathreward_in_flight_requests") < len(calls):
                time.sleep(0.02)
            sent = time.monotonic()
            server.proc.send_signal(signal.SIGTERM)
            outcomes = Counter(call.result(timeout=600) for call in calls)
            server.proc.wait(timeout=600)
            took = time.monotonic() - sent
    return f"exit {took:.1f} s after SIGTERM (grace {grace:g} s); {dict(outcomes)}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", choices=("budget", "stream", "shutdown"))
    args = parser.parse_args()
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as name:
        tmp = Path(name)
        if args.only in (None, "budget"):
            rows.append(("budget", "--max-inflight-bytes 16 MiB", budget(tmp, 16 * MIB)))
            rows.append(("budget", "--max-inflight-bytes 1 GiB (off)", budget(tmp, 1024 * MIB)))
        if args.only in (None, "stream"):
            rows.append(("stream", "--max-stream-in-flight 128", stream(tmp, 128)))
            rows.append(("stream", "--max-stream-in-flight 512 (default)", stream(tmp, 512)))
            rows.append(("stream", "--max-stream-in-flight 100000 (off)", stream(tmp, 100_000)))
        if args.only in (None, "shutdown"):
            rows.append(("shutdown", "--grace 2", shutdown(tmp)))
    width = max(len(r[1]) for r in rows)
    for what, setting, result in rows:
        print(f"{what:9} {setting:{width}}  {result}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

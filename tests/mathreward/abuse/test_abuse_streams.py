"""VerifyStream under abuse: a small queue, many streams, a failing engine, clients that never read.

Every item read is answered, or the call ends with a status; a client that never reads stops the
server reading (backpressure), so the server's memory stays bounded.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

from mathreward._proto import verify_pb2, verify_pb2_grpc
from tests.mathreward.abuse.helpers import metric, serve
from tests.mathreward.service_helpers import server_config


def _requests(n: int, per_message: int = 10, id_chars: int = 0) -> Iterator[verify_pb2.VerifyStreamRequest]:
    for start in range(0, n, per_message):
        items = [
            verify_pb2.VerifyItem(
                id=str(k).rjust(id_chars, "0"), prediction=f"\\boxed{{{k}}}", reference=str(k)
            )
            for k in range(start, min(n, start + per_message))
        ]
        yield verify_pb2.VerifyStreamRequest(items=items)


def _stream(target: str, n: int, per_message: int = 10) -> list[verify_pb2.VerifyStreamResponse]:
    with grpc.insecure_channel(target) as channel:
        stub = verify_pb2_grpc.VerifyServiceStub(channel)
        return list(stub.VerifyStream(_requests(n, per_message), timeout=300))


def test_a_stream_larger_than_the_queue_answers_every_item(start_server):
    """Was: 1,000 items under --max-queue-depth 64 --workers 1 came back as 64 verdicts, status OK."""
    from mathreward.server import ServiceLimits

    server = start_server(server_config(limits=ServiceLimits(max_queue_depth=64), verify_workers=1))
    got = _stream(server.target, 1000)
    assert sorted(r.index for r in got) == list(range(1000))
    assert all(r.result.correct and r.result.id == str(r.index) for r in got)


def test_many_concurrent_streams_lose_nothing(start_server):
    """Was: 200 streams x 300 items lost 35,528 items (here scaled down to stay fast)."""
    from mathreward.server import ServiceLimits

    server = start_server(server_config(limits=ServiceLimits(max_queue_depth=64)))
    with ThreadPoolExecutor(12) as pool:
        streams = list(pool.map(lambda _k: _stream(server.target, 120, per_message=40), range(12)))
    for got in streams:
        assert sorted(r.index for r in got) == list(range(120))
    assert metric(server.metrics(), "mathreward_queue_depth", engine="verify") == 0


def test_a_failing_engine_ends_the_stream_with_a_status_not_short(start_server):
    """Was: a chunk's error was dropped with its task, and the stream ended OK with items missing."""
    server = start_server(server_config())
    server.state.verify.close()  # the engine's threads are gone: every chunk fails

    def requests() -> Iterator[verify_pb2.VerifyStreamRequest]:
        yield from _requests(20)
        time.sleep(0.5)  # the chunks above fail meanwhile; the last message needs no engine
        yield verify_pb2.VerifyStreamRequest(items=[verify_pb2.VerifyItem(prediction="1", reference="")])

    with grpc.insecure_channel(server.target) as channel, pytest.raises(grpc.RpcError) as exc:
        list(verify_pb2_grpc.VerifyServiceStub(channel).VerifyStream(requests(), timeout=60))
    assert exc.value.code() is grpc.StatusCode.INTERNAL  # type: ignore[attr-defined]
    assert "RuntimeError" in exc.value.details()  # type: ignore[attr-defined]


class _Sender:
    """A request iterator that counts the items gRPC took from it (what the server let in)."""

    def __init__(self, n: int, per_message: int, id_chars: int) -> None:
        self.sent = 0
        self._requests = _requests(n, per_message, id_chars)
        self._lock = threading.Lock()

    def __iter__(self) -> _Sender:
        return self

    def __next__(self) -> verify_pb2.VerifyStreamRequest:
        request = next(self._requests)
        with self._lock:
            self.sent += len(request.items)
        return request


def _wait_until_still(senders: list[_Sender], still_s: float = 3.0, limit_s: float = 120.0) -> None:
    """Until no sender has advanced for ``still_s`` (the server stopped reading), at most ``limit_s``."""
    last, since, until = -1, time.monotonic(), time.monotonic() + limit_s
    while time.monotonic() < until:
        total = sum(s.sent for s in senders)
        if total != last:
            last, since = total, time.monotonic()
        elif time.monotonic() - since >= still_s:
            return
        time.sleep(0.2)


# items of 8 KiB (a long id, echoed in every result), 3 streams x 12,000 items = 281 MiB if all were read
ITEM_BYTES = 8192
STREAM_ITEMS = 12_000
STREAMS = 3
# what the server may hold per stream: its window (128 items here) of requests and results, plus the
# HTTP/2 flow-control windows of each direction; stated in docs/serving/limits.md, asserted with a wide margin
WINDOW = 128
RSS_MARGIN = 96 * 1024 * 1024


def test_streams_that_never_read_stop_the_server_reading_and_rss_stays_bounded(tmp_path: Path) -> None:
    """Was: items with errors bypassed the window and the window was released when an item was verified,
    not sent, so a client that never read grew the server without bound (458 MB -> 2.4 GB in 45 s)."""
    args = ("--workers", "1", "--max-stream-in-flight", str(WINDOW), "--max-item-chars", str(2 * ITEM_BYTES))
    with serve(tmp_path, *args) as server, grpc.insecure_channel(server.target) as channel:
        stub = verify_pb2_grpc.VerifyServiceStub(channel)
        assert len(list(stub.VerifyStream(_requests(20), timeout=60))) == 20  # warm: pools started
        before = server.rss()
        senders = [_Sender(STREAM_ITEMS, 100, ITEM_BYTES) for _ in range(STREAMS)]
        calls = [stub.VerifyStream(sender, timeout=600) for sender in senders]  # never read
        try:
            _wait_until_still(senders)
            grown = server.rss() - before
            taken = [s.sent for s in senders]
        finally:
            for call in calls:
                call.cancel()
        assert all(t < STREAM_ITEMS for t in taken), taken  # the server stopped reading each stream
        assert grown < RSS_MARGIN, f"server RSS grew {grown / 2**20:.0f} MiB; items taken {taken}"
        # cancelled streams give back their budget and window; the server serves on
        assert len(list(stub.VerifyStream(_requests(20), timeout=60))) == 20
        page = server.metrics()
        assert metric(page, "mathreward_inflight_request_bytes") == 0


def test_clients_that_disconnect_mid_stream_leave_nothing_held(start_server):
    """Streams cancelled at every stage give back their window, budget and queue places."""
    from mathreward.server import ServiceLimits

    server = start_server(server_config(limits=ServiceLimits(max_queue_depth=64, max_stream_in_flight=32)))
    with grpc.insecure_channel(server.target) as channel:
        stub = verify_pb2_grpc.VerifyServiceStub(channel)
        for stop_after in (0, 1, 5, 40, 150):
            call = stub.VerifyStream(_requests(400, per_message=25), timeout=60)
            for k, _ in enumerate(call):
                if k >= stop_after:
                    break
            call.cancel()
        until = time.monotonic() + 60
        while True:
            page = server.metrics()
            held = (
                metric(page, "mathreward_in_flight_requests"),
                metric(page, "mathreward_inflight_request_bytes"),
                metric(page, "mathreward_queue_depth"),
            )
            if held == (0, 0, 0):
                break
            assert time.monotonic() < until, held
            time.sleep(0.05)
        assert len(_stream(server.target, 100)) == 100  # and the next stream is whole

"""A real OpenAI-compatible chat-completions server on a loopback port, scripted per test.

``ChatServer(script)`` serves ``POST /v1/chat/completions`` from a ``ThreadingHTTPServer`` in a
background thread. ``script(request_body) -> Reply`` decides each answer (status, content, delay,
raw body); every request body is recorded in ``server.requests``. Scripts for the usual cases:
:func:`always`, :func:`sequence`, :func:`honest`.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FENCE = re.compile(r"<(answer|reference|question)-([0-9a-f]{16})>\n(.*?)\n</\1-\2>", re.S)


@dataclass(frozen=True)
class Reply:
    content: str = "equivalent"  # the assistant message text
    status: int = 200  # HTTP status
    delay_s: float = 0.0  # wait this long before answering (slowness)
    raw: str | None = None  # send this body verbatim instead of a chat-completions JSON


Script = Callable[[dict[str, Any]], Reply]


def always(content: str = "equivalent", **kw: Any) -> Script:
    """Every request gets the same reply."""
    reply = Reply(content=content, **kw)
    return lambda _body: reply


def sequence(replies: Iterable[Reply], then: Reply | None = None) -> Script:
    """Replies in order, then ``then`` (or the last one) forever."""
    items = list(replies)
    lock = threading.Lock()
    state = {"i": 0}

    def script(_body: dict[str, Any]) -> Reply:
        with lock:
            i = state["i"]
            state["i"] += 1
        if i < len(items):
            return items[i]
        return then if then is not None else items[-1]

    return script


def fenced(body: dict[str, Any]) -> dict[str, str]:
    """The fenced parts (answer, reference, question) of the user message of a request."""
    user = "".join(m["content"] for m in body["messages"] if m["role"] == "user")
    return {m.group(1): m.group(3) for m in FENCE.finditer(user)}


def outside_answer_fence(body: dict[str, Any]) -> str:
    """All message text of a request with the fenced answer block cut out."""
    text = "\n".join(m["content"] for m in body["messages"])
    return re.sub(r"<answer-([0-9a-f]{16})>\n.*?\n</answer-\1>", "", text, flags=re.S)


def honest(equivalent_pairs: Iterable[tuple[str, str]]) -> Script:
    """A judge that knows the truth: "equivalent" for the listed (answer, reference) pairs, else
    "not_equivalent". It reads both from the fences, so a prompt it cannot read gets "garbage"."""
    known = {(" ".join(a.split()), " ".join(r.split())) for a, r in equivalent_pairs}

    def script(body: dict[str, Any]) -> Reply:
        parts = fenced(body)
        if "answer" not in parts or "reference" not in parts:
            return Reply(content="I cannot find the answer in this prompt.")
        pair = (" ".join(parts["answer"].split()), " ".join(parts["reference"].split()))
        return Reply(content="equivalent" if pair in known else "not_equivalent")

    return script


def closed_port() -> int:
    """A loopback port with nothing listening (connections are refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


class ChatServer:
    """The server; use as a context manager (``with ChatServer(always()) as srv: srv.url``)."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests being answered at once
        self._lock = threading.Lock()
        self._stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                raw = self.rfile.read(length)
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": "not found"}')
                    return
                body = json.loads(raw)
                body["_headers"] = dict(self.headers.items())
                with server._lock:
                    server.requests.append(body)
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._answer(body)
                finally:
                    with server._lock:
                        server.in_flight -= 1

            def _answer(self, body: dict[str, Any]) -> None:
                reply = server.script(body)
                if reply.delay_s > 0 and server._stop.wait(reply.delay_s):
                    return
                if reply.raw is not None:
                    self._send(reply.status, reply.raw.encode())
                    return
                payload = {
                    "id": "chatcmpl-test",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model", ""),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": reply.content},
                            "finish_reason": "stop",
                        }
                    ],
                }
                self._send(reply.status, json.dumps(payload).encode())

            def _send(self, status: int, data: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the client gave up (timed out): nothing to answer

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, name="chat-server", daemon=True
        )

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.requests)


@contextmanager
def serving(script: Script) -> Iterator[ChatServer]:
    with ChatServer(script) as srv:
        yield srv

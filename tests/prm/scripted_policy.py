"""A scripted policy behind a real loopback HTTP server that speaks the ``/v1/completions`` protocol.

The policy's success probability for a prompt is known in advance: it is the value of the last
*state word* in the prompt (whitespace-separated), 0.5 when there is none:

    sure 1.0   likely 0.75   hmm 0.5   unlikely 0.25   oops 0.0
    \\boxed{K} 1.0 when K is the question's key, \\boxed{<anything else>} 0.0

The reference answer is the question's ``key=K`` word. Asked for ``n`` samples of more than one token,
the server returns exactly ``round(p * n)`` right continuations (`` so \\boxed{K}``) and the rest wrong
(`` so \\boxed{K+1}``), in an order drawn from the request's seed, so a share estimated from them is
exactly ``p`` whenever ``p * n`` is whole. Asked for one token (``max_tokens == 1``), it returns
alternative next words, one of ``ALTERNATIVES`` each, cycling from a seed-drawn start. With
``distinct=True`` every sample's text differs (a word naming it), as a real policy's rollouts do.

Every request is logged (prompt, n, seed, max_tokens, temperature). Options: a fixed delay per request
and per sample (to stand in for generation time in the benchmark), and a number of first requests
answered 503 (to exercise retries).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STATES: dict[str, float] = {"sure": 1.0, "likely": 0.75, "hmm": 0.5, "unlikely": 0.25, "oops": 0.0}
ALTERNATIVES: tuple[str, ...] = ("sure", "oops", "hmm", "so")
_KEY = re.compile(r"\bkey=(-?\d+)\b")
_BOXED = re.compile(r"^\\boxed\{(.*)\}[.,]?$")


def key_of(prompt: str) -> int:
    m = _KEY.search(prompt)
    if m is None:
        raise ValueError("the prompt has no key=K word")
    return int(m.group(1))


def success_p(prompt: str) -> float:
    """The policy's probability of reaching the right answer from this prompt."""
    key = key_of(prompt)
    p = 0.5
    for word in prompt.split():
        if word in STATES:
            p = STATES[word]
        else:
            m = _BOXED.match(word)
            if m:
                p = 1.0 if m.group(1) == str(key) else 0.0
    return p


def _draw(seed: int, prompt: str) -> int:
    return int.from_bytes(hashlib.sha256(f"{seed}|{prompt}".encode()).digest()[:4], "big")


def sample(prompt: str, n: int, seed: int, max_tokens: int, distinct: bool = False) -> list[str]:
    """The scripted samples; ``distinct`` makes every sample's text different (a word per sample)."""
    start = _draw(seed, prompt)
    if max_tokens == 1:
        return [" " + ALTERNATIVES[(start + i) % len(ALTERNATIVES)] for i in range(n)]
    key = key_of(prompt)
    right = round(success_p(prompt) * n)
    tag = [f" s{seed}x{i}" if distinct else "" for i in range(n)]
    texts = [f"{tag[i]} so \\boxed{{{key if i < right else key + 1}}}" for i in range(n)]
    shift = start % n
    return texts[shift:] + texts[:shift]


FIELDS = ("prompt", "n", "seed", "max_tokens", "temperature")  # what the log keeps of each request


@dataclass
class ServerLog:
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, body: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append({k: body.get(k) for k in FIELDS})

    def entries(self) -> list[tuple[Any, ...]]:
        with self.lock:
            return [tuple(r[k] for k in FIELDS) for r in self.requests]


class _Server(ThreadingHTTPServer):
    request_queue_size = 512  # many clients connect at once
    daemon_threads = True


class ScriptedServer:
    """``with ScriptedServer() as s: s.base_url`` -> ``http://127.0.0.1:PORT/v1``."""

    def __init__(
        self,
        *,
        delay_s: float = 0.0,
        per_sample_s: float = 0.0,
        fail_first: int = 0,
        distinct: bool = False,
        broken: str | None = None,  # "short": one choice fewer than n; "garbage": a reply that is not JSON
    ) -> None:
        self.log = ServerLog()
        self.broken = broken
        self.distinct = distinct
        self.delay_s = delay_s
        self.per_sample_s = per_sample_s
        self.fail_left = fail_first
        self.failed = 0
        self.in_flight = 0
        self.max_in_flight = 0  # the most requests being answered at once
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _reply(self, status: int, obj: dict[str, Any]) -> None:
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path != "/v1/completions":
                    self._reply(404, {"error": {"message": f"no route {self.path}"}})
                    return
                with server._lock:
                    fail = server.fail_left > 0
                    if fail:
                        server.fail_left -= 1
                        server.failed += 1
                if fail:
                    self._reply(503, {"error": {"message": "scripted outage"}})
                    return
                server.log.add(body)
                n = int(body.get("n", 1))
                try:
                    texts = sample(
                        body["prompt"],
                        n,
                        int(body.get("seed") or 0),
                        int(body["max_tokens"]),
                        server.distinct,
                    )
                except (KeyError, ValueError) as e:
                    self._reply(400, {"error": {"message": str(e)}})
                    return
                with server._lock:
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    if server.delay_s or server.per_sample_s:
                        time.sleep(server.delay_s + server.per_sample_s * n)
                finally:
                    with server._lock:
                        server.in_flight -= 1
                if server.broken == "garbage":
                    data = b"<html>bad gateway</html>"
                    self.send_response(200)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                if server.broken == "short":
                    texts = texts[:-1]
                choices = [{"index": i, "text": t, "finish_reason": "stop"} for i, t in enumerate(texts)]
                reply = {"object": "text_completion", "model": body.get("model"), "choices": choices}
                self._reply(200, reply)

        self.httpd = _Server(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self._thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()


VOCAB: tuple[str, ...] = (
    "<unk>",
    "<eos>",
    *STATES,
    "so",
    "we",
    "start",
    "then",
    "step",
    "one",
    "two",
    "a",
    "b",
    "c",
    "d",
    *(f"\\boxed{{{k}}}" for k in range(0, 20)),
)


def build_word_tokenizer(out: Any) -> Any:
    """The scripted policy's tokenizer: one token per whitespace-separated word of ``VOCAB``, decoded
    with single spaces, saved to ``out`` (a folder) as a transformers tokenizer. Built locally."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(VOCAB)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with one space
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="<unk>", eos_token="<eos>", pad_token="<eos>"
    )
    fast.save_pretrained(str(out))
    return fast

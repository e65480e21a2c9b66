"""Rollouts from an OpenAI-compatible ``/v1/completions`` endpoint (vLLM, SGLang, llama.cpp's server).

The base URL is given as OpenAI clients take it (``http://host:8000/v1``). Each request sends the
prompt as text and asks for all ``n`` samples at once, with the run's seed. Up to ``concurrency``
requests are in flight together (one pooled httpx client shared by a thread pool). A request that
times out, cannot connect, or gets 408/429/5xx is retried with exponential backoff; any other
status, or a reply that is not a completions reply with ``n`` choices, fails the request for good.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from prm.generate.base import GenerationError, Request

MAX_REPLY_BYTES = 64 * 1024 * 1024


class _Transient(Exception):
    """A failure worth another try."""


@dataclass(frozen=True)
class HTTPOptions:
    concurrency: int = 64  # requests in flight at once
    timeout_s: float = 600.0  # time limit per request (connect to last byte), seconds
    retries: int = 5  # further tries after a transient failure
    backoff_s: float = 0.5  # first wait before a retry; doubles each time (with jitter), capped
    backoff_max_s: float = 30.0
    api_key_env: str = "OPENAI_API_KEY"  # the bearer token is read from this variable when it is set

    def __post_init__(self) -> None:
        if self.concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {self.concurrency}")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")


def completions_url(base_url: str) -> str:
    """``http://h:8000/v1`` -> ``http://h:8000/v1/completions`` (a bare host gets ``/v1``)."""
    from urllib.parse import urlsplit

    base = base_url.rstrip("/")
    if base.endswith("/completions"):
        return base
    if urlsplit(base).path in ("", "/"):
        base += "/v1"
    return base + "/completions"


def _texts(raw: bytes, n: int) -> list[str]:
    try:
        obj = json.loads(raw)
        choices = obj["choices"]
        ordered = sorted(choices, key=lambda c: int(c.get("index", 0)))
        texts = [c["text"] for c in ordered]
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise GenerationError(f"not a completions reply ({type(e).__name__}: {e}): {raw[:200]!r}") from e
    if len(texts) != n or not all(isinstance(t, str) for t in texts):
        raise GenerationError(
            f"the server returned {len(texts)} samples, asked for n={n} (does it support n > 1?)"
        )
    return texts


class OpenAICompletions:
    """A completions endpoint as a :class:`prm.generate.Generator`."""

    def __init__(self, base_url: str, model: str, options: HTTPOptions | None = None) -> None:
        try:
            import httpx
        except ImportError as e:  # pragma: no cover - depends on the install
            raise GenerationError("the completions backend needs httpx: pip install httpx") from e
        self._httpx = httpx
        self.url = completions_url(base_url)
        self.model = model
        self.options = options or HTTPOptions()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(self.options.api_key_env, "")
        if key:
            headers["Authorization"] = f"Bearer {key}"
        c = self.options.concurrency
        self._client = httpx.Client(
            headers=headers,
            limits=httpx.Limits(max_connections=c, max_keepalive_connections=c),
            follow_redirects=False,
        )
        self.tries = 0  # HTTP requests made, retries included
        self._slots = threading.BoundedSemaphore(c)
        self._closed = False

    def _body(self, req: Request) -> dict[str, Any]:
        p = req.params
        body: dict[str, Any] = {
            "model": self.model,
            "prompt": req.prompt,
            "n": p.n,
            "temperature": p.temperature,
            "top_p": p.top_p,
            "max_tokens": p.max_tokens,
            "seed": p.seed,
            "stream": False,
        }
        if p.stop:
            body["stop"] = list(p.stop)
        return body

    def _post_once(self, body: dict[str, Any], n: int) -> list[str]:
        httpx = self._httpx
        timeout_s = self.options.timeout_s
        deadline = time.monotonic() + timeout_s
        self.tries += 1
        try:
            with self._client.stream("POST", self.url, json=body, timeout=timeout_s) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise GenerationError(f"reply larger than {MAX_REPLY_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise _Transient(f"reply not complete within {timeout_s:g} s")
                status = response.status_code
        except httpx.TimeoutException as e:
            raise _Transient(f"timed out after {timeout_s:g} s ({type(e).__name__})") from e
        except httpx.TransportError as e:
            raise _Transient(f"connection failed: {type(e).__name__}: {e}") from e
        raw = b"".join(chunks)
        if status in (408, 429) or status >= 500:
            raise _Transient(f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")
        if status != 200:
            raise GenerationError(f"HTTP {status} from {self.url}: {raw[:300].decode('utf-8', 'replace')}")
        return _texts(raw, n)

    def _post(self, req: Request) -> list[str]:
        with self._slots:  # the concurrency bound holds across streams running at once
            return self._post_with_retries(req)

    def _post_with_retries(self, req: Request) -> list[str]:
        body = self._body(req)
        o = self.options
        for attempt in range(o.retries + 1):
            if self._closed:
                raise GenerationError("the generator was closed")
            try:
                return self._post_once(body, req.params.n)
            except _Transient as e:
                if attempt == o.retries:
                    raise GenerationError(f"{self.url}: {e} ({o.retries + 1} tries)") from e
                wait_s = min(o.backoff_max_s, o.backoff_s * 2**attempt)
                time.sleep(wait_s * (0.5 + random.random() / 2))
        raise AssertionError("unreachable")

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, list[str]]]:
        if not requests:
            return
        pool = ThreadPoolExecutor(
            max_workers=min(self.options.concurrency, len(requests)), thread_name_prefix="rollout"
        )
        pending: dict[Future[list[str]], int] = {}
        try:
            for i, req in enumerate(requests):
                pending[pool.submit(self._post, req)] = i
            while pending:
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in done:
                    i = pending.pop(f)
                    yield i, f.result()
        finally:  # an early exit (an error, Ctrl-C) does not wait for the requests still out;
            # close() ends them by closing the client
            pool.shutdown(wait=not pending, cancel_futures=True)

    def close(self) -> None:
        self._closed = True  # requests still queued give up; those out fail as the client closes
        self._client.close()

"""The two judge backends behind one small interface: chat messages in, reply text out.

- :class:`OpenAIChatBackend`: any OpenAI-compatible ``/chat/completions`` endpoint (vLLM, SGLang,
  Ollama, OpenAI) over httpx, imported lazily (extra ``judge``).
- :class:`TransformersChatBackend`: a chat model loaded in process from a local path with
  transformers (extra ``prm``), on the GPU when present; greedy decoding of a few tokens.

Errors (the client in :mod:`verifier.judge` turns every one into "judge unavailable")::

    JudgeUnavailable            the judge gave no reply: the message says why
     +-- TransientJudgeError    worth retrying: connection refused/reset, timeout, HTTP 408/429/5xx
          +-- JudgeNotReady     an in-process model still loading (not a failure for the breaker)
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, Protocol

from verifier.judge.config import JudgeConfig, chat_completions_url

# a reply body larger than this is not a label: stop reading (bytes)
MAX_REPLY_BYTES = 1 << 20


class JudgeUnavailable(Exception):
    """The judge gave no usable reply; the message says why."""


class TransientJudgeError(JudgeUnavailable):
    """A failure worth retrying after a pause: connection errors, timeouts, HTTP 408, 429 and 5xx."""


class JudgeNotReady(TransientJudgeError):
    """The judge is still starting (an in-process model loading): not counted as a failure."""


class ChatBackend(Protocol):
    """One judge model: ``complete`` returns the reply text or raises :class:`JudgeUnavailable`."""

    def complete(self, messages: Sequence[Mapping[str, str]], *, timeout_s: float) -> str: ...

    def close(self) -> None: ...


class OpenAIChatBackend:
    """Chat completions over HTTP; one pooled httpx client, safe to share between threads."""

    def __init__(self, config: JudgeConfig) -> None:
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise JudgeUnavailable("the HTTP judge needs httpx: pip install 'mathreward[judge]'") from exc
        self._httpx = httpx
        self._url = chat_completions_url(config.base_url)
        self._model = config.model
        self._max_tokens = config.max_tokens
        # merged first, so the fields below (model, messages, temperature, ...) always win
        self._extra_body: dict[str, Any] = json.loads(config.extra_body_json or "{}")
        self._request_timeout_s = config.request_timeout_s
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        key = os.environ.get(config.api_key_env, "") if config.api_key_env else ""
        if key:
            headers["Authorization"] = f"Bearer {key}"
        self._client = httpx.Client(
            headers=headers,
            limits=httpx.Limits(
                max_connections=config.max_concurrency, max_keepalive_connections=config.max_concurrency
            ),
            follow_redirects=False,
        )

    def complete(self, messages: Sequence[Mapping[str, str]], *, timeout_s: float) -> str:
        httpx = self._httpx
        deadline = time.monotonic() + timeout_s
        body: dict[str, Any] = {
            **self._extra_body,
            "model": self._model,
            "messages": [dict(m) for m in messages],
            "temperature": 0,
            "max_tokens": self._max_tokens,
            "n": 1,
            "stream": False,
        }
        per_read = max(0.001, min(timeout_s, self._request_timeout_s))
        try:
            with self._client.stream("POST", self._url, json=body, timeout=per_read) as response:
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > MAX_REPLY_BYTES:
                        raise JudgeUnavailable(f"reply larger than {MAX_REPLY_BYTES} bytes")
                    if time.monotonic() > deadline:
                        raise TransientJudgeError(f"reply not complete within {timeout_s:.3g}s")
                status = response.status_code
        except httpx.TimeoutException as exc:
            raise TransientJudgeError(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise TransientJudgeError(f"connection failed: {type(exc).__name__}: {exc}") from exc
        raw = b"".join(chunks)
        if status in (408, 429) or status >= 500:
            raise TransientJudgeError(f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")
        if status != 200:
            raise JudgeUnavailable(f"HTTP {status}: {raw[:200].decode('utf-8', 'replace')}")
        return _reply_text(raw)

    def close(self) -> None:
        self._client.close()


def _reply_text(raw: bytes) -> str:
    """``choices[0].message.content`` of a chat-completions reply, or JudgeUnavailable."""
    try:
        payload: Any = json.loads(raw)
        content = payload["choices"][0]["message"]["content"]
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise JudgeUnavailable(f"not a chat-completions reply: {raw[:120]!r}") from exc
    if not isinstance(content, str):
        raise JudgeUnavailable("the reply has no text content")
    return content


def _encode_chat(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> Any:
    """The chat template applied; a template without a system role (Gemma, Mistral v1) gets the
    system text at the head of the first user message instead."""
    msgs = [dict(m) for m in messages]
    try:
        return tokenizer.apply_chat_template(
            msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True
        )
    except Exception:  # jinja raises its own TemplateError for "system role not supported"
        if len(msgs) < 2 or msgs[0]["role"] != "system":
            raise
    merged = [{"role": "user", "content": msgs[0]["content"] + "\n\n" + msgs[1]["content"]}, *msgs[2:]]
    return tokenizer.apply_chat_template(
        merged, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )


class TransformersChatBackend:
    """A local chat model (``model_path``) run in process; loading starts in a background thread.

    Calls made while the model still loads wait at most their own time limit, then report the judge
    unavailable. One generation runs at a time (a lock); decoding is greedy, ``max_new_tokens`` short,
    and ``max_time`` stops it at the caller's limit.
    """

    def __init__(self, config: JudgeConfig) -> None:
        self._path = config.model_path or ""
        self._device_pref = config.device
        self._max_new_tokens = config.max_tokens
        self._lock = threading.Lock()
        self._loaded: Future[tuple[Any, Any, str]] = Future()
        threading.Thread(target=self._load, name="judge-model-load", daemon=True).start()

    def _load(self) -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError:
            hint = "the in-process judge needs torch and transformers: pip install 'mathreward[prm]'"
            self._loaded.set_exception(JudgeUnavailable(hint))
            return
        try:
            device = self._device_pref
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
            tokenizer = AutoTokenizer.from_pretrained(self._path)
            model: Any = AutoModelForCausalLM.from_pretrained(self._path, dtype=dtype)
            model = model.to(device).eval()
            if tokenizer.chat_template is None:
                raise JudgeUnavailable(f"the tokenizer at {self._path} has no chat template")
            self._loaded.set_result((tokenizer, model, device))
        except JudgeUnavailable as exc:
            self._loaded.set_exception(exc)
        except Exception as exc:  # any loading failure (bad path, bad weights) makes the judge unavailable
            self._loaded.set_exception(
                JudgeUnavailable(f"cannot load judge model {self._path}: {type(exc).__name__}: {exc}")
            )

    def complete(self, messages: Sequence[Mapping[str, str]], *, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        try:
            tokenizer, model, device = self._loaded.result(timeout=timeout_s)
        except FutureTimeout as exc:
            raise JudgeNotReady("the judge model is still loading") from exc
        if not self._lock.acquire(timeout=max(0.0, deadline - time.monotonic())):
            raise TransientJudgeError("the judge model is busy")
        try:
            return self._generate(tokenizer, model, device, messages, deadline)
        finally:
            self._lock.release()

    def _generate(
        self, tokenizer: Any, model: Any, device: str, messages: Sequence[Mapping[str, str]], deadline: float
    ) -> str:
        import torch

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TransientJudgeError("no time left to generate")
        try:
            enc = _encode_chat(tokenizer, messages)
            input_ids = enc["input_ids"].to(device)
            attention_mask = enc["attention_mask"].to(device)
            pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
            with torch.inference_mode():
                out = model.generate(
                    input_ids=input_ids,
                    attention_mask=attention_mask,
                    do_sample=False,
                    max_new_tokens=self._max_new_tokens,
                    max_time=remaining,
                    pad_token_id=pad_id,
                )
        except Exception as exc:  # a generation failure (too long, OOM) makes this call unavailable
            raise JudgeUnavailable(f"generation failed: {type(exc).__name__}: {exc}") from exc
        if time.monotonic() > deadline:
            raise TransientJudgeError("generation overran the time limit")
        new_tokens = out[0, input_ids.shape[1] :]
        text: str = tokenizer.decode(new_tokens, skip_special_tokens=True)
        return text

    def close(self) -> None:
        """Nothing to release explicitly: the model goes with the last reference."""

"""The judge's configuration: where it is and how hard to try (frozen and hashable: it keys the registry)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["BACKENDS", "JudgeConfig", "chat_completions_url"]


def chat_completions_url(base_url: str) -> str:
    """``{base_url}/chat/completions``; a bare ``http://host:port`` gets the usual ``/v1`` prefix."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"judge base_url must be an http(s) URL, got {base_url!r}")
    base = base_url.rstrip("/")
    if parts.path in ("", "/"):
        base += "/v1"
    return base + "/chat/completions"


BACKENDS = ("openai", "transformers")


@dataclass(frozen=True)
class JudgeConfig:
    """Where the judge is and how hard to try; frozen and hashable (it keys the client registry).

    The API key is never stored here (configs get logged): only the name of the environment
    variable that holds it.
    """

    # "openai": an OpenAI-compatible chat-completions endpoint; "transformers": a local chat model
    backend: str = "openai"
    # endpoint root, e.g. http://localhost:8000/v1 (vLLM, SGLang), http://localhost:11434/v1 (Ollama);
    # requests go to {base_url}/chat/completions, a bare http://host:port gets /v1
    base_url: str = "http://localhost:8000/v1"
    # the model name sent to the endpoint (and reported in Verdict.judge); for "transformers" it
    # defaults to the model directory's name
    model: str = ""
    # name of the environment variable holding the API key ("" for none); unset variable: no key sent
    api_key_env: str = "OPENAI_API_KEY"
    # "transformers" only: local directory of a chat model (config, weights, tokenizer with a chat template)
    model_path: str | None = None
    # "transformers" only: "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", ...
    device: str = "auto"
    # hard limit on one second opinion, seconds: queueing, every attempt and every backoff included
    timeout_s: float = 10.0
    # limit on one HTTP attempt (connect, and each read), seconds; capped by what is left of timeout_s
    request_timeout_s: float = 5.0
    # further attempts after a connection error, a timeout, or HTTP 408/429/5xx (never after other 4xx)
    max_retries: int = 2
    # pause before the first retry, seconds; doubles each retry (with up to 25% jitter)
    backoff_s: float = 0.25
    # judge calls in flight at once, per process and config
    max_concurrency: int = 8
    # labels remembered per (answer, reference, question), least recently used evicted first
    cache_size: int = 100_000
    # consecutive failed calls (down, timeout, HTTP error, garbage) that open the circuit
    breaker_threshold: int = 5
    # while open, calls get "unavailable" at once; after this many seconds one trial call is let through
    breaker_cooldown_s: float = 30.0
    # extracted answers longer than this (characters) are never sent: the rule verdict stands
    max_answer_chars: int = 200
    # questions longer than this (characters) are sent as their head and tail
    max_question_chars: int = 4000
    # the most tokens the judge may generate (a label is 1-5 tokens; reasoning models need a larger cap)
    max_tokens: int = 16
    # JSONL file to which every overturn is appended (None: no audit log)
    audit_log: str | None = None
    # "openai" only: a JSON object merged into each request body, e.g. vLLM's constrained decoding
    # '{"guided_choice": ["equivalent", "not_equivalent", "invalid_answer"]}' or, for Qwen3,
    # '{"chat_template_kwargs": {"enable_thinking": false}}' (a string, so the config stays hashable)
    extra_body_json: str = ""

    def __post_init__(self) -> None:
        if self.extra_body_json:
            try:
                extra = json.loads(self.extra_body_json)
            except ValueError as exc:
                raise ValueError(f"JudgeConfig.extra_body_json is not JSON: {exc}") from exc
            if not isinstance(extra, dict):
                raise ValueError("JudgeConfig.extra_body_json must be a JSON object")
        if self.backend not in BACKENDS:
            raise ValueError(f"judge backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.backend == "openai":
            if not self.model:
                raise ValueError("the openai judge backend needs a model name (JudgeConfig.model)")
            chat_completions_url(self.base_url)
        if self.backend == "transformers" and not self.model_path:
            raise ValueError("the transformers judge backend needs model_path (a local model directory)")
        for name in ("timeout_s", "request_timeout_s", "breaker_cooldown_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"JudgeConfig.{name} must be > 0, got {getattr(self, name)!r}")
        for name in ("max_concurrency", "cache_size", "breaker_threshold", "max_answer_chars", "max_tokens"):
            if getattr(self, name) < 1:
                raise ValueError(f"JudgeConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.max_retries < 0 or self.backoff_s < 0 or self.max_question_chars < 0:
            raise ValueError("JudgeConfig.max_retries, backoff_s and max_question_chars must be >= 0")

    @property
    def model_name(self) -> str:
        """The name reported in ``Verdict.judge.model``."""
        if self.model:
            return self.model
        return os.path.basename(os.path.normpath(self.model_path or "")) or "judge"

"""The generator seam's vocabulary: sampling parameters, a request, the protocol every backend follows.

A request is one prompt and ``n`` samples. The seed and the parameters are part of the request, so a
request names its result: the same request always asks for the same samples (the cache keys on it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Protocol


class GenerationError(Exception):
    """A request that failed for good (retries spent, a malformed reply, a backend that cannot load)."""


@dataclass(frozen=True)
class SamplingParams:
    n: int = 8  # samples per request (one request per prompt asks for all of them)
    temperature: float = 0.7  # 0: greedy
    top_p: float = 1.0
    max_tokens: int = 1024  # new tokens per sample
    seed: int = 0  # the run's seed; each request passes it (backends derive per-prompt seeds from it)
    stop: tuple[str, ...] = ()  # stop strings (the text is cut before the first one)

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError(f"n must be >= 1, got {self.n}")
        if self.max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {self.max_tokens}")
        if self.temperature < 0:
            raise ValueError(f"temperature must be >= 0, got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")


@dataclass(frozen=True)
class Request:
    prompt: str
    params: SamplingParams = field(default_factory=SamplingParams)

    def key(self, model: str) -> str:
        """A hash of (model, prompt, parameters, seed): equal keys ask for the same samples."""
        blob = json.dumps([model, self.prompt, asdict(self.params)], sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def prompt_seed(seed: int, prompt: str) -> int:
    """A 31-bit seed for one prompt: the same for the same (seed, prompt) in every run and order."""
    h = hashlib.sha256(f"{seed}\0{prompt}".encode()).digest()
    return int.from_bytes(h[:4], "big") & 0x7FFFFFFF


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to (not including) the first stop string, for backends that cannot stop themselves."""
    cut = len(text)
    for s in stop:
        i = text.find(s)
        if s and 0 <= i < cut:
            cut = i
    return text[:cut]


class Generator(Protocol):
    """A rollout backend. ``stream`` yields ``(index, texts)`` for every request, in any order, as each
    finishes (``len(texts) == request.params.n``), and raises :class:`GenerationError` when one fails."""

    model: str  # what the cache keys on: the served model name or the local path

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, list[str]]]: ...

    def close(self) -> None: ...


def generate(gen: Generator, requests: Sequence[Request]) -> list[list[str]]:
    """Every request's samples, in request order."""
    out: list[list[str] | None] = [None] * len(requests)
    for i, texts in gen.stream(requests):
        out[i] = texts
    missing = [i for i, t in enumerate(out) if t is None]
    if missing:
        raise GenerationError(f"the backend returned no samples for {len(missing)} requests")
    return [t for t in out if t is not None]

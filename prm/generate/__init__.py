"""The generator seam: rollouts from an OpenAI-compatible completions endpoint, transformers in
process, or vLLM's offline engine, behind one small protocol and one cache.

    from prm.generate import Request, SamplingParams, open_generator, generate
    gen = open_generator("http://localhost:8000/v1", "Qwen/Qwen2.5-Math-1.5B", cache_path=Path("r.jsonl"))
    texts = generate(gen, [Request(prompt, SamplingParams(n=8, seed=0))])   # 8 samples, one request

``open_generator`` always wraps the backend in :class:`CachedGenerator`: identical requests go out
once, and with a cache file a resumed run asks for nothing it already has.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prm.generate.base import (
    GenerationError,
    Generator,
    Request,
    SamplingParams,
    cut_at_stop,
    generate,
    prompt_seed,
)
from prm.generate.cache import CachedGenerator, RolloutCache, RolloutStore, Store
from prm.generate.openai import HTTPOptions, OpenAICompletions, completions_url

BACKENDS: tuple[str, ...] = ("openai", "transformers", "vllm")


def backend_of(spec: str) -> str:
    """``http(s)://...`` -> openai; ``transformers`` / ``hf`` -> transformers; ``vllm`` -> vllm."""
    if spec.startswith(("http://", "https://")):
        return "openai"
    if spec in ("transformers", "hf"):
        return "transformers"
    if spec == "vllm":
        return "vllm"
    raise ValueError(
        f"--generator takes a base URL (http://host:8000/v1), 'transformers' or 'vllm'; got {spec!r}"
    )


def open_generator(
    spec: str,
    model: str,
    *,
    cache_path: Path | None = None,
    store: Store | None = None,
    http: HTTPOptions | None = None,
    device: str = "auto",
    dtype: str = "auto",
    vllm_kwargs: dict[str, Any] | None = None,
) -> CachedGenerator:
    """The backend ``spec`` names (see :func:`backend_of`), serving ``model`` (a name or a local path),
    behind a cache file (``cache_path``) or a store shared with other generators (``store``)."""
    kind = backend_of(spec)
    inner: Generator
    if kind == "openai":
        inner = OpenAICompletions(spec, model, http)
    elif kind == "transformers":
        from prm.generate.hf import TransformersGenerator

        inner = TransformersGenerator(model, device=device, dtype=dtype)
    else:
        from prm.generate.vllm import VLLMGenerator

        inner = VLLMGenerator(model, **(vllm_kwargs or {}))
    return CachedGenerator(inner, cache_path, store)


__all__ = [
    "BACKENDS",
    "CachedGenerator",
    "GenerationError",
    "Generator",
    "HTTPOptions",
    "OpenAICompletions",
    "Request",
    "RolloutCache",
    "RolloutStore",
    "SamplingParams",
    "Store",
    "backend_of",
    "completions_url",
    "cut_at_stop",
    "generate",
    "open_generator",
    "prompt_seed",
]

"""Rollouts from vLLM's offline engine (``vllm.LLM``) in this process, when vLLM is installed.

All requests of a call go to the engine together (it schedules them itself), in slices so that
finished samples reach the verifier while the rest generate. Each request carries its own seed
(:func:`prompt_seed`), so its samples do not depend on its neighbours.

Not exercised by the CPU test suite (vLLM is not installed there).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from prm.generate.base import GenerationError, Request, prompt_seed

SLICE = 1024  # requests per engine call


class VLLMGenerator:
    def __init__(self, path: str, **engine_kwargs: Any) -> None:
        try:
            import vllm
        except ImportError as e:
            raise GenerationError("the vllm backend needs vLLM: pip install vllm") from e
        self._vllm = vllm
        self.model = path
        self.llm = vllm.LLM(model=path, **engine_kwargs)
        self._lock = threading.Lock()

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, list[str]]]:
        for lo in range(0, len(requests), SLICE):
            part = requests[lo : lo + SLICE]
            params = [
                self._vllm.SamplingParams(
                    n=r.params.n,
                    temperature=r.params.temperature,
                    top_p=r.params.top_p,
                    max_tokens=r.params.max_tokens,
                    seed=prompt_seed(r.params.seed, r.prompt),
                    stop=list(r.params.stop) or None,
                )
                for r in part
            ]
            with self._lock:  # one engine: streams from several threads take turns, slice by slice
                outs = self.llm.generate([r.prompt for r in part], params, use_tqdm=False)
            for j, out in enumerate(outs):
                yield lo + j, [c.text for c in sorted(out.outputs, key=lambda c: c.index)]

    def close(self) -> None:
        return None

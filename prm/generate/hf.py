"""Rollouts from a causal LM loaded in this process with transformers (tiny models in tests; a GPU).

One ``generate`` call per request draws all ``n`` samples (``num_return_sequences``), after seeding
torch with :func:`prompt_seed`, so a request's samples do not depend on which requests ran before it.
Stop strings are applied to the decoded text.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any

from prm.generate.base import GenerationError, Request, cut_at_stop, prompt_seed


class TransformersGenerator:
    def __init__(self, path: str, *, device: str = "auto", dtype: str = "auto") -> None:
        try:
            import torch
            from transformers import AutoModelForCausalLM, AutoTokenizer
        except ImportError as e:  # pragma: no cover - the prm extra
            raise GenerationError("the transformers backend needs: pip install 'mathreward[prm]'") from e
        self.model = path
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        torch_dtype: Any = None
        if dtype == "auto":
            torch_dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
        else:
            torch_dtype = getattr(torch, dtype)
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(path)
            lm: Any = AutoModelForCausalLM.from_pretrained(path, dtype=torch_dtype)
            self.lm: Any = lm.to(device).eval()
        except (OSError, ValueError) as e:
            raise GenerationError(f"cannot load a causal LM from {path}: {e}") from e
        self.device = device
        self._lock = threading.Lock()
        self._closed = False
        pad = self.tokenizer.pad_token_id
        self._pad = pad if pad is not None else self.tokenizer.eos_token_id

    def _one(self, req: Request) -> list[str]:
        import torch

        p = req.params
        enc = self.tokenizer(req.prompt, return_tensors="pt").to(self.device)
        kw: dict[str, Any] = {
            "max_new_tokens": p.max_tokens,
            "num_return_sequences": p.n,
            "pad_token_id": self._pad,
        }
        if p.temperature > 0:
            kw.update(do_sample=True, temperature=p.temperature, top_p=p.top_p, top_k=0)
        else:
            kw.update(do_sample=False)
        torch.manual_seed(prompt_seed(p.seed, req.prompt))
        with torch.inference_mode():
            out = self.lm.generate(**enc, **kw)
        new = out[:, enc["input_ids"].shape[1] :]
        texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
        return [cut_at_stop(t, p.stop) for t in texts]

    def stream(self, requests: Sequence[Request]) -> Iterator[tuple[int, list[str]]]:
        for i, req in enumerate(requests):
            with self._lock:  # one model: streams from several threads take turns, request by request
                if self._closed:
                    raise GenerationError("the generator was closed")
                texts = self._one(req)
            yield i, texts

    def close(self) -> None:
        self._closed = True

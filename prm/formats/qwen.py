"""The chat-template formats of the Qwen2.5-Math reward models (shared rendering).

The input is the model's chat template with the card's system prompt, the question as the user
turn and the response as the assistant turn, rendered once with placeholders and filled per item,
then tokenised in one piece as the card does (:func:`prm.formats.base.encode_layout`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prm.errors import PRMFormatError
from prm.formats.base import Format, Head, load_strict, qwen_score_model

if TYPE_CHECKING:
    import torch

SYSTEM = "Please reason step by step, and put your final answer within \\boxed{}."
_Q = "\x00PRM-QUESTION\x00"
_A = "\x00PRM-RESPONSE\x00"


def render_template(tokenizer: Any, system: str = SYSTEM) -> tuple[str, str, str]:
    """The template text before the question, between question and response, and after the response."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise PRMFormatError("this format needs a tokenizer with a chat template (tokenizer_config.json)")
    messages = [
        {"role": "system", "content": system},
        {"role": "user", "content": _Q},
        {"role": "assistant", "content": _A},
    ]
    text: str = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    if text.count(_Q) != 1 or text.count(_A) != 1 or text.index(_Q) > text.index(_A):
        raise PRMFormatError("the chat template does not place the question and the response once each")
    before, rest = text.split(_Q)
    between, after = rest.split(_A)
    return before, between, after


class QwenScoreFormat(Format):
    """A Qwen2 backbone with a ``score`` head of ``OUTPUTS`` outputs, as the Qwen2.5-Math reward models
    lay it out (``ARCH`` in config.json), loaded strictly with transformers' own Qwen2 classes (no remote
    code); a subclass says how its head's rows become scores (:meth:`make_head`)."""

    ARCH: str
    OUTPUTS: int

    @classmethod
    def matches_architecture(cls, archs: Sequence[str]) -> bool:
        return cls.ARCH in archs

    @classmethod
    def detects(cls, config: dict[str, Any]) -> bool:
        return cls.matches_architecture(config.get("architectures") or [])

    def make_head(self, score: torch.nn.Module) -> Head:
        raise NotImplementedError

    def load(
        self,
        path: Path,
        dtype: Any,
        attn: str,
        device_map: Any = None,
        max_memory: dict[int, int] | None = None,
    ) -> tuple[torch.nn.Module, Head]:
        import copy

        from transformers import Qwen2Config

        model = load_strict(
            qwen_score_model(self.OUTPUTS),
            path,
            self.name,
            dtype=dtype,
            attn=attn,
            device_map=device_map,
            max_memory=max_memory,
            config=Qwen2Config.from_pretrained(str(path)),
        )
        return model.model.eval(), self.make_head(copy.deepcopy(model.score).cpu())

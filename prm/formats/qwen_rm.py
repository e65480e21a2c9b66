"""``qwen2.5-math-rm``: an outcome reward model (Qwen/Qwen2.5-Math-RM-72B), one scalar per response.

The card: the chat template with the system prompt, the question as the user turn and the whole
response as the assistant turn; ``tokenizer.encode(conversation, add_special_tokens=False)``; the
remote code's ``Qwen2ForRewardModel`` reads its head (``score.0`` hidden->hidden, ReLU,
``score.2`` hidden->1) at the last token. The reward is that raw scalar (no sigmoid). Through the
engine's API the response is the steps joined by ``"\\n\\n"`` (``StepScores.solution``), or the
whole response given as one string; the result holds one score spanning the response.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prm.formats.base import (
    Encoded,
    Format,
    Head,
    Layout,
    ScalarHead,
    encode_layout,
    load_strict,
    qwen_score_model,
)
from prm.formats.qwen import SYSTEM, render_template
from prm.scores import STEP_JOINER

if TYPE_CHECKING:
    import torch


class QwenMathRM(Format):
    """Qwen2.5-Math-RM: reward = score(h) at the last token of the conversation."""

    name = "qwen2.5-math-rm"
    kind = "outcome"
    architectures = "Qwen2ForRewardModel"
    ARCH = "Qwen2ForRewardModel"

    def __init__(self, tokenizer: Any, config: dict[str, Any], **options: Any) -> None:
        super().__init__(tokenizer, config, **options)
        self._before, self._between, self._after = render_template(tokenizer, SYSTEM)

    @classmethod
    def matches_architecture(cls, archs: Sequence[str]) -> bool:
        return cls.ARCH in archs

    @classmethod
    def detects(cls, config: dict[str, Any]) -> bool:
        return cls.matches_architecture(config.get("architectures") or [])

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
            qwen_score_model(1),
            path,
            self.name,
            dtype=dtype,
            attn=attn,
            device_map=device_map,
            max_memory=max_memory,
            config=Qwen2Config.from_pretrained(str(path)),
        )
        return model.model.eval(), ScalarHead(copy.deepcopy(model.score).cpu())

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        layout = Layout().template(self._before).add_user(question, "question").template(self._between)
        layout.add_user(STEP_JOINER.join(steps), "response", response=True).template(self._after)
        enc = encode_layout(
            self.tokenizer, layout, tag_id=None, add_special_tokens=False, specials=self.specials
        )
        return Encoded(enc.ids, [len(enc.ids) - 1], enc.prefix_len)

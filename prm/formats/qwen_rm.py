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
from typing import TYPE_CHECKING, Any

from prm.formats.base import (
    Encoded,
    Head,
    Layout,
    ScalarHead,
    encode_layout,
)
from prm.formats.qwen import SYSTEM, QwenScoreFormat, render_template
from prm.scores import STEP_JOINER

if TYPE_CHECKING:
    import torch


class QwenMathRM(QwenScoreFormat):
    """Qwen2.5-Math-RM: reward = score(h) at the last token of the conversation."""

    name = "qwen2.5-math-rm"
    kind = "outcome"
    architectures = "Qwen2ForRewardModel"
    OUTPUTS = 1
    ARCH = "Qwen2ForRewardModel"

    def __init__(self, tokenizer: Any, config: dict[str, Any], **options: Any) -> None:
        super().__init__(tokenizer, config, **options)
        self._before, self._between, self._after = render_template(tokenizer, SYSTEM)

    def make_head(self, score: torch.nn.Module) -> Head:
        return ScalarHead(score)

    def encode(self, question: str, steps: Sequence[str]) -> Encoded:
        layout = Layout().template(self._before).add_user(question, "question").template(self._between)
        layout.add_user(STEP_JOINER.join(steps), "response", response=True).template(self._after)
        enc = encode_layout(
            self.tokenizer, layout, tag_id=None, add_special_tokens=False, specials=self.specials
        )
        return Encoded(enc.ids, [len(enc.ids) - 1], enc.prefix_len)
